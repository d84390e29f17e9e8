//! What each function is asked, built from the real API Gateway payloads in `events/`, and the
//! storage and WeChat calls each route makes, replayed from the bench to time the emulators alone.

use anyhow::{Context, bail};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem};
use devstack::wechatpay_sandbox::WeChatPaySandbox;
use domain::ids::CouponId;
use domain::ids::OrderId;
use domain::ids::{OpenId, SkuId, UserId};
use domain::order::Order;
use providers::wechat::WeChatApi;
use providers::wechatpay::{Prepay, WeChatPay};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, PoisonError};
use store::cart::CartReader;
use store::marketing::MarketingStore;
use store::orders::{Created, OrderStore, Transition};
use store::queue::{DeadlineMessage, FulfillmentMessage, Queue};
use store::{Item, get_s, s};

/// The user every returning-user login signs in as; the sandbox turns `benchuser.<n>` into them.
pub const RETURNING_USER: &str = "benchuser";
/// The SKUs of the quote fixture, `events/checkout-quote.json`.
const QUOTE_SKUS: [&str; 2] = ["longjing-1", "walnut-1"];
/// A ten-line cart for the promotions quote: 725.60 yuan of goods, one unit each.
pub const PROMO_SKUS: [&str; 10] = [
    "longjing-1",
    "biluochun-1",
    "maofeng-1",
    "dianhong-1",
    "zhengshan-1",
    "walnut-1",
    "cashew-1",
    "daily-nuts-1",
    "beef-jerky-1",
    "kiwi-1",
];
/// The bench's promotions (set with shopctl before checkout runs): a shop-wide 满199减20 /
/// 满299减40, 100 points = 1 yuan up to half the goods, and this coupon in the shopper's wallet.
pub const BENCH_PROMOTIONS: &[&[&str]] = &[
    &[
        "reduction",
        "set",
        "bench-tiers",
        "--tiers",
        "199-20,299-40",
    ],
    &[
        "points",
        "policy",
        "--points-per-yuan",
        "100",
        "--max-share",
        "50",
    ],
    &[
        "coupon",
        "create",
        "bench-coupon",
        "--title",
        "满99减20",
        "--off",
        "20",
        "--min-spend",
        "99",
        "--valid-days",
        "30",
        "--total",
        "1000",
        "--per-user",
        "1",
    ],
];
pub const BENCH_COUPON: &str = "bench-coupon.1";
/// Points the bench shopper holds: 100 yuan's worth.
pub const BENCH_POINTS: i64 = 10_000;

fn fixture(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or(Value::Null)
}

fn with_query(mut event: Value, query: &[(&str, &str)]) -> Value {
    let raw: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    event["rawQueryString"] = raw.join("&").into();
    event["queryStringParameters"] = query
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    event
}

fn login_event(code: &str) -> Value {
    let mut event = fixture(include_str!("../../../events/login-login.json"));
    event["body"] = json!({ "code": code }).to_string().into();
    event
}

/// The calls a route makes to the emulators, in the order the handler makes them.
#[derive(Debug, Clone, Copy)]
pub enum Calls {
    /// A route answered from the request alone.
    None,
    ProductDetail,
    CategoryListing,
    Search,
    Categories,
    ReturningLogin,
    FirstLogin,
    Quote,
    /// A courier push with one new event.
    KuaidiPush,
    /// The ten-line cart with a coupon, points and a full-reduction rule.
    PromoQuote,
    PlaceOrder,
    PayNotify,
    /// A shopper's first check-in (a new shopper each time).
    CheckIn,
    /// A share link opened by a new visitor.
    ShareOpen,
}

/// The most AWS calls one request of a route may make on its happy path (the issue's targets).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub dynamodb: u32,
    pub sqs: Option<u32>,
    /// Calls outside AWS the budget allows on top, for the report.
    pub besides: &'static str,
}

type EventFn = Box<dyn Fn(u64) -> anyhow::Result<Value> + Send + Sync>;

