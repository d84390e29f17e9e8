//! Shoppers driving the local stack through its gateway: logins, orders placed many at a time,
//! stock read and set directly, and the contended-SKU run.

use crate::http::Http;
use anyhow::{Context, bail, ensure};
use aws_sdk_dynamodb::types::AttributeValue;
use domain::order::Order;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The SKU every measured and prepared order takes one of.
pub const ORDER_SKU: &str = "walnut-1";
/// The one SKU the contended run's shoppers all order.
pub const CONTENDED_SKU: &str = "chopsticks-1";
/// Far more than any run takes, so no order of the bench is ever out of stock.
pub const PLENTY: i64 = 1_000_000;

/// A delivery address that passes every check.
pub fn address() -> Value {
    json!({"name": "张三", "phone": "13812345678", "province": "浙江省", "city": "杭州市", "district": "西湖区", "detail": "文三路 90 号 1 幢 501"})
}

pub fn order_body(sku: &str) -> Value {
    json!({"items": [{"skuId": sku, "quantity": 1}], "address": address()})
}

/// The in-process gateway at `stack.api_url`, called over HTTP as the mini-program would.
#[derive(Clone)]
pub struct Gateway {
    http: Http,
    base: String,
}

impl Gateway {
    pub fn new(base: &str) -> Self {
        Self {
            http: Http::new(),
            base: base.to_string(),
        }
    }

    /// Signs in the sandbox shopper `code` names (`name.N`, single-use); returns the token.
    pub async fn login(&self, code: &str) -> anyhow::Result<String> {
        let (status, answer) = self
            .http
            .post_json(
                format!("{}/v1/auth/login", self.base),
                &[],
                &json!({ "code": code }),
            )
            .await?;
        ensure!(status == 200, "login {code}: status {status}: {answer}");
        answer["token"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("login {code}: no token in {answer}"))
    }

    /// Places an order for one unit of `sku`; anything but 201 with an unpaid order fails.
    pub async fn place_order(&self, token: &str, key: &str, sku: &str) -> anyhow::Result<Order> {
        let (status, answer) = self
            .http
            .post_json(
                format!("{}/v1/orders", self.base),
                &[
                    ("authorization", &format!("Bearer {token}")),
                    ("idempotency-key", key),
                ],
                &order_body(sku),
            )
            .await?;
        if status != 201 || answer["order"]["status"] != "PENDING_PAYMENT" {
            bail!("POST /v1/orders (key {key}): status {status}: {answer}");
        }
        serde_json::from_value(answer["order"].clone())
            .with_context(|| format!("POST /v1/orders (key {key}): unreadable order {answer}"))
    }
}

/// Places `count` one-unit orders for `sku`, `in_flight` at a time, the `i`th by shopper
/// `tokens[i % len]` with key `{label}-{i}`. The first failure fails them all.
pub async fn place_orders(
    gateway: &Gateway,
    tokens: &[String],
    sku: &str,
    count: usize,
    in_flight: usize,
    label: &str,
) -> anyhow::Result<Vec<Order>> {
    ensure!(!tokens.is_empty(), "placing orders needs a shopper");
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..in_flight.clamp(1, count.max(1)) {
        let (gateway, tokens, next) = (gateway.clone(), tokens.to_vec(), next.clone());
        let (sku, label) = (sku.to_string(), label.to_string());
        workers.spawn(async move {
            let mut placed = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return anyhow::Ok(placed);
                }
                let token = &tokens[i % tokens.len()];
                placed.push(
                    gateway
                        .place_order(token, &format!("{label}-{i}"), &sku)
                        .await?,
                );
            }
        });
    }
    let mut orders = Vec::with_capacity(count);
    // Returning early drops the set, which aborts the other shoppers.
    while let Some(done) = workers.join_next().await {
        orders.extend(done??);
    }
    Ok(orders)
}

fn sku_key(sku: &str) -> [(String, AttributeValue); 2] {
    [
        ("pk".into(), AttributeValue::S(format!("SKU#{sku}"))),
        ("sk".into(), AttributeValue::S("SKU".into())),
    ]
}

pub async fn stock_of(stack: &devstack::LocalStack, sku: &str) -> anyhow::Result<i64> {
    let item = stack
        .dynamodb
        .get_item()
        .table_name(&stack.resources.tables["CatalogTable"])
        .set_key(Some(sku_key(sku).into()))
        .consistent_read(true)
        .send()
        .await?
        .item
        .with_context(|| format!("no SKU {sku} in the catalog"))?;
    item.get("stock")
        .and_then(|s| s.as_n().ok())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("SKU {sku} has no numeric stock"))
}

pub async fn set_stock(stack: &devstack::LocalStack, sku: &str, stock: i64) -> anyhow::Result<()> {
    stack
        .dynamodb
        .update_item()
        .table_name(&stack.resources.tables["CatalogTable"])
        .set_key(Some(sku_key(sku).into()))
        .update_expression("SET stock = :s")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(":s", AttributeValue::N(stock.to_string()))
        .send()
        .await
        .with_context(|| format!("setting the stock of {sku}"))?;
    Ok(())
}

/// What the contended run measured.
pub struct Contention {
    pub sku: &'static str,
    pub clients: usize,
    pub orders: usize,
    pub elapsed: Duration,
    pub stock_before: i64,
    pub stock_after: i64,
}

