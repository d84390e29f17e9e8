//! Promotions end to end: what a merchant sets up with shopctl is what shoppers claim, see in
//! their quotes and hold with their orders; a coupon and points are taken once and come back once.

use crate::checkout::{place, stock_of};
use crate::support::{TestShop, address};
use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use domain::ids::UserId;
use edge::runtime::QueueFunction;
use serde_json::{Value, json};
use store::points::{LedgerEntry, PointsLedger};

async fn shopctl(shop: &TestShop, words: &[&str]) -> String {
    match shop.stack.shopctl(words).await {
        Ok(said) => said,
        Err(e) => panic!("shopctl {}: {e}", words.join(" ")),
    }
}

/// A coupon of 20 yuan off from 99 yuan, `total` in all, `per_user` each.
async fn twenty_off(shop: &TestShop, id: &str, total: &str, per_user: &str) {
    shopctl(
        shop,
        &[
            "coupon",
            "create",
            id,
            "--title",
            "新人立减券",
            "--off",
            "20",
            "--min-spend",
            "99",
            "--valid-days",
            "7",
            "--total",
            total,
            "--per-user",
            per_user,
        ],
    )
    .await;
}

fn ledger(shop: &TestShop) -> PointsLedger {
    PointsLedger::new(
        shop.stack.dynamodb.clone(),
        shop.stack.resources.tables["MarketingTable"].clone(),
    )
}

async fn give_points(shop: &TestShop, user: &str, points: i64) {
    let entry = LedgerEntry {
        key: format!("gift#{}", domain::ids::random_token(6)),
        delta: points,
        reason: "测试赠送".into(),
        order_id: None,
        at: 1,
    };
    ledger(shop)
        .post(&UserId::parse(user).unwrap(), &entry)
        .await
        .unwrap();
}

async fn balance(shop: &TestShop, user: &str) -> u64 {
    ledger(shop)
        .balance(&UserId::parse(user).unwrap())
        .await
        .unwrap()
}

async fn claim(shop: &TestShop, token: &str, template: &str) -> crate::support::Answer {
    shop.post_as(token, &format!("/v1/coupons/{template}/claim"), &json!({}))
        .await
}

async fn wallet(shop: &TestShop, token: &str) -> Vec<Value> {
    let available = shop.get_as(token, "/v1/coupons/available").await;
    assert_eq!(available.status, 200, "{}", available.text);
    available.body["wallet"].as_array().unwrap().clone()
}

fn order_with(sku: &str, quantity: u32, coupon: Option<&str>, points: u64) -> Value {
    json!({
        "items": [{"skuId": sku, "quantity": quantity}],
        "address": address(),
        "couponId": coupon,
        "points": points,
    })
}

async fn run_deadline(shop: &TestShop, order_id: &str) {
    let body = json!({"type": "order.deadline", "orderId": order_id, "dueAt": 0}).to_string();
    let event: SqsEvent = serde_json::from_value(json!({"Records": [{"messageId": format!("m-{}", domain::ids::random_token(8)), "body": body}]})).unwrap();
    let consumer: &dyn QueueFunction = shop.stack.deadlines.as_ref();
    let response = consumer.handle(event).await;
    assert!(response.batch_item_failures.is_empty());
}

