//! An SNS topic the shop tells its people through (the daily low-stock alert): whoever the shop
//! owner subscribed (email, SMS, a webhook) gets each message.

/// One topic, by ARN.
#[derive(Clone)]
pub struct Topic {
    client: aws_sdk_sns::Client,
    arn: String,
}

#[derive(Debug, thiserror::Error)]
#[error("publishing to the topic failed: {0}")]
pub struct TopicError(String);

impl Topic {
    pub fn from_config(config: &aws_config::SdkConfig, arn: impl Into<String>) -> Self {
        Self {
            client: aws_sdk_sns::Client::new(config),
            arn: arn.into(),
        }
    }

    /// Publishes `message` under `subject` (email subscribers see it as the subject line; SNS
    /// takes up to 100 characters).
    pub async fn publish(&self, subject: &str, message: &str) -> Result<(), TopicError> {
        let subject: String = subject.chars().take(100).collect();
        self.client
            .publish()
            .topic_arn(&self.arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map_err(|e| TopicError(aws_sdk_sns::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}
