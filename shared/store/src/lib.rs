//! DynamoDB storage and the SQS queues, for the domain's types. Domain types go in and out
//! through serde, so an item's attributes are the type's camelCase fields plus the key
//! attributes the access patterns need. Every state change is a conditional write, its
//! condition expression written out where the write is.
//!
//! Depends on the domain and the AWS SDK only: never on a provider client, the HTTP edge or the
//! Lambda runtime.

pub mod audit;
pub mod cart;
pub mod catalog;
pub mod exports;
pub mod kms;
pub mod lottery;
pub mod marketing;
pub mod media;
pub mod orders;
pub mod personal;
pub mod points;
pub mod points_mall;
pub mod privacy;
pub mod pushes;
pub mod queue;
pub mod refunds;
pub mod reports;
pub mod reviews;
pub mod shipments;
pub mod shopping;
mod signing;
pub mod social;
pub mod staff;
pub mod tasks;
pub mod topic;
pub mod users;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("dynamodb {operation} failed")]
    Dynamo {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("stored item {key} does not match its type: {problem}")]
    Corrupt { key: String, problem: String },
    /// Sealing or opening shoppers' personal data failed (KMS unreachable or refusing).
    #[error("personal data: {operation} failed: {problem}")]
    PersonalData {
        operation: &'static str,
        problem: String,
    },
}

impl StoreError {
    pub fn dynamo<E>(operation: &'static str, err: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let detail = aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string();
        StoreError::Dynamo {
            operation,
            source: detail.into(),
        }
    }
}

/// Where a listing page stopped: the key attributes of its last item (sealed into a cursor).
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct ListPosition(pub std::collections::BTreeMap<String, String>);

impl ListPosition {
    pub fn of(item: &Item, keys: &[&str]) -> Self {
        Self(
            keys.iter()
                .filter_map(|k| get_s(item, k).map(|v| (k.to_string(), v.to_string())))
                .collect(),
        )
    }

    pub fn into_key(self) -> Item {
        self.0.into_iter().map(|(k, v)| (k, s(v))).collect()
    }
}

pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<ListPosition>,
}

/// The AWS configuration (endpoint, region, credentials) for all clients. Loaded once per cold start.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

const BATCH_GET_MAX: usize = 100;

/// Reads items by key from any number of tables, 100 keys per BatchGetItem, retrying what
/// DynamoDB leaves unprocessed. Repeated keys are read once; missing items are simply absent.
/// `consistent` for reads that decide a write (stock, quotas, balances), not for listings.
pub async fn batch_get(
    client: &Client,
    keys: Vec<(String, Item)>,
    consistent: bool,
) -> Result<HashMap<String, Vec<Item>>, StoreError> {
    let mut seen = std::collections::BTreeSet::new();
    let unique: Vec<(String, Item)> = keys
        .into_iter()
        .filter(|(table, key)| {
            seen.insert((
                table.clone(),
                get_s(key, "pk").unwrap_or("").to_string(),
                get_s(key, "sk").unwrap_or("").to_string(),
            ))
        })
        .collect();
    let mut found: HashMap<String, Vec<Item>> = HashMap::new();
    for chunk in unique.chunks(BATCH_GET_MAX) {
        let mut pending: HashMap<String, Vec<Item>> = HashMap::new();
        for (table, key) in chunk {
            pending.entry(table.clone()).or_default().push(key.clone());
        }
        for attempt in 0..6 {
            if pending.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
            }
            let mut request = client.batch_get_item();
            for (table, keys) in pending.drain() {
                let keys = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(consistent)
                    .build()
                    .map_err(|e| StoreError::dynamo("build BatchGetItem", e))?;
                request = request.request_items(table, keys);
            }
            let out = request
                .send()
                .await
                .map_err(|e| StoreError::dynamo("BatchGetItem", e))?;
            for (table, items) in out.responses.unwrap_or_default() {
                found.entry(table).or_default().extend(items);
            }
            pending = out
                .unprocessed_keys
                .unwrap_or_default()
                .into_iter()
                .map(|(table, k)| (table, k.keys))
                .filter(|(_, keys)| !keys.is_empty())
                .collect();
        }
        if !pending.is_empty() {
            return Err(StoreError::Corrupt {
                key: "BatchGetItem".into(),
                problem: "keys left unprocessed after retries".into(),
            });
        }
    }
    Ok(found)
}

/// BatchWriteItem's limit.
const BATCH_WRITE_MAX: usize = 25;

/// Puts and deletes in one table, 25 per BatchWriteItem, retrying what DynamoDB leaves
/// unprocessed. Unconditional: only for writes whose order and repetition do not matter.
pub async fn batch_write(
    client: &Client,
    table: &str,
    writes: Vec<aws_sdk_dynamodb::types::WriteRequest>,
) -> Result<(), StoreError> {
    for chunk in writes.chunks(BATCH_WRITE_MAX) {
        let mut pending = chunk.to_vec();
        for attempt in 0..6 {
            if pending.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
            }
            let out = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .map_err(|e| StoreError::dynamo("BatchWriteItem", e))?;
            pending = out
                .unprocessed_items
                .and_then(|mut left| left.remove(table))
                .unwrap_or_default();
        }
        if !pending.is_empty() {
            return Err(StoreError::Corrupt {
                key: "BatchWriteItem".into(),
                problem: "writes left unprocessed after retries".into(),
            });
        }
    }
    Ok(())
}

