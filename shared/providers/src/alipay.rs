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

/// The exact text of `"<name>": {...}`'s object in an OpenAPI answer: Alipay signs those bytes,
/// so they are verified as they came, not as re-serialized.
pub fn response_object<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("\"{name}\"");
    let after_key = body.find(&key)? + key.len();
    let rest = &body[after_key..];
    let start = after_key + rest.find('{')?;
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, c) in body[start..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '{' if !in_string => depth += 1,
            '}' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    return Some(&body[start..=start + i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// Why an Alipay call did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum AlipayError {
    #[error("Alipay could not be reached: {0}")]
    Transport(String),
    #[error("Alipay's answer is not signed by Alipay's key")]
    BadSignature,
    #[error("Alipay's answer cannot be read")]
    Unreadable,
    /// Alipay refused: `code` (40004 business failure, 40002 bad parameter, ...) and `sub_code`
    /// (`ACQ.TRADE_NOT_EXIST`, `isv.code-invalid`, ...).
    #[error("Alipay refused: {code} {sub_code}")]
    Refused { code: String, sub_code: String },
}

impl AlipayError {
    pub fn sub_code(&self) -> Option<&str> {
        match self {
            AlipayError::Refused { sub_code, .. } => Some(sub_code),
            _ => None,
        }
    }
}

/// A trade as `alipay.trade.query` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeState {
    pub out_trade_no: String,
    pub trade_no: String,
    pub trade_status: String,
    pub total: Fen,
    pub app_id: String,
}

/// `yyyy-MM-dd HH:mm:ss` in China time, as Alipay writes and reads times.
fn china_time(epoch_seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch_seconds + 8 * 3600)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// The Alipay OpenAPI for our mini-program: requests signed with the app's private key, answers
/// verified with Alipay's public key. Built once per cold start.
pub struct AlipayClient {
    http: reqwest::Client,
    gateway: String,
    app: AlipayApp,
    private_key: SigningKey,
    notify_url: Option<String>,
}

impl AlipayClient {
    /// `ALIPAY_APP_ID`, `ALIPAY_PUBLIC_KEY`, `ALIPAY_PRIVATE_KEY` (the app's key, a secret),
    /// `ALIPAY_API_BASE` (default https://openapi.alipay.com), `ALIPAY_NOTIFY_URL`; None for a
    /// shop without Alipay.
    pub fn from_settings(
        settings: &crate::config::Settings,
        http: reqwest::Client,
    ) -> Result<Option<Self>, crate::config::ConfigError> {
        let Some(app) = AlipayApp::from_settings(settings)? else {
            return Ok(None);
        };
        let key = settings.required("ALIPAY_PRIVATE_KEY")?;
        let pem = if key.contains("-----BEGIN") {
            key
        } else {
            crate::crypto::pem_encode(
                "PRIVATE KEY",
                &base64::Engine::decode(
                    &base64::engine::general_purpose::STANDARD,
                    key.split_whitespace().collect::<String>(),
                )
                .map_err(|_| {
                    crate::config::ConfigError::new(
                        "ALIPAY_PRIVATE_KEY",
                        "must be a PKCS#8 RSA key",
                    )
                })?,
            )
        };
        Ok(Some(Self {
            http,
            gateway: format!(
                "{}/gateway.do",
                settings.base_url("ALIPAY_API_BASE", "https://openapi.alipay.com")?
            ),
            private_key: SigningKey::from_pem(&pem).map_err(|_| {
                crate::config::ConfigError::new("ALIPAY_PRIVATE_KEY", "must be a PKCS#8 RSA key")
            })?,
            notify_url: settings.get("ALIPAY_NOTIFY_URL"),
            app,
        }))
    }

    pub fn app_id(&self) -> &str {
        &self.app.app_id
    }

    /// One OpenAPI call: common parameters, `biz_content`, RSA2 signature; the answer's
    /// `<method>_response` verified before it is read. Alipay's `10000` is success.
    async fn call(
        &self,
        method: &str,
        biz: Option<&serde_json::Value>,
        extra: &[(&str, &str)],
        now: i64,
    ) -> Result<serde_json::Value, AlipayError> {
        let timestamp = china_time(now);
        let biz_text = biz.map(serde_json::Value::to_string);
        let mut params: Vec<(&str, &str)> = vec![
            ("app_id", self.app.app_id.as_str()),
            ("method", method),
            ("format", "JSON"),
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("timestamp", &timestamp),
            ("version", "1.0"),
        ];
        if let Some(text) = &biz_text {
            params.push(("biz_content", text));
        }
        if method == "alipay.trade.create"
            && let Some(url) = &self.notify_url
        {
            params.push(("notify_url", url));
        }
        params.extend_from_slice(extra);
        let sign = sign_request(&self.private_key, params.iter().copied());
        params.push(("sign", &sign));
        let body = self
            .http
            .post(&self.gateway)
            .form(&params)
            .send()
            .await
            .map_err(|e| AlipayError::Transport(e.without_url().to_string()))?
            .text()
            .await
            .map_err(|e| AlipayError::Transport(e.without_url().to_string()))?;
        let name = format!("{}_response", method.replace('.', "_"));
        let (object, name) = match response_object(&body, &name) {
            Some(object) => (object, name),
            None => (
                response_object(&body, "error_response").ok_or(AlipayError::Unreadable)?,
                "error_response".to_string(),
            ),
        };
        let whole: serde_json::Value =
            serde_json::from_str(&body).map_err(|_| AlipayError::Unreadable)?;
        let signature = whole["sign"].as_str().unwrap_or("");
        if !self
            .app
            .public_key
            .verify_base64(object.as_bytes(), signature)
        {
            return Err(AlipayError::BadSignature);
        }
        let answer = whole[&name].clone();
        match answer["code"].as_str() {
            None | Some("10000") if name != "error_response" => Ok(answer),
            _ => Err(AlipayError::Refused {
                code: answer["code"].as_str().unwrap_or("").to_string(),
                sub_code: answer["sub_code"].as_str().unwrap_or("").to_string(),
            }),
        }
    }

    /// `my.getAuthCode` -> the shopper's Alipay id for this app (`open_id`, or `user_id` for apps
    /// still on the old id).
    pub async fn login(&self, auth_code: &str, now: i64) -> Result<String, AlipayError> {
        let answer = self
            .call(
                "alipay.system.oauth.token",
                None,
                &[("grant_type", "authorization_code"), ("code", auth_code)],
                now,
            )
            .await?;
        answer["open_id"]
            .as_str()
            .or(answer["user_id"].as_str())
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .ok_or(AlipayError::Unreadable)
    }

    /// `alipay.trade.create` for a mini-program payment: the `tradeNO` my.tradePay takes.
    pub async fn create_trade(
        &self,
        out_trade_no: &str,
        total: Fen,
        subject: &str,
        buyer_open_id: &str,
        pay_deadline: i64,
        now: i64,
    ) -> Result<String, AlipayError> {
        let expire = china_time(pay_deadline);
        let biz = serde_json::json!({
            "out_trade_no": out_trade_no,
            "total_amount": total.yuan_text(),
            "subject": subject,
            "buyer_open_id": buyer_open_id,
            "product_code": "JSAPI_PAY",
            "op_app_id": self.app.app_id,
            "time_expire": expire,
        });
        let answer = self
            .call("alipay.trade.create", Some(&biz), &[], now)
            .await?;
        answer["trade_no"]
            .as_str()
            .map(str::to_string)
            .ok_or(AlipayError::Unreadable)
    }

    pub async fn query(&self, out_trade_no: &str, now: i64) -> Result<TradeState, AlipayError> {
        let biz = serde_json::json!({"out_trade_no": out_trade_no});
        let answer = self
            .call("alipay.trade.query", Some(&biz), &[], now)
            .await?;
        let text = |k: &str| answer[k].as_str().unwrap_or("").to_string();
        Ok(TradeState {
            out_trade_no: text("out_trade_no"),
            trade_no: text("trade_no"),
            trade_status: text("trade_status"),
            total: Fen::parse_yuan(&text("total_amount")).map_err(|_| AlipayError::Unreadable)?,
            app_id: self.app.app_id.clone(),
        })
    }

    pub async fn close(&self, out_trade_no: &str, now: i64) -> Result<(), AlipayError> {
        let biz = serde_json::json!({"out_trade_no": out_trade_no});
        self.call("alipay.trade.close", Some(&biz), &[], now)
            .await
            .map(|_| ())
    }

    /// Refunds are synchronous at Alipay: `fund_change` Y (or the same `out_request_no` asked
    /// again) means the money is on its way back.
    pub async fn refund(
        &self,
        out_trade_no: &str,
        out_request_no: &str,
        amount: Fen,
        reason: &str,
        now: i64,
    ) -> Result<(), AlipayError> {
        let biz = serde_json::json!({
            "out_trade_no": out_trade_no,
            "out_request_no": out_request_no,
            "refund_amount": amount.yuan_text(),
            "refund_reason": reason,
        });
        self.call("alipay.trade.refund", Some(&biz), &[], now)
            .await
            .map(|_| ())
    }
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
    fn the_signed_answer_is_the_exact_text_of_its_object() {
        let body = r#"{"alipay_trade_query_response":{"code":"10000","msg":"Success","subject":"a \"}\" b","n":{"x":1}},"sign":"abc"}"#;
        assert_eq!(
            response_object(body, "alipay_trade_query_response"),
            Some(r#"{"code":"10000","msg":"Success","subject":"a \"}\" b","n":{"x":1}}"#)
        );
        assert_eq!(response_object(body, "error_response"), None);
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
