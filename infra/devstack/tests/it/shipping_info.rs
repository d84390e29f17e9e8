//! WeChat's shipping information (发货信息录入): a shipped WeChat Pay order's waybill is
//! uploaded through the fulfillment queue, once, retried while WeChat has not indexed the
//! payment, with the receiver's phone masked; Alipay orders are never uploaded.

use crate::checkout::{order_body, place};
use crate::support::TestShop;
use aws_lambda_events::sqs::SqsEvent;
use domain::ids::OrderId;
use edge::runtime::QueueFunction;
use serde_json::{Value, json};
use store::queue::FulfillmentMessage;

/// An order of `who` sent to `province`, paid through the WeChat Pay sandbox: (token, id).
async fn paid_order(shop: &TestShop, who: &str, province: &str) -> (String, String) {
    let (token, _) = shop.login(who).await;
    let mut body = order_body("longjing-1", 1);
    body["address"]["province"] = json!(province);
    let placed = place(shop, &token, &format!("{who}-order"), &body).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let id = placed.body["order"]["id"].as_str().unwrap().to_string();
    let paid = shop
        .sandbox("/__sandbox/wechatpay/pay", &json!({"outTradeNo": id}))
        .await;
    assert_eq!(paid["notifyStatus"], 204, "{paid}");
    (token, id)
}

async fn order_of(shop: &TestShop, token: &str, id: &str) -> Value {
    let answer = shop.get_as(token, &format!("/v1/orders/{id}")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body
}

/// Hands the fulfillment consumer these messages, as SQS would.
async fn deliver(shop: &TestShop, messages: &[FulfillmentMessage]) {
    let records: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"messageId": format!("m-{i}"), "body": serde_json::to_string(m).unwrap()}))
        .collect();
    let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).unwrap();
    let consumer: &dyn QueueFunction = shop.stack.fulfillment.as_ref();
    let answer = consumer.handle(event).await;
    assert!(
        answer.batch_item_failures.is_empty(),
        "{:?}",
        answer.batch_item_failures
    );
}

fn upload_of(id: &OrderId) -> FulfillmentMessage {
    FulfillmentMessage::ShippingUpload {
        order_id: id.clone(),
        attempt: 0,
    }
}

#[tokio::test]
async fn a_shipped_wechat_pay_order_is_uploaded_once_with_its_waybill_and_a_masked_phone() {
    // given an order to Guangdong, which ships from 广州仓 with SF (SF requires the contact)
    let shop = TestShop::shipping().await;
    let (token, id) = paid_order(&shop, "ying.1", "广东省").await;

    // when fulfillment ships it, and the order.paid and upload messages come again
    let handled = shop.stack.drain("FulfillmentQueue").await.unwrap();
    let order_id = OrderId::parse(&id).unwrap();
    deliver(
        &shop,
        &[
            FulfillmentMessage::order_paid(&order_id, "t"),
            upload_of(&order_id),
            upload_of(&order_id),
        ],
    )
    .await;
    shop.stack.drain("FulfillmentQueue").await.unwrap();

    // then WeChat got exactly one upload, as its rules want it
    assert_eq!(handled, 2, "order.paid, then its shipping upload");
    let order = order_of(&shop, &token, &id).await;
    let uploads = shop.stack.wechat.shipping_uploads();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    let upload = &uploads[0];
    assert_eq!(
        upload["order_key"]["transaction_id"],
        order["transactionId"]
    );
    assert_eq!(upload["logistics_type"], 1);
    let item = &upload["shipping_list"][0];
    assert_eq!(item["tracking_no"], order["shipment"]["number"]);
    assert_eq!(item["express_company"], "SF");
    assert_eq!(item["contact"]["receiver_contact"], "*******5678");
    assert!(item["item_desc"].as_str().unwrap().contains("×1"));
    assert_eq!(
        upload["payer"]["openid"],
        devstack::wechat_sandbox::openid_for(devstack::SANDBOX_APPID, "ying")
    );
    assert!(upload["upload_time"].as_str().unwrap().ends_with("+08:00"));
    // and the shopper's order shows it uploaded
    assert_eq!(order["shippingUpload"]["state"], "UPLOADED");
    assert_eq!(order["shippingUpload"]["uploads"], 1);
    assert_eq!(
        order["shippingUpload"]["trackingNo"],
        order["shipment"]["number"]
    );
}

