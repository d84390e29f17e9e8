//! The media bucket, which is never public: a shopper's photo goes straight from the
//! mini-program to S3 with an upload signed for exactly one key (a browser-style POST policy,
//! as `wx.uploadFile` sends it), and is shown through presigned reads. Both are signed here
//! with the function's own credentials (AWS Signature Version 4), without a call to S3.
//!
//! Every upload is tagged `media=unused`; a review or a refund that names a photo tags it
//! `media=kept` (the one call to S3, which also proves the photo was uploaded), and the
//! bucket's lifecycle deletes what is still unused two days on.

use crate::signing::{self, Signer, system_time};
use aws_sigv4::http_request::{SignableBody, SignatureLocation, SigningSettings};
use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use base64::Engine;
use domain::media::{ImageType, MAX_UPLOAD_BYTES, MediaKey};
use std::collections::BTreeMap;
use std::time::Duration;

/// An upload form is good for this long after it is handed out.
pub const UPLOAD_SECONDS: i64 = 10 * 60;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("no AWS credentials to sign with")]
    Credentials(#[source] aws_credential_types::provider::error::CredentialsError),
    #[error("could not sign: {0}")]
    Signing(String),
    #[error("S3 could not be reached or refused")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What `wx.uploadFile` needs: POST the file (form field `file`, last) with `fields` to `url`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadForm {
    pub url: String,
    pub key: MediaKey,
    pub fields: BTreeMap<String, String>,
    pub expires_at: i64,
    pub max_bytes: u64,
}

#[derive(Clone)]
pub struct MediaBucket {
    bucket: String,
    signer: Signer,
    /// Where the bucket answers: `https://<bucket>.s3.<region>.amazonaws.com` in AWS, the
    /// emulator's `<endpoint>/<bucket>` locally.
    base_url: String,
    /// Made on the first call to S3 (keeping a photo).
    http: std::sync::Arc<std::sync::OnceLock<reqwest::Client>>,
}

fn amz_date(at: i64) -> (String, String) {
    let time =
        time::OffsetDateTime::from_unix_timestamp(at).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let date = format!(
        "{:04}{:02}{:02}",
        time.year(),
        u8::from(time.month()),
        time.day()
    );
    let stamp = format!(
        "{date}T{:02}{:02}{:02}Z",
        time.hour(),
        time.minute(),
        time.second()
    );
    (date, stamp)
}

fn iso8601(at: i64) -> String {
    let time =
        time::OffsetDateTime::from_unix_timestamp(at).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    )
}

impl MediaBucket {
    /// From the SDK configuration every client is built from: its region, its endpoint (the
    /// emulator locally) and its credentials.
    pub fn new(config: &aws_config::SdkConfig, bucket: impl Into<String>) -> Result<Self, String> {
        let bucket = bucket.into();
        let signer = Signer::from_config(config)?;
        let base_url = match config.endpoint_url() {
            Some(endpoint) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
            None => format!("https://{bucket}.s3.{}.amazonaws.com", signer.region),
        };
        Ok(Self {
            bucket,
            signer,
            base_url,
            http: Default::default(),
        })
    }

    async fn credentials(&self) -> Result<aws_credential_types::Credentials, MediaError> {
        self.signer
            .credentials()
            .await
            .map_err(MediaError::Credentials)
    }

