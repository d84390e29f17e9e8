//! `exports`: the SQS consumer that writes the orders exports staff ask for (`orders.export`)
//! as CSV files in the media bucket. Its queue hands it one export at a time with a timeout
//! long enough for 90 days of orders; the export's state makes a redelivered message a no-op.
//! On the last delivery before the dead-letter queue, a failing export is marked failed, so
//! the staff member waiting for it is told to ask again instead of waiting on.

use app::exports::{ExportWriter, Written};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use domain::clock::now_epoch_seconds;
use edge::runtime::{Clients, QueueFunction, each_message};
use settings::{ConfigError, Settings};
use store::exports::ExportStore;
use store::orders::OrderStore;
use store::queue::ExportMessage;

/// The queue's maxReceiveCount (template.yaml, ExportsQueue): the delivery that is the last.
pub const DELIVERIES: u32 = 5;

pub struct Exports {
    writer: ExportWriter,
}

impl Exports {
    pub fn new(settings: &Settings, clients: &Clients) -> Result<Self, ConfigError> {
        let orders_table = settings.required("ORDERS_TABLE")?;
        let orders = OrderStore::new(clients.dynamodb.clone(), &orders_table, "", "", "")
            .with_personal_data(clients.personal_data(settings)?);
        Ok(Self {
            writer: ExportWriter::new(
                ExportStore::new(clients.dynamodb.clone(), orders_table),
                orders,
                clients.media_bucket(settings)?,
            ),
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        let (settings, clients) = edge::runtime::from_env().await?;
        Self::new(&settings, &clients)
    }

    async fn export(&self, message: &SqsMessage) -> Result<(), String> {
        let body = message.body.as_deref().unwrap_or("");
        let ExportMessage::Orders { export_id } = serde_json::from_str(body)
            .map_err(|e| format!("poison message (not an export message): {e}"))?;
        let now = now_epoch_seconds();
        match self.writer.write(&export_id, now).await {
            Ok(Written::Ready(totals)) => {
                tracing::info!(export_id = %export_id, rows = totals.rows, "export written");
                Ok(())
            }
            Ok(Written::AlreadyDone) => Ok(()),
            Ok(Written::Missing) => {
                tracing::warn!(export_id = %export_id, "export message for no export record");
                Ok(())
            }
            Err(err) => {
                if deliveries(message) >= DELIVERIES {
                    self.writer
                        .give_up(&export_id, now)
                        .await
                        .map_err(|e| e.to_string())?;
                    tracing::error!(export_id = %export_id, problem = %err, "export given up");
                }
                Err(err.to_string())
            }
        }
    }
}

/// How often SQS has handed this message out, this time included.
fn deliveries(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

#[async_trait::async_trait]
impl QueueFunction for Exports {
    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        each_message(&event, |m| self.export(m)).await
    }
}
