//! The funnel from the metric lines the functions write: a scripted purchase run, counted by
//! `shopctl funnel` (what `make funnel` runs) the way CloudWatch would count the EMF lines, and
//! by the live reports from the hourly counters, which must agree with both.

use crate::checkout::place;
use crate::support::{TestShop, address};
use serde_json::{Value, json};
use telemetry::metrics::{BusinessEvent, FUNNEL_STEPS, Funnel};

#[tokio::test]
async fn a_scripted_purchase_run_is_counted_step_by_step_with_its_channels() {
    let shop = TestShop::start().await;
    devstack::seed::warehouses(&shop.stack.admin(), 0)
        .await
        .unwrap();
    let started = domain::clock::now_epoch_seconds();
    // Three visits by two shoppers: one opened the shop twice, the other from a share link.
    // (The sandbox maps funnel.N to one openid, a code being good once.)
    let (token, _) = shop.login("funnel.1").await;
    shop.login("funnel.2").await;
    let shared_visit = shop
        .post(
            "/v1/auth/login",
            &json!({"code": "friend.1", "inviteCode": "abcdef123456"}),
        )
        .await;
    assert_eq!(shared_visit.status, 200, "{}", shared_visit.text);
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
    // The direct order is paid, then refunded before it ships.
    let direct_id = direct.body["order"]["id"].as_str().unwrap().to_string();
    crate::social::pay(&shop, &direct_id).await;
    let asked = shop
        .post_as(
            &token,
            &format!("/v1/orders/{direct_id}/refund"),
            &json!({"reason": "不想要了"}),
        )
        .await;
    assert_eq!(asked.status, 202, "{}", asked.text);
    let refund_no = asked.body["refund"]["outRefundNo"].as_str().unwrap();
    let refunded = shop
        .stack
        .wechatpay
        .refund_notification(refund_no, "SUCCESS", |_| {})
        .unwrap();
    let delivered = shop
        .stack
        .wechatpay
        .deliver(&format!("{}/v1/pay/wechat/notify", shop.base), &refunded)
        .await
        .unwrap();
    assert_eq!(delivered, 204);
    let direct_total = direct.body["order"]["total"].as_u64().unwrap();

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
        [3, 3, 2, 2, 2, 2, 1, 1, 1, 0, 0, 0, 0, 0],
        "visits, viewed, cart, quote, created, paid, shipped, delivered, refunded, shares, invites, tasks, redemptions, draws"
    );
    assert_eq!(counted.revenue, total + direct_total);
    assert_eq!(counted.refunded, direct_total);
    assert_eq!(counted.by_channel["share"][&BusinessEvent::Visit], 1);
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
        "order paid              2   100.0% of order created",
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

    the_reports_agree(&shop, &counted, started).await;
}

