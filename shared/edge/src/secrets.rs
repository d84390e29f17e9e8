//! The shop secret: one Secrets Manager secret (a JSON object keyed like the settings it holds)
//! read once per cold start, so no secret value sits in a function's configuration.

use settings::{ConfigError, SHOP_SECRET_ARN, Settings};

/// `settings` with the shop secret laid over them when `SHOP_SECRET_ARN` names one (one
/// GetSecretValue); as they are otherwise (local runs and tests give plain settings).
/// An unreadable or malformed secret fails the cold start naming `SHOP_SECRET_ARN` or the key,
/// never a value.
pub async fn with_shop_secret(
    settings: Settings,
    client: &aws_sdk_secretsmanager::Client,
) -> Result<Settings, ConfigError> {
    let Some(arn) = settings.get(SHOP_SECRET_ARN) else {
        return Ok(settings);
    };
    let answer = client
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .map_err(|err| {
            ConfigError::new(
                SHOP_SECRET_ARN,
                format!(
                    "could not be read from Secrets Manager ({})",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(err)
                ),
            )
        })?;
    let text = answer.secret_string().ok_or_else(|| {
        ConfigError::new(
            SHOP_SECRET_ARN,
            "is a binary secret; store a JSON object as its SecretString",
        )
    })?;
    settings.with_shop_secret(text)
}
