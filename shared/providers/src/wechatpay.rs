//! WeChat Pay API v3 for mini-program (JSAPI) payments: signed requests, verified answers,
//! the parameters for `wx.requestPayment`, and verified, decrypted notifications.

use crate::config::{ConfigError, Settings};
use crate::crypto::{self, SigningKey, VerifyingKey};
use crate::ids::OrderId;
use crate::money::Fen;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;

pub const DEFAULT_API_BASE: &str = "https://api.mch.weixin.qq.com";
/// Notifications and answers older or newer than this are refused (replays).
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;
const SIGNATURE_SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";

/// WeChat Pay's keys, by the serial it names in `Wechatpay-Serial`: its public key
/// (`PUB_KEY_ID_…`) and any platform certificates, so a migration between them loses nothing.
#[derive(Clone, Default)]
pub struct PlatformKeys(HashMap<String, VerifyingKey>);

impl PlatformKeys {
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let mut keys = HashMap::new();
        if let Some(pem) = settings.get("WECHATPAY_PUBLIC_KEY") {
            let key = VerifyingKey::from_pem(&pem)
                .map_err(|e| ConfigError::new("WECHATPAY_PUBLIC_KEY", e.to_string()))?;
            keys.insert(settings.required("WECHATPAY_PUBLIC_KEY_ID")?, key);
        }
        if let Some(pem) = settings.get("WECHATPAY_PLATFORM_CERTIFICATES") {
            let pem = pem.replace("\\n", "\n");
            for der in crypto::pem_blocks(&pem, "CERTIFICATE") {
                let (serial, key) = crypto::certificate_serial_and_key(&der).map_err(|e| {
                    ConfigError::new("WECHATPAY_PLATFORM_CERTIFICATES", e.to_string())
                })?;
                keys.insert(serial, key);
            }
        }
        if keys.is_empty() {
            return Err(ConfigError::new(
                "WECHATPAY_PUBLIC_KEY",
                "is not set (nor WECHATPAY_PLATFORM_CERTIFICATES)",
            ));
        }
        Ok(Self(keys))
    }

    pub fn insert(&mut self, serial: impl Into<String>, key: VerifyingKey) {
        self.0.insert(serial.into(), key);
    }

    /// Checks `TIMESTAMP\nNONCE\nBODY\n` against the signature headers WeChat Pay sends with
    /// every notification and every answer.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), SignatureError> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or(SignatureError::MissingHeader)
        };
        let serial = header("wechatpay-serial")?;
        let timestamp = header("wechatpay-timestamp")?;
        let nonce = header("wechatpay-nonce")?;
        let signature = header("wechatpay-signature")?;
        if let Some(kind) = headers
            .get("wechatpay-signature-type")
            .and_then(|v| v.to_str().ok())
            && kind != SIGNATURE_SCHEME
        {
            return Err(SignatureError::UnknownScheme);
        }
        let key = self.0.get(serial).ok_or(SignatureError::UnknownSerial)?;
        let at: i64 = timestamp.parse().map_err(|_| SignatureError::Stale)?;
        if (now - at).abs() > MAX_CLOCK_SKEW_SECONDS {
            return Err(SignatureError::Stale);
        }
        let mut message = Vec::with_capacity(body.len() + 64);
        message.extend_from_slice(format!("{timestamp}\n{nonce}\n").as_bytes());
        message.extend_from_slice(body);
        message.push(b'\n');
        if key.verify_base64(&message, signature) {
            Ok(())
        } else {
            Err(SignatureError::BadSignature)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("a Wechatpay-* signature header is missing")]
    MissingHeader,
    #[error("unknown signature type")]
    UnknownScheme,
    #[error("Wechatpay-Serial names no configured key")]
    UnknownSerial,
    #[error("timestamp more than 5 minutes off")]
    Stale,
    #[error("signature does not verify")]
    BadSignature,
}

/// The AES-256-GCM key notifications are encrypted with (the 32-character APIv3 key).
#[derive(Clone)]
pub struct ApiV3Key(SecretString);

