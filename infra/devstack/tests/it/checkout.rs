use crate::support::{TestShop, address};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt;
use providers::crypto::VerifyingKey;
use serde_json::{Value, json};

/// A number on a SKU's item (`stock`, `flashSold`), 0 when absent, read consistently.
async fn sku_number(shop: &TestShop, sku: &str, attribute: &str) -> i64 {
    let item = shop
        .stack
        .dynamodb
        .get_item()
        .table_name(&shop.stack.resources.tables["CatalogTable"])
        .key("pk", AttributeValue::S(format!("SKU#{sku}")))
        .key("sk", AttributeValue::S("SKU".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    item.get(attribute)
        .and_then(|v| v.as_n().ok())
        .map_or(0, |n| n.parse().unwrap())
}

pub async fn stock_of(shop: &TestShop, sku: &str) -> i64 {
    sku_number(shop, sku, "stock").await
}

pub async fn set_stock(shop: &TestShop, sku: &str, stock: u32) {
    shop.stack
        .dynamodb
        .update_item()
        .table_name(&shop.stack.resources.tables["CatalogTable"])
        .key("pk", AttributeValue::S(format!("SKU#{sku}")))
        .key("sk", AttributeValue::S("SKU".into()))
        .update_expression("SET stock = :s")
        .expression_attribute_values(":s", AttributeValue::N(stock.to_string()))
        .send()
        .await
        .unwrap();
}

pub fn order_body(sku: &str, quantity: u32) -> Value {
    json!({"items": [{"skuId": sku, "quantity": quantity}], "address": address()})
}

pub async fn place(
    shop: &TestShop,
    token: &str,
    key: &str,
    body: &Value,
) -> crate::support::Answer {
    shop.post_with(token, "/v1/orders", &[("idempotency-key", key)], body)
        .await
}

#[tokio::test]
async fn a_quote_prices_every_line_and_the_shipping() {
    let shop = TestShop::start().await;
    let (token, _) = shop.login("quin.1").await;

    let small = shop
        .post_as(
            &token,
            "/v1/checkout/quote",
            &json!({"items": [{"skuId": "chopsticks-1", "quantity": 2}]}),
        )
        .await;
    let large = shop
        .post_as(&token, "/v1/checkout/quote", &json!({"items": [{"skuId": "longjing-1", "quantity": 1}, {"skuId": "walnut-1", "quantity": 3}]}))
        .await;

    assert_eq!(small.status, 200, "{}", small.text);
    assert_eq!(
        (
            small.body["subtotal"].as_u64(),
            small.body["shipping"].as_u64(),
            small.body["total"].as_u64()
        ),
        (Some(3980), Some(1000), Some(4980))
    );
    assert_eq!(small.body["lines"][0]["title"], "天然竹筷子 10双装");
    assert_eq!(large.body["lines"][1]["lineTotal"], 3 * 3990);
    assert_eq!(large.body["shipping"], 0, "free shipping over 99 yuan");
    assert_eq!(large.body["total"], 12800 + 3 * 3990);
    assert_eq!(large.body["discounts"], json!([]));
}

#[tokio::test]
async fn placing_an_order_reserves_stock_and_returns_signed_payment_parameters() {
    let shop = TestShop::start().await;
    let (token, _) = shop.login("rita.1").await;
    let before = stock_of(&shop, "longjing-1").await;

    let answer = place(&shop, &token, "key-1", &order_body("longjing-1", 2)).await;

    assert_eq!(answer.status, 201, "{}", answer.text);
    let order = &answer.body["order"];
    assert_eq!(order["status"], "PENDING_PAYMENT");
    assert_eq!(order["total"], 2 * 12800);
    assert_eq!(order["address"]["phone"], "13812345678");
    assert!(order.get("openid").is_none() && !answer.text.contains("openid"));
    assert_eq!(stock_of(&shop, "longjing-1").await, before - 2);
    let payment = &answer.body["payment"];
    assert_eq!(payment["signType"], "RSA");
    let package = payment["package"].as_str().unwrap();
    assert!(package.starts_with("prepay_id=wx"));
    let message = format!(
        "{}\n{}\n{}\n{package}\n",
        devstack::SANDBOX_APPID,
        payment["timeStamp"].as_str().unwrap(),
        payment["nonceStr"].as_str().unwrap()
    );
    let merchant: VerifyingKey =
        providers::crypto::SigningKey::from_pem(&shop.stack.settings["WECHATPAY_PRIVATE_KEY"])
            .unwrap()
            .verifying_key();
    assert!(
        merchant.verify_base64(message.as_bytes(), payment["paySign"].as_str().unwrap()),
        "paySign verifies"
    );
}

#[tokio::test]
async fn the_same_idempotency_key_answers_the_same_order_without_a_second_reservation() {
    let shop = TestShop::start().await;
    let (token, _) = shop.login("sam.1").await;
    let before = stock_of(&shop, "kiwi-1").await;

    let first = place(&shop, &token, "retry-me", &order_body("kiwi-1", 1)).await;
    let again = place(&shop, &token, "retry-me", &order_body("kiwi-1", 1)).await;
    let changed = place(&shop, &token, "retry-me", &order_body("kiwi-1", 2)).await;

    assert_eq!(first.status, 201);
    assert_eq!(again.status, 201);
    assert_eq!(again.body["order"]["id"], first.body["order"]["id"]);
    assert_eq!(
        again.body["payment"]["package"], first.body["payment"]["package"],
        "WeChat Pay keeps the prepay_id"
    );
    assert_eq!(
        stock_of(&shop, "kiwi-1").await,
        before - 1,
        "one reservation"
    );
    assert_eq!(
        (changed.status, changed.error_code()),
        (422, "idempotency_key_reused")
    );
}

#[tokio::test]
async fn out_of_stock_is_a_409_naming_the_sku_and_writes_nothing() {
    let shop = TestShop::start().await;
    let (token, _) = shop.login("tina.1").await;
    let walnut_before = stock_of(&shop, "walnut-1").await;

    let answer = place(
        &shop,
        &token,
        "k",
        &json!({"items": [{"skuId": "walnut-1", "quantity": 1}, {"skuId": "cherry-1", "quantity": 7}], "address": address()}),
    )
    .await;

    assert_eq!(
        (answer.status, answer.error_code()),
        (409, "out_of_stock"),
        "{}",
        answer.text
    );
    assert_eq!(answer.body["error"]["skuIds"], json!(["cherry-1"]));
    assert_eq!(
        stock_of(&shop, "walnut-1").await,
        walnut_before,
        "the other line's stock is untouched"
    );
    assert_eq!(stock_of(&shop, "cherry-1").await, 6);
    let mine = shop.get_as(&token, "/v1/orders").await;
    assert_eq!(mine.body["items"], json!([]));
}

#[tokio::test]
async fn two_hundred_shoppers_racing_for_fifty_units_get_exactly_fifty_orders() {
    let shop = TestShop::start().await;
    set_stock(&shop, "mango-1", 50).await;
    let (token, _) = shop.login("rush.1").await;
    let body = order_body("mango-1", 1);
    let keys: Vec<String> = (0..200).map(|i| format!("rush-{i}")).collect();

    let statuses: Vec<u16> = futures::stream::iter(keys.iter())
        .map(|key| async { place(&shop, &token, key, &body).await.status })
        .buffer_unordered(32)
        .collect()
        .await;

    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        50,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 150);
    assert_eq!(
        stock_of(&shop, "mango-1").await,
        0,
        "never negative, never left over"
    );
}

#[tokio::test]
async fn unknown_and_off_shelf_skus_are_refused_by_field() {
    let shop = TestShop::start().await;
    let (token, _) = shop.login("uma.1").await;

    for sku in ["mooncake-1", "no-such-sku"] {
        let answer = shop
            .post_as(
                &token,
                "/v1/checkout/quote",
                &json!({"items": [{"skuId": sku, "quantity": 1}]}),
            )
            .await;
        assert_eq!(
            (answer.status, answer.error_code(), answer.error_field()),
            (422, "sku_unavailable", "items[0].skuId"),
            "{sku}"
        );
    }
}

#[tokio::test]
async fn bad_orders_are_400s_naming_the_field() {
    let shop = TestShop::start().await;
    let (token, _) = shop.login("vic.1").await;
    let mut bad_phone = order_body("kiwi-1", 1);
    bad_phone["address"]["phone"] = json!("110");

    let no_key = shop
        .post_as(&token, "/v1/orders", &order_body("kiwi-1", 1))
        .await;
    let phone = place(&shop, &token, "k1", &bad_phone).await;
    let quantity = place(&shop, &token, "k2", &order_body("kiwi-1", 0)).await;
    let anonymous = shop.post("/v1/orders", &order_body("kiwi-1", 1)).await;

    assert_eq!(
        (no_key.status, no_key.error_field()),
        (400, "Idempotency-Key")
    );
    assert_eq!((phone.status, phone.error_field()), (400, "address.phone"));
    assert_eq!(
        (quantity.status, quantity.error_field()),
        (400, "items[0].quantity")
    );
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn a_failed_prepay_keeps_the_reservation_and_a_retry_completes_it() {
    let shop = TestShop::start().await;
    let (token, _) = shop.login("walt.1").await;
    let before = stock_of(&shop, "towel-1").await;
    shop.stack.wechatpay.set_down(true);

    let failed = place(&shop, &token, "flaky", &order_body("towel-1", 1)).await;
    shop.stack.wechatpay.set_down(false);
    let retried = place(&shop, &token, "flaky", &order_body("towel-1", 1)).await;

    assert_eq!(
        (failed.status, failed.error_code()),
        (502, "payment_unavailable"),
        "{}",
        failed.text
    );
    let order_id = failed.body["error"]["orderId"].as_str().unwrap();
    assert_eq!(retried.status, 201, "{}", retried.text);
    assert_eq!(retried.body["order"]["id"], order_id);
    assert!(retried.body["payment"]["paySign"].is_string());
    assert_eq!(stock_of(&shop, "towel-1").await, before - 1);
}

#[tokio::test]
async fn orders_are_private_and_listed_newest_first_by_status() {
    let shop = TestShop::start().await;
    let (alice, _) = shop.login("xena.1").await;
    let (bob, _) = shop.login("yuri.1").await;
    let first = place(&shop, &alice, "a1", &order_body("kiwi-1", 1)).await;
    let second = place(&shop, &alice, "a2", &order_body("mango-1", 1)).await;
    let id = first.body["order"]["id"].as_str().unwrap();

    let mine = shop.get_as(&alice, &format!("/v1/orders/{id}")).await;
    let theirs = shop.get_as(&bob, &format!("/v1/orders/{id}")).await;
    let list = shop
        .get_as(&alice, "/v1/orders?status=PENDING_PAYMENT")
        .await;
    let paid = shop.get_as(&alice, "/v1/orders?status=PAID").await;
    let bad = shop.get_as(&alice, "/v1/orders?status=LOST").await;
    let bobs = shop.get_as(&bob, "/v1/orders").await;

    assert_eq!(mine.status, 200);
    assert_eq!(
        (theirs.status, theirs.error_code()),
        (404, "order_not_found"),
        "never 403: existence stays hidden"
    );
    let ids: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&id) && ids.contains(&second.body["order"]["id"].as_str().unwrap()));
    assert_eq!(paid.body["items"], json!([]));
    assert_eq!((bad.status, bad.error_field()), (400, "status"));
    assert_eq!(bobs.body["items"], json!([]));
}

