//! The audit log, in the audit table (keys `pk`, `sk`): one partition per day (`DAY#<date>`,
//! China time) holding the day's records (`SEQ#<0000000001>`, in order) and its head (`HEAD`:
//! how many records and the last one's hash). A record is written in the same transaction as
//! the change it records, with the head moved conditional on the head it was chained to, so
//! two actions at once never share a place in the chain and a refused change leaves no record.
//! The admin function may add to the table but not delete from it.

use super::{Item, StoreError, from_item, get_i64, get_s, n, s, to_item};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use domain::audit::{AuditEntry, AuditRecord, GENESIS};
use domain::clock::china_day;

/// Tries when other actions keep moving the head meanwhile.
const COMMIT_TRIES: usize = 10;

fn head_key(day: &str) -> Item {
    Item::from([
        ("pk".to_string(), s(format!("DAY#{day}"))),
        ("sk".to_string(), s("HEAD")),
    ])
}

fn record_key(day: &str, seq: u64) -> Item {
    Item::from([
        ("pk".to_string(), s(format!("DAY#{day}"))),
        ("sk".to_string(), s(format!("SEQ#{seq:010}"))),
    ])
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::dynamo("build audit write", e)
}

/// What committing a change with its record came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    Done(Box<AuditRecord>),
    /// The change's own conditions refused it (index-aligned with its writes): nothing was
    /// written, the record neither.
    Refused(Vec<bool>),
}

/// A day as kept: its records in order, and its head (count, last hash).
#[derive(Debug, Clone, Default)]
pub struct AuditDay {
    pub records: Vec<AuditRecord>,
    pub head: Option<(u64, String)>,
}

#[derive(Clone)]
pub struct AuditLog {
    client: Client,
    table: String,
}

impl AuditLog {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn head(&self, day: &str) -> Result<(u64, String), StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(head_key(day)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem audit head", e))?;
        Ok(match out.item {
            Some(item) => (
                get_i64(&item, "seq")
                    .and_then(|v| u64::try_from(v).ok())
                    .unwrap_or(0),
                get_s(&item, "hash").unwrap_or(GENESIS).to_string(),
            ),
            None => (0, GENESIS.to_string()),
        })
    }

    /// Writes `change` and the record of it in one transaction, the record chained after the
    /// day's last.
    pub async fn commit(
        &self,
        change: Vec<TransactWriteItem>,
        entry: AuditEntry,
    ) -> Result<Committed, StoreError> {
        let day = china_day(entry.at);
        for _ in 0..COMMIT_TRIES {
            let (seq, prev_hash) = self.head(&day).await?;
            let record = AuditRecord::chained(entry.clone(), &day, seq + 1, &prev_hash);
            let mut item = to_item(&record);
            item.extend(record_key(&day, record.seq));
            let put_record = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(build_err)?;
            let mut head = head_key(&day);
            head.insert("seq".into(), n(record.seq));
            head.insert("hash".into(), s(&record.hash));
            let mut put_head = Put::builder().table_name(&self.table).set_item(Some(head));
            put_head = if seq == 0 {
                put_head.condition_expression("attribute_not_exists(pk)")
            } else {
                put_head
                    .condition_expression("seq = :seen")
                    .expression_attribute_values(":seen", n(seq))
            };
            let mut items = change.clone();
            items.push(TransactWriteItem::builder().put(put_record).build());
            items.push(
                TransactWriteItem::builder()
                    .put(put_head.build().map_err(build_err)?)
                    .build(),
            );
            match super::transact(&self.client, items, "TransactWriteItems audited").await? {
                None => return Ok(Committed::Done(Box::new(record))),
                Some(failed) if failed[..change.len()].iter().any(|f| *f) => {
                    return Ok(Committed::Refused(failed[..change.len()].to_vec()));
                }
                // Another action took the place: chain after it.
                Some(_) => {}
            }
        }
        Err(StoreError::Corrupt {
            key: format!("DAY#{day}/HEAD"),
            problem: "the audit chain kept moving; try again".into(),
        })
    }

    /// Everything kept for `day`.
    pub async fn day(&self, day: &str) -> Result<AuditDay, StoreError> {
        let items = super::query_partition(
            &self.client,
            &self.table,
            &format!("DAY#{day}"),
            None,
            "Query audit day",
        )
        .await?;
        let mut kept = AuditDay::default();
        for item in &items {
            if get_s(item, "sk") == Some("HEAD") {
                kept.head = Some((
                    get_i64(item, "seq")
                        .and_then(|v| u64::try_from(v).ok())
                        .unwrap_or(0),
                    get_s(item, "hash").unwrap_or_default().to_string(),
                ));
            } else {
                kept.records.push(from_item(item)?);
            }
        }
        kept.records.sort_by_key(|r| r.seq);
        Ok(kept)
    }
}