fn counts_of(steps: &Value) -> Vec<(String, u64)> {
    steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_string(),
                s["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn expected_steps(counts: impl Fn(BusinessEvent) -> u64) -> Vec<(String, u64)> {
    FUNNEL_STEPS
        .iter()
        .map(|e| (e.metric().to_string(), counts(*e)))
        .collect()
}

/// The live reports, read through the merchant API, say what the metric lines say.
async fn the_reports_agree(shop: &TestShop, counted: &Funnel, started: i64) {
    // CloudWatch Logs hands the functions' report lines to the reports consumer.
    shop.stack.ship_logs().await.unwrap();
    let (owner, _, _) = crate::admin::owner(shop, "boss.reports").await;
    let report = |path: &'static str| {
        let owner = owner.clone();
        async move {
            let answer = shop.get_as(&owner, path).await;
            assert_eq!(answer.status, 200, "{path}: {}", answer.text);
            answer.body
        }
    };

    let funnel = report("/admin/v1/reports/funnel").await;
    assert_eq!(
        counts_of(&funnel["steps"]),
        expected_steps(|e| counted.of(e))
    );
    assert_eq!(
        funnel["steps"][1]["conversionPermille"], 1000,
        "3 views of 3 visits"
    );
    assert_eq!(
        (funnel["revenue"].as_u64(), funnel["refunded"].as_u64()),
        (Some(counted.revenue), Some(counted.refunded))
    );
    assert_eq!(
        (funnel["refunds"].as_u64(), funnel["visitors"].as_u64()),
        (Some(1), Some(2))
    );

    let share = report("/admin/v1/reports/funnel?channel=share").await;
    let by_share = &counted.by_channel["share"];
    assert_eq!(
        counts_of(&share["steps"]),
        expected_steps(|e| by_share.get(&e).copied().unwrap_or(0))
    );

    let channels = report("/admin/v1/reports/channels").await;
    let items = channels["items"].as_array().unwrap();
    assert_eq!(items.len(), counted.by_channel.len(), "{channels}");
    for item in items {
        let of = &counted.by_channel[item["channel"].as_str().unwrap()];
        assert_eq!(
            counts_of(&item["steps"]),
            expected_steps(|e| of.get(&e).copied().unwrap_or(0))
        );
    }

    let hourly = report("/admin/v1/reports/hourly").await;
    let hours = hourly["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 7 * 24, "every hour of the last 7 days");
    let (first, last) = (
        domain::clock::china_hour(started),
        domain::clock::china_hour(domain::clock::now_epoch_seconds()),
    );
    let sum =
        |rows: &[Value], name: &str| rows.iter().map(|h| h[name].as_u64().unwrap()).sum::<u64>();
    for (name, expected) in [
        ("visits", 3),
        ("visitors", 2),
        ("orders", 2),
        ("paidOrders", 2),
        ("revenue", counted.revenue),
    ] {
        assert_eq!(sum(hours, name), expected, "{name}");
        assert_eq!(
            sum(hourly["byHourOfDay"].as_array().unwrap(), name),
            expected,
            "{name}"
        );
    }
    for hour in hours {
        let at = hour["hour"].as_str().unwrap();
        if hour["visits"].as_u64() > Some(0) || hour["orders"].as_u64() > Some(0) {
            assert!(
                first.as_str() <= at && at <= last.as_str(),
                "{at} outside the run"
            );
        }
    }

    let top = report("/admin/v1/reports/top-products").await;
    let longjing = &top["items"][0];
    assert_eq!(longjing["productId"], "longjing");
    assert!(!longjing["title"].as_str().unwrap().is_empty());
    assert_eq!(
        (
            longjing["views"].as_u64(),
            longjing["cartAdds"].as_u64(),
            longjing["unitsSold"].as_u64(),
            longjing["sales"].as_u64()
        ),
        (Some(3), Some(2), Some(2), Some(counted.revenue)),
        "{top}"
    );

    // A range past 90 days, or a channel there is none of, is refused naming the field.
    let refused = shop
        .get_as(
            &owner,
            "/admin/v1/reports/funnel?from=2026-01-01&to=2026-12-01",
        )
        .await;
    assert_eq!(
        (refused.status, refused.body["error"]["field"].as_str()),
        (400, Some("from"))
    );
    let refused = shop
        .get_as(&owner, "/admin/v1/reports/funnel?channel=tv")
        .await;
    assert_eq!(
        (refused.status, refused.body["error"]["field"].as_str()),
        (400, Some("channel"))
    );
}

#[tokio::test]
async fn a_batch_of_report_lines_handed_over_again_counts_once_and_a_visitor_once_an_hour() {
    use telemetry::metrics::{Facts, Metrics};
    let shop = TestShop::start().await;
    let (owner, _, _) = crate::admin::owner(&shop, "boss.batches").await;
    let now_ms = domain::clock::now_epoch_seconds() * 1000;
    let longjing = domain::ids::ProductId::parse("longjing").unwrap();
    let visit = |channel, visitor, at| {
        Metrics::event_line(
            BusinessEvent::Visit,
            &Facts {
                channel: Some(channel),
                visitor: Some(visitor),
                ..Facts::default()
            },
            at,
        )
    };
    // Given one shopper opening the shop twice in a minute, another once, and a paid order.
    let lines = vec![
        visit("share", "u_one", now_ms),
        visit("share", "u_one", now_ms + 1),
        visit("qrcode", "u_two", now_ms + 2),
        Metrics::event_line(
            BusinessEvent::OrderPaid,
            &Facts {
                channel: Some("share"),
                amount: Some(domain::money::Fen::new(990)),
                ..Facts::default()
            },
            now_ms + 3,
        ),
        Metrics::sold_line(
            &longjing,
            Some("share"),
            2,
            domain::money::Fen::new(990),
            now_ms + 3,
        ),
        r#"{"level":"INFO","fields":{"message":"answered"}}"#.to_string(),
    ];

    // When CloudWatch hands the same batch over three times (Lambda retried it), and the same
    // visits come again in another batch.
    for _ in 0..3 {
        let batch = devstack::logs_event(&lines, 7_000).unwrap();
        edge::runtime::LogsFunction::handle(&*shop.stack.reports, batch)
            .await
            .unwrap();
    }
    let again = devstack::logs_event(&lines[..2], 9_000).unwrap();
    edge::runtime::LogsFunction::handle(&*shop.stack.reports, again)
        .await
        .unwrap();

    // Then the first batch counts once, and the second adds visits but no visitor.
    let funnel = shop.get_as(&owner, "/admin/v1/reports/funnel").await;
    assert_eq!(funnel.status, 200, "{}", funnel.text);
    let steps = counts_of(&funnel.body["steps"]);
    assert_eq!((steps[0].1, steps[5].1), (5, 1), "{}", funnel.text);
    assert_eq!(
        (
            funnel.body["visitors"].as_u64(),
            funnel.body["revenue"].as_u64()
        ),
        (Some(2), Some(990))
    );
    let top = shop.get_as(&owner, "/admin/v1/reports/top-products").await;
    assert_eq!(
        (
            top.body["items"][0]["unitsSold"].as_u64(),
            top.body["items"][0]["sales"].as_u64()
        ),
        (Some(2), Some(990)),
        "{}",
        top.text
    );
}
