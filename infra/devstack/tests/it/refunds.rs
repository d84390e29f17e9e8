//! After-sales end to end: refunds asked for by the shopper, finished by WeChat Pay's signed
//! notifications, each counted once; what was paid is never exceeded.

use crate::checkout::{place, stock_of};
use crate::support::{TestShop, address};
use devstack::wechatpay_sandbox::SignedNotification;
use domain::ids::OrderId;
use serde_json::{Value, json};

/// A paid order of `who` for `lines` (sku, quantity), paid at the sandbox too: (token, id).
async fn paid(shop: &TestShop, who: &str, lines: &[(&str, u32)], extra: Value) -> (String, String) {
    let (token, _) = shop.login(who).await;
    let items: Vec<Value> = lines
        .iter()
        .map(|(sku, q)| json!({"skuId": sku, "quantity": q}))
        .collect();
    let mut body = json!({"items": items, "address": address()});
    if let Value::Object(more) = extra {
        body.as_object_mut().unwrap().extend(more);
    }
    let placed = place(shop, &token, &format!("{who}-order"), &body).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let id = placed.body["order"]["id"].as_str().unwrap().to_string();
    shop.stack.wechatpay.mark_paid(&id).unwrap();
    let notification = shop.stack.wechatpay.notification(&id, |_| {}).unwrap();
    assert_eq!(deliver(shop, &notification).await, 204);
    (token, id)
}

async fn deliver(shop: &TestShop, n: &SignedNotification) -> u16 {
    shop.stack
        .wechatpay
        .deliver(&format!("{}/v1/pay/wechat/notify", shop.base), n)
        .await
        .unwrap()
}

async fn refund(shop: &TestShop, token: &str, id: &str, body: Value) -> crate::support::Answer {
    shop.post_as(token, &format!("/v1/orders/{id}/refund"), &body)
        .await
}

async fn order_of(shop: &TestShop, token: &str, id: &str) -> Value {
    shop.get_as(token, &format!("/v1/orders/{id}")).await.body
}