/// `clients` shoppers, each with one order in flight at a time, place `orders` orders for
/// one SKU through the in-process gateway. Fails unless every order succeeded and the stock
/// went down by exactly their number.
pub async fn contend(
    stack: &devstack::LocalStack,
    gateway: &Gateway,
    clients: usize,
    orders: usize,
) -> anyhow::Result<Contention> {
    set_stock(stack, CONTENDED_SKU, PLENTY).await?;
    let mut tokens = Vec::with_capacity(clients);
    for i in 0..clients {
        tokens.push(gateway.login(&format!("contender{i}.1")).await?);
    }
    let stock_before = stock_of(stack, CONTENDED_SKU).await?;
    let started = Instant::now();
    let placed = place_orders(
        gateway,
        &tokens,
        CONTENDED_SKU,
        orders,
        clients,
        "contended",
    )
    .await
    .context("the contended run")?;
    let elapsed = started.elapsed();
    let stock_after = stock_of(stack, CONTENDED_SKU).await?;
    ensure!(
        placed.len() == orders,
        "{} of {orders} orders placed",
        placed.len()
    );
    ensure!(
        stock_after == stock_before - orders as i64,
        "stock of {CONTENDED_SKU} went from {stock_before} to {stock_after} for {orders} orders"
    );
    Ok(Contention {
        sku: CONTENDED_SKU,
        clients,
        orders,
        elapsed,
        stock_before,
        stock_after,
    })
}

/// An SQS event of `order.paid` messages, as Lambda hands the fulfillment consumer a batch.
pub fn order_paid_event(
    orders: &[domain::ids::OrderId],
) -> anyhow::Result<aws_lambda_events::sqs::SqsEvent> {
    let records: Vec<serde_json::Value> = orders
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let body = serde_json::to_string(&store::queue::FulfillmentMessage::order_paid(id, "4200bench"))?;
            Ok(json!({"messageId": format!("bench-{i}-{id}"), "body": body, "eventSource": "aws:sqs"}))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(serde_json::from_value(json!({ "Records": records }))?)
}

/// The fulfillment consumer's throughput: messages shipped per second in batches of ten.
pub struct Throughput {
    pub messages: usize,
    pub batch: usize,
    pub elapsed: Duration,
    pub waybills: u64,
}

impl Throughput {
    pub fn render(&self) -> String {
        format!(
            "\n## Fulfillment consumer: messages per second\n\n\
             | Messages | Batch size | Wall time (s) | Messages / s | Waybills issued |\n\
             |---:|---:|---:|---:|---:|\n\
             | {} | {} | {:.2} | {:.1} | {} |\n\n\
             `order.paid` for paid orders, handed to the fulfillment consumer (in-process, in the \
             bench's release build, on fresh tables) in batches as Lambda would, one batch after another. \
             Each message: GetItem, claim (UpdateItem), warehouses (Query), the Kuaidi100 sandbox's \
             label and subscription calls, one TransactWriteItems. Every order was checked SHIPPED \
             with one waybill.\n",
            self.messages,
            self.batch,
            self.elapsed.as_secs_f64(),
            self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9),
            self.waybills
        )
    }
}

/// Places and pays `messages` orders, then times the fulfillment consumer over them.
pub async fn fulfillment_throughput(
    stack: &devstack::LocalStack,
    messages: usize,
) -> anyhow::Result<Throughput> {
    const BATCH: usize = 10;
    // The set-up orders go straight to the checkout handler, one at a time: by now moto holds
    // every earlier run's tables and each transaction is slow, which is not what this measures.
    let token = Gateway::new(&stack.api_url).login("shipper.1").await?;
    let fixture: Value =
        serde_json::from_str(include_str!("../../../events/checkout-place-order.json"))?;
    let orders = stack.order_store();
    let now = domain::clock::now_epoch_seconds();
    let mut ids = Vec::with_capacity(messages);
    for i in 0..messages {
        let mut event = fixture.clone();
        event["headers"]["authorization"] = format!("Bearer {token}").into();
        event["headers"]["idempotency-key"] = format!("ship-{i}").into();
        event["body"] = order_body(ORDER_SKU).to_string().into();
        let answer = edge::runtime::HttpFunction::handle(
            stack.checkout.as_ref(),
            edge::api::request_from_event(&event)?,
        )
        .await;
        ensure!(
            answer.status() == 201,
            "placing order {i} for the fulfillment run: {answer:?}"
        );
        let body: Value = match answer.body() {
            edge::api::Body::Text(text) => serde_json::from_str(text)?,
            other => bail!("placing order {i}: unreadable answer {other:?}"),
        };
        let id = domain::ids::OrderId::parse(body["order"]["id"].as_str().unwrap_or_default())
            .map_err(|e| anyhow::anyhow!("order {i}: {e}"))?;
        orders
            .mark_paid(&id, "4200bench", "2026-11-24T10:00:00+08:00", now)
            .await?;
        ids.push(id);
    }
    let labels_before = stack.kuaidi100.label_calls();
    let started = Instant::now();
    for batch in ids.chunks(BATCH) {
        let handled = edge::runtime::QueueFunction::handle(
            stack.fulfillment.as_ref(),
            order_paid_event(batch)?,
        )
        .await;
        ensure!(
            handled.batch_item_failures.is_empty(),
            "a batch had failures: {:?}",
            handled.batch_item_failures
        );
    }
    let elapsed = started.elapsed();
    for id in &ids {
        let status = orders.get(id).await?.map(|s| s.order.status);
        ensure!(
            status == Some(domain::order::OrderStatus::Shipped),
            "order {id} is {status:?} after fulfillment"
        );
    }
    let waybills = stack.kuaidi100.label_calls() - labels_before;
    ensure!(
        waybills == messages as u64,
        "{waybills} waybills for {messages} orders"
    );
    Ok(Throughput {
        messages,
        batch: BATCH,
        elapsed,
        waybills,
    })
}