impl ApiV3Key {
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let key = settings.secret("WECHATPAY_APIV3_KEY")?;
        if key.expose_secret().len() != 32 {
            return Err(ConfigError::new(
                "WECHATPAY_APIV3_KEY",
                "must be exactly 32 characters",
            ));
        }
        Ok(Self(key))
    }

    pub fn new(key: SecretString) -> Self {
        Self(key)
    }

    pub fn decrypt(&self, resource: &EncryptedResource) -> Result<Vec<u8>, NotificationError> {
        let ciphertext = STANDARD
            .decode(&resource.ciphertext)
            .map_err(|_| NotificationError::Undecryptable)?;
        crypto::aes_256_gcm_decrypt(
            self.0.expose_secret().as_bytes(),
            resource.nonce.as_bytes(),
            resource.associated_data.as_deref().unwrap_or("").as_bytes(),
            &ciphertext,
        )
        .map_err(|_| NotificationError::Undecryptable)
    }

    pub fn encrypt(
        &self,
        nonce: &str,
        aad: &str,
        plain: &[u8],
    ) -> Result<String, crypto::CryptoError> {
        crypto::aes_256_gcm_encrypt(
            self.0.expose_secret().as_bytes(),
            nonce.as_bytes(),
            aad.as_bytes(),
            plain,
        )
        .map(|c| STANDARD.encode(c))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EncryptedResource {
    pub algorithm: String,
    pub ciphertext: String,
    pub nonce: String,
    #[serde(default)]
    pub associated_data: Option<String>,
    #[serde(default)]
    pub original_type: Option<String>,
}

/// A notification envelope as WeChat Pay posts it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotificationEnvelope {
    pub id: String,
    pub create_time: String,
    pub event_type: String,
    pub resource_type: String,
    #[serde(default)]
    pub summary: String,
    pub resource: EncryptedResource,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error("signature: {0}")]
    Signature(#[from] SignatureError),
    #[error("the body is not a WeChat Pay notification")]
    Malformed,
    #[error("the resource cannot be decrypted")]
    Undecryptable,
}

/// A payment's state as WeChat Pay reports it (decrypted notification or query answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub appid: String,
    pub mchid: String,
    pub out_trade_no: String,
    #[serde(default)]
    pub transaction_id: Option<String>,
    pub trade_state: String,
    #[serde(default)]
    pub success_time: Option<String>,
    #[serde(default)]
    pub amount: Option<TransactionAmount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionAmount {
    pub total: u64,
    #[serde(default)]
    pub payer_total: Option<u64>,
    #[serde(default)]
    pub currency: Option<String>,
}

/// Verifies a notification's signature over the exact raw body, then decrypts its resource.
pub fn open_notification(
    keys: &PlatformKeys,
    apiv3: &ApiV3Key,
    headers: &HeaderMap,
    raw_body: &[u8],
    now: i64,
) -> Result<(NotificationEnvelope, Vec<u8>), NotificationError> {
    keys.verify(headers, raw_body, now)?;
    let envelope: NotificationEnvelope =
        serde_json::from_slice(raw_body).map_err(|_| NotificationError::Malformed)?;
    if envelope.resource.algorithm != "AEAD_AES_256_GCM" {
        return Err(NotificationError::Undecryptable);
    }
    let plain = apiv3.decrypt(&envelope.resource)?;
    Ok((envelope, plain))
}