#[tokio::test]
async fn cancelling_an_unpaid_order_releases_its_stock_exactly_once() {
    let shop = TestShop::start().await;
    let (token, _) = shop.login("zoe.1").await;
    let before = stock_of(&shop, "teacup-1").await;
    let placed = place(&shop, &token, "c1", &order_body("teacup-1", 3)).await;
    let id = placed.body["order"]["id"].as_str().unwrap();

    let cancelled = shop
        .post_as(&token, &format!("/v1/orders/{id}/cancel"), &json!({}))
        .await;
    let again = shop
        .post_as(&token, &format!("/v1/orders/{id}/cancel"), &json!({}))
        .await;

    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    assert_eq!(cancelled.body["status"], "CANCELLED");
    assert_eq!(again.body["status"], "CANCELLED");
    assert_eq!(
        stock_of(&shop, "teacup-1").await,
        before,
        "released once, not twice"
    );
    let (other, _) = shop.login("zack.1").await;
    let stranger = shop
        .post_as(&other, &format!("/v1/orders/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(stranger.status, 404);
}

async fn update_item(
    shop: &TestShop,
    table: &str,
    pk: &str,
    sk: Option<&str>,
    expression: &str,
    values: Vec<(&str, AttributeValue)>,
) {
    let mut update = shop
        .stack
        .dynamodb
        .update_item()
        .table_name(&shop.stack.resources.tables[table])
        .key("pk", AttributeValue::S(pk.into()))
        .update_expression(expression);
    if let Some(sk) = sk {
        update = update.key("sk", AttributeValue::S(sk.into()));
    }
    for (name, value) in values {
        update = update.expression_attribute_values(name, value);
    }
    update.send().await.unwrap();
}

#[tokio::test]
async fn a_member_is_charged_their_levels_price_and_a_live_flash_sale_its_sale_price() {
    let shop = TestShop::start().await;
    let (token, user) = shop.login("gold.1").await;
    update_item(
        &shop,
        "UsersTable",
        &format!("USER#{user}"),
        None,
        "SET memberLevel = :l",
        vec![(":l", AttributeValue::S("gold".into()))],
    )
    .await;
    let member_prices =
        AttributeValue::M([("gold".to_string(), AttributeValue::N("10000".into()))].into());
    update_item(
        &shop,
        "CatalogTable",
        "SKU#longjing-1",
        Some("SKU"),
        "SET memberPrices = :m",
        vec![(":m", member_prices)],
    )
    .await;
    let now = domain::clock::now_epoch_seconds();
    let sale = AttributeValue::M(
        [
            ("startsAt", (now - 60).to_string()),
            ("endsAt", (now + 600).to_string()),
            ("price", "100".to_string()),
            ("quota", "10".to_string()),
            ("sold", "0".to_string()),
            ("perUserLimit", "1".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), AttributeValue::N(v)))
        .collect(),
    );
    update_item(
        &shop,
        "CatalogTable",
        "SKU#kiwi-1",
        Some("SKU"),
        "SET flashSale = :f",
        vec![(":f", sale)],
    )
    .await;

    let quote = shop
        .post_as(&token, "/v1/checkout/quote", &json!({"items": [{"skuId": "longjing-1", "quantity": 1}, {"skuId": "kiwi-1", "quantity": 1}]}))
        .await;
    let (other, _) = shop.login("plain.1").await;
    let plain = shop
        .post_as(
            &other,
            "/v1/checkout/quote",
            &json!({"items": [{"skuId": "longjing-1", "quantity": 1}]}),
        )
        .await;
    let placed = place(&shop, &token, "member-1", &order_body("longjing-1", 1)).await;

    assert_eq!(quote.status, 200, "{}", quote.text);
    assert_eq!(quote.body["lines"][0]["unitPrice"], 10000, "gold price");
    assert_eq!(quote.body["lines"][1]["flashQuantity"], 1);
    assert_eq!(
        quote.body["lines"][1]["lineTotal"], 100,
        "the sale price inside the window"
    );
    assert_eq!(
        plain.body["lines"][0]["unitPrice"], 12800,
        "no level, list price"
    );
    assert_eq!(
        placed.body["order"]["total"], 10000,
        "re-priced on the server at the member price (and 100 yuan ships free)"
    );
}

async fn start_flash_sale(shop: &TestShop, sku: &str, price: u64, quota: u64, per_user: u32) {
    let now = domain::clock::now_epoch_seconds();
    let sale = AttributeValue::M(
        [
            ("startsAt", now - 60),
            ("endsAt", now + 3600),
            ("price", price as i64),
            ("quota", quota as i64),
            ("perUserLimit", i64::from(per_user)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), AttributeValue::N(v.to_string())))
        .collect(),
    );
    update_item(
        shop,
        "CatalogTable",
        &format!("SKU#{sku}"),
        Some("SKU"),
        "SET flashSale = :f",
        vec![(":f", sale)],
    )
    .await;
}