/// A record's table key (`pk`, `sk`), whatever else it holds.
pub(crate) fn table_key(record: &Item) -> Item {
    ["pk", "sk"]
        .into_iter()
        .filter_map(|k| record.get(k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

/// Deletes the items of `table` these records are (by their `pk` and `sk`, whatever else they
/// hold), in batches; how many.
pub async fn delete_keys(
    client: &Client,
    table: &str,
    records: &[Item],
) -> Result<usize, StoreError> {
    let deletes = records
        .iter()
        .map(|record| {
            aws_sdk_dynamodb::types::DeleteRequest::builder()
                .set_key(Some(table_key(record)))
                .build()
                .map(|d| {
                    aws_sdk_dynamodb::types::WriteRequest::builder()
                        .delete_request(d)
                        .build()
                })
                .map_err(|e| StoreError::dynamo("build DeleteRequest", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let deleted = deletes.len();
    batch_write(client, table, deletes).await?;
    Ok(deleted)
}

/// Whether a single-item write failed only because its condition did not hold (a duplicate,
/// a late event, a race lost): the caller's answer, not an error.
pub fn condition_failed<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(aws_sdk_dynamodb::error::ProvideErrorMetadata::code)
        == Some("ConditionalCheckFailedException")
}

/// For a cancelled transaction, which of its items failed their condition (in item order);
/// `None` when the transaction failed for any other reason.
pub fn failed_conditions<R>(
    err: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        R,
    >,
) -> Option<Vec<bool>> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match err.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(c) => Some(
            c.cancellation_reasons()
                .iter()
                .map(|r| r.code() == Some("ConditionalCheckFailed"))
                .collect(),
        ),
        _ => None,
    }
}

/// A put for a transaction, under `condition` when given.
pub(crate) fn put(
    table: &str,
    item: Item,
    condition: Option<&str>,
) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
    let put = aws_sdk_dynamodb::types::Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_string))
        .build()
        .map_err(|e| StoreError::dynamo("build transaction", e))?;
    Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder()
        .put(put)
        .build())
}

/// The key of an item in a table keyed by `pk` and `sk`.
pub(crate) fn key(pk: String, sk: impl Into<String>) -> Item {
    [("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))].into()
}

pub(crate) fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::dynamo("build transaction", e)
}

/// One item by its key, read consistently.
pub(crate) async fn get_consistent(
    client: &Client,
    table: &str,
    key: Item,
    what: &'static str,
) -> Result<Option<Item>, StoreError> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| StoreError::dynamo(what, e))?;
    Ok(out.item)
}

/// Runs a transaction: `None` when it went through, or which of its items' conditions failed
/// (index-aligned) when DynamoDB cancelled it for that.
pub(crate) async fn transact(
    client: &Client,
    items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
    what: &'static str,
) -> Result<Option<Vec<bool>>, StoreError> {
    match client
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await
    {
        Ok(_) => Ok(None),
        Err(err) => match failed_conditions(&err) {
            Some(failed) => Ok(Some(failed)),
            None => Err(StoreError::dynamo(what, err)),
        },
    }
}

/// Every item of partition `pk` (only `projection`'s attributes, when given), read
/// consistently, page after page.
pub(crate) async fn query_partition(
    client: &Client,
    table: &str,
    pk: &str,
    projection: Option<&str>,
    operation: &'static str,
) -> Result<Vec<Item>, StoreError> {
    query_all(client, table, pk, SortKeys::All, projection, operation).await
}

/// Every item of partition `pk` whose sort key starts with `prefix`, read consistently, page
/// after page.
pub(crate) async fn query_prefix(
    client: &Client,
    table: &str,
    pk: &str,
    prefix: &str,
    operation: &'static str,
) -> Result<Vec<Item>, StoreError> {
    query_all(client, table, pk, SortKeys::Prefix(prefix), None, operation).await
}

/// Which of a partition's items a query reads, by sort key.
enum SortKeys<'a> {
    All,
    Prefix(&'a str),
    Between(&'a str, &'a str),
}

/// Every item of partition `pk` whose sort key is from `first` to `last` (inclusive), page
/// after page.
pub(crate) async fn query_between(
    client: &Client,
    table: &str,
    pk: &str,
    (first, last): (&str, &str),
    operation: &'static str,
) -> Result<Vec<Item>, StoreError> {
    query_all(
        client,
        table,
        pk,
        SortKeys::Between(first, last),
        None,
        operation,
    )
    .await
}

