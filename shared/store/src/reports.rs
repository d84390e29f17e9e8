//! The shop's live reports (数据看板): hourly counters the reports consumer adds the functions'
//! business-event lines up into (never the request path), so the merchant's dashboard reads a
//! range of hours in a few queries instead of scanning orders.
//!
//! Items (`pk` / `sk`), each a number per metric (`OrderPaid`, `Revenue` in fen, …) added to
//! atomically, and each gone 400 days after its hour (`expiresAt`):
//! - `all`, `channel#<channel>`, `category#<id>` / `2026-12-01T21` (the China hour): the shop,
//!   one channel of arrival, one category, per hour.
//! - `products#<day>` / `<productId>`: a product's views, cart adds, units sold and sales that
//!   China day (a day per partition keeps "top products over 90 days" to 90 queries).
//! - `visitor#<hour>` / a visit's mark (a hash of the hour and the user id): that this visitor
//!   was counted this hour (`Visitors`); the id itself is never stored, and the mark is gone
//!   after two days.
//! - `batch#<id>` / part: that a batch of report lines was added up, so a batch handed over
//!   again adds nothing; gone after two days.

use crate::{Item, StoreError, n, s};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use domain::clock::{china_day, china_hour};
use domain::report::Tallied;
use futures::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, HashMap};

/// Distinct visitors in an hour.
pub const VISITORS: &str = "Visitors";
const KEEP_SECONDS: i64 = 400 * 24 * 3600;
/// Visit and batch marks outlive any redelivery of the lines that made them.
const MARK_SECONDS: i64 = 2 * 24 * 3600;

/// Metric name to how much.
pub type Counts = BTreeMap<String, u64>;

/// The series of the whole shop, of one channel and of one category.
pub fn shop_series() -> String {
    "all".to_string()
}

pub fn channel_series(channel: &str) -> String {
    format!("channel#{channel}")
}

pub fn category_series(category: &str) -> String {
    format!("category#{category}")
}

fn products_series(day: &str) -> String {
    format!("products#{day}")
}

#[derive(Clone)]
pub struct ReportStore {
    client: Client,
    table: String,
}