/// Every refund recorded for the order, as stored.
async fn refunds_of(shop: &TestShop, id: &str) -> Vec<domain::refund::Refund> {
    shop.stack
        .order_store()
        .refunds_of(&OrderId::parse(id).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_full_refund_notified_many_times_refunds_once_and_gives_back_stock_coupon_and_points() {
    let shop = TestShop::start().await;
    shop.stack
        .shopctl(&[
            "coupon",
            "create",
            "sorry",
            "--title",
            "补偿券",
            "--off",
            "10",
            "--valid-days",
            "7",
            "--total",
            "10",
        ])
        .await
        .unwrap();
    shop.stack
        .shopctl(&[
            "points",
            "policy",
            "--points-per-yuan",
            "100",
            "--max-share",
            "50",
        ])
        .await
        .unwrap();
    let (token, user) = shop.login("refunder.1").await;
    let gift = store::points::LedgerEntry {
        key: "gift".into(),
        delta: 2_000,
        reason: "测试".into(),
        order_id: None,
        at: 1,
    };
    let ledger = store::points::PointsLedger::new(
        shop.stack.dynamodb.clone(),
        shop.stack.resources.tables["MarketingTable"].clone(),
    );
    let user_id = domain::ids::UserId::parse(&user).unwrap();
    ledger.post(&user_id, &gift).await.unwrap();
    assert_eq!(
        shop.post_as(&token, "/v1/coupons/sorry/claim", &json!({}))
            .await
            .status,
        201
    );
    let before = stock_of(&shop, "longjing-1").await;
    let (_, id) = paid(
        &shop,
        "refunder.2",
        &[("longjing-1", 2)],
        json!({"couponId": "sorry.1", "points": 2000}),
    )
    .await;
    // (refunder.2 is the same shopper: the sandbox maps refunder.N to one openid.)
    let placed = order_of(&shop, &token, &id).await;
    assert_eq!(placed["status"], "PAID", "{placed}");
    let paid_total = placed["total"].as_u64().unwrap();

    let asked = refund(&shop, &token, &id, json!({"reason": "不想要了"})).await;

    assert_eq!(asked.status, 202, "{}", asked.text);
    assert_eq!(asked.body["order"]["status"], "REFUNDING");
    assert_eq!(asked.body["refund"]["amount"], paid_total);
    let out_refund_no = asked.body["refund"]["outRefundNo"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(shop.stack.wechatpay.refunds().contains_key(&out_refund_no));
    // The same request again (a retry) is the same refund, not a second one.
    let again = refund(&shop, &token, &id, json!({"reason": "不想要了"})).await;
    assert_eq!(
        (again.status, again.body["refund"]["outRefundNo"].as_str()),
        (202, Some(out_refund_no.as_str()))
    );

    // WeChat Pay says SUCCESS, eight times at once.
    let notices: Vec<SignedNotification> = (0..8)
        .map(|_| {
            shop.stack
                .wechatpay
                .refund_notification(&out_refund_no, "SUCCESS", |_| {})
                .unwrap()
        })
        .collect();
    let statuses = futures::future::join_all(notices.iter().map(|n| deliver(&shop, n))).await;

    assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}");
    let order = order_of(&shop, &token, &id).await;
    assert_eq!(order["status"], "REFUNDED");
    assert_eq!(order["refundedAmount"], paid_total);
    assert_eq!(
        stock_of(&shop, "longjing-1").await,
        before,
        "stock back once"
    );
    assert_eq!(
        ledger.balance(&user_id).await.unwrap(),
        2_000,
        "points back once"
    );
    let wallet = shop.get_as(&token, "/v1/coupons/available").await.body["wallet"].clone();
    assert_eq!(wallet[0]["state"], "available", "coupon back");
    assert_eq!(refunds_of(&shop, &id).await.len(), 1);
}

#[tokio::test]
async fn racing_partial_refunds_and_duplicate_notifications_never_refund_more_than_was_paid() {
    let shop = TestShop::start().await;
    let (token, id) = paid(
        &shop,
        "partial.1",
        &[("longjing-1", 1), ("walnut-1", 2), ("teacup-1", 1)],
        json!({}),
    )
    .await;
    let total = order_of(&shop, &token, &id).await["total"]
        .as_u64()
        .unwrap();

    // Two shoppers' taps: refund longjing and walnut separately, each three times, all at once.
    let asks = futures::future::join_all(
        [
            "longjing-1",
            "walnut-1",
            "longjing-1",
            "walnut-1",
            "longjing-1",
            "walnut-1",
        ]
        .iter()
        .map(|sku| {
            refund(
                &shop,
                &token,
                &id,
                json!({"reason": "少发了", "lines": [sku]}),
            )
        }),
    )
    .await;

    for ask in &asks {
        assert!(matches!(ask.status, 202 | 409), "{}", ask.text);
    }
    let recorded = refunds_of(&shop, &id).await;
    let mut lines: Vec<String> = recorded
        .iter()
        .flat_map(|r| r.sku_ids.iter().map(|s| s.to_string()))
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        ["longjing-1", "walnut-1"],
        "each line refunded once: {recorded:?}"
    );

    // Each refund's SUCCESS arrives three times, interleaved with a refund of the rest.
    let mut deliveries = Vec::new();
    for r in &recorded {
        for _ in 0..3 {
            deliveries.push(
                shop.stack
                    .wechatpay
                    .refund_notification(&r.out_refund_no, "SUCCESS", |_| {})
                    .unwrap(),
            );
        }
    }
    let (statuses, rest) = futures::join!(
        futures::future::join_all(deliveries.iter().map(|n| deliver(&shop, n))),
        refund(&shop, &token, &id, json!({"reason": "全退"}))
    );
    assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}");
    assert_eq!(rest.status, 202, "{}", rest.text);
    let last = rest.body["refund"]["outRefundNo"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        deliver(
            &shop,
            &shop
                .stack
                .wechatpay
                .refund_notification(&last, "SUCCESS", |_| {})
                .unwrap()
        )
        .await,
        204
    );

    let order = order_of(&shop, &token, &id).await;
    let refunds = refunds_of(&shop, &id).await;
    let refunded: u64 = refunds.iter().map(|r| r.amount.get()).sum();
    assert_eq!(order["status"], "REFUNDED");
    assert_eq!(refunded, total, "all of it, and not a fen more");
    assert_eq!(order["refundedAmount"], total);
    let at_wechat: u64 = shop
        .stack
        .wechatpay
        .refunds()
        .values()
        .filter(|r| r["out_trade_no"] == id.as_str())
        .map(|r| r["amount"]["refund"].as_u64().unwrap())
        .sum();
    assert_eq!(at_wechat, total);
}

#[tokio::test]
async fn a_closed_refund_makes_its_lines_refundable_again_and_a_forged_amount_changes_nothing() {
    let shop = TestShop::start().await;
    let (token, id) = paid(
        &shop,
        "closed.1",
        &[("longjing-1", 1), ("walnut-1", 1)],
        json!({}),
    )
    .await;
    let first = refund(
        &shop,
        &token,
        &id,
        json!({"reason": "坏了", "lines": ["walnut-1"]}),
    )
    .await;
    let out_refund_no = first.body["refund"]["outRefundNo"]
        .as_str()
        .unwrap()
        .to_string();

    let forged = shop
        .stack
        .wechatpay
        .refund_notification(&out_refund_no, "SUCCESS", |plain| {
            plain["amount"]["refund"] = json!(1)
        })
        .unwrap();
    assert_eq!(deliver(&shop, &forged).await, 204);
    assert_eq!(
        order_of(&shop, &token, &id).await["status"],
        "REFUNDING",
        "a mismatch is never acted on"
    );

    let closed = shop
        .stack
        .wechatpay
        .refund_notification(&out_refund_no, "CLOSED", |_| {})
        .unwrap();
    assert_eq!(deliver(&shop, &closed).await, 204);
    let order = order_of(&shop, &token, &id).await;
    assert_eq!(order["status"], "PAID", "back where it was");
    assert!(order.get("refundedAmount").is_none(), "{order}");
    let retried = refund(
        &shop,
        &token,
        &id,
        json!({"reason": "坏了", "lines": ["walnut-1"]}),
    )
    .await;
    assert_eq!(retried.status, 202, "{}", retried.text);
    assert_ne!(retried.body["refund"]["outRefundNo"], json!(out_refund_no));
}

