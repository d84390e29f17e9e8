//! AWS Signature Version 4 for the AWS calls made without an SDK client (S3 photo tagging and
//! exports, KMS data keys): a signed reqwest call is what an SDK client does underneath, and
//! each SDK client left out keeps a few hundred kB out of every function that links the store.

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SigningInstructions, SigningSettings,
};
use aws_sigv4::sign::v4;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The region and credentials of the SDK configuration every client is built from.
#[derive(Clone)]
pub(crate) struct Signer {
    pub(crate) region: String,
    credentials: SharedCredentialsProvider,
}

impl Signer {
    pub(crate) fn from_config(config: &aws_config::SdkConfig) -> Result<Self, String> {
        Ok(Self {
            region: config
                .region()
                .map(|r| r.as_ref().to_string())
                .ok_or("no AWS region configured")?,
            credentials: config
                .credentials_provider()
                .ok_or("no AWS credentials configured")?,
        })
    }

    /// The function's credentials now (the provider caches and refreshes them).
    pub(crate) async fn credentials(&self) -> Result<Credentials, CredentialsError> {
        self.credentials.provide_credentials().await
    }

    /// What signs `method url` with `headers` and `body` for `service` at `now`: headers to
    /// add, or query parameters when `settings` puts the signature in the URL.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn sign(
        &self,
        credentials: Credentials,
        service: &str,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: SignableBody<'_>,
        settings: SigningSettings,
        now: i64,
    ) -> Result<SigningInstructions, String> {
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service)
            .time(system_time(now))
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let host = host_of(url);
        let request = SignableRequest::new(
            method,
            url,
            std::iter::once(("host", host)).chain(headers.iter().copied()),
            body,
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = aws_sigv4::http_request::sign(request, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        Ok(instructions)
    }
}

/// One HTTP client for these calls, made on the first of them: a function that only signs
/// URLs never builds one (its TLS roots) at cold start.
pub(crate) fn http(cell: &std::sync::OnceLock<reqwest::Client>) -> &reqwest::Client {
    cell.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default()
    })
}

pub(crate) fn system_time(at: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(at).unwrap_or(0))
}

/// The host a URL names, as SigV4 signs it.
pub(crate) fn host_of(url: &str) -> &str {
    url.split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
}