    /// A POST policy for exactly `key`: that content type, 1 byte to 5 MB, for ten minutes.
    pub async fn upload_form(
        &self,
        key: &MediaKey,
        image: ImageType,
        now: i64,
    ) -> Result<UploadForm, MediaError> {
        let credentials = self.credentials().await?;
        let (date, stamp) = amz_date(now);
        let credential = format!(
            "{}/{date}/{}/s3/aws4_request",
            credentials.access_key_id(),
            self.signer.region
        );
        let expires_at = now + UPLOAD_SECONDS;
        let mut conditions = vec![
            serde_json::json!({"bucket": self.bucket}),
            serde_json::json!({"key": key.as_str()}),
            serde_json::json!({"Content-Type": image.content_type()}),
            serde_json::json!(["content-length-range", 1, MAX_UPLOAD_BYTES]),
            serde_json::json!({"tagging": UNUSED_TAGGING}),
            serde_json::json!({"x-amz-algorithm": "AWS4-HMAC-SHA256"}),
            serde_json::json!({"x-amz-credential": credential}),
            serde_json::json!({"x-amz-date": stamp}),
        ];
        let mut fields = BTreeMap::from([
            ("key".to_string(), key.as_str().to_string()),
            ("Content-Type".to_string(), image.content_type().to_string()),
            ("tagging".to_string(), UNUSED_TAGGING.to_string()),
            (
                "x-amz-algorithm".to_string(),
                "AWS4-HMAC-SHA256".to_string(),
            ),
            ("x-amz-credential".to_string(), credential),
            ("x-amz-date".to_string(), stamp),
        ]);
        if let Some(token) = credentials.session_token() {
            conditions.push(serde_json::json!({"x-amz-security-token": token}));
            fields.insert("x-amz-security-token".into(), token.to_string());
        }
        let policy =
            serde_json::json!({"expiration": iso8601(expires_at), "conditions": conditions});
        let encoded = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
        let signing_key = generate_signing_key(
            credentials.secret_access_key(),
            system_time(now),
            &self.signer.region,
            "s3",
        );
        fields.insert(
            "x-amz-signature".into(),
            calculate_signature(signing_key, encoded.as_bytes()),
        );
        fields.insert("policy".into(), encoded);
        Ok(UploadForm {
            url: self.base_url.clone(),
            key: key.clone(),
            fields,
            expires_at,
            max_bytes: MAX_UPLOAD_BYTES,
        })
    }

    /// A URL that shows the photo for `seconds`.
    pub async fn presigned_get(
        &self,
        key: &MediaKey,
        now: i64,
        seconds: u64,
    ) -> Result<String, MediaError> {
        self.presigned_object(key.as_str(), now, seconds).await
    }

    /// A URL that fetches the object at `key` for `seconds`, with the function's own rights.
    pub async fn presigned_object(
        &self,
        key: &str,
        now: i64,
        seconds: u64,
    ) -> Result<String, MediaError> {
        let credentials = self.credentials().await?;
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(seconds));
        let url = format!("{}/{}", self.base_url, key);
        let instructions = self
            .signer
            .sign(
                credentials,
                "s3",
                "GET",
                &url,
                &[],
                SignableBody::UnsignedPayload,
                settings,
                now,
            )
            .map_err(MediaError::Signing)?;
        let query: Vec<String> = instructions
            .params()
            .iter()
            .map(|(k, v)| format!("{}={}", k, percent_encode(v)))
            .collect();
        Ok(format!("{url}?{}", query.join("&")))
    }
}

/// What marking a photo kept found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    Kept,
    /// Nothing was ever uploaded under that key.
    Missing,
}

/// The tag the upload form puts on every new photo; the bucket's lifecycle deletes photos
/// still carrying it two days on.
pub const UNUSED_TAGGING: &str =
    "<Tagging><TagSet><Tag><Key>media</Key><Value>unused</Value></Tag></TagSet></Tagging>";
const KEPT_TAGGING: &str =
    "<Tagging><TagSet><Tag><Key>media</Key><Value>kept</Value></Tag></TagSet></Tagging>";

impl MediaBucket {
    /// Marks the photo kept (a review or a refund names it), so the lifecycle rule for unused
    /// uploads leaves it: S3's `PutObjectTagging`, signed here like everything else.
    pub async fn keep(&self, key: &MediaKey, now: i64) -> Result<Kept, MediaError> {
        let body = KEPT_TAGGING.as_bytes();
        let (status, _) = self
            .send_signed("PUT", &format!("{}?tagging", key.as_str()), body, &[], now)
            .await?;
        match status {
            200..=299 => Ok(Kept::Kept),
            404 => Ok(Kept::Missing),
            status => Err(MediaError::Unavailable(
                format!("S3 PutObjectTagging answered {status}").into(),
            )),
        }
    }