impl ReportStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The update adding `counts` to the item `pk` / `sk` (created on its first add).
    fn add(&self, pk: &str, sk: &str, counts: &Counts, expires_at: i64) -> TransactWriteItem {
        let mut names = HashMap::new();
        let mut values = HashMap::from([(":expires".to_string(), n(expires_at))]);
        let mut adds = Vec::new();
        for (i, (metric, by)) in counts.iter().enumerate() {
            names.insert(format!("#m{i}"), metric.clone());
            values.insert(format!(":m{i}"), n(by));
            adds.push(format!("#m{i} :m{i}"));
        }
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(format!("SET expiresAt = :expires ADD {}", adds.join(", ")))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .expect("table, key and update expression are set");
        TransactWriteItem::builder().update(update).build()
    }

    /// The put of a mark that must not exist yet: it makes the transaction it is in happen once.
    fn mark(&self, pk: String, sk: String, expires_at: i64) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("sk", s(sk))
            .item("expiresAt", n(expires_at))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .expect("table and item are set");
        TransactWriteItem::builder().put(put).build()
    }

    /// Runs `items`, led by their mark, once: `Ok` when it went through now or had before (the
    /// mark exists). Transactions on the same hot hour (the shop's `all` item) conflict under
    /// load; those are tried again after a jittered pause.
    async fn once(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        let mut pause_ms = 20u64;
        for _ in 0..6 {
            match crate::transact(
                &self.client,
                items.clone(),
                "TransactWriteItems report counters",
            )
            .await?
            {
                None => return Ok(()),
                Some(failed) if failed.first() == Some(&true) => return Ok(()),
                Some(_) => {
                    let jitter = rand::random::<u64>() % pause_ms;
                    tokio::time::sleep(std::time::Duration::from_millis(pause_ms + jitter)).await;
                    pause_ms *= 2;
                }
            }
        }
        Err(StoreError::Dynamo {
            operation: "TransactWriteItems report counters",
            source: "transactions kept conflicting; the batch is retried whole".into(),
        })
    }

    /// Adds up one batch of report lines, once however often the same batch is handed over
    /// (`batch` names it: the same lines, the same name). Each visit counts once per visitor
    /// and hour through its mark; everything else is summed per item first and written in
    /// transactions of at most 99 items, each with the batch's mark for its part, so a retry
    /// after a crash between two parts writes only the parts not yet written.
    pub async fn record(&self, batch: &str, tallied: &[Tallied]) -> Result<(), StoreError> {
        let mut visits: BTreeMap<(String, String), &Tallied> = BTreeMap::new();
        let mut adds: BTreeMap<(String, String), (Counts, i64)> = BTreeMap::new();
        for t in tallied {
            let hour = china_hour(t.at_seconds);
            if let (true, Some(visitor)) = (t.hourly, &t.visitor) {
                visits.entry((hour.clone(), visitor.clone())).or_insert(t);
            }
            let expires = t.at_seconds + KEEP_SECONDS;
            let mut add = |pk: String, sk: &str| {
                let entry = adds
                    .entry((pk, sk.to_string()))
                    .or_insert_with(|| (Counts::new(), expires));
                for (metric, by) in &t.counts {
                    *entry.0.entry(metric.to_string()).or_default() += by;
                }
            };
            if t.hourly {
                add(shop_series(), &hour);
                add(channel_series(&t.channel), &hour);
                if let Some(category) = &t.category {
                    add(category_series(category), &hour);
                }
            }
            if let Some(product) = &t.product {
                add(products_series(&china_day(t.at_seconds)), product);
            }
        }
        let visitors = Counts::from([(VISITORS.to_string(), 1)]);
        let mut writes = Vec::new();
        for ((hour, visitor), t) in &visits {
            let expires = t.at_seconds + KEEP_SECONDS;
            writes.push(vec![
                self.mark(
                    format!("visitor#{hour}"),
                    visitor.clone(),
                    t.at_seconds + MARK_SECONDS,
                ),
                self.add(&shop_series(), hour, &visitors, expires),
                self.add(&channel_series(&t.channel), hour, &visitors, expires),
            ]);
        }
        let now = tallied
            .iter()
            .map(|t| t.at_seconds)
            .max()
            .unwrap_or_default();
        let adds: Vec<_> = adds.into_iter().collect();
        for (part, chunk) in adds.chunks(99).enumerate() {
            let mut items = vec![self.mark(
                format!("batch#{batch}"),
                part.to_string(),
                now + MARK_SECONDS,
            )];
            items.extend(
                chunk
                    .iter()
                    .map(|((pk, sk), (counts, expires))| self.add(pk, sk, counts, *expires)),
            );
            writes.push(items);
        }
        let writes: Vec<_> = writes.into_iter().map(|items| self.once(items)).collect();
        futures::stream::iter(writes)
            .buffer_unordered(4)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// The hours of `series` from the start of China day `from` to the end of `to`, oldest
    /// first; an hour nothing happened in is absent.
    pub async fn hours(
        &self,
        series: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<(String, Counts)>, StoreError> {
        let items = crate::query_between(
            &self.client,
            &self.table,
            series,
            (&format!("{from}T00"), &format!("{to}T23")),
            "Query report counters",
        )
        .await?;
        Ok(items.iter().map(counts_of).collect())
    }

    /// Each product's counts on each of `days`, summed; at most 8 days are read at once.
    pub async fn products(&self, days: &[String]) -> Result<BTreeMap<String, Counts>, StoreError> {
        let series: Vec<String> = days.iter().map(|day| products_series(day)).collect();
        let reads: Vec<_> = series
            .iter()
            .map(|pk| {
                crate::query_partition(
                    &self.client,
                    &self.table,
                    pk,
                    None,
                    "Query product counters",
                )
            })
            .collect();
        let per_day: Vec<Vec<Item>> = futures::stream::iter(reads)
            .buffer_unordered(8)
            .try_collect()
            .await?;
        let mut products: BTreeMap<String, Counts> = BTreeMap::new();
        for (product, counts) in per_day.iter().flatten().map(counts_of) {
            let summed = products.entry(product).or_default();
            for (metric, by) in counts {
                *summed.entry(metric).or_default() += by;
            }
        }
        Ok(products)
    }
}

/// An item's sort key and its counts (every number but the expiry).
fn counts_of(item: &Item) -> (String, Counts) {
    let key = crate::get_s(item, "sk").unwrap_or_default().to_string();
    let counts = item
        .iter()
        .filter(|(name, _)| !["pk", "sk", "expiresAt"].contains(&name.as_str()))
        .filter_map(|(name, value)| match value {
            AttributeValue::N(raw) => Some((name.clone(), raw.parse().ok()?)),
            _ => None,
        })
        .collect();
    (key, counts)
}
