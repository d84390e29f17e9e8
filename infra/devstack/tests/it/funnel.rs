//! The funnel from the metric lines the functions write: a scripted purchase run, counted by
//! `shopctl funnel` (what `make funnel` runs) the way CloudWatch would count the EMF lines.

use crate::checkout::place;
use crate::support::{TestShop, address};
use serde_json::json;
use telemetry::metrics::{BusinessEvent, Funnel};

#[tokio::test]
async fn a_scripted_purchase_run_is_counted_step_by_step_with_its_channels() {
    let shop = TestShop::start().await;
    devstack::seed::warehouses(&shop.stack.admin(), 0)
        .await
        .unwrap();
    let (token, _) = shop.login("funnel.1").await;
    // Three product views (two from a QR code), two adds to the cart, two quotes, two orders (one arrived by a share
    // link), one of them paid, shipped and delivered.
    for scene in ["1011", "1011", "1001"] {
        let seen = shop
            .get_with("/v1/products/longjing", ("x-wx-scene", scene))
            .await;
        assert_eq!(seen.status, 200);
    }
    // Two adds to the cart.
    for _ in 0..2 {
        let added = shop
            .post_as(
                &token,
                "/v1/cart/items",
                &json!({"skuId": "longjing-1", "quantity": 1}),
            )
            .await;
        assert_eq!(added.status, 201, "{}", added.text);
    }
    let cart = json!({"items": [{"skuId": "longjing-1", "quantity": 1}]});
    for _ in 0..2 {
        assert_eq!(
            shop.post_as(&token, "/v1/checkout/quote", &cart)
                .await
                .status,
            200
        );
    }
    let body = json!({"items": [{"skuId": "longjing-1", "quantity": 1}], "address": address()});
    let shared_order = shop
        .post_with(
            &token,
            "/v1/orders",
            &[
                ("idempotency-key", "via-share"),
                ("x-share-code", "abcdef123456"),
            ],
            &body,
        )
        .await;
    assert_eq!(shared_order.status, 201, "{}", shared_order.text);
    assert_eq!(shared_order.body["order"]["channel"], "share");
    let direct = place(&shop, &token, "direct", &body).await;
    assert_eq!(direct.status, 201);
    let id = shared_order.body["order"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let total = shared_order.body["order"]["total"].as_u64().unwrap();
    shop.stack.wechatpay.mark_paid(&id).unwrap();
    let paid = shop.stack.wechatpay.notification(&id, |_| {}).unwrap();
    shop.stack
        .wechatpay
        .deliver(&format!("{}/v1/pay/wechat/notify", shop.base), &paid)
        .await
        .unwrap();
    shop.stack.drain("FulfillmentQueue").await.unwrap();
    let number = shop.get_as(&token, &format!("/v1/orders/{id}")).await.body["shipment"]["number"]
        .as_str()
        .unwrap()
        .to_string();
    shop.stack
        .kuaidi100
        .push(&number, 3, "已签收")
        .await
        .unwrap();
    // A duplicate delivered push counts nothing more.
    shop.stack
        .kuaidi100
        .push(&number, 3, "已签收")
        .await
        .unwrap();

    let dir = std::env::temp_dir().join(format!("funnel-{}", domain::ids::random_token(8)));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("metrics.jsonl");
    std::fs::write(&log, shop.stack.metrics.lines().join("\n")).unwrap();
    let now = domain::clock::now_epoch_seconds();
    let report = shopctl::funnel(&["--log", log.to_str().unwrap(), "--since", "1h"], now).unwrap();

    let counted = Funnel::count(
        shop.stack.metrics.lines().iter().map(String::as_str),
        (now - 3600) * 1000,
        (now + 1) * 1000,
    );
    assert_eq!(
        BusinessEvent::ALL.map(|e| counted.of(e)),
        [3, 2, 2, 2, 1, 1, 1, 0, 0, 0],
        "viewed, cart, quote, created, paid, shipped, delivered, refunded, shares, invites"
    );
    assert_eq!(counted.revenue, total);
    assert_eq!(
        counted.by_channel["qrcode"][&BusinessEvent::ProductViewed],
        2
    );
    assert_eq!(counted.by_channel["share"][&BusinessEvent::OrderPaid], 1);
    for line in [
        "product viewed          3",
        "added to cart           2    66.6% of product viewed",
        "quote                   2   100.0% of added to cart",
        "order created           2   100.0% of quote",
        "order paid              1    50.0% of order created",
        "delivered               1   100.0% of shipped",
    ] {
        assert!(report.contains(line), "{line:?} not in\n{report}");
    }
    // Route metrics ride along: every answered request, none of them failing.
    assert!(
        shop.stack.metrics.lines().iter().any(
            |l| l.contains("\"Route\":\"POST /v1/orders\"") && l.contains("\"ServerErrors\":0")
        )
    );
    assert!(
        !shop.stack.metrics.lines().iter().any(|l| l.contains(&id)),
        "no order ids in metrics"
    );
    let _ = std::fs::remove_dir_all(dir);
}