#[tokio::test]
async fn an_upload_that_first_meets_10060001_is_retried_and_succeeds_exactly_once() {
    // given a shipped order whose payment WeChat has not indexed yet
    let shop = TestShop::shipping().await;
    let (token, id) = paid_order(&shop, "chen.1", "浙江省").await;
    let transaction = shop.get_as(&token, &format!("/v1/orders/{id}")).await.body["transactionId"]
        .as_str()
        .unwrap()
        .to_string();
    shop.stack.wechat.not_indexed_once(&transaction);

    // when fulfillment ships it and makes the first upload
    shop.stack.drain("FulfillmentQueue").await.unwrap();

    // then the upload waits with WeChat's code, its retry queued with a delay
    let waiting = order_of(&shop, &token, &id).await;
    assert_eq!(waiting["status"], "SHIPPED");
    assert_eq!(waiting["shippingUpload"]["state"], "PENDING");
    assert_eq!(waiting["shippingUpload"]["errcode"], 10060001);
    assert!(shop.stack.wechat.shipping_uploads().is_empty());

    // when the retry arrives (and, later, a duplicate of it)
    let order_id = OrderId::parse(&id).unwrap();
    let retry = FulfillmentMessage::ShippingUpload {
        order_id: order_id.clone(),
        attempt: 1,
    };
    deliver(&shop, std::slice::from_ref(&retry)).await;
    deliver(&shop, &[retry]).await;

    // then it is uploaded, once
    let order = order_of(&shop, &token, &id).await;
    assert_eq!(order["shippingUpload"]["state"], "UPLOADED");
    assert_eq!(order["shippingUpload"].get("errcode"), None);
    let uploads = shop.stack.wechat.shipping_uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0]["shipping_list"][0]["express_company"], "ZTO");
}

#[tokio::test]
async fn an_alipay_order_ships_without_a_wechat_upload() {
    // given an order paid with Alipay
    let shop = TestShop::shipping().await;
    let login = shop
        .post("/v1/auth/login/alipay", &json!({"code": "alipay-user.1"}))
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    let token = login.body["token"].as_str().unwrap().to_string();
    let mut body = order_body("longjing-1", 1);
    body["provider"] = json!("alipay");
    let placed = place(&shop, &token, "alipay-ship", &body).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let id = placed.body["order"]["id"].as_str().unwrap().to_string();
    shop.stack
        .order_store()
        .mark_paid(
            &OrderId::parse(&id).unwrap(),
            "2026120122001",
            "2026-12-01T10:00:00+08:00",
            1,
        )
        .await
        .unwrap();
    deliver(
        &shop,
        &[FulfillmentMessage::order_paid(
            &OrderId::parse(&id).unwrap(),
            "t",
        )],
    )
    .await;

    // when every message is handled
    shop.stack.drain("FulfillmentQueue").await.unwrap();

    // then it shipped and nothing went to WeChat
    let order = order_of(&shop, &token, &id).await;
    assert_eq!(order["status"], "SHIPPED");
    assert_eq!(order.get("shippingUpload"), None);
    assert!(shop.stack.wechat.shipping_uploads().is_empty());
}

#[tokio::test]
async fn a_parcel_signed_for_is_told_to_wechat_once() {
    // given a shipped WeChat Pay order whose shipping information WeChat has
    let shop = TestShop::shipping().await;
    let (token, id) = paid_order(&shop, "qing.1", "浙江省").await;
    shop.stack.drain("FulfillmentQueue").await.unwrap();
    let number = order_of(&shop, &token, &id).await["shipment"]["number"]
        .as_str()
        .unwrap()
        .to_string();

    // when the courier pushes "signed for" twice and every queue is worked through
    for _ in 0..2 {
        let pushed = shop
            .sandbox(
                "/__sandbox/kuaidi100/push",
                &json!({"number": number, "state": 3, "context": "已签收，签收人：本人"}),
            )
            .await;
        assert!(pushed.to_string().contains("true"), "{pushed}");
        shop.stack.drain("DeadlinesQueue").await.unwrap();
        shop.stack.drain("FulfillmentQueue").await.unwrap();
    }

    // then WeChat was told once, with the payment and the time it was signed for
    let order = order_of(&shop, &token, &id).await;
    assert_eq!(order["status"], "DELIVERED");
    let confirmations = shop.stack.wechat.receipt_confirmations();
    assert_eq!(confirmations.len(), 1, "{confirmations:?}");
    assert_eq!(confirmations[0]["transaction_id"], order["transactionId"]);
    assert_eq!(confirmations[0]["received_time"], order["deliveredAt"]);
    assert!(order["shippingUpload"]["receiptNotifiedAt"].is_i64());
}

