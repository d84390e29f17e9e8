//! Alipay (支付宝) OpenAPI signing and its asynchronous payment notification.
//!
//! Requests and notifications are signed RSA2 (SHA256withRSA, base64): over the parameters
//! sorted by name, empty values left out, joined `k=v` with `&` (values as they are, not
//! URL-encoded). A request signs every parameter but `sign`; a notification is verified over
//! every parameter but `sign` and `sign_type`. The notification's `total_amount` is a decimal
//! string in yuan, read exactly to fen ("0.1" is 10 fen; "1.005" is refused).

use crate::crypto::{SigningKey, VerifyingKey};
use crate::money::Fen;

/// The text a signature covers: `k=v&k=v`, sorted by key, empty values and `skip` left out.
pub fn signing_content<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    skip: &[&str],
) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .into_iter()
        .filter(|(k, v)| !v.is_empty() && !skip.contains(k))
        .collect();
    pairs.sort_unstable();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Signs a request's parameters (everything but `sign`) with the app's private key.
pub fn sign_request<'a>(
    key: &SigningKey,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    key.sign_base64(signing_content(params, &["sign"]).as_bytes())
}

/// Why a notification was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoticeError {
    #[error("not a form body")]
    Malformed,
    #[error("the sign does not verify with the Alipay public key")]
    BadSignature,
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("total_amount {0:?} is not an amount in yuan with at most two decimals")]
    BadAmount(String),
}

/// What an authentic notification says about a trade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeNotice {
    pub notify_id: String,
    pub app_id: String,
    pub out_trade_no: String,
    /// Alipay's trade number (`trade_no`).
    pub trade_no: String,
    /// `WAIT_BUYER_PAY`, `TRADE_CLOSED`, `TRADE_SUCCESS` or `TRADE_FINISHED`.
    pub trade_status: String,
    pub total: Fen,
    pub gmt_payment: Option<String>,
}

impl TradeNotice {
    /// `TRADE_SUCCESS` and `TRADE_FINISHED` mean the money arrived.
    pub fn is_paid(&self) -> bool {
        matches!(
            self.trade_status.as_str(),
            "TRADE_SUCCESS" | "TRADE_FINISHED"
        )
    }
}

/// Verifies an asynchronous notification (the form body as it arrived) with Alipay's public key
/// before reading anything from it, then reads it.
pub fn read_notification(
    form: &[(String, String)],
    alipay_key: &VerifyingKey,
) -> Result<TradeNotice, NoticeError> {
    let field = |name: &'static str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let sign = field("sign").ok_or(NoticeError::BadSignature)?;
    let content = signing_content(
        form.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &["sign", "sign_type"],
    );
    if !alipay_key.verify_base64(content.as_bytes(), sign) {
        return Err(NoticeError::BadSignature);
    }
    let required = |name: &'static str| {
        field(name)
            .map(str::to_string)
            .ok_or(NoticeError::Missing(name))
    };
    let amount = required("total_amount")?;
    Ok(TradeNotice {
        notify_id: required("notify_id")?,
        app_id: required("app_id")?,
        out_trade_no: required("out_trade_no")?,
        trade_no: required("trade_no")?,
        trade_status: required("trade_status")?,
        total: Fen::parse_yuan(&amount).map_err(|_| NoticeError::BadAmount(amount.clone()))?,
        gmt_payment: field("gmt_payment").map(str::to_string),
    })
}

/// Our Alipay mini-program as its notifications must name it, and Alipay's key that signs them.
pub struct AlipayApp {
    pub app_id: String,
    pub public_key: VerifyingKey,
}

impl AlipayApp {
    /// `ALIPAY_APP_ID` and `ALIPAY_PUBLIC_KEY`, both or neither: a shop without Alipay sets none.
    pub fn from_settings(
        settings: &crate::config::Settings,
    ) -> Result<Option<Self>, crate::config::ConfigError> {
        match (
            settings.get("ALIPAY_APP_ID"),
            settings.get("ALIPAY_PUBLIC_KEY"),
        ) {
            (None, None) => Ok(None),
            (Some(app_id), Some(key)) => Ok(Some(Self {
                public_key: verifying_key(&key).map_err(|_| {
                    crate::config::ConfigError::new(
                        "ALIPAY_PUBLIC_KEY",
                        "must be the Alipay public key (PEM or the console's base64)",
                    )
                })?,
                app_id,
            })),
            (Some(_), None) => Err(crate::config::ConfigError::new(
                "ALIPAY_PUBLIC_KEY",
                "is required with ALIPAY_APP_ID",
            )),
            (None, Some(_)) => Err(crate::config::ConfigError::new(
                "ALIPAY_APP_ID",
                "is required with ALIPAY_PUBLIC_KEY",
            )),
        }
    }
}