pub struct Route {
    pub function: &'static str,
    pub name: &'static str,
    pub status: u16,
    /// JSON pointers into the answer's body and the values they must hold.
    pub body_checks: Vec<(&'static str, Value)>,
    pub calls: Calls,
    pub budget: Option<Budget>,
    /// The `n`th event to send; login codes and Idempotency-Keys are single-use, so each `n`
    /// must be fresh.
    event: EventFn,
}

impl Route {
    fn new(
        function: &'static str,
        name: &'static str,
        status: u16,
        calls: Calls,
        event: impl Fn(u64) -> anyhow::Result<Value> + Send + Sync + 'static,
    ) -> Self {
        Self {
            function,
            name,
            status,
            body_checks: Vec::new(),
            calls,
            budget: None,
            event: Box::new(event),
        }
    }

    fn expect_body(mut self, pointer: &'static str, value: Value) -> Self {
        self.body_checks.push((pointer, value));
        self
    }

    fn within(mut self, budget: Budget) -> Self {
        self.budget = Some(budget);
        self
    }

    pub fn event(&self, n: u64) -> anyhow::Result<Value> {
        (self.event)(n)
    }

    /// Fails unless the function's answer is the one this route is meant to produce.
    pub fn check(&self, answer: &Value) -> anyhow::Result<()> {
        let status = answer["statusCode"].as_u64().unwrap_or(0);
        if status != u64::from(self.status) {
            bail!(
                "{} {}: status {status}, wanted {}; answer: {answer}",
                self.function,
                self.name,
                self.status
            );
        }
        let body = body(answer);
        for (pointer, wanted) in &self.body_checks {
            if body.pointer(pointer) != Some(wanted) {
                bail!(
                    "{} {}: {pointer} is not {wanted}; answer: {answer}",
                    self.function,
                    self.name
                );
            }
        }
        Ok(())
    }
}

/// The JSON body of a function's answer (`null` if none).
pub fn body(answer: &Value) -> Value {
    answer["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null)
}

/// What the checkout and pay-notify events take from the running stack.
#[derive(Clone)]
pub struct EventSource {
    /// The bench shopper's bearer token.
    pub token: String,
    pub wechatpay: Arc<WeChatPaySandbox>,
    /// Orders paid in the sandbox whose notification is still to be sent; each event takes one.
    pub paid: Arc<Mutex<Vec<OrderId>>>,
    /// Kuaidi100's push salt, and the shipped waybills the courier pushes are about.
    pub kuaidi100_salt: String,
    pub waybills: Arc<Mutex<Vec<String>>>,
    /// Signs tokens for a new shopper per check-in event (a check-in counts once a day).
    pub tokens: Arc<edge::auth::TokenService>,
    /// The share link the open events visit.
    pub share_code: Arc<Mutex<String>>,
}

/// The `n`th new shopper of the check-in events, and of their replays.
pub fn checkin_user(n: u64, replay: bool) -> UserId {
    let who = if replay { "replay" } else { "event" };
    UserId::parse(&format!("ubench{who}{n:010}")).unwrap_or_else(|_| UserId::generate())
}

/// Events a bench push carries: a long parcel journey's worth.
const PUSH_HISTORY: u64 = 30;

/// The courier's report for the `n`th push: the latest 30 events of the waybill's history, the
/// newest of them new. Its data in the push's own shape (newest first).
pub fn tracking_history(n: u64) -> Vec<Value> {
    (n.saturating_sub(PUSH_HISTORY - 1)..=n)
        .rev()
        .map(|i| {
            let time = format!("2026-11-{:02} {:02}:{:02}:00", 25 + i / 1440, (i / 60) % 24, i % 60);
            json!({"time": time, "ftime": time, "context": format!("【杭州转运中心】快件运输中 {i}"), "areaName": "浙江省杭州市"})
        })
        .collect()
}

/// Pushes go round the waybills, so each parcel's stored history stays a real parcel's length:
/// the `n`th push is push number `n / len` for waybill `n % len`.
pub fn parcel_push(waybills: &[String], n: u64) -> anyhow::Result<(String, u64)> {
    let len = waybills.len() as u64;
    anyhow::ensure!(len > 0, "no shipped waybills for the courier pushes");
    Ok((waybills[(n % len) as usize].clone(), n / len))
}

/// A Kuaidi100 push (form body) for `number` with `tracking_history(n)`, signed with `salt`.
pub fn kuaidi100_push(number: &str, n: u64, salt: &str) -> String {
    let param = json!({"status": "polling", "message": "", "lastResult": {"state": "0", "ischeck": "0", "com": "zhongtong", "nu": number, "data": tracking_history(n)}}).to_string();
    format!(
        "param={}&sign={}",
        devstack::server::form_encode(&param),
        domain::logistics::push_sign(&param, salt)
    )
}

fn authorized(mut event: Value, token: &str) -> Value {
    event["headers"]["authorization"] = format!("Bearer {token}").into();
    event
}

/// A genuine notification for the next paid order, signed now: WeChat Pay signatures are
/// timestamped and the function refuses stale ones.
fn notification_event(source: &EventSource) -> anyhow::Result<Value> {
    let order = source
        .paid
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop()
        .context("no paid order left to notify about")?;
    let signed = source
        .wechatpay
        .notification(order.as_str(), |_| {})
        .with_context(|| format!("the sandbox has no transaction for {order}"))?;
    let mut event = fixture(include_str!("../../../events/pay-notify-wechat.json"));
    if let Some(headers) = event["headers"].as_object_mut() {
        headers.retain(|name, _| !name.starts_with("wechatpay-"));
        headers.extend(signed.headers.into_iter().map(|(k, v)| (k, v.into())));
    }
    event["body"] = signed.body.into();
    Ok(event)
}

/// Each function's routes; the first is its main one, used for the cold starts.
pub fn routes(function: &str, source: &EventSource) -> Vec<Route> {
    let fixed = |raw: &'static str| move |_| Ok(fixture(raw));
    match function {
        "browse" => vec![
            Route::new(
                "browse",
                "GET /v1/products/{id} (longjing)",
                200,
                Calls::ProductDetail,
                fixed(include_str!("../../../events/browse-product.json")),
            )
            .expect_body("/id", json!("longjing")),
            Route::new(
                "browse",
                "GET /v1/products?category=fruit&limit=10",
                200,
                Calls::CategoryListing,
                |_| {
                    Ok(with_query(
                        fixture(include_str!(
                            "../../../events/browse-products-by-category.json"
                        )),
                        &[("category", "fruit"), ("limit", "10")],
                    ))
                },
            ),
            Route::new(
                "browse",
                "GET /v1/products?q=普洱&limit=10",
                200,
                Calls::Search,
                fixed(include_str!("../../../events/browse-products.json")),
            ),
            Route::new(
                "browse",
                "GET /v1/categories",
                200,
                Calls::Categories,
                fixed(include_str!("../../../events/browse-categories.json")),
            ),
            Route::new(
                "browse",
                "GET /v1/products?limit=0 (400, no I/O)",
                400,
                Calls::None,
                |_| {
                    Ok(with_query(
                        fixture(include_str!("../../../events/browse-products.json")),
                        &[("limit", "0")],
                    ))
                },
            )
            .expect_body("/error/field", json!("limit")),
        ],
        "login" => vec![
            Route::new(
                "login",
                "POST /v1/auth/login (returning user)",
                200,
                Calls::ReturningLogin,
                |n| Ok(login_event(&format!("{RETURNING_USER}.{n}"))),
            )
            .expect_body("/user/isNew", json!(false)),
            Route::new(
                "login",
                "POST /v1/auth/login (new user)",
                200,
                Calls::FirstLogin,
                |n| Ok(login_event(&format!("bench{n}.1"))),
            )
            .expect_body("/user/isNew", json!(true)),
            Route::new(
                "login",
                "POST /v1/auth/login (empty code: 400, no I/O)",
                400,
                Calls::None,
                |_| Ok(login_event("")),
            )
            .expect_body("/error/field", json!("code")),
        ],
        "checkout" => {
            let (place_token, quote_token, promo_token) = (
                source.token.clone(),
                source.token.clone(),
                source.token.clone(),
            );
            vec![
                Route::new(
                    "checkout",
                    "POST /v1/orders (1 × walnut-1, new Idempotency-Key)",
                    201,
                    Calls::PlaceOrder,
                    move |n| {
                        let mut event = authorized(
                            fixture(include_str!("../../../events/checkout-place-order.json")),
                            &place_token,
                        );
                        event["headers"]["idempotency-key"] = format!("bench-{n}").into();
                        event["body"] = crate::shop::order_body(crate::shop::ORDER_SKU)
                            .to_string()
                            .into();
                        Ok(event)
                    },
                )
                .expect_body("/order/status", json!("PENDING_PAYMENT"))
                .expect_body("/payment/signType", json!("RSA"))
                .within(Budget {
                    dynamodb: 3,
                    sqs: Some(1),
                    besides: "the prepay",
                }),
                Route::new(
                    "checkout",
                    "POST /v1/checkout/quote (2 × longjing-1, 1 × walnut-1)",
                    200,
                    Calls::Quote,
                    move |_| {
                        Ok(authorized(
                            fixture(include_str!("../../../events/checkout-quote.json")),
                            &quote_token,
                        ))
                    },
                )
                .expect_body("/total", json!(2 * 12800 + 3990 - 2000))
                .within(Budget {
                    dynamodb: 3,
                    sqs: None,
                    besides: "",
                }),
                Route::new(
                    "checkout",
                    "POST /v1/checkout/quote (10 lines, 满减 + coupon + points)",
                    200,
                    Calls::PromoQuote,
                    move |_| {
                        let mut event = authorized(
                            fixture(include_str!("../../../events/checkout-quote.json")),
                            &promo_token,
                        );
                        let items: Vec<Value> = PROMO_SKUS
                            .iter()
                            .map(|s| json!({"skuId": s, "quantity": 1}))
                            .collect();
                        event["body"] = json!({"items": items, "couponId": BENCH_COUPON, "points": BENCH_POINTS})
                            .to_string()
                            .into();
                        Ok(event)
                    },
                )
                .expect_body("/discounts/0/amount", json!(4000))
                .expect_body("/discounts/1/amount", json!(2000))
                .expect_body("/discounts/2/amount", json!(10_000))
                .expect_body("/total", json!(72_560 - 4000 - 2000 - 10_000))
                .within(Budget {
                    dynamodb: 3,
                    sqs: None,
                    besides: "",
                }),
            ]
        }
        "logistics-hook" => {
            let (salt, waybills) = (source.kuaidi100_salt.clone(), source.waybills.clone());
            vec![
                Route::new(
                    "logistics-hook",
                    "POST /v1/logistics/kuaidi100/notify (30-event history, 1 new)",
                    200,
                    Calls::KuaidiPush,
                    move |n| {
                        let (number, push) = parcel_push(
                            &waybills.lock().unwrap_or_else(PoisonError::into_inner),
                            n,
                        )?;
                        let mut event = fixture(include_str!(
                            "../../../events/logistics-hook-kuaidi100.json"
                        ));
                        // Form bodies reach a function base64-encoded, as API Gateway sends them.
                        event["body"] = base64::Engine::encode(
                            &base64::engine::general_purpose::STANDARD,
                            kuaidi100_push(&number, push, &salt),
                        )
                        .into();
                        Ok(event)
                    },
                )
                .expect_body("/result", json!(true))
                .within(Budget {
                    dynamodb: 2,
                    sqs: Some(0),
                    besides: "",
                }),
            ]
        }
        "pay-notify" => {
            let source = source.clone();
            vec![
                Route::new(
                    "pay-notify",
                    "POST /v1/pay/wechat/notify (TRANSACTION.SUCCESS)",
                    204,
                    Calls::PayNotify,
                    move |_| notification_event(&source),
                )
                .within(Budget {
                    dynamodb: 2,
                    sqs: Some(1),
                    besides: "",
                }),
            ]
        }
        "share-reward" => {
            let (tokens, share) = (source.tokens.clone(), source.share_code.clone());
            vec![
                Route::new(
                    "share-reward",
                    "POST /v1/checkin (a new shopper's first)",
                    201,
                    Calls::CheckIn,
                    move |n| {
                        let token = tokens
                            .issue(&checkin_user(n, false), domain::clock::now_epoch_seconds())
                            .token;
                        Ok(authorized(
                            fixture(include_str!("../../../events/share-reward-checkin.json")),
                            &token,
                        ))
                    },
                )
                .expect_body("/streak", json!(1))
                .within(Budget {
                    dynamodb: 3,
                    sqs: None,
                    besides: "",
                }),
                Route::new(
                    "share-reward",
                    "POST /v1/shares/{code}/open (a new visitor)",
                    200,
                    Calls::ShareOpen,
                    move |n| {
                        let code = share.lock().unwrap_or_else(PoisonError::into_inner).clone();
                        anyhow::ensure!(!code.is_empty(), "no share link to open");
                        let mut event =
                            fixture(include_str!("../../../events/share-reward-open-share.json"));
                        event["pathParameters"]["code"] = json!(code);
                        event["rawPath"] = json!(format!("/v1/shares/{code}/open"));
                        event["body"] = json!({"visitorId": format!("bench-visitor-{n:010}")})
                            .to_string()
                            .into();
                        Ok(event)
                    },
                )
                .expect_body("/counted", json!(true))
                .within(Budget {
                    dynamodb: 2,
                    sqs: None,
                    besides: "",
                }),
            ]
        }
        _ => Vec::new(),
    }
}

/// The bench's own clients for replaying a route's calls.
pub struct Emulators {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub catalog_table: String,
    pub users_table: String,
    pub wechat: WeChatApi,
    pub cart: CartReader,
    pub marketing: MarketingStore,
    pub shipments: store::shipments::ShipmentStore,
    /// The waybills the push replays update (not the ones the function's events update).
    pub replay_waybills: Vec<String>,
    pub orders: OrderStore,
    pub fulfillment: Queue,
    pub deadlines: Queue,
    pub pay: WeChatPay,
    /// An order of the bench shopper's for place-order replays to copy; set before checkout runs.
    pub order_template: Option<Order>,
    /// The unpaid orders place-order replays created; pay-notify replays pay them.
    pub unpaid: Vec<OrderId>,
    pub social: store::social::SocialStore,
    /// Whether a caller's account was deleted: every authenticated route reads it first.
    pub users: store::users::UserStore,
    /// The share link the open replays visit.
    pub share_code: Option<domain::ids::ShareCode>,
}

fn key(pk: String, sk: &str) -> Item {
    Item::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

/// The SKU keys a product item lists under `skuIds`.
fn sku_keys(products: &[Item]) -> Vec<Item> {
    products
        .iter()
        .filter_map(|p| p.get("skuIds").and_then(|ids| ids.as_l().ok()))
        .flatten()
        .filter_map(|id| id.as_s().ok())
        .map(|id| key(format!("SKU#{id}"), "SKU"))
        .collect()
}

impl Emulators {
    async fn batch_get(&self, keys: Vec<Item>) -> anyhow::Result<Vec<Item>> {
        // The handler skips the call when there is nothing to fetch; so does the replay.
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .dynamodb
            .batch_get_item()
            .request_items(
                &self.catalog_table,
                KeysAndAttributes::builder().set_keys(Some(keys)).build()?,
            )
            .send()
            .await?;
        Ok(out
            .responses
            .and_then(|mut r| r.remove(&self.catalog_table))
            .unwrap_or_default())
    }

    async fn get(&self, table: &str, pk: String, consistent: bool) -> anyhow::Result<Item> {
        let out = self
            .dynamodb
            .get_item()
            .table_name(table)
            .key("pk", s(pk))
            .consistent_read(consistent)
            .send()
            .await?;
        Ok(out.item.unwrap_or_default())
    }

    /// Makes `calls` once, the `n`th time; `n` keeps single-use WeChat codes fresh.
    pub async fn replay(&mut self, calls: Calls, n: u64) -> anyhow::Result<()> {
        match calls {
            Calls::None => {}
            Calls::ProductDetail => {
                let product = self
                    .dynamodb
                    .get_item()
                    .table_name(&self.catalog_table)
                    .set_key(Some(key("PRODUCT#longjing".into(), "META")))
                    .send()
                    .await?
                    .item
                    .context("longjing is not in the catalog")?;
                self.batch_get(sku_keys(&[product])).await?;
            }
            Calls::CategoryListing => {
                let mut page = self
                    .dynamodb
                    .query()
                    .table_name(&self.catalog_table)
                    .index_name(store::catalog::INDEX_BY_CATEGORY)
                    .key_condition_expression("gsi1pk = :pk")
                    .expression_attribute_values(":pk", s("CATEGORY#fruit"))
                    .limit(11)
                    .send()
                    .await?
                    .items
                    .unwrap_or_default();
                page.truncate(10);
                self.batch_get(sku_keys(&page)).await?;
            }
            Calls::Search => {
                let mut hits = Vec::new();
                for term in domain::search::query_terms("普洱") {
                    let out = self
                        .dynamodb
                        .query()
                        .table_name(&self.catalog_table)
                        .key_condition_expression("pk = :pk")
                        .expression_attribute_values(":pk", s(format!("TERM#{term}")))
                        .projection_expression("sk, categoryId, #r")
                        .expression_attribute_names("#r", "rank")
                        .send()
                        .await?;
                    hits.extend(
                        out.items()
                            .iter()
                            .filter_map(|i| Some((get_s(i, "rank")?, get_s(i, "sk")?)))
                            .map(|(rank, id)| (rank.to_string(), id.to_string())),
                    );
                }
                hits.sort();
                let metas = self
                    .batch_get(
                        hits.iter()
                            .take(10)
                            .map(|(_, id)| key(format!("PRODUCT#{id}"), "META"))
                            .collect(),
                    )
                    .await?;
                self.batch_get(sku_keys(&metas)).await?;
            }
            Calls::Categories => {
                self.dynamodb
                    .query()
                    .table_name(&self.catalog_table)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", s("CATEGORY"))
                    .send()
                    .await?;
            }
            Calls::ReturningLogin => {
                let session = self
                    .wechat
                    .code_to_session(&format!("{RETURNING_USER}.replay{n}"))
                    .await?;
                let openid = self
                    .get(
                        &self.users_table,
                        format!("OPENID#{}", session.openid.expose()),
                        true,
                    )
                    .await?;
                let user_id = get_s(&openid, "userId").context("the bench user is missing")?;
                self.get(&self.users_table, format!("USER#{user_id}"), true)
                    .await?;
            }
            Calls::FirstLogin => {
                let session = self
                    .wechat
                    .code_to_session(&format!("benchreplay{n}.1"))
                    .await?;
                let openid_key = format!("OPENID#{}", session.openid.expose());
                self.get(&self.users_table, openid_key.clone(), true)
                    .await?;
                let user_id = format!("u-replay-{n}");
                let put = |item: Item| -> anyhow::Result<TransactWriteItem> {
                    let put = Put::builder()
                        .table_name(&self.users_table)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()?;
                    Ok(TransactWriteItem::builder().put(put).build())
                };
                self.dynamodb
                    .transact_write_items()
                    .transact_items(put(Item::from([
                        ("pk".to_string(), s(openid_key)),
                        ("userId".to_string(), s(&user_id)),
                        ("createdAt".to_string(), AttributeValue::N("0".into())),
                    ]))?)
                    .transact_items(put(Item::from([
                        ("pk".to_string(), s(format!("USER#{user_id}"))),
                        ("id".to_string(), s(&user_id)),
                        ("createdAt".to_string(), AttributeValue::N("0".into())),
                        ("openid".to_string(), s(session.openid.expose())),
                    ]))?)
                    .send()
                    .await?;
            }
            Calls::Quote => {
                let ids = QUOTE_SKUS
                    .iter()
                    .map(|id| SkuId::parse(id))
                    .collect::<Result<Vec<_>, _>>()?;
                let user = &self.template()?.user_id;
                self.users.is_deleted(user).await?;
                // The quote reads the cart and the wallet side by side.
                let (priced, wallet) =
                    tokio::join!(self.priced(&ids, user, None), self.marketing.wallet(user));
                priced?;
                wallet?;
            }
            Calls::PromoQuote => {
                let ids = PROMO_SKUS
                    .iter()
                    .map(|id| SkuId::parse(id))
                    .collect::<Result<Vec<_>, _>>()?;
                let user = &self.template()?.user_id;
                self.users.is_deleted(user).await?;
                let coupon = CouponId::parse(BENCH_COUPON)?;
                let (priced, wallet) = tokio::join!(
                    self.priced(&ids, user, Some(&coupon)),
                    self.marketing.wallet(user)
                );
                priced?;
                wallet?;
            }
            Calls::PlaceOrder => self.replay_place_order(n).await?,
            Calls::CheckIn => {
                self.users.is_deleted(&checkin_user(n, true)).await?;
                self.social
                    .check_in(&checkin_user(n, true), domain::clock::now_epoch_seconds())
                    .await?;
            }
            Calls::ShareOpen => {
                let code = self.share_code.clone().context("no share link to open")?;
                self.social.share(&code).await?;
                self.social
                    .record_visit(
                        &code,
                        &format!("v:bench-replay-{n:010}"),
                        domain::clock::now_epoch_seconds(),
                    )
                    .await?;
            }
            Calls::PayNotify => self.replay_pay_notify(n).await?,
            Calls::KuaidiPush => {
                let (number, push) = parcel_push(&self.replay_waybills, n)?;
                let data = tracking_history(push);
                let report = domain::logistics::TrackingReport {
                    number,
                    company: "zhongtong".into(),
                    state_code: Some(0),
                    events: data
                        .iter()
                        .map(|e| domain::logistics::TrackingEvent {
                            time: e["time"].as_str().unwrap_or_default().to_string(),
                            context: e["context"].as_str().unwrap_or_default().to_string(),
                            area_name: e["areaName"].as_str().map(str::to_string),
                        })
                        .collect(),
                    company_correction: None,
                };
                self.shipments
                    .apply_report(&report, domain::clock::now_epoch_seconds())
                    .await?;
            }
        }
        Ok(())
    }

    fn template(&self) -> anyhow::Result<&Order> {
        self.order_template
            .as_ref()
            .context("no order of the bench shopper's to copy")
    }

    /// Checkout's read for pricing (quote and order alike): everything in one batch.
    /// Returns whom WeChat Pay charges.
    async fn priced(
        &self,
        ids: &[SkuId],
        buyer: &UserId,
        coupon: Option<&CouponId>,
    ) -> anyhow::Result<Option<OpenId>> {
        let snapshot = self.cart.read(buyer, ids, coupon, None).await?;
        Ok(snapshot.buyer.and_then(|b| b.openid))
    }

    /// Checkout's calls for a fresh copy of the template order, in the handler's order.
    async fn replay_place_order(&mut self, n: u64) -> anyhow::Result<()> {
        let template = self.template()?;
        let now = domain::clock::now_epoch_seconds();
        let order = Order {
            id: OrderId::generate(now),
            created_at: now,
            pay_deadline: now + (template.pay_deadline - template.created_at),
            ..template.clone()
        };
        self.users.is_deleted(&order.user_id).await?;
        let ids: Vec<SkuId> = order.lines.iter().map(|l| l.sku_id.clone()).collect();
        let openid = self
            .priced(&ids, &order.user_id, order.coupon_id.as_ref())
            .await?
            .context("the bench shopper has no openid")?;
        let deadline = DeadlineMessage::OrderDeadline {
            order_id: order.id.clone(),
            due_at: order.pay_deadline,
        };
        self.deadlines
            .send(&deadline, order.pay_deadline - now)
            .await?;
        let key = format!("replay-{n}");
        // The bench orders no flash-sale SKU, so there are no flash units to hold.
        let created = self
            .orders
            .create(&order, openid.expose(), &key, "replay", &[], Vec::new())
            .await?;
        if !matches!(created, Created::Created) {
            bail!("the replayed order {} was not created", order.id);
        }
        self.pay
            .jsapi_prepay(&Prepay {
                out_trade_no: &order.id,
                description: order.lines.first().map_or("订单", |l| l.title.as_str()),
                total: order.total,
                payer_openid: openid.expose(),
                time_expire: order.pay_deadline,
            })
            .await?;
        self.unpaid.push(order.id);
        Ok(())
    }

    /// pay-notify's calls for the next unpaid order: read it, mark it paid, queue fulfillment.
    async fn replay_pay_notify(&mut self, n: u64) -> anyhow::Result<()> {
        let id = self
            .unpaid
            .pop()
            .context("no unpaid order left for the replay")?;
        self.orders
            .get(&id)
            .await?
            .with_context(|| format!("order {id} is gone"))?;
        let now = domain::clock::now_epoch_seconds();
        let transaction_id = format!("4200replay{n}");
        let paid_at = domain::clock::rfc3339_shanghai(now);
        if self
            .orders
            .mark_paid(&id, &transaction_id, &paid_at, now)
            .await?
            != Transition::Done
        {
            bail!("the replay could not mark order {id} paid");
        }
        self.fulfillment
            .send(&FulfillmentMessage::order_paid(&id, &transaction_id), 0)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devstack::wechatpay_sandbox::WeChatPayKeys;

    fn source() -> EventSource {
        EventSource {
            token: "t0ken".into(),
            wechatpay: Arc::new(WeChatPaySandbox::new(&WeChatPayKeys::generate())),
            paid: Arc::default(),
            kuaidi100_salt: "salt".into(),
            waybills: Arc::new(Mutex::new(vec!["ZT7300000001".into()])),
            tokens: Arc::new(edge::auth::TokenService::new(&"x".repeat(48).into()).unwrap()),
            share_code: Arc::new(Mutex::new("abcdef123456".into())),
        }
    }

    #[test]
    fn every_event_is_an_api_gateway_request_for_its_function() {
        let source = source();
        for function in [
            "login",
            "browse",
            "checkout",
            "logistics-hook",
            "share-reward",
        ] {
            let routes = routes(function, &source);
            assert!(!routes.is_empty());
            for route in routes {
                let event = edge::api::request_from_event(&route.event(1).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", route.name));
                assert_eq!(route.function, function);
                assert!(
                    !edge::api::RequestExt::route(&event).is_empty(),
                    "{}",
                    route.name
                );
            }
        }
        let checkout = routes("checkout", &source);
        assert_eq!(
            checkout[1].event(1).unwrap()["headers"]["authorization"],
            "Bearer t0ken"
        );
    }

    #[test]
    fn single_use_codes_and_keys_are_fresh_in_each_event() {
        let source = source();
        let login = &routes("login", &source)[0];
        assert_ne!(
            login.event(1).unwrap()["body"],
            login.event(2).unwrap()["body"]
        );
        let order = &routes("checkout", &source)[0];
        assert_ne!(
            order.event(1).unwrap()["headers"]["idempotency-key"],
            order.event(2).unwrap()["headers"]["idempotency-key"]
        );
    }

    #[test]
    fn a_notification_needs_a_paid_order() {
        let source = source();
        let notify = &routes("pay-notify", &source)[0];
        assert!(notify.event(1).is_err());
        source.paid.lock().unwrap().push(OrderId::generate(0));
        let unknown = notify.event(2).unwrap_err();
        assert!(unknown.to_string().contains("no transaction"), "{unknown}");
    }

    #[test]
    fn answers_are_checked_for_status_and_body() {
        let main = &routes("browse", &source())[0];
        let answer =
            |status: u16, body: Value| json!({"statusCode": status, "body": body.to_string()});
        assert!(main.check(&answer(200, json!({"id": "longjing"}))).is_ok());
        assert!(main.check(&answer(200, json!({"id": "kiwi"}))).is_err());
        assert!(main.check(&answer(500, json!({"id": "longjing"}))).is_err());
    }
}

#[cfg(test)]
mod push_tests {
    use super::*;

    #[test]
    fn each_bench_push_carries_the_whole_history_with_one_new_event_signed() {
        let history = tracking_history(2);
        assert_eq!(history.len(), 3);
        assert_eq!(
            tracking_history(500).len(),
            30,
            "a long journey's worth, not all 500"
        );
        assert!(
            history[0]["time"].as_str() > history[1]["time"].as_str(),
            "newest first"
        );
        let form = kuaidi100_push("ZT1", 2, "salt");
        let fields = edge::api::form_fields(form.as_bytes()).unwrap();
        let (param, sign) = (&fields[0].1, &fields[1].1);
        let report = domain::logistics::read_push(param, sign, "salt").unwrap();
        assert_eq!((report.number.as_str(), report.events.len()), ("ZT1", 3));
    }
}