#[tokio::test]
async fn a_wechat_pay_order_without_shipping_information_a_day_on_raises_one_alert() {
    // given a paid order that cannot ship (no warehouse) and one that shipped and uploaded
    let shop = TestShop::start().await;
    let (token, stuck) = paid_order(&shop, "hui.1", "浙江省").await;
    shop.stack.drain("FulfillmentQueue").await.unwrap();
    assert_eq!(order_of(&shop, &token, &stuck).await["status"], "PAID");
    devstack::seed::warehouses(&shop.stack.admin(), 0)
        .await
        .unwrap();
    let (_, shipped) = paid_order(&shop, "hui2.1", "浙江省").await;
    shop.stack.drain("FulfillmentQueue").await.unwrap();

    // when their day-after checks come due (the stuck order's twice)
    let check = |id: &str| json!({"type": "shipping.check", "orderId": id, "dueAt": 0}).to_string();
    let records: Vec<Value> = [check(&stuck), check(&stuck), check(&shipped)]
        .iter()
        .enumerate()
        .map(|(i, body)| json!({"messageId": format!("c-{i}"), "body": body}))
        .collect();
    let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).unwrap();
    let consumer: &dyn QueueFunction = shop.stack.deadlines.as_ref();
    let answer = consumer.handle(event).await;

    // then one alert, for the stuck order only
    assert!(
        answer.batch_item_failures.is_empty(),
        "{:?}",
        answer.batch_item_failures
    );
    let alerts = shop.metric_count("WeChatShippingNotUploaded");
    assert_eq!(alerts, 1);
}

#[tokio::test]
async fn receipt_confirmed_in_wechats_component_moves_the_order_only_when_wechat_says_so() {
    // given a shipped WeChat Pay order whose shipping information WeChat has
    let shop = TestShop::shipping().await;
    let (token, id) = paid_order(&shop, "fang.1", "浙江省").await;
    shop.stack.drain("FulfillmentQueue").await.unwrap();
    let path = format!("/v1/orders/{id}/confirm-receipt");

    // when the mini-program asks for the component's parameters
    let params = shop.get_as(&token, &path).await;
    let (stranger, _) = shop.login("fang-stranger.1").await;
    let not_theirs = shop.get_as(&stranger, &path).await;

    // then it gets the payment to confirm, and nobody else does
    let order = order_of(&shop, &token, &id).await;
    assert_eq!(params.status, 200, "{}", params.text);
    assert_eq!(params.body["businessType"], "weappOrderConfirm");
    assert_eq!(
        params.body["extraData"]["transaction_id"],
        order["transactionId"]
    );
    assert_eq!(not_theirs.status, 404);

    // when the component "reports success" before WeChat has any confirmation
    let premature = shop.post_as(&token, &path, &json!({})).await;

    // then the client's word moves nothing
    assert_eq!(
        (premature.status, premature.error_code()),
        (409, "not_confirmed")
    );
    assert_eq!(order_of(&shop, &token, &id).await["status"], "SHIPPED");

    // when the shopper really confirms in WeChat and the mini-program reports it twice
    shop.stack
        .wechat
        .confirm_receipt(order["transactionId"].as_str().unwrap());
    let confirmed = shop.post_as(&token, &path, &json!({})).await;
    let again = shop.post_as(&token, &path, &json!({})).await;

    // then the order is delivered once, and a second report answers the same
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    assert_eq!(confirmed.body["order"]["status"], "DELIVERED");
    assert_eq!(again.status, 200, "{}", again.text);
    let order = order_of(&shop, &token, &id).await;
    let delivered = order["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["status"] == "DELIVERED")
        .count();
    assert_eq!(delivered, 1);
    assert!(order["confirmedReceivedAt"].is_i64());
    // and a delivered order has no component to open
    let after = shop.get_as(&token, &path).await;
    assert_eq!((after.status, after.error_code()), (409, "not_shipped"));
}

#[tokio::test]
async fn shopctl_tells_wechat_which_pages_its_order_screens_and_messages_open() {
    // given the shop's WeChat settings, as a function reads them
    let shop = TestShop::with_settings(Default::default()).await;
    let settings = settings::Settings::from_map(shop.stack.settings.clone());
    let wechat =
        providers::wechat::WeChatApi::new(&settings, providers::wechat::http_client()).unwrap();
    let users = shop.stack.user_store();
    let now = domain::clock::now_epoch_seconds();

    // when the merchant gives a detail path without the order number, then a proper one
    let refused = shopctl::wechat_paths(
        &wechat,
        &users,
        &["--order-detail", "pages/order/detail"],
        now,
    )
    .await;
    let said = shopctl::wechat_paths(
        &wechat,
        &users,
        &[
            "--order-detail",
            "pages/order/detail?id=${商品订单号}",
            "--message-jump",
            "pages/order/list",
        ],
        now,
    )
    .await
    .unwrap();

    // then the first names the option and sets nothing; the second sets both
    let refused = refused.unwrap_err();
    assert_eq!(refused.exit_code(), 2);
    assert!(refused.to_string().contains("--order-detail"), "{refused}");
    assert!(said.contains("pages/order/list"), "{said}");
    let paths = shop.stack.wechat.paths();
    assert_eq!(paths["order_detail"], "pages/order/detail?id=${商品订单号}");
    assert_eq!(paths["message_jump"], "pages/order/list");
}
