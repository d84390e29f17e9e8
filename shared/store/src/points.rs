//! The points ledger (积分): every change to a shopper's points is an entry with its reason and
//! order, written in one transaction with the balance, so the two never disagree.
//!
//! Marketing table items: `POINTS#<userId>` / `BALANCE` (`balance`), and
//! `POINTS#<userId>` / `ENTRY#<key>` (`delta`, `reason`, `orderId`, `at`). An entry's key names
//! the event it records (`order#<id>#earn`), and is written only if absent: the same event
//! posted twice, or by two racing consumers, counts once.

use super::{StoreError, failed_conditions, get_i64, get_s, n, s};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use domain::ids::OrderId;
use domain::ids::UserId;
use domain::order::Order;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// What the entry is for; unique per shopper, e.g. `order#<id>#earn`.
    pub key: String,
    pub delta: i64,
    pub reason: String,
    pub order_id: Option<OrderId>,
    pub at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    Posted {
        balance: u64,
    },
    /// This event was recorded before; nothing changed.
    AlreadyPosted,
    /// Spending more than the balance; nothing changed.
    Insufficient,
}

#[derive(Clone)]
pub struct PointsLedger {
    client: Client,
    table: String,
}

fn owner(user: &UserId) -> String {
    format!("POINTS#{user}")
}

impl PointsLedger {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The marketing table, where the ledger lives beside what points buy.
    pub(crate) fn table(&self) -> &str {
        &self.table
    }

    /// The two writes that record `entry` and move the balance by its delta, for a transaction
    /// of their own or one that also writes an order.
    pub fn entry_writes(
        &self,
        user: &UserId,
        entry: &LedgerEntry,
    ) -> Result<[TransactWriteItem; 2], StoreError> {
        Ok([
            self.entry_put(user, entry)?,
            self.balance_update(user, entry.delta, entry.delta.min(0))?,
        ])
    }

    /// Each entry's put, then one balance update by their sum (a transaction may touch the
    /// balance item once): what spends must be there first, so the balance is conditioned on
    /// the sum of the negative deltas, not on what the others add.
    pub fn entries_writes(
        &self,
        user: &UserId,
        entries: &[LedgerEntry],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut writes = entries
            .iter()
            .map(|entry| self.entry_put(user, entry))
            .collect::<Result<Vec<_>, _>>()?;
        let delta = entries.iter().map(|e| e.delta).sum();
        let spend = entries.iter().map(|e| e.delta.min(0)).sum();
        writes.push(self.balance_update(user, delta, spend)?);
        Ok(writes)
    }