/// What `wx.requestPayment` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentParams {
    pub time_stamp: String,
    pub nonce_str: String,
    pub package: String,
    pub sign_type: &'static str,
    pub pay_sign: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PayError {
    #[error("WeChat Pay could not be reached")]
    Unreachable(#[source] reqwest::Error),
    #[error("WeChat Pay answered {status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("WeChat Pay's answer failed verification: {0}")]
    UnverifiedAnswer(SignatureError),
    #[error("WeChat Pay's answer was not understood")]
    Garbled,
}

impl PayError {
    pub fn code(&self) -> Option<&str> {
        match self {
            PayError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// The merchant's side of WeChat Pay. Built once per cold start.
pub struct WeChatPay {
    http: reqwest::Client,
    base: String,
    mchid: String,
    appid: String,
    merchant_serial: String,
    merchant_key: SigningKey,
    notify_url: String,
    platform: PlatformKeys,
}

/// A JSAPI order to place.
pub struct Prepay<'a> {
    pub out_trade_no: &'a OrderId,
    pub description: &'a str,
    pub total: Fen,
    pub payer_openid: &'a str,
    pub time_expire: i64,
}

impl WeChatPay {
    pub fn new(settings: &Settings, http: reqwest::Client) -> Result<Self, ConfigError> {
        let merchant_key = SigningKey::from_pem(&settings.required("WECHATPAY_PRIVATE_KEY")?)
            .map_err(|e| ConfigError::new("WECHATPAY_PRIVATE_KEY", e.to_string()))?;
        Ok(Self {
            http,
            base: settings.base_url("WECHATPAY_API_BASE", DEFAULT_API_BASE)?,
            mchid: settings.required("WECHATPAY_MCHID")?,
            appid: settings.required("WECHAT_APPID")?,
            merchant_serial: settings.required("WECHATPAY_MERCHANT_SERIAL")?,
            merchant_key,
            notify_url: settings.required("WECHATPAY_NOTIFY_URL")?,
            platform: PlatformKeys::from_settings(settings)?,
        })
    }

    pub fn appid(&self) -> &str {
        &self.appid
    }

    pub fn mchid(&self) -> &str {
        &self.mchid
    }

    /// `Authorization` for one request: RSA-SHA256 over `METHOD\nPATH\nTIMESTAMP\nNONCE\nBODY\n`.
    fn authorization(&self, method: &str, path_and_query: &str, body: &str, now: i64) -> String {
        let nonce = crate::ids::random_token(32);
        let message = format!("{method}\n{path_and_query}\n{now}\n{nonce}\n{body}\n");
        let signature = self.merchant_key.sign_base64(message.as_bytes());
        format!(
            "{SIGNATURE_SCHEME} mchid=\"{}\",nonce_str=\"{nonce}\",signature=\"{signature}\",timestamp=\"{now}\",serial_no=\"{}\"",
            self.mchid, self.merchant_serial
        )
    }

    /// Sends a signed request and verifies the signed answer. `Ok(None)` for 204.
    async fn call(
        &self,
        method: http::Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, PayError> {
        let body_text = body.map(Value::to_string).unwrap_or_default();
        let now = crate::clock::now_epoch_seconds();
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path_and_query}", self.base))
            .header(
                "authorization",
                self.authorization(method.as_str(), path_and_query, &body_text, now),
            )
            .header("accept", "application/json");
        if body.is_some() {
            request = request
                .header("content-type", "application/json")
                .body(body_text);
        }
        let response = request
            .send()
            .await
            .map_err(|e| PayError::Unreachable(e.without_url()))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| PayError::Unreachable(e.without_url()))?;
        if status == 204 {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(PayError::Refused {
                status,
                code: v["code"].as_str().unwrap_or("UNKNOWN").to_string(),
                message: v["message"]
                    .as_str()
                    .unwrap_or("")
                    .chars()
                    .take(200)
                    .collect(),
            });
        }
        self.platform
            .verify(&headers, &bytes, now)
            .map_err(PayError::UnverifiedAnswer)?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|_| PayError::Garbled)
    }

    /// Places (or re-places, idempotently by `out_trade_no`) a JSAPI order; returns the prepay_id.
    pub async fn jsapi_prepay(&self, order: &Prepay<'_>) -> Result<String, PayError> {
        let body = json!({
            "appid": self.appid,
            "mchid": self.mchid,
            "description": order.description.chars().take(127).collect::<String>(),
            "out_trade_no": order.out_trade_no.as_str(),
            "time_expire": crate::clock::rfc3339_shanghai(order.time_expire),
            "notify_url": self.notify_url,
            "amount": {"total": order.total.get(), "currency": "CNY"},
            "payer": {"openid": order.payer_openid},
        });
        let answer = self
            .call(
                http::Method::POST,
                "/v3/pay/transactions/jsapi",
                Some(&body),
            )
            .await?
            .ok_or(PayError::Garbled)?;
        answer["prepay_id"]
            .as_str()
            .map(str::to_string)
            .ok_or(PayError::Garbled)
    }

    pub async fn query(&self, out_trade_no: &OrderId) -> Result<Transaction, PayError> {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={}",
            self.mchid
        );
        let answer = self
            .call(http::Method::GET, &path, None)
            .await?
            .ok_or(PayError::Garbled)?;
        serde_json::from_value(answer).map_err(|_| PayError::Garbled)
    }

    /// Closes an unpaid order so it can no longer be paid. Closing a closed order succeeds.
    pub async fn close(&self, out_trade_no: &OrderId) -> Result<(), PayError> {
        let path = format!("/v3/pay/transactions/out-trade-no/{out_trade_no}/close");
        self.call(
            http::Method::POST,
            &path,
            Some(&json!({"mchid": self.mchid})),
        )
        .await
        .map(|_| ())
    }

    /// Asks for a refund; `out_refund_no` makes a repeated request the same refund.
    pub async fn refund(
        &self,
        out_trade_no: &OrderId,
        out_refund_no: &str,
        refund: Fen,
        total: Fen,
        reason: &str,
    ) -> Result<Value, PayError> {
        let body = json!({
            "out_trade_no": out_trade_no.as_str(),
            "out_refund_no": out_refund_no,
            "reason": reason,
            "notify_url": self.notify_url,
            "amount": {"refund": refund.get(), "total": total.get(), "currency": "CNY"},
        });
        self.call(
            http::Method::POST,
            "/v3/refund/domestic/refunds",
            Some(&body),
        )
        .await?
        .ok_or(PayError::Garbled)
    }

    /// paySign over `APPID\nTIMESTAMP\nNONCE\nprepay_id=…\n`; signType is sent but not signed.
    pub fn payment_params(&self, prepay_id: &str, now: i64) -> PaymentParams {
        let nonce = crate::ids::random_token(32);
        let package = format!("prepay_id={prepay_id}");
        let message = format!("{}\n{now}\n{nonce}\n{package}\n", self.appid);
        PaymentParams {
            time_stamp: now.to_string(),
            nonce_str: nonce,
            package,
            sign_type: "RSA",
            pay_sign: self.merchant_key.sign_base64(message.as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed_headers(key: &SigningKey, serial: &str, timestamp: i64, body: &[u8]) -> HeaderMap {
        let nonce = "n0nce";
        let mut message = format!("{timestamp}\n{nonce}\n").into_bytes();
        message.extend_from_slice(body);
        message.push(b'\n');
        let mut h = HeaderMap::new();
        h.insert("wechatpay-serial", serial.parse().unwrap());
        h.insert(
            "wechatpay-timestamp",
            timestamp.to_string().parse().unwrap(),
        );
        h.insert("wechatpay-nonce", nonce.parse().unwrap());
        h.insert(
            "wechatpay-signature",
            key.sign_base64(&message).parse().unwrap(),
        );
        h.insert(
            "wechatpay-signature-type",
            SIGNATURE_SCHEME.parse().unwrap(),
        );
        h
    }

    #[test]
    fn only_a_fresh_signature_by_a_configured_key_passes() {
        let key = SigningKey::generate();
        let mut keys = PlatformKeys::default();
        keys.insert("PUB_KEY_ID_1", key.verifying_key());
        let now = 1_800_000_000;
        let body = br#"{"id":"1"}"#;
        assert_eq!(
            keys.verify(&signed_headers(&key, "PUB_KEY_ID_1", now, body), body, now),
            Ok(())
        );
        assert_eq!(
            keys.verify(&signed_headers(&key, "PUB_KEY_ID_2", now, body), body, now),
            Err(SignatureError::UnknownSerial)
        );
        assert_eq!(
            keys.verify(
                &signed_headers(&key, "PUB_KEY_ID_1", now - 301, body),
                body,
                now
            ),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            keys.verify(
                &signed_headers(&key, "PUB_KEY_ID_1", now, body),
                br#"{"id":"2"}"#,
                now
            ),
            Err(SignatureError::BadSignature)
        );
        let forger = SigningKey::generate();
        assert_eq!(
            keys.verify(
                &signed_headers(&forger, "PUB_KEY_ID_1", now, body),
                body,
                now
            ),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(
            keys.verify(&HeaderMap::new(), body, now),
            Err(SignatureError::MissingHeader)
        );
    }

    /// DER: tag, length, content.
    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match content.len() {
            n if n < 0x80 => out.push(n as u8),
            n if n < 0x100 => out.extend([0x81, n as u8]),
            n => out.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(content);
        out
    }

    /// A certificate with this serial and key, shaped like a WeChat Pay platform certificate.
    /// Its own signature is not checked by anyone (the key is trusted by configuration).
    fn certificate(serial: &[u8], key: &SigningKey) -> String {
        let spki = crypto::pem_blocks(&key.public_pem(), "PUBLIC KEY").remove(0);
        let sha256_rsa = der(
            0x30,
            &[
                der(
                    0x06,
                    &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B],
                ),
                der(0x05, &[]),
            ]
            .concat(),
        );
        let name = der(
            0x30,
            &der(
                0x31,
                &der(
                    0x30,
                    &[
                        der(0x06, &[0x55, 0x04, 0x03]),
                        der(0x0C, b"Tenpay.com Root CA"),
                    ]
                    .concat(),
                ),
            ),
        );
        let validity = der(
            0x30,
            &[der(0x17, b"260101000000Z"), der(0x17, b"310101000000Z")].concat(),
        );
        let tbs = der(
            0x30,
            &[
                der(0xA0, &der(0x02, &[2])),
                der(0x02, serial),
                sha256_rsa.clone(),
                name.clone(),
                validity,
                name,
                spki,
            ]
            .concat(),
        );
        crypto::pem_encode(
            "CERTIFICATE",
            &der(0x30, &[tbs, sha256_rsa, der(0x03, &[0, 1, 2, 3])].concat()),
        )
    }

    #[test]
    fn public_key_and_platform_certificates_are_all_accepted_by_serial() {
        let public_key = SigningKey::generate();
        let (cert_a, cert_b) = (SigningKey::generate(), SigningKey::generate());
        let bundle = format!(
            "{}{}",
            certificate(&[0x5F, 0xA1, 0x00, 0x3C], &cert_a),
            certificate(&[0x00, 0x9E, 0x01], &cert_b)
        );
        let settings = Settings::from_map(
            [
                ("WECHATPAY_PUBLIC_KEY".to_string(), public_key.public_pem()),
                (
                    "WECHATPAY_PUBLIC_KEY_ID".to_string(),
                    "PUB_KEY_ID_0001".to_string(),
                ),
                ("WECHATPAY_PLATFORM_CERTIFICATES".to_string(), bundle),
            ]
            .into(),
        );
        let keys = PlatformKeys::from_settings(&settings).unwrap();
        let now = 1_800_000_000;
        let body = b"{}";
        for (key, serial) in [
            (&public_key, "PUB_KEY_ID_0001"),
            (&cert_a, "5FA1003C"),
            (&cert_b, "9E01"),
        ] {
            assert_eq!(
                keys.verify(&signed_headers(key, serial, now, body), body, now),
                Ok(()),
                "{serial}"
            );
        }
        assert_eq!(
            keys.verify(&signed_headers(&cert_a, "9E01", now, body), body, now),
            Err(SignatureError::BadSignature),
            "a key only for its own serial"
        );
    }

    #[test]
    fn no_wechat_pay_key_at_all_is_a_cold_start_error() {
        assert_eq!(
            PlatformKeys::from_settings(&Settings::from_map(Default::default()))
                .err()
                .unwrap()
                .name,
            "WECHATPAY_PUBLIC_KEY"
        );
    }

    #[test]
    fn apiv3_keys_must_be_32_characters() {
        let short =
            Settings::from_map([("WECHATPAY_APIV3_KEY".to_string(), "short".to_string())].into());
        assert_eq!(
            ApiV3Key::from_settings(&short).err().unwrap().name,
            "WECHATPAY_APIV3_KEY"
        );
    }
}