async fn flash_sold(shop: &TestShop, sku: &str) -> i64 {
    sku_number(shop, sku, "flashSold").await
}

#[tokio::test]
async fn a_flash_sale_of_ten_among_a_hundred_racing_buyers_sells_exactly_ten_within_each_limit() {
    let shop = TestShop::start().await;
    start_flash_sale(&shop, "walnut-1", 990, 10, 2).await;
    let stock_before = stock_of(&shop, "walnut-1").await;
    let mut buyers = Vec::new();
    for i in 0..20 {
        buyers.push(shop.login(&format!("flash{i}.1")).await.0);
    }
    let attempts: Vec<(usize, String)> = (0..100).map(|i| (i % 20, format!("flash-{i}"))).collect();
    let body = order_body("walnut-1", 1);

    let answers: Vec<(usize, crate::support::Answer)> = futures::stream::iter(attempts.iter())
        .map(|(buyer, key)| {
            let (shop, token, body) = (&shop, &buyers[*buyer], &body);
            async move { (*buyer, place(shop, token, key, body).await) }
        })
        .buffer_unordered(24)
        .collect()
        .await;

    let placed: Vec<&(usize, crate::support::Answer)> =
        answers.iter().filter(|(_, a)| a.status == 201).collect();
    assert!(
        answers
            .iter()
            .all(|(_, a)| a.status == 201 || a.status == 409),
        "{:?}",
        answers.iter().map(|(_, a)| a.status).collect::<Vec<_>>()
    );
    let at_sale_price: Vec<usize> = placed
        .iter()
        .filter(|(_, a)| a.body["order"]["lines"][0]["flashQuantity"] == 1)
        .map(|(b, _)| *b)
        .collect();
    assert_eq!(
        at_sale_price.len(),
        10,
        "exactly the quota at the sale price"
    );
    for buyer in 0..20 {
        assert!(
            at_sale_price.iter().filter(|b| **b == buyer).count() <= 2,
            "buyer {buyer} exceeded the per-user limit"
        );
    }
    assert_eq!(flash_sold(&shop, "walnut-1").await, 10);
    assert_eq!(
        stock_of(&shop, "walnut-1").await,
        stock_before - placed.len() as i64,
        "every placed order took its unit"
    );
    assert!(
        placed
            .iter()
            .filter(|(_, a)| a.body["order"]["lines"][0]["flashQuantity"].is_null())
            .all(|(_, a)| a.body["order"]["total"] == 3990 + 1000)
    );
}

