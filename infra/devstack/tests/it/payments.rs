use crate::checkout::{order_body, place, stock_of};
use crate::support::TestShop;
use aws_lambda_events::sqs::SqsEvent;
use base64::Engine;
use devstack::wechatpay_sandbox::SignedNotification;
use domain::ids::OrderId;
use edge::runtime::QueueFunction;
use serde_json::{Value, json};

/// A shopper with an unpaid order for one `sku`: (token, order id).
async fn unpaid(shop: &TestShop, who: &str, sku: &str) -> (String, String) {
    let (token, _) = shop.login(who).await;
    let placed = place(shop, &token, &format!("{who}-order"), &order_body(sku, 1)).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    (
        token,
        placed.body["order"]["id"].as_str().unwrap().to_string(),
    )
}

async fn deliver(shop: &TestShop, n: &SignedNotification) -> u16 {
    shop.stack
        .wechatpay
        .deliver(&format!("{}/v1/pay/wechat/notify", shop.base), n)
        .await
        .unwrap()
}

/// Runs the order's payment deadline now, as the deadlines queue would deliver it.
pub(crate) async fn run_deadline(shop: &TestShop, order_id: &str) {
    let body = json!({"type": "order.deadline", "orderId": order_id, "dueAt": 0}).to_string();
    let event: SqsEvent = serde_json::from_value(json!({"Records": [{"messageId": format!("m-{}", domain::ids::random_token(8)), "body": body}]})).unwrap();
    let consumer: &dyn QueueFunction = shop.stack.deadlines.as_ref();
    let response = consumer.handle(event).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        response.batch_item_failures
    );
}

async fn order_of(shop: &TestShop, token: &str, id: &str) -> Value {
    shop.get_as(token, &format!("/v1/orders/{id}")).await.body
}

