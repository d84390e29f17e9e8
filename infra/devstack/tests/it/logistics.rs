//! Fulfillment and tracking end to end: a paid order ships once however often its message comes,
//! the courier's pushes merge into one timeline, orders only move forward, and a delivered order
//! earns its points once and completes.

use crate::checkout::{order_body, place};
use crate::support::TestShop;
use aws_lambda_events::sqs::SqsEvent;
use domain::ids::OrderId;
use domain::logistics::push_sign;
use edge::runtime::QueueFunction;
use serde_json::{Value, json};
use std::collections::HashMap;
use store::queue::FulfillmentMessage;

/// A shop with the demo catalog and warehouses, and `settings` over the defaults.
async fn shop_with(settings: &[(&str, &str)]) -> TestShop {
    let shop = TestShop::with_settings(
        settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
    )
    .await;
    devstack::seed::seed(&shop.stack.catalog_store())
        .await
        .unwrap();
    devstack::seed::warehouses(&shop.stack.admin(), 0)
        .await
        .unwrap();
    shop
}

/// A paid order of `who` for one `sku`, sent to `province`: (token, order id).
async fn paid_order(shop: &TestShop, who: &str, sku: &str, province: &str) -> (String, String) {
    let (token, _) = shop.login(who).await;
    let mut body = order_body(sku, 1);
    body["address"]["province"] = json!(province);
    let placed = place(shop, &token, &format!("{who}-order"), &body).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let id = placed.body["order"]["id"].as_str().unwrap().to_string();
    let order_id = OrderId::parse(&id).unwrap();
    shop.stack
        .order_store()
        .mark_paid(&order_id, "4200000001", "2026-11-24T10:00:00+08:00", 1)
        .await
        .unwrap();
    (token, id)
}