#[tokio::test]
async fn a_coupon_is_claimed_within_its_total_and_each_shoppers_allowance_however_they_race() {
    let shop = TestShop::start().await;
    twenty_off(&shop, "launch", "5", "1").await;
    let mut shoppers = Vec::new();
    for i in 0..10 {
        shoppers.push(shop.login(&format!("claimer{i}.1")).await.0);
    }

    let answers =
        futures::future::join_all(shoppers.iter().map(|t| claim(&shop, t, "launch"))).await;

    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        5,
        "{statuses:?}"
    );
    for refused in answers.iter().filter(|a| a.status != 201) {
        assert_eq!(
            (refused.status, refused.error_code()),
            (409, "coupon_sold_out")
        );
    }
    let listed = shopctl(&shop, &["coupon", "list"]).await;
    assert!(listed.contains("claimed 5/5"), "{listed}");

    // One shopper's allowance holds against their own racing claims too.
    twenty_off(&shop, "twice", "100", "2").await;
    let (token, _) = shop.login("greedy.1").await;
    let racing = futures::future::join_all((0..6).map(|_| claim(&shop, &token, "twice"))).await;
    assert_eq!(racing.iter().filter(|a| a.status == 201).count(), 2);
    let again = claim(&shop, &token, "twice").await;
    assert_eq!(
        (again.status, again.error_code()),
        (422, "coupon_limit_reached")
    );
    let mine: Vec<String> = wallet(&shop, &token)
        .await
        .iter()
        .map(|c| c["couponId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(mine.len(), 2);
    assert!(mine.contains(&"twice.1".to_string()) && mine.contains(&"twice.2".to_string()));

    let offers = shop.get_as(&token, "/v1/coupons/available").await.body;
    let twice = offers["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["templateId"] == "twice")
        .unwrap()
        .clone();
    assert_eq!(twice["claimed"], 2);
    assert_eq!(twice["canClaim"], false);
    assert_eq!(twice["reason"], "coupon_limit_reached");
    let unknown = claim(&shop, &token, "no-such-coupon").await;
    assert_eq!(
        (unknown.status, unknown.error_code()),
        (404, "coupon_not_found")
    );
    let anonymous = shop.get("/v1/coupons/available").await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn a_quote_applies_full_reduction_then_coupon_then_points_and_ranks_the_wallet() {
    let shop = TestShop::start().await;
    shopctl(
        &shop,
        &["reduction", "set", "shop-wide", "--tiers", "199-20,299-40"],
    )
    .await;
    shopctl(
        &shop,
        &[
            "points",
            "policy",
            "--points-per-yuan",
            "100",
            "--max-share",
            "50",
        ],
    )
    .await;
    twenty_off(&shop, "new-user", "100", "1").await;
    shopctl(
        &shop,
        &[
            "coupon",
            "create",
            "big-spender",
            "--title",
            "满500减80",
            "--off",
            "80",
            "--min-spend",
            "500",
            "--valid-days",
            "7",
            "--total",
            "100",
        ],
    )
    .await;
    let (token, user) = shop.login("quoter.1").await;
    give_points(&shop, &user, 5_000).await;
    assert_eq!(claim(&shop, &token, "new-user").await.status, 201);
    assert_eq!(claim(&shop, &token, "big-spender").await.status, 201);

    // Given 3 x 128 yuan of tea, a 满299减40 rule, a 20-off coupon and 5000 points...
    let quote = shop
        .post_as(
            &token,
            "/v1/checkout/quote",
            &json!({"items": [{"skuId": "longjing-1", "quantity": 3}], "couponId": "new-user.1", "points": 99_999}),
        )
        .await;

    // ...the rule takes 40, the coupon 20 of what is left, the points 50 yuan; shipping is free.
    assert_eq!(quote.status, 200, "{}", quote.text);
    let body = &quote.body;
    let discounts: Vec<(String, u64)> = body["discounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_string(),
                d["amount"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        discounts,
        [
            ("full_reduction".into(), 4000),
            ("coupon".into(), 2000),
            ("points".into(), 5000)
        ]
    );
    assert_eq!(body["discounts"][0]["label"], "满299减40");
    assert_eq!(body["discounts"][1]["label"], "新人立减券");
    assert_eq!(body["subtotal"], 38_400);
    assert_eq!(body["shipping"], 0);
    assert_eq!(body["total"], 38_400 - 4000 - 2000 - 5000);
    assert_eq!(body["lines"][0]["discount"], 11_000);
    assert_eq!(body["lines"][0]["lineTotal"], body["total"]);
    assert_eq!(body["points"]["balance"], 5_000);
    assert_eq!(body["points"]["offered"], 5_000);
    assert_eq!(body["points"]["used"], 5_000);
    assert_eq!(body["applicationOrder"][1], "full_reduction");
    let coupons = body["coupons"].as_array().unwrap();
    assert_eq!(coupons[0]["couponId"], "new-user.1");
    assert_eq!(coupons[0]["saving"], 2000);
    assert_eq!(coupons[1]["couponId"], "big-spender.1");
    assert_eq!(coupons[1]["applicable"], false);
    assert_eq!(coupons[1]["reason"], "coupon_not_applicable");

    // A coupon that is not the shopper's is refused naming the field.
    let foreign = shop
        .post_as(
            &token,
            "/v1/checkout/quote",
            &json!({"items": [{"skuId": "longjing-1", "quantity": 1}], "couponId": "new-user.2"}),
        )
        .await;
    assert_eq!(
        (foreign.status, foreign.error_code(), foreign.error_field()),
        (422, "coupon_not_found", "couponId")
    );
}

#[tokio::test]
async fn an_expired_coupon_is_refused_with_coupon_expired() {
    let shop = TestShop::start().await;
    twenty_off(&shop, "new-user", "100", "1").await;
    let (token, user) = shop.login("late.1").await;
    assert_eq!(claim(&shop, &token, "new-user").await.status, 201);
    // Given the coupon's seven days have since passed.
    shop.stack
        .dynamodb
        .update_item()
        .table_name(&shop.stack.resources.tables["MarketingTable"])
        .key("pk", AttributeValue::S(format!("WALLET#{user}")))
        .key("sk", AttributeValue::S("COUPON#new-user.1".into()))
        .update_expression("SET coupon.validUntil = :past")
        .expression_attribute_values(":past", AttributeValue::N("1000".into()))
        .send()
        .await
        .unwrap();

    let placed = place(
        &shop,
        &token,
        "expired",
        &order_with("longjing-1", 1, Some("new-user.1"), 0),
    )
    .await;

    assert_eq!(
        (placed.status, placed.error_code(), placed.error_field()),
        (422, "coupon_expired", "couponId")
    );
    assert_eq!(wallet(&shop, &token).await[0]["state"], "expired");
}

#[tokio::test]
async fn the_same_coupon_in_concurrent_orders_is_used_once() {
    let shop = TestShop::start().await;
    twenty_off(&shop, "new-user", "100", "1").await;
    let (token, _) = shop.login("double.1").await;
    assert_eq!(claim(&shop, &token, "new-user").await.status, 201);
    let before = stock_of(&shop, "longjing-1").await;

    let answers = futures::future::join_all((0..6).map(|i| {
        let token = token.clone();
        let shop = &shop;
        async move {
            place(
                shop,
                &token,
                &format!("race-{i}"),
                &order_with("longjing-1", 1, Some("new-user.1"), 0),
            )
            .await
        }
    }))
    .await;

    let placed: Vec<&crate::support::Answer> = answers.iter().filter(|a| a.status == 201).collect();
    assert_eq!(
        placed.len(),
        1,
        "{:?}",
        answers.iter().map(|a| &a.text).collect::<Vec<_>>()
    );
    for refused in answers.iter().filter(|a| a.status != 201) {
        assert!(
            matches!(
                (refused.status, refused.error_code()),
                (409, "coupon_in_use") | (422, "coupon_used")
            ),
            "{}",
            refused.text
        );
    }
    assert_eq!(placed[0].body["order"]["couponId"], "new-user.1");
    assert_eq!(placed[0].body["order"]["total"], 12_800 - 2000);
    assert_eq!(
        stock_of(&shop, "longjing-1").await,
        before - 1,
        "refused orders took no stock"
    );
    let held = wallet(&shop, &token).await;
    assert_eq!(held[0]["state"], "used");
    assert_eq!(held[0]["orderId"], placed[0].body["order"]["id"]);
}

#[tokio::test]
async fn cancel_racing_the_deadline_returns_the_coupon_and_the_points_exactly_once() {
    let shop = TestShop::start().await;
    twenty_off(&shop, "new-user", "100", "1").await;
    shopctl(
        &shop,
        &[
            "points",
            "policy",
            "--points-per-yuan",
            "100",
            "--max-share",
            "50",
        ],
    )
    .await;
    let (token, user) = shop.login("undecided.1").await;
    give_points(&shop, &user, 3_000).await;
    assert_eq!(claim(&shop, &token, "new-user").await.status, 201);

    let placed = place(
        &shop,
        &token,
        "undecided",
        &order_with("longjing-1", 1, Some("new-user.1"), 3_000),
    )
    .await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let order = placed.body["order"].clone();
    let id = order["id"].as_str().unwrap().to_string();
    assert_eq!(order["pointsUsed"], 3_000);
    assert_eq!(order["total"], 12_800 - 2000 - 3000);
    assert_eq!(balance(&shop, &user).await, 0);
    // The points and the coupon are held: a second order can use neither.
    let second = place(
        &shop,
        &token,
        "again",
        &order_with("longjing-1", 1, Some("new-user.1"), 0),
    )
    .await;
    assert_eq!((second.status, second.error_code()), (422, "coupon_used"));

    // When the shopper cancels just as the payment deadline fires, three times over...
    let cancel = |n: usize| {
        let (shop, token, id) = (&shop, token.clone(), id.clone());
        async move {
            if n.is_multiple_of(2) {
                let answer = shop
                    .post_as(&token, &format!("/v1/orders/{id}/cancel"), &json!({}))
                    .await;
                assert_eq!(answer.status, 200, "{}", answer.text);
            } else {
                run_deadline(shop, &id).await;
            }
        }
    };
    futures::future::join_all((0..6).map(cancel)).await;

    // ...the order is cancelled once, and the points and the coupon came back once.
    let detail = shop.get_as(&token, &format!("/v1/orders/{id}")).await.body;
    assert_eq!(detail["status"], "CANCELLED");
    assert_eq!(balance(&shop, &user).await, 3_000);
    let entries = ledger(&shop)
        .entries(&UserId::parse(&user).unwrap())
        .await
        .unwrap();
    let for_order: Vec<i64> = entries
        .iter()
        .filter(|e| e.order_id.as_ref().is_some_and(|o| o.as_str() == id))
        .map(|e| e.delta)
        .collect();
    assert_eq!(for_order.len(), 2, "one spend, one return: {entries:?}");
    assert_eq!(for_order.iter().sum::<i64>(), 0);
    let held = wallet(&shop, &token).await;
    assert_eq!(held[0]["state"], "available");
    assert!(held[0].get("orderId").is_none());
    let reused = place(
        &shop,
        &token,
        "reuse",
        &order_with("longjing-1", 1, Some("new-user.1"), 0),
    )
    .await;
    assert_eq!(
        reused.status, 201,
        "the returned coupon works again: {}",
        reused.text
    );
}

#[tokio::test]
async fn a_gold_member_pays_the_member_price_set_by_the_merchant() {
    let shop = TestShop::start().await;
    let (token, user) = shop.login("goldie.1").await;
    shopctl(
        &shop,
        &[
            "member-price",
            "set",
            "longjing-1",
            "--level",
            "gold",
            "--price",
            "118",
        ],
    )
    .await;
    shopctl(&shop, &["member", "set", &user, "--level", "gold"]).await;

    let quote = shop
        .post_as(
            &token,
            "/v1/checkout/quote",
            &json!({"items": [{"skuId": "longjing-1", "quantity": 1}]}),
        )
        .await;

    assert_eq!(quote.body["lines"][0]["unitPrice"], 11_800);
    assert_eq!(quote.body["lines"][0]["priceKind"], "member");
    let detail = shop.get("/v1/products/longjing").await;
    assert_eq!(
        detail.body["skus"][0]["memberPrices"]["gold"], 11_800,
        "{}",
        detail.text
    );
}

#[tokio::test]
async fn shopctl_refuses_what_makes_no_sense_naming_the_option() {
    let shop = TestShop::start().await;
    let refused = |words: &'static [&'static str]| {
        let shop = &shop;
        async move {
            match shop.stack.shopctl(words).await {
                Ok(said) => panic!("shopctl {} was accepted: {said}", words.join(" ")),
                Err(e) => e.to_string(),
            }
        }
    };
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "coupon",
                "create",
                "x",
                "--title",
                "券",
                "--off",
                "50",
                "--min-spend",
                "30",
                "--valid-days",
                "7",
                "--total",
                "10",
            ],
            "--off",
        ),
        (
            &[
                "coupon",
                "create",
                "x",
                "--title",
                "券",
                "--off",
                "1.005",
                "--valid-days",
                "7",
                "--total",
                "10",
            ],
            "--off",
        ),
        (
            &[
                "coupon",
                "create",
                "x",
                "--title",
                "券",
                "--percent",
                "10",
                "--valid-days",
                "7",
                "--total",
                "10",
            ],
            "--cap",
        ),
        (
            &[
                "coupon",
                "create",
                "x",
                "--title",
                "券",
                "--off",
                "5",
                "--valid-days",
                "7",
            ],
            "--total",
        ),
        (
            &[
                "coupon",
                "create",
                "Bad Id",
                "--title",
                "券",
                "--off",
                "5",
                "--valid-days",
                "7",
                "--total",
                "1",
            ],
            "--id",
        ),
        (
            &["coupon", "create", "x", "--titel", "券"],
            "unknown option --titel",
        ),
        (
            &["reduction", "set", "r", "--tiers", "199-20,299-10"],
            "--tiers",
        ),
        (&["reduction", "set", "r", "--tiers", "199"], "--tiers"),
        (
            &[
                "points",
                "policy",
                "--points-per-yuan",
                "0",
                "--max-share",
                "50",
            ],
            "--points-per-yuan",
        ),
        (
            &[
                "flash-sale",
                "set",
                "longjing-1",
                "--price",
                "200",
                "--quota",
                "5",
                "--per-user",
                "1",
                "--starts",
                "now",
                "--ends",
                "now+1h",
            ],
            "--price",
        ),
        (
            &[
                "flash-sale",
                "set",
                "longjing-1",
                "--price",
                "50",
                "--quota",
                "5",
                "--per-user",
                "1",
                "--starts",
                "now",
                "--ends",
                "yesterday",
            ],
            "--ends",
        ),
        (&["flash-sale", "end", "no-such-sku"], "no SKU no-such-sku"),
        (&["member", "set", "u-nobody", "--level", "gold"], "no user"),
        (&["frobnicate"], "unknown command"),
        (
            &[
                "warehouse",
                "set",
                "hz",
                "--name",
                "杭州仓",
                "--courier",
                "zhongtong",
                "--priority",
                "1",
                "--sender-name",
                "仓",
                "--sender-phone",
                "13800000001",
                "--sender-address",
                "杭州",
            ],
            "--provinces",
        ),
        (
            &[
                "warehouse",
                "set",
                "hz",
                "--name",
                "杭州仓",
                "--courier",
                "中通",
                "--priority",
                "1",
                "--provinces",
                "浙江",
                "--sender-name",
                "仓",
                "--sender-phone",
                "13800000001",
                "--sender-address",
                "杭州",
            ],
            "--courier",
        ),
        (
            &[
                "warehouse",
                "set",
                "hz",
                "--name",
                "杭州仓",
                "--courier",
                "zhongtong",
                "--priority",
                "1",
                "--provinces",
                "浙江",
                "--sender-name",
                "仓",
                "--sender-phone",
                "12345",
                "--sender-address",
                "杭州",
            ],
            "--sender-phone",
        ),
        (
            &[
                "warehouse",
                "set",
                "hz",
                "--name",
                "杭州仓",
                "--courier",
                "zhongtong",
                "--priority",
                "1",
                "--default",
                "maybe",
                "--sender-name",
                "仓",
                "--sender-phone",
                "13800000001",
                "--sender-address",
                "杭州",
            ],
            "--default",
        ),
    ];
    for (words, expected) in cases {
        let said = refused(words).await;
        assert!(
            said.contains(expected),
            "shopctl {}: {said}",
            words.join(" ")
        );
    }
    let rules = shopctl(&shop, &["rules"]).await;
    assert!(
        rules.contains("full reductions: none"),
        "nothing was written: {rules}"
    );
    let warehouses = shopctl(&shop, &["warehouse", "list"]).await;
    assert!(warehouses.starts_with("no warehouses yet"), "{warehouses}");
}

