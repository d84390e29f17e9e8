//! Orders exported as CSV for the shop's books. Asking (`ExportDesk::request`) records the
//! export with its audit record in one transaction and queues it; the exports consumer
//! (`ExportWriter::write`) reads the orders a page at a time, writes the file to the media
//! bucket under `exports/` and marks it ready; the staff member who asked fetches it through a
//! link good for five minutes.
//!
//! Nothing is lost between the steps: a message lost between the record and the queue is sent
//! again the first time the export is looked at a minute later; a message delivered twice (or
//! two runs at once) writes the same file and marks it ready once.

use crate::staff::Actor;
use domain::export::{ExportId, ExportState, ExportTotals, OrderExport};
use domain::order::OrderStatus;
use domain::payment::Provider;
use serde_json::json;
use store::StoreError;
use store::audit::{AuditLog, Committed};
use store::exports::ExportStore;
use store::media::{MediaBucket, MediaError};
use store::orders::{OrderFilter, OrderStore};
use store::queue::{ExportMessage, Queue};

/// The longest range one export covers, as the order list.
pub const MAX_EXPORT_DAYS: usize = 90;
/// A queued export not started after this long has its message sent again when looked at.
pub const REQUEUE_AFTER_SECONDS: i64 = 60;
/// How long a link to a ready file works.
pub const LINK_SECONDS: u64 = 5 * 60;
/// Orders read per page while writing the file.
const PAGE: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no such export")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the export could not be queued")]
    Queue(#[source] store::queue::QueueError),
    #[error("the media bucket could not be reached")]
    Media(#[source] MediaError),
}

/// What a staff member asks to export.
#[derive(Debug, Clone)]
pub struct ExportAsk {
    pub from: String,
    pub to: String,
    pub status: Option<OrderStatus>,
    pub provider: Option<Provider>,
    pub channel: Option<String>,
    /// Whole phones and streets: the caller checked the permission and the step-up.
    pub reveal: bool,
}

/// An export as its asker sees it: with a link once the file is ready.
#[derive(Debug, Clone)]
pub struct ExportView {
    pub export: OrderExport,
    pub link: Option<(String, i64)>,
}

/// The admin side: asks for exports and hands out their files.
#[derive(Clone)]
pub struct ExportDesk {
    exports: ExportStore,
    queue: Queue,
    audit: AuditLog,
    media: MediaBucket,
}

impl ExportDesk {
    pub fn new(exports: ExportStore, queue: Queue, audit: AuditLog, media: MediaBucket) -> Self {
        Self {
            exports,
            queue,
            audit,
            media,
        }
    }

    /// Records the export with its audit record (`orders.export`), then queues it.
    pub async fn request(
        &self,
        ask: ExportAsk,
        actor: &Actor,
        now: i64,
    ) -> Result<OrderExport, ExportError> {
        let export = OrderExport {
            id: ExportId::generate(),
            requested_by: actor.staff_id.clone(),
            from: ask.from,
            to: ask.to,
            status: ask.status,
            provider: ask.provider,
            channel: ask.channel,
            reveal: ask.reveal,
            state: ExportState::Queued,
            requested_at: now,
            queued_at: now,
            finished_at: None,
            totals: None,
            problem: None,
        };
        let entry = actor.entry(
            "orders.export",
            format!("export:{}", export.id),
            json!(null),
            json!({
                "from": export.from,
                "to": export.to,
                "status": export.status,
                "provider": export.provider,
                "channel": export.channel,
                "revealPhones": export.reveal,
            }),
            now,
        );
        let write = self.exports.request_write(&export)?;
        match self.audit.commit(vec![write], entry).await? {
            Committed::Done(_) => {}
            // A fresh random id taken: nothing was written; the caller may ask again.
            Committed::Refused(_) => {
                return Err(ExportError::Store(StoreError::Corrupt {
                    key: format!("EXPORT#{}", export.id),
                    problem: "a new export's id was taken".into(),
                }));
            }
        }
        self.send(&export.id).await?;
        tracing::info!(export_id = %export.id, reveal = export.reveal, "orders export queued");
        Ok(export)
    }

    async fn send(&self, id: &ExportId) -> Result<(), ExportError> {
        self.queue
            .send(
                &ExportMessage::Orders {
                    export_id: id.clone(),
                },
                0,
            )
            .await
            .map_err(ExportError::Queue)
    }

    /// The export `staff_id` asked for, with a fresh link once ready; another member's export
    /// is not found. A queued one whose message seems lost is queued again.
    pub async fn look(
        &self,
        id: &ExportId,
        staff_id: &str,
        now: i64,
    ) -> Result<ExportView, ExportError> {
        let export = self
            .exports
            .get(id)
            .await?
            .filter(|e| e.requested_by == staff_id)
            .ok_or(ExportError::NotFound)?;
        if export.state == ExportState::Queued
            && export.queued_at < now - REQUEUE_AFTER_SECONDS
            && self
                .exports
                .requeue(id, now - REQUEUE_AFTER_SECONDS, now)
                .await?
        {
            tracing::warn!(export_id = %id, "export not started a minute on: queued again");
            self.send(id).await?;
        }
        let link = if export.state == ExportState::Ready {
            let url = self
                .media
                .presigned_object(&export.object_key(), now, LINK_SECONDS)
                .await
                .map_err(ExportError::Media)?;
            Some((url, now + LINK_SECONDS as i64))
        } else {
            None
        };
        Ok(ExportView { export, link })
    }
}

/// The consumer side: writes an export's file once.
#[derive(Clone)]
pub struct ExportWriter {
    exports: ExportStore,
    /// Opens receivers (to mask or reveal them); seals nothing.
    orders: OrderStore,
    media: MediaBucket,
}

/// What a run of the writer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Ready(ExportTotals),
    /// Finished (or given up) before, or another run holds it: nothing done.
    AlreadyDone,
    /// No such export (expired, or never recorded).
    Missing,
}

