//! The courier port and its Kuaidi100 adapter: e-waybills (电子面单) through the label API, and
//! tracking subscriptions whose pushes come back to the logistics hook.

use crate::config::{ConfigError, Settings};
use md5::{Digest, Md5};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

const DEFAULT_API_BASE: &str = "https://api.kuaidi100.com";

/// What a waybill needs: who sends, who receives, what.
#[derive(Debug, Clone)]
pub struct WaybillRequest<'a> {
    /// Our order number; the courier answers the same waybill for the same order.
    pub order_id: &'a str,
    pub company: &'a str,
    pub sender_name: &'a str,
    pub sender_phone: &'a str,
    pub sender_address: &'a str,
    pub recipient_name: &'a str,
    pub recipient_phone: &'a str,
    pub recipient_address: &'a str,
    pub cargo: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waybill {
    pub company: String,
    pub number: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CourierError {
    #[error("the courier could not be reached")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the courier refused: {code} {message}")]
    Refused { code: String, message: String },
}

/// The courier, as fulfillment sees it.
#[async_trait::async_trait]
pub trait Courier: Send + Sync {
    async fn create_waybill(&self, request: &WaybillRequest<'_>) -> Result<Waybill, CourierError>;
    /// Asks for tracking pushes for the waybill; subscribing twice is not an error.
    async fn subscribe(&self, waybill: &Waybill, recipient_phone: &str)
    -> Result<(), CourierError>;
}

pub struct Kuaidi100 {
    http: reqwest::Client,
    base: String,
    key: String,
    secret: SecretString,
    salt: SecretString,
    callback_url: String,
}

fn md5_upper(parts: &[&str]) -> String {
    let mut md5 = Md5::new();
    for part in parts {
        md5.update(part.as_bytes());
    }
    hex::encode_upper(md5.finalize())
}

impl Kuaidi100 {
    pub fn new(settings: &Settings, http: reqwest::Client) -> Result<Self, ConfigError> {
        Ok(Self {
            http,
            base: settings.base_url("KUAIDI100_API_BASE", DEFAULT_API_BASE)?,
            key: settings.required("KUAIDI100_KEY")?,
            secret: settings.secret("KUAIDI100_SECRET")?,
            salt: settings.secret("KUAIDI100_SALT")?,
            callback_url: settings.required("LOGISTICS_NOTIFY_URL")?,
        })
    }

    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Result<Value, CourierError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .map_err(|e| CourierError::Unavailable(Box::new(e.without_url())))?;
        if !response.status().is_success() {
            return Err(CourierError::Unavailable(
                format!("HTTP {}", response.status()).into(),
            ));
        }
        response
            .json()
            .await
            .map_err(|e| CourierError::Unavailable(Box::new(e.without_url())))
    }
}

#[async_trait::async_trait]
impl Courier for Kuaidi100 {
    async fn create_waybill(&self, request: &WaybillRequest<'_>) -> Result<Waybill, CourierError> {
        let param = json!({
            "kuaidicom": request.company,
            "orderId": request.order_id,
            "recMan": {"name": request.recipient_name, "mobile": request.recipient_phone, "printAddr": request.recipient_address},
            "sendMan": {"name": request.sender_name, "mobile": request.sender_phone, "printAddr": request.sender_address},
            "cargo": request.cargo,
            "count": 1,
            "printType": "NON",
        })
        .to_string();
        let t = crate::clock::now_epoch_seconds()
            .saturating_mul(1000)
            .to_string();
        let sign = md5_upper(&[&param, &t, &self.key, self.secret.expose_secret()]);
        let answer = self
            .post_form(
                "/label/order",
                &[
                    ("method", "order"),
                    ("key", &self.key),
                    ("t", &t),
                    ("sign", &sign),
                    ("param", &param),
                ],
            )
            .await?;
        let number = answer
            .pointer("/data/kuaidinum")
            .and_then(Value::as_str)
            .filter(|_| answer.get("success").and_then(Value::as_bool) == Some(true));
        match number {
            Some(number) => Ok(Waybill {
                company: request.company.to_string(),
                number: number.to_string(),
            }),
            None => Err(CourierError::Refused {
                code: answer.get("code").map(Value::to_string).unwrap_or_default(),
                message: answer
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .chars()
                    .take(200)
                    .collect(),
            }),
        }
    }

    async fn subscribe(
        &self,
        waybill: &Waybill,
        recipient_phone: &str,
    ) -> Result<(), CourierError> {
        let param = json!({
            "company": waybill.company,
            "number": waybill.number,
            "key": self.key,
            "parameters": {
                "callbackurl": self.callback_url,
                "salt": self.salt.expose_secret(),
                "resultv2": "1",
                "phone": recipient_phone,
            },
        })
        .to_string();
        let answer = self
            .post_form("/poll", &[("schema", "json"), ("param", &param)])
            .await?;
        let code = answer
            .get("returnCode")
            .and_then(|c| {
                c.as_str()
                    .map(str::to_string)
                    .or_else(|| c.as_i64().map(|n| n.to_string()))
            })
            .unwrap_or_default();
        // 501: this waybill is subscribed already, which is what we wanted.
        if answer.get("result").and_then(Value::as_bool) == Some(true) || code == "501" {
            return Ok(());
        }
        Err(CourierError::Refused {
            code,
            message: answer
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .chars()
                .take(200)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_are_uppercase_md5_of_the_parts_in_order() {
        // MD5("abc") = 900150983cd24fb0d6963f7d28e17f72
        assert_eq!(md5_upper(&["a", "bc"]), "900150983CD24FB0D6963F7D28E17F72");
    }
}