#[tokio::test]
async fn a_flash_sale_set_with_shopctl_shows_in_browse_and_prices_the_order() {
    let shop = TestShop::start().await;
    shopctl(
        &shop,
        &[
            "flash-sale",
            "set",
            "biluochun-1",
            "--price",
            "49",
            "--quota",
            "3",
            "--per-user",
            "2",
            "--starts",
            "now-1m",
            "--ends",
            "now+1h",
        ],
    )
    .await;
    let (token, _) = shop.login("flash.1").await;

    let detail = shop.get("/v1/products/biluochun").await;
    let placed = place(
        &shop,
        &token,
        "flash",
        &order_with("biluochun-1", 3, None, 0),
    )
    .await;

    assert_eq!(
        detail.body["skus"][0]["flashSale"]["price"], 4_900,
        "{}",
        detail.text
    );
    assert_eq!(placed.status, 201, "{}", placed.text);
    assert_eq!(
        placed.body["order"]["lines"][0]["flashQuantity"], 2,
        "the per-user limit"
    );
    assert_eq!(placed.body["order"]["subtotal"], 2 * 4_900 + 6_800);
}

#[tokio::test]
async fn a_category_coupon_covers_the_categories_under_it_and_nothing_else() {
    let shop = TestShop::start().await;
    shopctl(
        &shop,
        &[
            "coupon",
            "create",
            "tea-10",
            "--title",
            "茶叶九折",
            "--percent",
            "10",
            "--cap",
            "100",
            "--category",
            "tea",
            "--valid-days",
            "7",
            "--total",
            "10",
        ],
    )
    .await;
    let (token, _) = shop.login("teafan.1").await;
    assert_eq!(claim(&shop, &token, "tea-10").await.status, 201);

    // Longjing is in 绿茶, under 茶叶; the teacup is in 家居日用.
    let quote = shop
        .post_as(
            &token,
            "/v1/checkout/quote",
            &json!({"items": [{"skuId": "longjing-1", "quantity": 1}, {"skuId": "teacup-1", "quantity": 1}], "couponId": "tea-10.1"}),
        )
        .await;

    assert_eq!(quote.status, 200, "{}", quote.text);
    assert_eq!(quote.body["discounts"][0]["amount"], 1_280);
    assert_eq!(quote.body["lines"][0]["discount"], 1_280);
    assert_eq!(quote.body["lines"][1]["discount"], 0);
}
