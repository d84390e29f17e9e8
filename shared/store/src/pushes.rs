//! WeChat's pushed messages already handled, in the idempotency table (`WECHATPUSH#<key>`,
//! kept a week by TTL): WeChat pushes a message again whenever we are slow to answer, and each
//! must act once.
//!
//! A message is claimed before it is handled and marked done after, so a crash in between
//! loses nothing: the claim lapses and WeChat's next push of it takes over.

use crate::{Item, StoreError, condition_failed, get_s, n, s};
use aws_sdk_dynamodb::Client;

/// How long a claim holds off a duplicate: more than a push's handling takes, less than
/// WeChat's retry interval.
pub const CLAIM_SECONDS: i64 = 30;
/// How long a handled message is remembered: far past WeChat's last retry.
const KEEP_SECONDS: i64 = 7 * 24 * 60 * 60;

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Ours to handle: nobody had it, or a claim lapsed.
    Mine,
    /// Handled already.
    Done,
    /// Another push of it is being handled right now.
    Busy,
}

#[derive(Clone)]
pub struct PushLog {
    client: Client,
    table: String,
}

fn key(dedupe_key: &str) -> Item {
    Item::from([("pk".to_string(), s(format!("WECHATPUSH#{dedupe_key}")))])
}

impl PushLog {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Claims the message for `CLAIM_SECONDS`, unless it is done or claimed by another push.
    pub async fn claim(&self, dedupe_key: &str, now: i64) -> Result<Claim, StoreError> {
        let mut item = key(dedupe_key);
        item.insert("state".into(), s("HANDLING"));
        item.insert("claimedUntil".into(), n(now + CLAIM_SECONDS));
        item.insert("expiresAt".into(), n(now + KEEP_SECONDS));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR (#state = :handling AND claimedUntil < :now)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":handling", s("HANDLING"))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claim::Mine),
            Err(err) if condition_failed(&err) => {
                let stored = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(key(dedupe_key)))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| StoreError::dynamo("GetItem push claim", e))?;
                let item = stored.item.unwrap_or_default();
                // A claim that lapsed between the write and this read is left to WeChat's
                // next push rather than raced for.
                Ok(match get_s(&item, "state") {
                    Some("DONE") => Claim::Done,
                    _ => Claim::Busy,
                })
            }
            Err(err) => Err(StoreError::dynamo("PutItem push claim", err)),
        }
    }

    /// The message was handled: later pushes of it change nothing.
    pub async fn done(&self, dedupe_key: &str, now: i64) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(dedupe_key)))
            .update_expression("SET #state = :done, doneAt = :now REMOVE claimedUntil")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":done", s("DONE"))
            .expression_attribute_values(":now", n(now))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem push done", e))?;
        Ok(())
    }
}
