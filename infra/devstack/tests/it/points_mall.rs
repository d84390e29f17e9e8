//! The points mall against the emulator: racing shoppers never take an item past its stock or
//! spend points they do not have; a gift ships as an order of its own, free or with a top-up
//! whose cancellation gives the points, the unit and the allowance back once.

use crate::support::{TestShop, address, audit_log};
use app::points_mall::{MallError, PointsMall};
use domain::ids::UserId;
use domain::points_mall::{MallItemDraft, RedeemRefusal};
use edge::runtime::QueueFunction;
use serde_json::json;
use store::catalog::CatalogStore;
use store::marketing::MarketingStore;
use store::points::{LedgerEntry, PointsLedger};
use store::points_mall::MallStore;

fn table(shop: &TestShop) -> String {
    shop.stack.resources.tables["MarketingTable"].clone()
}

fn ledger(shop: &TestShop) -> PointsLedger {
    PointsLedger::new(shop.stack.dynamodb.clone(), table(shop))
}

/// The merchant's desk, as the admin function builds it.
fn desk(shop: &TestShop) -> PointsMall {
    let dynamodb = shop.stack.dynamodb.clone();
    PointsMall::new(
        MallStore::new(dynamodb.clone(), table(shop)),
        MarketingStore::new(dynamodb.clone(), table(shop)),
        ledger(shop),
        CatalogStore::new(
            dynamodb,
            shop.stack.resources.tables["CatalogTable"].clone(),
        ),
    )
    .with_audit(audit_log(shop))
}

async fn give_points(shop: &TestShop, user: &UserId, points: i64) {
    let entry = LedgerEntry {
        key: format!("test#{}", domain::ids::random_token(8)),
        delta: points,
        reason: "测试积分".into(),
        order_id: None,
        at: domain::clock::now_epoch_seconds(),
    };
    ledger(shop).post(user, &entry).await.unwrap();
}

async fn coupon_template(shop: &TestShop, id: &str) {
    shop.stack
        .shopctl(&[
            "coupon",
            "create",
            id,
            "--title",
            "积分兑换券",
            "--off",
            "10",
            "--min-spend",
            "59",
            "--valid-days",
            "7",
            "--total",
            "1000",
            "--per-user",
            "100",
        ])
        .await
        .unwrap();
}

fn window() -> serde_json::Value {
    json!({"startsAt": "2026-01-01T00:00:00+08:00", "endsAt": "2036-01-01T00:00:00+08:00"})
}