    /// The photo's tags as S3 keeps them (`GetObjectTagging`'s XML): whether it is kept.
    pub async fn tagging(&self, key: &MediaKey, now: i64) -> Result<String, MediaError> {
        match self
            .send_signed("GET", &format!("{}?tagging", key.as_str()), b"", &[], now)
            .await?
        {
            (200, body) => Ok(body),
            (status, _) => Err(MediaError::Unavailable(
                format!("S3 GetObjectTagging answered {status}").into(),
            )),
        }
    }

    /// Writes a file the shop made (an export) at `key`: S3's `PutObject`, signed here. The
    /// content type and disposition are stored with it, so its link downloads it by name.
    pub async fn put_file(
        &self,
        key: &str,
        body: &[u8],
        content_type: &str,
        file_name: &str,
        now: i64,
    ) -> Result<(), MediaError> {
        let disposition = format!("attachment; filename=\"{file_name}\"");
        let headers = [
            ("content-type", content_type),
            ("content-disposition", disposition.as_str()),
        ];
        match self.send_signed("PUT", key, body, &headers, now).await? {
            (200..=299, _) => Ok(()),
            (status, _) => Err(MediaError::Unavailable(
                format!("S3 PutObject answered {status}").into(),
            )),
        }
    }

    /// One request to the bucket at `path`, signed in its headers (with the body's MD5, which
    /// the tagging calls require) and `extra` ones: its status and body.
    async fn send_signed(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        extra: &[(&str, &str)],
        now: i64,
    ) -> Result<(u16, String), MediaError> {
        let url = format!("{}/{path}", self.base_url);
        let md5 = base64::engine::general_purpose::STANDARD
            .encode(<md5::Md5 as md5::Digest>::digest(body));
        let credentials = self.credentials().await?;
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
        let signed: Vec<(&str, &str)> = std::iter::once(("content-md5", md5.as_str()))
            .chain(extra.iter().copied())
            .collect();
        let instructions = self
            .signer
            .sign(
                credentials,
                "s3",
                method,
                &url,
                &signed,
                SignableBody::Bytes(body),
                settings,
                now,
            )
            .map_err(MediaError::Signing)?;
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| MediaError::Signing(e.to_string()))?;
        let http = signing::http(&self.http);
        let mut call = http
            .request(method, &url)
            .header("content-md5", &md5)
            // A whole export (a few MB) takes longer than a tagging call.
            .timeout(Duration::from_secs(5 + (body.len() / 200_000) as u64))
            .body(body.to_vec());
        for (name, value) in extra {
            call = call.header(*name, *value);
        }
        for (name, value) in instructions.headers() {
            call = call.header(name, value);
        }
        let answer = call
            .send()
            .await
            .map_err(|e| MediaError::Unavailable(Box::new(e.without_url())))?;
        let status = answer.status().as_u16();
        let text = answer
            .text()
            .await
            .map_err(|e| MediaError::Unavailable(Box::new(e.without_url())))?;
        Ok((status, text))
    }
}

/// A photo link shown to shoppers works this long: long enough to look at a page.
pub const PHOTO_LINK_SECONDS: u64 = 60 * 60;

impl MediaBucket {
    /// Links that show these photos for [`PHOTO_LINK_SECONDS`], in their order.
    pub async fn photo_links(
        &self,
        keys: &[MediaKey],
        now: i64,
    ) -> Result<Vec<String>, MediaError> {
        let mut links = Vec::with_capacity(keys.len());
        for key in keys {
            links.push(self.presigned_get(key, now, PHOTO_LINK_SECONDS).await?);
        }
        Ok(links)
    }
}

/// RFC 3986 unreserved characters stay; everything else is %-encoded, as SigV4 wants.
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_are_utc_and_compact() {
        assert_eq!(
            amz_date(1_796_126_400),
            ("20261201".to_string(), "20261201T120000Z".to_string())
        );
        assert_eq!(iso8601(1_796_126_400), "2026-12-01T12:00:00.000Z");
    }

    #[test]
    fn values_are_percent_encoded_except_unreserved() {
        assert_eq!(percent_encode("a/b c+~"), "a%2Fb%20c%2B~");
    }
}