#[tokio::test]
async fn a_shipped_order_is_refunded_after_its_return_waybill_and_only_its_owner_may_ask() {
    let shop = TestShop::start().await;
    devstack::seed::warehouses(&shop.stack.admin(), 0)
        .await
        .unwrap();
    let (token, id) = paid(&shop, "returner.1", &[("walnut-1", 1)], json!({})).await;
    let before = stock_of(&shop, "walnut-1").await;
    shop.stack.drain("FulfillmentQueue").await.unwrap();
    assert_eq!(order_of(&shop, &token, &id).await["status"], "SHIPPED");
    let (stranger, _) = shop.login("stranger.1").await;

    let not_yours = refund(&shop, &stranger, &id, json!({"reason": "x"})).await;
    let too_soon = refund(&shop, &token, &id, json!({"reason": "不合适"})).await;
    let bad_waybill = shop
        .post_as(
            &token,
            &format!("/v1/orders/{id}/return"),
            &json!({"company": "中通", "number": "1"}),
        )
        .await;
    let returned = shop
        .post_as(
            &token,
            &format!("/v1/orders/{id}/return"),
            &json!({"company": "zhongtong", "number": "ZT7399000001"}),
        )
        .await;
    shop.stack.drain("FulfillmentQueue").await.unwrap();
    let asked = refund(&shop, &token, &id, json!({"reason": "不合适"})).await;

    assert_eq!(not_yours.status, 404);
    assert_eq!(
        (too_soon.status, too_soon.error_code()),
        (409, "return_required")
    );
    assert_eq!(
        (bad_waybill.status, bad_waybill.error_field()),
        (400, "company")
    );
    assert_eq!(returned.status, 200, "{}", returned.text);
    assert_eq!(returned.body["returnShipment"]["number"], "ZT7399000001");
    assert!(
        shop.stack.kuaidi100.is_subscribed("ZT7399000001"),
        "the return is tracked"
    );
    assert_eq!(asked.status, 202, "{}", asked.text);
    let paid_goods = order_of(&shop, &token, &id).await["lines"][0]["lineTotal"]
        .as_u64()
        .unwrap();
    assert_eq!(
        asked.body["refund"]["amount"], paid_goods,
        "shipping spent on a shipped order stays"
    );
    let out_refund_no = asked.body["refund"]["outRefundNo"]
        .as_str()
        .unwrap()
        .to_string();
    let success = shop
        .stack
        .wechatpay
        .refund_notification(&out_refund_no, "SUCCESS", |_| {})
        .unwrap();
    assert_eq!(deliver(&shop, &success).await, 204);
    assert_eq!(order_of(&shop, &token, &id).await["status"], "REFUNDED");
    assert_eq!(
        stock_of(&shop, "walnut-1").await,
        before,
        "shipped goods are not restocked by the refund"
    );
    // The return parcel's tracking does not touch the order.
    let (status, _) = shop
        .stack
        .kuaidi100
        .push("ZT7399000001", 3, "商家已签收")
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(order_of(&shop, &token, &id).await["status"], "REFUNDED");
}

#[tokio::test]
async fn what_is_left_after_a_partial_refund_still_ships() {
    let shop = TestShop::start().await;
    devstack::seed::warehouses(&shop.stack.admin(), 0)
        .await
        .unwrap();
    let (token, id) = paid(
        &shop,
        "halfway.1",
        &[("longjing-1", 1), ("walnut-1", 1)],
        json!({}),
    )
    .await;
    let asked = refund(
        &shop,
        &token,
        &id,
        json!({"reason": "少要一件", "lines": ["walnut-1"]}),
    )
    .await;
    assert_eq!(asked.status, 202, "{}", asked.text);

    // The payment's order.paid reaches fulfillment while the refund is open: nothing ships.
    shop.stack.drain("FulfillmentQueue").await.unwrap();
    assert_eq!(order_of(&shop, &token, &id).await["status"], "REFUNDING");
    let out_refund_no = asked.body["refund"]["outRefundNo"]
        .as_str()
        .unwrap()
        .to_string();
    let success = shop
        .stack
        .wechatpay
        .refund_notification(&out_refund_no, "SUCCESS", |_| {})
        .unwrap();
    assert_eq!(deliver(&shop, &success).await, 204);
    assert_eq!(
        deliver(&shop, &success).await,
        204,
        "a duplicate changes nothing"
    );
    shop.stack.drain("FulfillmentQueue").await.unwrap();

    let order = order_of(&shop, &token, &id).await;
    assert_eq!(order["status"], "SHIPPED", "{order}");
    assert_eq!(order["refundedSkus"], json!(["walnut-1"]));
    assert_eq!(shop.stack.kuaidi100.label_calls(), 1);
}
