//! The shop's live reports (数据看板): hourly counters the functions add to as business events
//! happen, beside the metric lines they write, so the merchant's dashboard reads a range of
//! hours in a few queries instead of scanning orders.
//!
//! Items (`pk` / `sk`), each a number per metric (`OrderPaid`, `Revenue` in fen, …) added to
//! atomically, and each gone 400 days after its hour (`expiresAt`):
//! - `all`, `channel#<channel>`, `category#<id>` / `2026-12-01T21` (the China hour): the shop,
//!   one channel of arrival, one category, per hour.
//! - `products#<day>` / `<productId>`: a product's views, cart adds, units sold and sales that
//!   China day (a day per partition keeps "top products over 90 days" to 90 queries).
//! - `visitor#<hour>` / SHA-256 of the user id: that this visitor was counted this hour
//!   (`Visitors`); the id itself is never stored, and the mark is gone after two days.

use crate::{Item, StoreError, n, s};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use domain::clock::{china_day, china_hour};
use domain::report::Tallied;
use futures::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, HashMap};

/// Distinct visitors in an hour.
pub const VISITORS: &str = "Visitors";
const KEEP_SECONDS: i64 = 400 * 24 * 3600;
const VISITOR_MARK_SECONDS: i64 = 2 * 24 * 3600;

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

    /// Adds `counts` to the item `pk` / `sk`, created on its first add.
    async fn add(
        &self,
        pk: &str,
        sk: &str,
        counts: &Counts,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut names = HashMap::new();
        let mut values = HashMap::from([(":expires".to_string(), n(expires_at))]);
        let mut adds = Vec::new();
        for (i, (metric, by)) in counts.iter().enumerate() {
            names.insert(format!("#m{i}"), metric.clone());
            values.insert(format!(":m{i}"), n(by));
            adds.push(format!("#m{i} :m{i}"));
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(format!("SET expiresAt = :expires ADD {}", adds.join(", ")))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem report counter", e))?;
        Ok(())
    }

    /// True the first time `visitor` is marked in `hour`.
    async fn first_visit_in(
        &self,
        hour: &str,
        visitor: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("visitor#{hour}")))
            .item("sk", s(visitor_mark(visitor)))
            .item("expiresAt", n(now + VISITOR_MARK_SECONDS))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(err) if crate::condition_failed(&err) => Ok(false),
            Err(err) => Err(StoreError::dynamo("PutItem visitor mark", err)),
        }
    }

    /// Writes what was counted: one atomic add per item touched, however many events touched it.
    pub async fn record(&self, tallied: Vec<Tallied>) -> Result<(), StoreError> {
        let mut adds: BTreeMap<(String, String), (Counts, i64)> = BTreeMap::new();
        let mut add = |pk: String, sk: &str, counts: &[(&str, u64)], expires: i64| {
            let entry = adds
                .entry((pk, sk.to_string()))
                .or_insert_with(|| (Counts::new(), expires));
            for (metric, by) in counts {
                *entry.0.entry(metric.to_string()).or_default() += by;
            }
        };
        let visits: Vec<(String, &Tallied)> = tallied
            .iter()
            .filter(|t| t.hourly && t.visitor.is_some())
            .map(|t| (china_hour(t.at_seconds), t))
            .collect();
        // Futures made before they are streamed: a stream of borrowing closures is not `Send`
        // enough for the boxed flush.
        let marks: Vec<_> = visits
            .iter()
            .map(|(hour, t)| {
                self.first_visit_in(hour, t.visitor.as_deref().unwrap_or_default(), t.at_seconds)
            })
            .collect();
        let first: Vec<bool> = futures::stream::iter(marks)
            .buffered(8)
            .try_collect()
            .await?;
        for ((hour, t), first) in visits.iter().zip(first) {
            if first {
                let expires = t.at_seconds + KEEP_SECONDS;
                add(shop_series(), hour, &[(VISITORS, 1)], expires);
                add(channel_series(&t.channel), hour, &[(VISITORS, 1)], expires);
            }
        }
        for t in &tallied {
            let hour = china_hour(t.at_seconds);
            let expires = t.at_seconds + KEEP_SECONDS;
            if t.hourly {
                add(shop_series(), &hour, &t.counts, expires);
                add(channel_series(&t.channel), &hour, &t.counts, expires);
                if let Some(category) = &t.category {
                    add(category_series(category), &hour, &t.counts, expires);
                }
            }
            if let Some(product) = &t.product {
                let day = china_day(t.at_seconds);
                add(products_series(&day), product, &t.counts, expires);
            }
        }
        let writes: Vec<_> = adds
            .iter()
            .map(|((pk, sk), (counts, expires))| self.add(pk, sk, counts, *expires))
            .collect();
        futures::stream::iter(writes)
            .buffer_unordered(8)
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

/// Who visited, as the hour's mark names them: enough to count them once, not to name them.
fn visitor_mark(visitor: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, visitor.as_bytes());
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
