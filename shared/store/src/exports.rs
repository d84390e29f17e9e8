//! Exports of orders, as staff asked for them: `EXPORT#<exportId>` / `EXPORT` in the orders
//! table, gone a week after they are asked for (`expiresAt`, the table's TTL; orders carry no
//! such attribute). Each step moves the state on conditionally, so a redelivered message or two
//! consumers running the same export at once finish it once.

use super::{Item, StoreError, condition_failed, from_item, n, s, to_item};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use domain::export::{ExportId, ExportState, ExportTotals, OrderExport};

/// How long an export's record (and so its link) is kept.
pub const KEPT_SECONDS: i64 = 7 * 24 * 60 * 60;

#[derive(Clone)]
pub struct ExportStore {
    client: Client,
    table: String,
}

fn key(id: &ExportId) -> Item {
    Item::from([
        ("pk".to_string(), s(format!("EXPORT#{id}"))),
        ("sk".to_string(), s("EXPORT")),
    ])
}

impl ExportStore {
    pub fn new(client: Client, orders: impl Into<String>) -> Self {
        Self {
            client,
            table: orders.into(),
        }
    }

    /// The write that records a new export: commit it with its audit record.
    pub fn request_write(&self, export: &OrderExport) -> Result<TransactWriteItem, StoreError> {
        let mut item = to_item(export);
        item.extend(key(&export.id));
        item.insert("expiresAt".into(), n(export.requested_at + KEPT_SECONDS));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::dynamo("build export put", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub async fn get(&self, id: &ExportId) -> Result<Option<OrderExport>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem export", e))?;
        out.item.as_ref().map(from_item).transpose()
    }

    /// One conditional update; `false` when its condition did not hold.
    async fn update(
        &self,
        id: &ExportId,
        operation: &'static str,
        update: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut call = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(id)))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_names("#st", "state");
        for (name, value) in values {
            call = call.expression_attribute_values(name, value);
        }
        match call.send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::dynamo(operation, e)),
        }
    }

    /// Claims the right to queue a still-queued export again when its message has waited since
    /// before `cutoff` (lost between the record and the queue): `true` for the one caller that
    /// should send it.
    pub async fn requeue(&self, id: &ExportId, cutoff: i64, now: i64) -> Result<bool, StoreError> {
        self.update(
            id,
            "UpdateItem export requeue",
            "SET queuedAt = :now",
            "#st = :queued AND queuedAt < :cutoff",
            vec![
                (":now", n(now)),
                (":queued", s(ExportState::Queued.as_str())),
                (":cutoff", n(cutoff)),
            ],
        )
        .await
    }

    /// Marks the export being written; `false` when it is finished already (or gone).
    pub async fn start(&self, id: &ExportId) -> Result<bool, StoreError> {
        self.update(
            id,
            "UpdateItem export start",
            "SET #st = :running",
            "#st IN (:queued, :running)",
            vec![
                (":running", s(ExportState::Running.as_str())),
                (":queued", s(ExportState::Queued.as_str())),
            ],
        )
        .await
    }

    /// Marks it ready with what the file holds; `false` when another run finished it first.
    pub async fn finish(
        &self,
        id: &ExportId,
        totals: ExportTotals,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.update(
            id,
            "UpdateItem export finish",
            "SET #st = :ready, totals = :totals, finishedAt = :now",
            "#st = :running",
            vec![
                (":ready", s(ExportState::Ready.as_str())),
                (":running", s(ExportState::Running.as_str())),
                (":totals", AttributeValue::M(to_item(&totals))),
                (":now", n(now)),
            ],
        )
        .await
    }

    /// Gives up on it with `problem` for the staff member; never undoes a ready export.
    pub async fn fail(&self, id: &ExportId, problem: &str, now: i64) -> Result<bool, StoreError> {
        self.update(
            id,
            "UpdateItem export fail",
            "SET #st = :failed, problem = :problem, finishedAt = :now",
            "attribute_exists(pk) AND #st <> :ready",
            vec![
                (":failed", s(ExportState::Failed.as_str())),
                (":ready", s(ExportState::Ready.as_str())),
                (":problem", s(problem)),
                (":now", n(now)),
            ],
        )
        .await
    }
}
