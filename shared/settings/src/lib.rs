//! Reading settings. On Lambda they come from the environment, with the shop secret's keys from
//! Secrets Manager laid over it (`edge::secrets` reads it); the local gateway and tests hand each function
//! its own map, so many stacks (one per test) can live in one process.
//! A missing or malformed setting stops the cold start with a message naming it.

use secrecy::SecretString;
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
#[error("configuration {name}: {problem}")]
pub struct ConfigError {
    pub name: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(name: &str, problem: impl Into<String>) -> Self {
        Self {
            name: name.to_string(),
            problem: problem.into(),
        }
    }
}

/// The setting that names the shop secret: one Secrets Manager secret, a JSON object keyed like
/// the settings it holds, read once per cold start.
pub const SHOP_SECRET_ARN: &str = "SHOP_SECRET_ARN";

/// The settings the shop secret holds: every secret, and the WeChat Pay public key and
/// certificates kept beside the private key. In AWS no function's configuration carries them;
/// locally they are plain settings.
pub const SHOP_SECRET_KEYS: &[&str] = &[
    "JWT_SECRET",
    "ADMIN_JWT_SECRET",
    "WECHAT_SECRET",
    "WECHATPAY_PRIVATE_KEY",
    "WECHATPAY_APIV3_KEY",
    "WECHATPAY_PUBLIC_KEY",
    "WECHATPAY_PLATFORM_CERTIFICATES",
    "ALIPAY_PRIVATE_KEY",
    "KUAIDI100_KEY",
    "KUAIDI100_SECRET",
    "KUAIDI100_SALT",
    "WECHAT_PUSH_TOKEN",
    "WECHAT_PUSH_AES_KEY",
];

#[derive(Clone, Default)]
pub struct Settings {
    /// `None` reads the process environment.
    values: Option<HashMap<String, String>>,
    /// The shop secret's values once read: they win over `values`.
    secret: Option<HashMap<String, String>>,
}

/// Names only: settings hold secrets, and a `{:?}` must never print one.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |map: &Option<HashMap<String, String>>| {
            let mut names: Vec<String> = map.iter().flat_map(|m| m.keys().cloned()).collect();
            names.sort();
            names
        };
        f.debug_struct("Settings")
            .field("names", &names(&self.values))
            .field("shop_secret_names", &names(&self.secret))
            .finish()
    }
}

impl Settings {
    pub fn from_process_env() -> Self {
        Self {
            values: None,
            secret: None,
        }
    }

    pub fn from_map(values: HashMap<String, String>) -> Self {
        Self {
            values: Some(values),
            secret: None,
        }
    }

    /// These settings with the shop secret's text (a JSON object of strings) laid over them.
    /// Keys of no shop secret setting are left unread (a newer release's key must not stop an
    /// older one from starting after a rollback); errors name the key, never a value.
    pub fn with_shop_secret(mut self, text: &str) -> Result<Self, ConfigError> {
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
            .map_err(|_| {
                ConfigError::new(
                    SHOP_SECRET_ARN,
                    "must hold a JSON object of strings keyed like the settings",
                )
            })?;
        let mut secret = HashMap::new();
        for (key, value) in object {
            if !SHOP_SECRET_KEYS.contains(&key.as_str()) {
                tracing::warn!(key, "the shop secret holds a key no setting reads; ignored");
                continue;
            }
            let serde_json::Value::String(value) = value else {
                return Err(ConfigError::new(
                    &key,
                    "in the shop secret must be a string",
                ));
            };
            secret.insert(key, value);
        }
        self.secret = Some(secret);
        Ok(self)
    }

    pub fn get(&self, name: &str) -> Option<String> {
        let from_secret = self.secret.as_ref().and_then(|s| s.get(name).cloned());
        let raw = from_secret.or_else(|| match &self.values {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        });
        raw.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.get(name).ok_or_else(|| {
            if self.secret.is_some() && SHOP_SECRET_KEYS.contains(&name) {
                ConfigError::new(name, "is not in the shop secret (SHOP_SECRET_ARN)")
            } else {
                ConfigError::new(name, "is not set (or empty)")
            }
        })
    }