fn item_body(
    id: &str,
    reward: serde_json::Value,
    points: u64,
    cash: u64,
    stock: u64,
    limit: u32,
) -> serde_json::Value {
    let mut body = json!({
        "id": id, "title": "积分好礼", "reward": reward, "points": points, "cash": cash,
        "stock": stock, "perShopperLimit": limit,
    });
    for (k, v) in window().as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[tokio::test]
async fn a_hundred_shoppers_racing_for_the_last_five_get_exactly_five_and_the_rest_keep_their_points()
 {
    // given a coupon item with 5 units at 100 points, and 100 shoppers with 100 points each
    let shop = TestShop::with_settings(Default::default()).await;
    coupon_template(&shop, "mall-10").await;
    let desk = desk(&shop);
    let draft: MallItemDraft = serde_json::from_value(item_body(
        "x",
        json!({"kind": "coupon", "template": "mall-10"}),
        100,
        0,
        5,
        1,
    ))
    .unwrap();
    desk.create(Some("last-five"), &draft, &app::staff::Actor::shopctl(), 0)
        .await
        .unwrap();
    let shoppers: Vec<UserId> = (0..100).map(|_| UserId::generate()).collect();
    futures::future::join_all(shoppers.iter().map(|u| give_points(&shop, u, 100))).await;

    // when they all redeem at once
    let now = domain::clock::now_epoch_seconds();
    let answers = futures::future::join_all(
        shoppers
            .iter()
            .map(|u| desk.redeem(u, "last-five", "race", None, now)),
    )
    .await;

    // then exactly five got it, the others were told it is sold out
    let won = answers.iter().filter(|a| a.is_ok()).count();
    let sold_out = answers
        .iter()
        .filter(|a| matches!(a, Err(MallError::Refused(RedeemRefusal::SoldOut))))
        .count();
    assert_eq!(
        (won, sold_out),
        (5, 95),
        "{:?}",
        answers.iter().find(|a| a.is_err())
    );
    // and the five hold a coupon and no points; the rest keep their 100 and no coupon
    let marketing = MarketingStore::new(shop.stack.dynamodb.clone(), table(&shop));
    for (user, answer) in shoppers.iter().zip(&answers) {
        let balance = ledger(&shop).balance(user).await.unwrap();
        let coupons = marketing.wallet(user).await.unwrap().len();
        match answer {
            Ok(_) => assert_eq!((balance, coupons), (0, 1)),
            Err(_) => assert_eq!((balance, coupons), (100, 0)),
        }
    }
    let listing = desk.listing().await.unwrap();
    assert_eq!((listing[0].0.left, listing[0].1), (0, 5));
}

#[tokio::test]
async fn a_coupon_redeemed_twice_with_one_key_is_taken_once_and_the_limit_and_points_hold() {
    // given a shopper with 250 points and a coupon item at 100 points, twice per shopper
    let shop = TestShop::with_settings(Default::default()).await;
    coupon_template(&shop, "mall-10").await;
    let (owner, _, _) = crate::admin::owner(&shop, "mall-owner").await;
    let created = shop
        .post_as(
            &owner,
            "/admin/v1/points-mall",
            &item_body(
                "tea-coupon",
                json!({"kind": "coupon", "template": "mall-10"}),
                100,
                0,
                50,
                2,
            ),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let (token, user) = shop.login("mall-shopper.1").await;
    give_points(&shop, &UserId::parse(&user).unwrap(), 250).await;
    let (shop, token) = (&shop, &token);
    let redeem = |key: &'static str| async move {
        shop.post_with(
            token,
            "/v1/points-mall/tea-coupon/redeem",
            &[("Idempotency-Key", key)],
            &json!({}),
        )
        .await
    };

    // when they redeem, retry the same request, and redeem again with a new key
    let first = redeem("one").await;
    let retried = redeem("one").await;
    let second = redeem("two").await;
    let third = redeem("three").await;

    // then the retry answers the same redemption and spends nothing more
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!(
        first.body["redemption"]["id"],
        retried.body["redemption"]["id"]
    );
    assert_eq!(second.status, 201, "{}", second.text);
    // and the third is over the shopper's limit of two, with 50 points left
    assert_eq!(
        (third.status, third.body["error"]["code"].as_str()),
        (409, Some("redeem_limit_reached"))
    );
    let mall = shop.get_as(token, "/v1/points-mall").await;
    assert_eq!(mall.status, 200, "{}", mall.text);
    assert_eq!(mall.body["balance"], 50);
    assert_eq!(mall.body["items"][0]["redeemed"], 2);
    assert_eq!(mall.body["items"][0]["left"], 48);
    let mine = shop.get_as(token, "/v1/points-mall/redemptions").await;
    assert_eq!(mine.body["redemptions"].as_array().unwrap().len(), 2);
    let wallet = shop.get_as(token, "/v1/coupons/available").await;
    assert_eq!(
        wallet.body["wallet"].as_array().unwrap().len(),
        2,
        "{}",
        wallet.text
    );
    // and the merchant sees both redemptions and the count
    let listed = shop.get_as(&owner, "/admin/v1/points-mall").await;
    assert_eq!(listed.body["items"][0]["redeemed"], 2, "{}", listed.text);
    let all = shop
        .get_as(&owner, "/admin/v1/points-mall/redemptions")
        .await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);
    // and the shopper's data export holds their two redemptions, which go with the account
    let export = shop.get_as(token, "/v1/me/export").await;
    assert_eq!(
        export.body["pointsMall"]["redemptions"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{}",
        export.text
    );
    let deleted = shop.delete_as(token, "/v1/me").await;
    assert!(deleted.status < 300, "{}", deleted.text);
    let records = store::privacy::ShopperRecords::new(shop.stack.dynamodb.clone(), table(shop));
    let me = UserId::parse(&user).unwrap();
    assert!(records.traces(&me).await.unwrap().redemptions.is_empty());
}

#[tokio::test]
async fn bad_items_and_bad_redemptions_are_refused_naming_what_is_wrong() {
    let shop = TestShop::start().await;
    let (owner, _, _) = crate::admin::owner(&shop, "mall-owner").await;
    // an item naming no SKU of the catalog, and a coupon with a top-up
    let no_sku = shop
        .post_as(
            &owner,
            "/admin/v1/points-mall",
            &item_body(
                "cup",
                json!({"kind": "gift", "skuId": "no-such-sku"}),
                500,
                0,
                5,
                1,
            ),
        )
        .await;
    assert_eq!((no_sku.status, no_sku.error_field()), (400, "reward.skuId"));
    let top_up_coupon = shop
        .post_as(
            &owner,
            "/admin/v1/points-mall",
            &item_body(
                "c",
                json!({"kind": "coupon", "template": "new-user"}),
                500,
                100,
                5,
                1,
            ),
        )
        .await;
    assert_eq!(
        (top_up_coupon.status, top_up_coupon.error_field()),
        (400, "cash")
    );
    // a gift asked for without an address, without points, or without a key
    let gift = shop
        .post_as(
            &owner,
            "/admin/v1/points-mall",
            &item_body(
                "cup",
                json!({"kind": "gift", "skuId": "longjing-1"}),
                500,
                0,
                5,
                1,
            ),
        )
        .await;
    assert_eq!(gift.status, 201, "{}", gift.text);
    let (token, _) = shop.login("mall-poor.1").await;
    let path = "/v1/points-mall/cup/redeem";
    let no_address = shop
        .post_with(&token, path, &[("Idempotency-Key", "a")], &json!({}))
        .await;
    assert_eq!(
        (no_address.status, no_address.error_field()),
        (400, "address")
    );
    let no_points = shop
        .post_with(
            &token,
            path,
            &[("Idempotency-Key", "b")],
            &json!({"address": address()}),
        )
        .await;
    assert_eq!(
        (no_points.status, no_points.error_code()),
        (409, "points_short")
    );
    let no_key = shop
        .post_as(&token, path, &json!({"address": address()}))
        .await;
    assert_eq!(
        (no_key.status, no_key.error_field()),
        (400, "Idempotency-Key")
    );
    let unknown = shop
        .post_with(
            &token,
            "/v1/points-mall/nothing/redeem",
            &[("Idempotency-Key", "c")],
            &json!({}),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.error_code()),
        (404, "mall_item_not_found")
    );
}