async fn query_all(
    client: &Client,
    table: &str,
    pk: &str,
    keys: SortKeys<'_>,
    projection: Option<&str>,
    operation: &'static str,
) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let mut query = client
            .query()
            .table_name(table)
            .expression_attribute_values(":pk", s(pk))
            .set_projection_expression(projection.map(str::to_string))
            .consistent_read(true)
            .set_exclusive_start_key(start);
        query = match keys {
            SortKeys::All => query.key_condition_expression("pk = :pk"),
            SortKeys::Prefix(prefix) => query
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(prefix)),
            SortKeys::Between(first, last) => query
                .key_condition_expression("pk = :pk AND sk BETWEEN :first AND :last")
                .expression_attribute_values(":first", s(first))
                .expression_attribute_values(":last", s(last)),
        };
        let out = query
            .send()
            .await
            .map_err(|e| StoreError::dynamo(operation, e))?;
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}

/// One page of an index, newest first: partition `pk_name = pk` of `index`, sorted by the
/// number `sort`, at most `limit` items after `after`, and where the next page starts (a
/// position holding the table's keys, the index's partition key and `sort` as text).
pub(crate) async fn index_page(
    client: &Client,
    table: &str,
    index: &str,
    (pk_name, pk): (&str, &str),
    sort: &str,
    after: Option<ListPosition>,
    limit: usize,
) -> Result<Page<Item>, StoreError> {
    let mut items: Vec<Item> = Vec::new();
    let mut start = after.map(|p| {
        let mut key = p.into_key();
        // The index's sort key is a number; a cursor keeps it as text.
        if let Some(AttributeValue::S(t)) = key.get(sort).cloned() {
            key.insert(sort.to_string(), AttributeValue::N(t));
        }
        key
    });
    loop {
        let page = i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX);
        let out = client
            .query()
            .table_name(table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", s(pk))
            .scan_index_forward(false)
            .set_exclusive_start_key(start.take())
            .limit(page)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query index page", e))?;
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if items.len() > limit || start.is_none() {
            break;
        }
    }
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| {
            let mut keys = vec!["pk", "sk"];
            if pk_name != "pk" {
                keys.push(pk_name);
            }
            let mut position = ListPosition::of(last, &keys);
            if let Some(t) = get_i64(last, sort) {
                position.0.insert(sort.to_string(), t.to_string());
            }
            position
        })
    } else {
        None
    };
    Ok(Page { items, next })
}

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(num) => AttributeValue::N(num.to_string()),
        Value::String(text) => AttributeValue::S(text.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(
            map.iter()
                .map(|(k, v)| (k.clone(), to_attribute(v)))
                .collect(),
        ),
    }
}

pub fn from_attribute(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(text) => Value::String(text.clone()),
        AttributeValue::N(num) => num
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| num.parse::<u64>().map(Value::from))
            .ok()
            .or_else(|| {
                num.parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
            })
            .unwrap_or(Value::Null),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::L(items) => Value::Array(items.iter().map(from_attribute).collect()),
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), from_attribute(v)))
                .collect(),
        ),
        AttributeValue::Ss(items) => {
            Value::Array(items.iter().cloned().map(Value::String).collect())
        }
        AttributeValue::Ns(items) => Value::Array(
            items
                .iter()
                .filter_map(|n| n.parse::<i64>().ok())
                .map(Value::from)
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// The attributes of a domain value. Absent options stay absent rather than becoming NULL.
pub fn to_item<T: Serialize>(value: &T) -> Item {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), to_attribute(v)))
            .collect(),
        _ => Item::new(),
    }
}

pub fn from_item<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    let map: Map<String, Value> = item
        .iter()
        .map(|(k, v)| (k.clone(), from_attribute(v)))
        .collect();
    serde_json::from_value(Value::Object(map)).map_err(|e| StoreError::Corrupt {
        key: item_key(item),
        problem: e.to_string(),
    })
}

fn item_key(item: &Item) -> String {
    let part = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => v.clone(),
        _ => String::new(),
    };
    format!("{}/{}", part("pk"), part("sk"))
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

pub fn get_i64(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Sample {
        title: String,
        price: u64,
        tags: Vec<String>,
        specs: std::collections::BTreeMap<String, String>,
        note: Option<String>,
        on_shelf: bool,
    }

    #[test]
    fn domain_values_round_trip_through_items() {
        let sample = Sample {
            title: "龙井".into(),
            price: 12_800,
            tags: vec!["绿茶".into()],
            specs: [("规格".to_string(), "250g".to_string())].into(),
            note: None,
            on_shelf: true,
        };
        let item = to_item(&sample);
        assert!(matches!(item.get("price"), Some(AttributeValue::N(n)) if n == "12800"));
        assert!(!item.contains_key("note"));
        assert_eq!(from_item::<Sample>(&item).unwrap(), sample);
    }

    #[test]
    fn a_mistyped_item_is_reported_not_panicked() {
        let mut item = Item::new();
        item.insert("pk".into(), s("PRODUCT#1"));
        item.insert("title".into(), n(5));
        let err = from_item::<Sample>(&item).unwrap_err();
        assert!(err.to_string().contains("PRODUCT#1"));
    }
}