    /// The entry itself, written only if absent: the same event counts once.
    fn entry_put(
        &self,
        user: &UserId,
        entry: &LedgerEntry,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(owner(user)))
            .item("sk", s(format!("ENTRY#{}", entry.key)))
            .item("delta", n(entry.delta))
            .item("reason", s(&entry.reason))
            .item("at", n(entry.at))
            .condition_expression("attribute_not_exists(pk)");
        if let Some(order) = &entry.order_id {
            put = put.item("orderId", s(order.as_str()));
        }
        let put = put
            .build()
            .map_err(|e| StoreError::dynamo("build transaction", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The balance moved by `delta`; `spend` (zero or less) must be covered by what is there.
    fn balance_update(
        &self,
        user: &UserId,
        delta: i64,
        spend: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut balance = Update::builder()
            .table_name(&self.table)
            .key("pk", s(owner(user)))
            .key("sk", s("BALANCE"))
            .update_expression("ADD balance :d")
            .expression_attribute_values(":d", n(delta));
        if spend < 0 {
            // Spending never takes the balance below zero.
            balance = balance
                .condition_expression("balance >= :need")
                .expression_attribute_values(":need", n(-spend));
        }
        let balance = balance
            .build()
            .map_err(|e| StoreError::dynamo("build transaction", e))?;
        Ok(TransactWriteItem::builder().update(balance).build())
    }

    /// Records `entry` and moves the balance by its delta, both or neither.
    pub async fn post(&self, user: &UserId, entry: &LedgerEntry) -> Result<Posted, StoreError> {
        let items = self.entry_writes(user, entry)?.to_vec();
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(Posted::Posted {
                balance: self.balance(user).await?,
            }),
            Err(err) => {
                let Some(failed) = failed_conditions(&err) else {
                    return Err(StoreError::dynamo("TransactWriteItems points", err));
                };
                let failed = |i: usize| failed.get(i).copied().unwrap_or(false);
                if failed(0) {
                    Ok(Posted::AlreadyPosted)
                } else if failed(1) {
                    Ok(Posted::Insufficient)
                } else {
                    Err(StoreError::dynamo("TransactWriteItems points", err))
                }
            }
        }
    }

    pub async fn balance(&self, user: &UserId) -> Result<u64, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(owner(user)))
            .key("sk", s("BALANCE"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem points balance", e))?;
        Ok(Self::balance_of(out.item.as_ref()))
    }

    /// The shopper's entries, newest first.
    pub async fn entries(&self, user: &UserId) -> Result<Vec<LedgerEntry>, StoreError> {
        let items = super::query_prefix(
            &self.client,
            &self.table,
            &owner(user),
            "ENTRY#",
            "Query points entries",
        )
        .await?;
        let mut entries: Vec<LedgerEntry> = items
            .iter()
            .map(|item| LedgerEntry {
                key: get_s(item, "sk")
                    .unwrap_or_default()
                    .trim_start_matches("ENTRY#")
                    .to_string(),
                delta: get_i64(item, "delta").unwrap_or(0),
                reason: get_s(item, "reason").unwrap_or_default().to_string(),
                order_id: get_s(item, "orderId").and_then(|o| OrderId::parse(o).ok()),
                at: get_i64(item, "at").unwrap_or(0),
            })
            .collect();
        entries.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.key.cmp(&a.key)));
        Ok(entries)
    }

    /// What a delivered order earns: whole yuan paid times the shop's rate, once per order
    /// (logistics calls this when the courier reports the parcel signed for).
    pub async fn award_delivered_order(
        &self,
        order: &Order,
        points_per_yuan: u64,
        now: i64,
    ) -> Result<Posted, StoreError> {
        let points = domain::promotions::points_earned(order.total, points_per_yuan);
        if points == 0 {
            return Ok(Posted::AlreadyPosted);
        }
        let entry = LedgerEntry {
            key: format!("order#{}#earn", order.id),
            delta: i64::try_from(points).unwrap_or(i64::MAX),
            reason: "订单完成奖励".into(),
            order_id: Some(order.id.clone()),
            at: now,
        };
        self.post(&order.user_id, &entry).await
    }

    /// Points an order spends: an entry keyed by the order, so it is taken once.
    pub fn spend_entry(order: &Order) -> LedgerEntry {
        LedgerEntry {
            key: format!("order#{}#spend", order.id),
            delta: -i64::try_from(order.points_used).unwrap_or(i64::MAX),
            reason: "订单抵扣".into(),
            order_id: Some(order.id.clone()),
            at: order.created_at,
        }
    }

    /// Points a cancelled or refunded order gives back: keyed by the order, so returned once.
    pub fn return_entry(order: &Order, now: i64) -> LedgerEntry {
        LedgerEntry {
            key: format!("order#{}#return", order.id),
            delta: i64::try_from(order.points_used).unwrap_or(i64::MAX),
            reason: "订单取消退还".into(),
            order_id: Some(order.id.clone()),
            at: now,
        }
    }

    /// A balance item as stored; no item is a zero balance.
    pub(crate) fn balance_of(item: Option<&super::Item>) -> u64 {
        item.and_then(|i| get_i64(i, "balance"))
            .and_then(|b| u64::try_from(b).ok())
            .unwrap_or(0)
    }

    pub(crate) fn balance_key(user: &UserId) -> super::Item {
        [
            ("pk".to_string(), s(owner(user))),
            ("sk".to_string(), s("BALANCE")),
        ]
        .into()
    }
}