fn sqs_event(bodies: &[String]) -> SqsEvent {
    let records: Vec<Value> = bodies
        .iter()
        .map(|b| json!({"messageId": format!("m-{}", domain::ids::random_token(8)), "body": b}))
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn order_paid(id: &str) -> String {
    serde_json::to_string(&FulfillmentMessage::order_paid(
        &OrderId::parse(id).unwrap(),
        "4200000001",
    ))
    .unwrap()
}

async fn ship(shop: &TestShop, id: &str) -> usize {
    let consumer: &dyn QueueFunction = shop.stack.fulfillment.as_ref();
    consumer
        .handle(sqs_event(&[order_paid(id)]))
        .await
        .batch_item_failures
        .len()
}

async fn order_of(shop: &TestShop, token: &str, id: &str) -> Value {
    let answer = shop.get_as(token, &format!("/v1/orders/{id}")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body
}

async fn push(shop: &TestShop, form: &str) -> crate::support::Answer {
    shop.post_raw(
        "/v1/logistics/kuaidi100/notify",
        "application/x-www-form-urlencoded",
        form,
    )
    .await
}

/// A push for `number` saying `state`, with `events` (time, context) as its whole history.
fn push_form(
    shop: &TestShop,
    number: &str,
    state: u32,
    events: &[(&str, &str)],
    salt: Option<&str>,
) -> String {
    let data: Vec<Value> = events
        .iter()
        .rev()
        .map(|(time, context)| json!({"time": time, "ftime": time, "context": context}))
        .collect();
    let param = json!({"status": "polling", "message": "", "lastResult": {"state": state.to_string(), "ischeck": "0", "com": "zhongtong", "nu": number, "data": data}}).to_string();
    let salt = salt.map_or_else(
        || shop.stack.settings["KUAIDI100_SALT"].clone(),
        str::to_string,
    );
    format!(
        "param={}&sign={}",
        devstack::server::form_encode(&param),
        push_sign(&param, &salt)
    )
}

#[tokio::test]
async fn a_paid_order_delivered_ten_times_at_once_gets_one_waybill_and_one_notice() {
    let shop = shop_with(&[("WECHAT_SHIPPED_TEMPLATE_ID", "tmpl-shipped")]).await;
    let (token, id) = paid_order(&shop, "shipper.1", "longjing-1", "浙江省").await;

    // Ten deliveries of the same message at once: one claims the order, the others retry later.
    let failures = futures::future::join_all((0..10).map(|_| ship(&shop, &id))).await;
    let retried = ship(&shop, &id).await;

    assert!(failures.iter().sum::<usize>() <= 9, "{failures:?}");
    assert_eq!(
        retried, 0,
        "a redelivery after shipping succeeds and does nothing"
    );
    assert_eq!(
        shop.stack.kuaidi100.label_calls(),
        1,
        "one waybill asked for"
    );
    let order = order_of(&shop, &token, &id).await;
    assert_eq!(order["status"], "SHIPPED");
    assert_eq!(
        order["shipment"]["company"], "zhongtong",
        "浙江 ships from Hangzhou"
    );
    assert_eq!(order["shipment"]["warehouseId"], "hangzhou");
    let number = order["shipment"]["number"].as_str().unwrap();
    assert_eq!(shop.stack.kuaidi100.waybill_for(&id).unwrap().1, number);
    assert!(shop.stack.kuaidi100.is_subscribed(number));
    assert_eq!(order["tracking"]["number"], number);
    let notices = shop.stack.wechat.subscribe_messages();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["template_id"], "tmpl-shipped");
    assert_eq!(notices[0]["data"]["character_string4"]["value"], number);
}

#[tokio::test]
async fn poison_messages_fail_alone_and_a_far_province_ships_from_the_default_warehouse() {
    let shop = shop_with(&[]).await;
    let (token, id) = paid_order(&shop, "faraway.1", "walnut-1", "新疆维吾尔自治区").await;
    let consumer: &dyn QueueFunction = shop.stack.fulfillment.as_ref();
    let event = sqs_event(&[
        "not json".to_string(),
        order_paid("20261124nosuchorder0"),
        order_paid(&id),
    ]);
    let ids: Vec<String> = event
        .records
        .iter()
        .map(|r| r.message_id.clone().unwrap())
        .collect();

    let response = consumer.handle(event).await;

    let failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, ids[..2].to_vec());
    let order = order_of(&shop, &token, &id).await;
    assert_eq!(order["status"], "SHIPPED");
    assert_eq!(
        (
            order["shipment"]["warehouseId"].as_str(),
            order["shipment"]["company"].as_str()
        ),
        (Some("guangzhou"), Some("shunfeng"))
    );
    assert!(
        shop.stack.wechat.subscribe_messages().is_empty(),
        "no template, no notice"
    );
}