#[tokio::test]
async fn a_free_gift_ships_as_a_paid_order_and_its_retry_creates_nothing_more() {
    // given a gift of a SKU for 500 points alone and a shopper with 800
    let shop = TestShop::shipping().await;
    let (owner, _, _) = crate::admin::owner(&shop, "mall-owner").await;
    let created = shop
        .post_as(
            &owner,
            "/admin/v1/points-mall",
            &item_body(
                "tea-gift",
                json!({"kind": "gift", "skuId": "longjing-1"}),
                500,
                0,
                3,
                1,
            ),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let (token, user) = shop.login("mall-gift.1").await;
    give_points(&shop, &UserId::parse(&user).unwrap(), 800).await;

    // when they redeem it with an address, and retry the same request
    let body = json!({"address": address()});
    let first = shop
        .post_with(
            &token,
            "/v1/points-mall/tea-gift/redeem",
            &[("Idempotency-Key", "g1")],
            &body,
        )
        .await;
    let again = shop
        .post_with(
            &token,
            "/v1/points-mall/tea-gift/redeem",
            &[("Idempotency-Key", "g1")],
            &body,
        )
        .await;

    // then one order exists, paid at zero, spending the 500 points once
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(again.status, 200, "{}", again.text);
    let order = &first.body["order"]["order"];
    assert_eq!(order["status"], "PAID");
    assert_eq!(order["total"], 0);
    assert_eq!(order["pointsUsed"], 500);
    assert_eq!(order["id"], again.body["order"]["order"]["id"]);
    assert_eq!(first.body["redemption"]["orderId"], order["id"]);
    assert_eq!(first.body["order"]["payment"], serde_json::Value::Null);
    let order_id = order["id"].as_str().unwrap().to_string();
    let mall = shop.get_as(&token, "/v1/points-mall").await;
    assert_eq!(
        (
            mall.body["balance"].as_u64(),
            mall.body["items"][0]["left"].as_u64()
        ),
        (Some(300), Some(2))
    );

    // and fulfillment ships it like any paid order
    let paid = json!({"Records": [{"messageId": "mall-ship", "body": json!({"type": "order.paid", "orderId": order_id, "transactionId": "", "dedupeKey": format!("order.paid:{order_id}")}).to_string()}]});
    let shipped = shop
        .stack
        .fulfillment
        .handle(serde_json::from_value(paid).unwrap())
        .await;
    assert!(
        shipped.batch_item_failures.is_empty(),
        "{:?}",
        shipped.batch_item_failures
    );
    let after = shop.get_as(&token, &format!("/v1/orders/{order_id}")).await;
    assert_eq!(after.body["status"], "SHIPPED", "{}", after.text);
}

#[tokio::test]
async fn a_top_up_gift_never_paid_is_cancelled_and_gives_points_unit_and_allowance_back_once() {
    // given a gift for 300 points and ¥9.90, and a shopper with 300 points
    let shop = TestShop::start().await;
    let (owner, _, _) = crate::admin::owner(&shop, "mall-owner").await;
    let created = shop
        .post_as(
            &owner,
            "/admin/v1/points-mall",
            &item_body(
                "cup-plus",
                json!({"kind": "gift", "skuId": "longjing-1"}),
                300,
                990,
                2,
                1,
            ),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let (token, user) = shop.login("mall-topup.1").await;
    let user = UserId::parse(&user).unwrap();
    give_points(&shop, &user, 300).await;

    // when they redeem it, an order awaiting ¥9.90 through WeChat Pay
    let redeemed = shop
        .post_with(
            &token,
            "/v1/points-mall/cup-plus/redeem",
            &[("Idempotency-Key", "t1")],
            &json!({"address": address()}),
        )
        .await;
    assert_eq!(redeemed.status, 201, "{}", redeemed.text);
    let order = &redeemed.body["order"]["order"];
    assert_eq!(
        (order["status"].as_str(), order["total"].as_u64()),
        (Some("PENDING_PAYMENT"), Some(990))
    );
    assert!(
        redeemed.body["order"]["payment"].is_object(),
        "{}",
        redeemed.text
    );
    let order_id = order["id"].as_str().unwrap().to_string();
    assert_eq!(ledger(&shop).balance(&user).await.unwrap(), 0);
    // and it is never paid: its deadline runs, twice (a redelivery)
    for _ in 0..2 {
        crate::payments::run_deadline(&shop, &order_id).await;
    }

    // then the order is cancelled, the 300 points came back once, and the unit and the
    // allowance are free again: the shopper can redeem it anew
    let after = shop.get_as(&token, &format!("/v1/orders/{order_id}")).await;
    assert_eq!(after.body["status"], "CANCELLED", "{}", after.text);
    assert_eq!(ledger(&shop).balance(&user).await.unwrap(), 300);
    let returns = ledger(&shop)
        .entries(&user)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.key.ends_with("#return"))
        .count();
    assert_eq!(returns, 1);
    let mall = shop.get_as(&token, "/v1/points-mall").await;
    assert_eq!(
        (
            mall.body["items"][0]["left"].as_u64(),
            mall.body["items"][0]["redeemed"].as_u64()
        ),
        (Some(2), Some(0))
    );
    let anew = shop
        .post_with(
            &token,
            "/v1/points-mall/cup-plus/redeem",
            &[("Idempotency-Key", "t2")],
            &json!({"address": address()}),
        )
        .await;
    assert_eq!(anew.status, 201, "{}", anew.text);
}
