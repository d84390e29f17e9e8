//! `reports`: adds the shop's business-event lines up into the live reports' hourly counters
//! (数据看板).
//!
//! The functions write each business event once, as an EMF line on their output; a CloudWatch
//! Logs subscription filter on each function's log group hands the tagged lines here in
//! batches. Counting from the lines keeps every request free of report writes (no DynamoDB
//! call, no hot item on the request path) and makes the reports agree with the metrics by
//! construction. A batch is added up once however often it is handed over: its name is a hash
//! of its log events' ids, which CloudWatch keeps when it retries.

use aws_lambda_events::cloudwatch_logs::LogsEvent;
use edge::runtime::{Clients, LogsFunction, REPORTS_TABLE};
use settings::{ConfigError, Settings};
use sha2::{Digest, Sha256};
use store::reports::ReportStore;
use telemetry::metrics::{Tallied, tallied_from_line};

pub struct Reports {
    store: ReportStore,
}

/// The batch's name: the same log events, the same name.
fn batch_name(event: &LogsEvent) -> String {
    let mut hash = Sha256::new();
    hash.update(event.aws_logs.data.log_group.as_bytes());
    for entry in &event.aws_logs.data.log_events {
        hash.update([0]);
        hash.update(entry.id.as_bytes());
    }
    hex::encode(&hash.finalize()[..16])
}

impl Reports {
    pub fn new(settings: &Settings, clients: &Clients) -> Result<Self, ConfigError> {
        Ok(Self {
            store: ReportStore::new(clients.dynamodb.clone(), settings.required(REPORTS_TABLE)?),
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        let (settings, clients) = edge::runtime::from_env().await?;
        Self::new(&settings, &clients)
    }
}

#[async_trait::async_trait]
impl LogsFunction for Reports {
    async fn handle(&self, event: LogsEvent) -> Result<(), String> {
        let data = &event.aws_logs.data;
        // CloudWatch checks that the destination is reachable with a control message.
        if data.message_type != "DATA_MESSAGE" {
            return Ok(());
        }
        let tallied: Vec<Tallied> = data
            .log_events
            .iter()
            .filter_map(|entry| tallied_from_line(&entry.message))
            .collect();
        let skipped = data.log_events.len() - tallied.len();
        if tallied.is_empty() {
            tracing::info!(skipped, "no report lines in the batch");
            return Ok(());
        }
        let batch = batch_name(&event);
        self.store.record(&batch, &tallied).await.map_err(|err| {
            tracing::warn!(error = %err, batch, "report counters not written; Lambda retries");
            err.to_string()
        })?;
        tracing::info!(
            batch,
            lines = tallied.len(),
            skipped,
            "report lines added up"
        );
        Ok(())
    }
}
