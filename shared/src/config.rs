//! Reading settings. On Lambda they come from the environment; the local gateway and tests
//! hand each function its own map, so many stacks (one per test) can live in one process.
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

#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `None` reads the process environment.
    values: Option<HashMap<String, String>>,
}

impl Settings {
    pub fn from_process_env() -> Self {
        Self { values: None }
    }

    pub fn from_map(values: HashMap<String, String>) -> Self {
        Self {
            values: Some(values),
        }
    }

    pub fn get(&self, name: &str) -> Option<String> {
        let raw = match &self.values {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        };
        raw.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.get(name)
            .ok_or_else(|| ConfigError::new(name, "is not set (or empty)"))
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
