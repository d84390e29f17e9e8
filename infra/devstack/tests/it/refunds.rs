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
    // A shop that lets refunds of shipped orders go without staff approval.
    let shop = TestShop::seeded_with(&[("REFUND_APPROVAL", "never")]).await;
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

/// An upload form for a PNG after-sales photo, as `POST /v1/uploads` answers it.
async fn upload_form(shop: &TestShop, token: &str) -> Value {
    let answer = shop
        .post_as(
            token,
            "/v1/uploads",
            &json!({"purpose": "after_sale", "contentType": "image/png", "size": 1024}),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.body
}

#[tokio::test]
async fn an_upload_form_is_signed_for_one_key_of_the_callers_one_image_type_and_five_megabytes() {
    // given a shopper
    let shop = TestShop::start().await;
    let (token, user) = shop.login("photo.1").await;

    // when they ask to upload a PNG
    let before = domain::clock::now_epoch_seconds();
    let form = upload_form(&shop, &token).await;

    // then the policy, read back, allows exactly that key, that type, 1 byte to 5 MB, briefly
    use base64::Engine;
    let key = form["key"].as_str().unwrap();
    assert!(
        key.starts_with(&format!("uploads/after-sale/{user}/")),
        "{key}"
    );
    let fields = &form["fields"];
    assert_eq!(fields["key"], key);
    assert_eq!(fields["Content-Type"], "image/png");
    let policy: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(fields["policy"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let conditions = policy["conditions"].as_array().unwrap();
    assert!(conditions.contains(&json!({"key": key})), "{policy}");
    assert!(conditions.contains(&json!({"Content-Type": "image/png"})));
    assert!(conditions.contains(&json!(["content-length-range", 1, 5 * 1024 * 1024])));
    // tagged unused until a review or refund keeps it, so the bucket can forget it
    assert!(conditions.contains(&json!({"tagging": fields["tagging"]})));
    assert!(
        fields["tagging"]
            .as_str()
            .unwrap()
            .contains("<Key>media</Key><Value>unused</Value>")
    );
    let bucket = shop.stack.resources.buckets["MediaBucket"].clone();
    assert!(conditions.contains(&json!({"bucket": bucket})));
    assert!(
        form["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/{bucket}"))
    );
    let expires = time::OffsetDateTime::parse(
        policy["expiration"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp();
    assert!((before + 590..=before + 610).contains(&expires), "{policy}");
    let signature = fields["x-amz-signature"].as_str().unwrap();
    assert!(signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit()));
    // and anything else is refused by field
    for (body, field) in [
        (
            json!({"purpose": "review", "contentType": "application/pdf", "size": 10}),
            "contentType",
        ),
        (
            json!({"purpose": "review", "contentType": "image/png", "size": 6 * 1024 * 1024}),
            "size",
        ),
        (
            json!({"purpose": "avatar", "contentType": "image/png", "size": 10}),
            "purpose",
        ),
    ] {
        let refused = shop.post_as(&token, "/v1/uploads", &body).await;
        assert_eq!(
            (refused.status, refused.error_field()),
            (400, field),
            "{body}"
        );
    }
    assert_eq!(shop.post("/v1/uploads", &json!({})).await.status, 401);
}

#[tokio::test]
async fn a_refund_keeps_its_description_and_photos_and_refuses_another_shoppers_photo() {
    // given a paid order and a photo its shopper uploaded
    let shop = TestShop::start().await;
    let (token, id) = paid(&shop, "evidence.1", &[("longjing-1", 1)], json!({})).await;
    let form = upload_form(&shop, &token).await;
    let key = form["key"].as_str().unwrap().to_string();
    let photo = b"\x89PNG\r\n\x1a\n not really a picture".to_vec();
    let put = reqwest::Client::new()
        .put(format!("{}/{key}", form["url"].as_str().unwrap()))
        .header("content-type", "image/png")
        .body(photo.clone())
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    let (other, _) = shop.login("evidence-other.1").await;
    let theirs = upload_form(&shop, &other).await["key"].clone();

    // when the refund names someone else's photo, or asks to send back what never shipped
    let stolen = refund(
        &shop,
        &token,
        &id,
        json!({"reason": "质量问题", "photos": [theirs]}),
    )
    .await;
    let no_parcel = refund(
        &shop,
        &token,
        &id,
        json!({"reason": "质量问题", "kind": "return_and_refund"}),
    )
    .await;
    // and when it names their own
    let asked = refund(
        &shop,
        &token,
        &id,
        json!({"reason": "不想要了", "kind": "refund_only", "description": "拍错了规格", "photos": [key]}),
    )
    .await;

    // then only the last is taken, and the order shows it with a working link to the photo
    assert_eq!((stolen.status, stolen.error_field()), (400, "photos[0]"));
    assert_eq!(
        (no_parcel.status, no_parcel.error_code()),
        (422, "nothing_to_return")
    );
    assert_eq!(asked.status, 202, "{}", asked.text);
    let order = shop.get_as(&token, &format!("/v1/orders/{id}")).await.body;
    let shown = &order["afterSales"][0];
    assert_eq!(shown["kind"], "refund_only");
    assert_eq!(shown["description"], "拍错了规格");
    assert_eq!(shown["photos"][0]["key"], key.as_str());
    let url = shown["photos"][0]["url"].as_str().unwrap();
    assert!(
        url.contains("X-Amz-Signature=") && url.contains("X-Amz-Expires=3600"),
        "{url}"
    );
    let fetched = reqwest::get(url).await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), photo);
}