/// Every message now visible on the fulfillment queue (received and deleted).
async fn fulfillment_messages(shop: &TestShop) -> Vec<Value> {
    let url = &shop.stack.resources.queue_urls["FulfillmentQueue"];
    let mut found = Vec::new();
    loop {
        let out = shop
            .stack
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return found;
        }
        for m in messages {
            found.push(serde_json::from_str(m.body().unwrap()).unwrap());
            shop.stack
                .sqs
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

fn with_header(n: &SignedNotification, name: &str, value: &str) -> SignedNotification {
    let mut forged = n.clone();
    for (k, v) in forged.headers.iter_mut() {
        if k == name {
            *v = value.to_string();
        }
    }
    forged
}

#[tokio::test]
async fn paying_in_the_sandbox_makes_the_order_paid_and_queues_fulfillment() {
    let shop = TestShop::start().await;
    let (token, id) = unpaid(&shop, "ada.1", "kiwi-1").await;

    let paid = shop
        .sandbox("/__sandbox/wechatpay/pay", &json!({"outTradeNo": id}))
        .await;

    assert_eq!(paid["notifyStatus"], 204, "{paid}");
    let order = order_of(&shop, &token, &id).await;
    assert_eq!(order["status"], "PAID");
    assert_eq!(order["transactionId"], paid["transactionId"]);
    assert_eq!(order["history"].as_array().unwrap().len(), 2);
    let messages = fulfillment_messages(&shop).await;
    assert_eq!(
        messages,
        vec![
            json!({"type": "order.paid", "orderId": id, "transactionId": paid["transactionId"], "dedupeKey": format!("order.paid:{id}")})
        ]
    );
}

#[tokio::test]
async fn twenty_duplicate_notifications_racing_the_deadline_pay_the_order_once() {
    let shop = TestShop::start().await;
    let (token, id) = unpaid(&shop, "bea.1", "walnut-1").await;
    let stock_after_order = stock_of(&shop, "walnut-1").await;
    let transaction_id = shop.stack.wechatpay.mark_paid(&id).unwrap();
    let notifications: Vec<SignedNotification> = (0..20)
        .map(|_| shop.stack.wechatpay.notification(&id, |_| {}).unwrap())
        .collect();

    let (statuses, ()) = futures::join!(
        futures::future::join_all(notifications.iter().rev().map(|n| deliver(&shop, n))),
        run_deadline(&shop, &id)
    );

    assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}");
    let order = order_of(&shop, &token, &id).await;
    assert_eq!(order["status"], "PAID");
    assert_eq!(order["transactionId"], transaction_id.as_str());
    let paid_entries = order["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["status"] == "PAID")
        .count();
    assert_eq!(paid_entries, 1, "paid once");
    let messages = fulfillment_messages(&shop).await;
    assert!(!messages.is_empty());
    assert!(
        messages
            .iter()
            .all(|m| m["dedupeKey"] == format!("order.paid:{id}")
                && m["transactionId"] == transaction_id.as_str())
    );
    assert_eq!(
        stock_of(&shop, "walnut-1").await,
        stock_after_order,
        "no stock change"
    );
}

#[tokio::test]
async fn forged_stale_or_tampered_notifications_are_refused_and_change_nothing() {
    let shop = TestShop::start().await;
    let (token, id) = unpaid(&shop, "cai.1", "mango-1").await;
    shop.stack.wechatpay.mark_paid(&id).unwrap();
    let genuine = shop.stack.wechatpay.notification(&id, |_| {}).unwrap();
    let sign_by_other_key = {
        let other = providers::crypto::SigningKey::generate();
        let timestamp = genuine
            .headers
            .iter()
            .find(|(k, _)| k == "wechatpay-timestamp")
            .unwrap()
            .1
            .clone();
        let nonce = genuine
            .headers
            .iter()
            .find(|(k, _)| k == "wechatpay-nonce")
            .unwrap()
            .1
            .clone();
        with_header(
            &genuine,
            "wechatpay-signature",
            &other.sign_base64(format!("{timestamp}\n{nonce}\n{}\n", genuine.body).as_bytes()),
        )
    };
    let stale = {
        let old = domain::clock::now_epoch_seconds() - 600;
        let headers = shop.stack.wechatpay.signature_headers(
            &genuine.body,
            old,
            &genuine
                .headers
                .iter()
                .find(|(k, _)| k == "wechatpay-serial")
                .unwrap()
                .1,
        );
        SignedNotification {
            headers,
            body: genuine.body.clone(),
        }
    };
    let tampered = {
        let mut body: Value = serde_json::from_str(&genuine.body).unwrap();
        let mut ct = base64::engine::general_purpose::STANDARD
            .decode(body["resource"]["ciphertext"].as_str().unwrap())
            .unwrap();
        ct[3] ^= 0x55;
        body["resource"]["ciphertext"] =
            json!(base64::engine::general_purpose::STANDARD.encode(ct));
        let body = body.to_string();
        let serial = genuine
            .headers
            .iter()
            .find(|(k, _)| k == "wechatpay-serial")
            .unwrap()
            .1
            .clone();
        SignedNotification {
            headers: shop.stack.wechatpay.signature_headers(
                &body,
                domain::clock::now_epoch_seconds(),
                &serial,
            ),
            body,
        }
    };
    let cases = [
        ("forged signature", sign_by_other_key),
        (
            "unknown serial",
            with_header(&genuine, "wechatpay-serial", "PUB_KEY_ID_SOMEONE_ELSE"),
        ),
        ("stale timestamp", stale),
        ("tampered ciphertext", tampered),
    ];

    for (what, n) in &cases {
        assert_eq!(deliver(&shop, n).await, 401, "{what}");
    }

    assert_eq!(
        order_of(&shop, &token, &id).await["status"],
        "PENDING_PAYMENT"
    );
    assert!(fulfillment_messages(&shop).await.is_empty());
    assert_eq!(
        deliver(&shop, &genuine).await,
        204,
        "the genuine one still works"
    );
}

#[tokio::test]
async fn a_wrong_amount_or_merchant_is_recorded_for_review_and_never_paid() {
    let shop = TestShop::start().await;
    let (token, id) = unpaid(&shop, "dan.1", "cashew-1").await;
    let transaction_id = shop.stack.wechatpay.mark_paid(&id).unwrap();
    let one_fen_short = shop
        .stack
        .wechatpay
        .notification(&id, |t| {
            t["amount"]["total"] = json!(t["amount"]["total"].as_u64().unwrap() - 1)
        })
        .unwrap();
    let other_merchant = shop
        .stack
        .wechatpay
        .notification(&id, |t| t["mchid"] = json!("1999999999"))
        .unwrap();

    assert_eq!(
        deliver(&shop, &one_fen_short).await,
        204,
        "recorded durably, so WeChat Pay may stop retrying"
    );
    assert_eq!(deliver(&shop, &other_merchant).await, 204);

    assert_eq!(
        order_of(&shop, &token, &id).await["status"],
        "PENDING_PAYMENT"
    );
    let review = shop
        .stack
        .order_store()
        .review("mismatch", &transaction_id)
        .await
        .unwrap()
        .expect("a review record");
    assert_eq!(review["outTradeNo"], id.as_str());
    assert!(fulfillment_messages(&shop).await.is_empty());
}

#[tokio::test]
async fn a_lost_notification_is_found_by_the_deadline_and_the_order_is_paid() {
    let shop = TestShop::start().await;
    let (token, id) = unpaid(&shop, "eve.1", "towel-1").await;
    let stock = stock_of(&shop, "towel-1").await;
    shop.stack.wechatpay.mark_paid(&id).unwrap();

    run_deadline(&shop, &id).await;

    assert_eq!(
        order_of(&shop, &token, &id).await["status"],
        "PAID",
        "not CANCELLED"
    );
    assert_eq!(stock_of(&shop, "towel-1").await, stock);
    assert_eq!(fulfillment_messages(&shop).await.len(), 1);
}

#[tokio::test]
async fn an_unpaid_order_is_closed_cancelled_and_released_at_its_deadline_once() {
    let shop = TestShop::start().await;
    let before = stock_of(&shop, "latex-pillow-1").await;
    let (token, id) = unpaid(&shop, "fay.1", "latex-pillow-1").await;
    assert_eq!(stock_of(&shop, "latex-pillow-1").await, before - 1);

    run_deadline(&shop, &id).await;
    run_deadline(&shop, &id).await;

    assert_eq!(order_of(&shop, &token, &id).await["status"], "CANCELLED");
    assert_eq!(
        stock_of(&shop, "latex-pillow-1").await,
        before,
        "released exactly once"
    );
    let closed = shop.stack.wechatpay.mark_paid(&id);
    assert!(closed.is_some(), "the sandbox still knows the order");
}

#[tokio::test]
async fn a_payment_after_cancellation_is_refunded_not_revived() {
    let shop = TestShop::start().await;
    let before = stock_of(&shop, "dianhong-1").await;
    let (token, id) = unpaid(&shop, "gus.1", "dianhong-1").await;
    run_deadline(&shop, &id).await;
    // The shopper's payment went through at WeChat Pay just as we cancelled.
    shop.stack.wechatpay.mark_paid(&id).unwrap();
    let late = shop.stack.wechatpay.notification(&id, |_| {}).unwrap();

    assert_eq!(deliver(&shop, &late).await, 204);
    shop.stack.drain("DeadlinesQueue").await.unwrap();

    assert_eq!(order_of(&shop, &token, &id).await["status"], "CANCELLED");
    assert_eq!(
        stock_of(&shop, "dianhong-1").await,
        before,
        "released stock is not taken again"
    );
    assert!(
        shop.stack
            .order_store()
            .review("late_payment", &id)
            .await
            .unwrap()
            .is_some()
    );
    let refunds = shop.stack.wechatpay.refunds();
    assert_eq!(refunds[&format!("LATE{id}")]["out_trade_no"], id.as_str());
    assert!(fulfillment_messages(&shop).await.is_empty());
}

#[tokio::test]
async fn a_base64_encoded_notification_body_verifies() {
    let shop = TestShop::start().await;
    let (token, id) = unpaid(&shop, "hal.1", "kiwi-2").await;
    shop.stack.wechatpay.mark_paid(&id).unwrap();
    let n = shop.stack.wechatpay.notification(&id, |_| {}).unwrap();
    let mut request = reqwest::Client::new()
        .post(format!("{}/v1/pay/wechat/notify", shop.base))
        .header("content-type", "application/octet-stream")
        .body(n.body.clone());
    for (k, v) in &n.headers {
        request = request.header(k, v);
    }

    let status = request.send().await.unwrap().status().as_u16();

    assert_eq!(status, 204);
    assert_eq!(order_of(&shop, &token, &id).await["status"], "PAID");
}

#[tokio::test]
async fn cancelling_an_order_paid_at_wechat_is_refused_and_the_order_becomes_paid() {
    let shop = TestShop::start().await;
    let (token, id) = unpaid(&shop, "ivy.1", "cashew-1").await;
    shop.stack.wechatpay.mark_paid(&id).unwrap();

    let answer = shop
        .post_as(&token, &format!("/v1/orders/{id}/cancel"), &json!({}))
        .await;

    assert_eq!(
        (answer.status, answer.error_code()),
        (409, "order_not_cancellable")
    );
    assert_eq!(order_of(&shop, &token, &id).await["status"], "PAID");
    assert!(OrderId::parse(&id).is_ok());
}

#[tokio::test]
async fn a_poison_message_fails_alone_and_never_blocks_the_batch() {
    let shop = TestShop::start().await;
    let (token, id) = unpaid(&shop, "joy.1", "kiwi-1").await;
    let url = shop.stack.resources.queue_urls["DeadlinesQueue"].clone();
    // The order's own deadline is 15 minutes away (delayed); these two are due now.
    for body in [
        "{not json".to_string(),
        json!({"type": "order.deadline", "orderId": id, "dueAt": 0}).to_string(),
    ] {
        shop.stack
            .sqs
            .send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    let handled = shop.stack.drain("DeadlinesQueue").await.unwrap();

    assert_eq!(handled, 1, "the good message was handled and deleted");
    assert_eq!(order_of(&shop, &token, &id).await["status"], "CANCELLED");
    let attributes = shop
        .stack
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(
            aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        )
        .send()
        .await
        .unwrap();
    let in_flight = &attributes.attributes().unwrap()
        [&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible];
    assert_eq!(
        in_flight, "1",
        "the poison message waits for redelivery, then the dead-letter queue"
    );
}
