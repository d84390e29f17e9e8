//! The two KMS calls the shop makes, `GenerateDataKey` and `Decrypt` (envelope encryption of
//! personal data), as signed JSON requests: KMS's JSON protocol is a POST with the action in
//! `X-Amz-Target`, and binary fields in base64.

use crate::signing::{self, Signer};
use aws_sigv4::http_request::{SignableBody, SigningSettings};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// Why a KMS call failed, as far as it is safe to log: KMS's error type and message (which
/// name the key and the problem, never key material), or the transport's.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KmsError(String);

#[derive(Clone)]
pub struct Kms {
    signer: Signer,
    /// `https://kms.<region>.amazonaws.com` in AWS, the emulator's endpoint locally.
    url: String,
    http: std::sync::Arc<std::sync::OnceLock<reqwest::Client>>,
}

/// An encryption context of one pair, bound into every data key.
pub type Context<'a> = (&'a str, &'a str);

impl Kms {
    pub fn from_config(config: &aws_config::SdkConfig) -> Result<Self, String> {
        let signer = Signer::from_config(config)?;
        let url = match config.endpoint_url() {
            Some(endpoint) => format!("{}/", endpoint.trim_end_matches('/')),
            None => format!("https://kms.{}.amazonaws.com/", signer.region),
        };
        Ok(Self {
            signer,
            url,
            http: Default::default(),
        })
    }

    /// A new AES-256 data key under `key_id`: as KMS wrapped it, and in the clear.
    pub async fn generate_data_key(
        &self,
        key_id: &str,
        context: Context<'_>,
    ) -> Result<(Vec<u8>, Vec<u8>), KmsError> {
        let answer = self
            .call(
                "GenerateDataKey",
                json!({
                    "KeyId": key_id,
                    "KeySpec": "AES_256",
                    "EncryptionContext": {context.0: context.1},
                }),
            )
            .await?;
        Ok((
            blob(&answer, "CiphertextBlob")?,
            blob(&answer, "Plaintext")?,
        ))
    }

    /// A data key KMS wrapped, in the clear.
    pub async fn decrypt(&self, wrapped: &[u8], context: Context<'_>) -> Result<Vec<u8>, KmsError> {
        let answer = self
            .call(
                "Decrypt",
                json!({
                    "CiphertextBlob": STANDARD.encode(wrapped),
                    "EncryptionContext": {context.0: context.1},
                }),
            )
            .await?;
        blob(&answer, "Plaintext")
    }

    async fn call(&self, action: &str, body: Value) -> Result<Value, KmsError> {
        let body = body.to_string();
        let target = format!("TrentService.{action}");
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let credentials = self
            .signer
            .credentials()
            .await
            .map_err(|e| KmsError(format!("no AWS credentials to sign with: {e}")))?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let instructions = self
            .signer
            .sign(
                credentials,
                "kms",
                "POST",
                &self.url,
                &headers,
                SignableBody::Bytes(body.as_bytes()),
                SigningSettings::default(),
                now,
            )
            .map_err(|e| KmsError(format!("could not sign: {e}")))?;
        let mut call = signing::http(&self.http).post(&self.url).body(body);
        for (name, value) in headers.iter().copied().chain(instructions.headers()) {
            call = call.header(name, value);
        }
        let answer = call
            .send()
            .await
            .map_err(|e| KmsError(format!("KMS unreachable: {}", e.without_url())))?;
        let status = answer.status().as_u16();
        let text = answer
            .text()
            .await
            .map_err(|e| KmsError(format!("KMS answer unreadable: {}", e.without_url())))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !(200..=299).contains(&status) {
            let kind = value["__type"].as_str().unwrap_or("unknown error");
            let message = value["message"]
                .as_str()
                .or_else(|| value["Message"].as_str())
                .unwrap_or_default();
            return Err(KmsError(format!("KMS {status} {kind}: {message}")));
        }
        Ok(value)
    }
}

fn blob(answer: &Value, field: &str) -> Result<Vec<u8>, KmsError> {
    answer[field]
        .as_str()
        .and_then(|b| STANDARD.decode(b).ok())
        .ok_or_else(|| KmsError(format!("the answer has no {field}")))
}