    /// A whole number within `range`, or `default` when unset.
    pub fn number_in(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<i64>,
        default: i64,
    ) -> Result<i64, ConfigError> {
        match self.get(name) {
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    ConfigError::new(
                        name,
                        format!("must be {} to {}", range.start(), range.end()),
                    )
                }),
            None => Ok(default),
        }
    }

    pub fn secret(&self, name: &str) -> Result<SecretString, ConfigError> {
        self.required(name).map(SecretString::from)
    }

    /// A provider base URL: the setting when present, else the real provider. No trailing slash.
    pub fn base_url(&self, name: &str, default: &str) -> Result<String, ConfigError> {
        let url = self.get(name).unwrap_or_else(|| default.to_string());
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ConfigError::new(name, "must be an http(s) URL"));
        }
        Ok(url.trim_end_matches('/').to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_settings_are_named() {
        let s = Settings::from_map([("EMPTY".to_string(), "  ".to_string())].into());
        assert_eq!(s.required("EMPTY").unwrap_err().name, "EMPTY");
        assert_eq!(s.required("ABSENT").unwrap_err().name, "ABSENT");
    }

    fn plain(pairs: &[(&str, &str)]) -> Settings {
        Settings::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn the_shop_secret_wins_over_plain_settings_and_leaves_the_rest() {
        // given plain settings and a shop secret holding one of them
        let settings = plain(&[("JWT_SECRET", "from-env"), ("USERS_TABLE", "users")])
            .with_shop_secret(r#"{"JWT_SECRET":"from-secret","KUAIDI100_SALT":"salt"}"#)
            .unwrap();
        // then the secret's values are read, and the other settings as before
        assert_eq!(settings.get("JWT_SECRET").as_deref(), Some("from-secret"));
        assert_eq!(settings.get("KUAIDI100_SALT").as_deref(), Some("salt"));
        assert_eq!(settings.get("USERS_TABLE").as_deref(), Some("users"));
    }

    #[test]
    fn a_key_missing_from_the_shop_secret_is_named_as_such() {
        let settings = plain(&[])
            .with_shop_secret(r#"{"JWT_SECRET":"s"}"#)
            .unwrap();
        let err = settings.required("WECHATPAY_APIV3_KEY").unwrap_err();
        assert_eq!(err.name, "WECHATPAY_APIV3_KEY");
        assert!(err.to_string().contains("not in the shop secret"), "{err}");
        // a setting that is no secret is still reported as unset
        let err = settings.required("USERS_TABLE").unwrap_err();
        assert!(err.to_string().contains("is not set"), "{err}");
    }

    #[test]
    fn a_malformed_shop_secret_is_refused_without_its_text() {
        let value = "-----BEGIN PRIVATE KEY-----abc";
        for text in [
            format!("not json {value}"),
            format!(r#"["{value}"]"#),
            format!(r#"{{"JWT_SECRET":"x" "{value}"}}"#),
        ] {
            let err = plain(&[]).with_shop_secret(&text).unwrap_err();
            assert_eq!(err.name, SHOP_SECRET_ARN);
            assert!(!err.to_string().contains("BEGIN"), "{err}");
        }
        // a value that is not a string names its key, not its value
        let err = plain(&[])
            .with_shop_secret(r#"{"WECHATPAY_APIV3_KEY": 12345678}"#)
            .unwrap_err();
        assert_eq!(err.name, "WECHATPAY_APIV3_KEY");
        assert!(!err.to_string().contains("12345678"), "{err}");
    }

    #[test]
    fn keys_of_no_setting_are_ignored_so_a_rollback_still_starts() {
        let settings = plain(&[])
            .with_shop_secret(r#"{"JWT_SECRET":"s","SOME_FUTURE_KEY":"v","USERS_TABLE":"x"}"#)
            .unwrap();
        assert_eq!(settings.get("SOME_FUTURE_KEY"), None);
        assert_eq!(settings.get("USERS_TABLE"), None);
    }

    #[test]
    fn debug_output_names_settings_but_prints_no_value() {
        let settings = plain(&[("JWT_SECRET", "hunter2-hunter2")])
            .with_shop_secret(r#"{"WECHATPAY_APIV3_KEY":"k3y-k3y-k3y"}"#)
            .unwrap();
        let shown = format!("{settings:?}");
        assert!(shown.contains("JWT_SECRET") && shown.contains("WECHATPAY_APIV3_KEY"));
        assert!(
            !shown.contains("hunter2") && !shown.contains("k3y"),
            "{shown}"
        );
    }

    #[test]
    fn base_urls_must_be_http_and_lose_trailing_slashes() {
        let s = Settings::from_map(
            [
                ("A".to_string(), "http://127.0.0.1:9/".to_string()),
                ("B".to_string(), "ftp://x".to_string()),
            ]
            .into(),
        );
        assert_eq!(s.base_url("A", "https://d").unwrap(), "http://127.0.0.1:9");
        assert_eq!(s.base_url("NONE", "https://d").unwrap(), "https://d");
        assert!(s.base_url("B", "https://d").is_err());
    }
}