impl ExportWriter {
    pub fn new(exports: ExportStore, orders: OrderStore, media: MediaBucket) -> Self {
        Self {
            exports,
            orders,
            media,
        }
    }

    /// The file as CSV text, with what it adds up to.
    pub async fn file(&self, export: &OrderExport) -> Result<(String, ExportTotals), StoreError> {
        let days =
            domain::clock::days_back(&export.from, &export.to, MAX_EXPORT_DAYS).map_err(|e| {
                StoreError::Corrupt {
                    key: format!("EXPORT#{}", export.id),
                    problem: format!("{}: {}", e.field, e.problem),
                }
            })?;
        let filter = OrderFilter {
            status: export.status,
            provider: export.provider,
            channel: export.channel.clone(),
        };
        let mut csv = domain::export::header_line();
        let mut totals = ExportTotals::default();
        let mut after = None;
        loop {
            let page = self.orders.placed_on(&days, &filter, after, PAGE).await?;
            for order in &page.items {
                csv.push_str(&domain::export::order_line(order, export.reveal));
                totals.add(order);
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok((csv, totals))
    }

    /// Writes the export's file and marks it ready; safe to run again at any step.
    pub async fn write(&self, id: &ExportId, now: i64) -> Result<Written, ExportError> {
        let Some(export) = self.exports.get(id).await? else {
            return Ok(Written::Missing);
        };
        if !self.exports.start(id).await? {
            return Ok(Written::AlreadyDone);
        }
        let (csv, totals) = self.file(&export).await?;
        self.media
            .put_file(
                &export.object_key(),
                csv.as_bytes(),
                "text/csv; charset=utf-8",
                &domain::export::file_name(&export.from, &export.to),
                now,
            )
            .await
            .map_err(ExportError::Media)?;
        if self.exports.finish(id, totals, now).await? {
            tracing::info!(export_id = %id, rows = totals.rows, bytes = csv.len(), "orders export ready");
            Ok(Written::Ready(totals))
        } else {
            Ok(Written::AlreadyDone)
        }
    }

    /// Gives up on the export, telling its asker to ask again.
    pub async fn give_up(&self, id: &ExportId, now: i64) -> Result<(), ExportError> {
        self.exports
            .fail(
                id,
                "the file could not be written; ask for the export again",
                now,
            )
            .await?;
        Ok(())
    }
}