/// A key from Alipay's console: PEM, or the bare base64 the console shows.
pub fn verifying_key(text: &str) -> Result<VerifyingKey, crate::crypto::CryptoError> {
    if text.contains("-----BEGIN") {
        return VerifyingKey::from_pem(text);
    }
    let pem = crate::crypto::pem_encode(
        "PUBLIC KEY",
        &base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            text.split_whitespace().collect::<String>(),
        )
        .map_err(|_| crate::crypto::CryptoError::BadKey)?,
    );
    VerifyingKey::from_pem(&pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(alipay: &SigningKey, amount: &str) -> Vec<(String, String)> {
        let mut form: Vec<(String, String)> = [
            ("notify_time", "2026-11-25 10:00:00"),
            ("notify_type", "trade_status_sync"),
            ("notify_id", "ac05099524730693a8b330c5ecf72da9786"),
            ("charset", "utf-8"),
            ("version", "1.0"),
            ("app_id", "2021000000000001"),
            ("out_trade_no", "20261125abcdefghijklmnop"),
            ("trade_no", "2026112522001400000000000001"),
            ("trade_status", "TRADE_SUCCESS"),
            ("total_amount", amount),
            ("subject", "西湖龙井 & 碧螺春"),
            ("buyer_logon_id", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let sign = alipay.sign_base64(
            signing_content(
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                &["sign", "sign_type"],
            )
            .as_bytes(),
        );
        form.push(("sign_type".into(), "RSA2".into()));
        form.push(("sign".into(), sign));
        form
    }

    #[test]
    fn the_signed_text_is_sorted_without_empties_or_the_sign() {
        let text = signing_content(
            [
                ("b", "2"),
                ("a", "1"),
                ("sign", "x"),
                ("c", ""),
                ("sign_type", "RSA2"),
            ],
            &["sign", "sign_type"],
        );
        assert_eq!(text, "a=1&b=2");
        assert_eq!(
            signing_content([("sign_type", "RSA2"), ("app_id", "1")], &["sign"]),
            "app_id=1&sign_type=RSA2",
            "a request signs its sign_type"
        );
    }

    #[test]
    fn a_request_is_signed_over_everything_but_its_sign() {
        let app = SigningKey::generate();
        let params = [
            ("method", "alipay.trade.query"),
            ("app_id", "2021"),
            ("sign_type", "RSA2"),
        ];
        let sign = sign_request(&app, params);
        let text = "app_id=2021&method=alipay.trade.query&sign_type=RSA2";
        assert!(app.verifying_key().verify_base64(text.as_bytes(), &sign));
    }

    #[test]
    fn an_authentic_notice_is_read_with_its_amount_exact_to_the_fen() {
        let alipay = SigningKey::generate();
        let key = alipay.verifying_key();
        let read = read_notification(&notice(&alipay, "0.1"), &key).unwrap();
        assert_eq!(read.total, Fen::new(10));
        assert!(read.is_paid());
        assert_eq!(read.out_trade_no, "20261125abcdefghijklmnop");
        assert_eq!(
            read_notification(&notice(&alipay, "1.005"), &key).unwrap_err(),
            NoticeError::BadAmount("1.005".into())
        );
    }

    #[test]
    fn a_forged_or_altered_notice_is_refused_before_it_is_read() {
        let alipay = SigningKey::generate();
        let forger = SigningKey::generate();
        let key = alipay.verifying_key();
        assert_eq!(
            read_notification(&notice(&forger, "88.00"), &key).unwrap_err(),
            NoticeError::BadSignature
        );
        let mut altered = notice(&alipay, "0.01");
        for (k, v) in &mut altered {
            if k == "total_amount" {
                *v = "888.00".into();
            }
        }
        assert_eq!(
            read_notification(&altered, &key).unwrap_err(),
            NoticeError::BadSignature
        );
        let unsigned: Vec<(String, String)> = notice(&alipay, "1.00")
            .into_iter()
            .filter(|(k, _)| k != "sign")
            .collect();
        assert_eq!(
            read_notification(&unsigned, &key).unwrap_err(),
            NoticeError::BadSignature
        );
    }

    #[test]
    fn console_keys_are_read_bare_or_as_pem() {
        let alipay = SigningKey::generate();
        let pem = alipay.public_pem();
        let bare: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let message = b"app_id=1";
        let signature = alipay.sign_base64(message);
        assert!(
            verifying_key(&pem)
                .unwrap()
                .verify_base64(message, &signature)
        );
        assert!(
            verifying_key(&bare)
                .unwrap()
                .verify_base64(message, &signature)
        );
        assert!(verifying_key("not a key").is_err());
    }
}