#[tokio::test]
async fn cancelling_a_flash_sale_order_gives_back_the_quota_and_the_allowance() {
    let shop = TestShop::start().await;
    start_flash_sale(&shop, "cashew-1", 1990, 5, 1).await;
    let (token, _) = shop.login("ken.1").await;
    let first = place(&shop, &token, "f1", &order_body("cashew-1", 1)).await;
    assert_eq!(
        first.body["order"]["lines"][0]["flashQuantity"], 1,
        "{}",
        first.text
    );
    let id = first.body["order"]["id"].as_str().unwrap();
    let over_limit = shop
        .post_as(
            &token,
            "/v1/checkout/quote",
            &json!({"items": [{"skuId": "cashew-1", "quantity": 1}]}),
        )
        .await;
    assert!(
        over_limit.body["lines"][0]["flashQuantity"].is_null(),
        "one per shopper: the second is at the regular price"
    );

    shop.post_as(&token, &format!("/v1/orders/{id}/cancel"), &json!({}))
        .await;

    assert_eq!(flash_sold(&shop, "cashew-1").await, 0);
    let again = shop
        .post_as(
            &token,
            "/v1/checkout/quote",
            &json!({"items": [{"skuId": "cashew-1", "quantity": 1}]}),
        )
        .await;
    assert_eq!(
        again.body["lines"][0]["flashQuantity"], 1,
        "the allowance came back"
    );
    let product = shop.get("/v1/products/cashew").await;
    assert_eq!(product.body["skus"][0]["flashSale"]["quotaLeft"], true);
}