#[tokio::test]
async fn the_whole_history_pushed_again_and_out_of_order_keeps_each_event_once_and_orders_only_move_forward()
 {
    let shop = shop_with(&[("COMPLETE_AFTER_DAYS", "0")]).await;
    let (token, id) = paid_order(&shop, "tracker.1", "longjing-1", "浙江省").await;
    assert_eq!(ship(&shop, &id).await, 0);
    let number = order_of(&shop, &token, &id).await["shipment"]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let history = [
        ("2026-11-24 18:00:00", "【杭州市】已揽收"),
        ("2026-11-25 06:00:00", "【杭州转运中心】运输中"),
        (
            "2026-11-25 15:00:00",
            "【杭州市西湖区】已签收，签收人：本人",
        ),
    ];
    let forms = [
        push_form(&shop, &number, 1, &history[..1], None),
        push_form(&shop, &number, 3, &history, None),
        push_form(&shop, &number, 0, &history[..2], None),
        push_form(&shop, &number, 3, &history, None),
        push_form(&shop, &number, 1, &history[..1], None),
    ];

    // Five pushes at once, the signed-for one among older ones...
    let answers = futures::future::join_all(forms.iter().map(|f| push(&shop, f))).await;

    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.body["result"], true);
        assert_eq!(answer.body["returnCode"], "200");
    }
    // ...leave each event once, newest first, and the order delivered.
    let order = order_of(&shop, &token, &id).await;
    assert_eq!(order["status"], "DELIVERED");
    let events: Vec<&str> = order["tracking"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["context"].as_str().unwrap())
        .collect();
    assert_eq!(events, [history[2].1, history[1].1, history[0].1]);
    assert_eq!(order["tracking"]["state"], "delivered");
    // A late "in transit" changes nothing.
    assert_eq!(
        push(&shop, &push_form(&shop, &number, 0, &history[..2], None))
            .await
            .status,
        200
    );
    assert_eq!(order_of(&shop, &token, &id).await["status"], "DELIVERED");

    // The deadlines consumer awards the points once and completes the order.
    shop.stack.drain("DeadlinesQueue").await.unwrap();
    shop.stack.drain("DeadlinesQueue").await.unwrap();
    let order = order_of(&shop, &token, &id).await;
    assert_eq!(order["status"], "COMPLETED");
    let user = domain::ids::UserId::parse(order["userId"].as_str().unwrap()).unwrap();
    let ledger = store::points::PointsLedger::new(
        shop.stack.dynamodb.clone(),
        shop.stack.resources.tables["MarketingTable"].clone(),
    );
    let total = order["total"].as_u64().unwrap();
    assert_eq!(
        ledger.balance(&user).await.unwrap(),
        total / 100,
        "one point per yuan, once"
    );
    assert_eq!(ledger.entries(&user).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_wrong_sign_missing_fields_or_an_unknown_waybill_get_clear_answers_and_write_nothing() {
    let shop = shop_with(&[]).await;
    let (token, id) = paid_order(&shop, "careful.1", "walnut-1", "上海市").await;
    assert_eq!(ship(&shop, &id).await, 0);
    let number = order_of(&shop, &token, &id).await["shipment"]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let signed = [("2026-11-25 15:00:00", "已签收")];

    let forged = push(
        &shop,
        &push_form(&shop, &number, 3, &signed, Some("not-our-salt")),
    )
    .await;
    let unsigned = push(&shop, "param=%7B%7D").await;
    let garbage = push(&shop, "%zz").await;
    let unknown = push(&shop, &push_form(&shop, "ZT0000000000", 3, &signed, None)).await;
    let no_number = push(&shop, &push_form(&shop, "", 3, &signed, None)).await;

    assert_eq!(
        (forged.status, forged.body["result"].as_bool()),
        (401, Some(false))
    );
    assert_eq!(unsigned.status, 400);
    assert_eq!(garbage.status, 400);
    assert_eq!(
        (unknown.status, unknown.body["message"].as_str()),
        (404, Some("unknown waybill"))
    );
    assert_eq!(no_number.status, 400, "{}", no_number.text);
    let order = order_of(&shop, &token, &id).await;
    assert_eq!(order["status"], "SHIPPED");
    assert_eq!(order["tracking"]["events"], json!([]));
}

#[tokio::test]
async fn a_parcel_in_trouble_is_listed_for_the_merchant_and_the_sandbox_pushes_like_kuaidi100() {
    let shop = shop_with(&[]).await;
    let (token, id) = paid_order(&shop, "unlucky.1", "walnut-1", "江苏省").await;
    assert_eq!(ship(&shop, &id).await, 0);
    let number = order_of(&shop, &token, &id).await["shipment"]["number"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, answer) = shop
        .stack
        .kuaidi100
        .push(&number, 1, "【南京市】已揽收")
        .await
        .unwrap();
    assert_eq!((status, answer["result"].as_bool()), (200, Some(true)));
    shop.stack
        .kuaidi100
        .push(&number, 2, "【南京市】地址不详，派件失败")
        .await
        .unwrap();

    let listed = shop
        .stack
        .shopctl(&["shipments", "exceptions"])
        .await
        .unwrap();
    assert!(
        listed.contains(&number) && listed.contains("problem") && listed.contains("地址不详"),
        "{listed}"
    );
    let order = order_of(&shop, &token, &id).await;
    assert_eq!(
        order["status"], "SHIPPED",
        "a problem does not move the order"
    );
    assert_eq!(order["tracking"]["events"].as_array().unwrap().len(), 2);
}
