//! Alipay's payment notifications end to end, mirroring WeChat Pay's: signed by the sandbox's
//! Alipay key, verified before anything is read, settled by the same code, answered `success`
//! exactly once the order is durably PAID.

use crate::checkout::{order_body, place};
use crate::support::{Answer, TestShop};
use domain::money::Fen;
use edge::runtime::QueueFunction;

/// An unpaid order of a new shopper: (token, order id, total as Alipay writes it).
async fn unpaid(shop: &TestShop, who: &str) -> (String, String, String) {
    let (token, _) = shop.login(who).await;
    let placed = place(
        shop,
        &token,
        &format!("{who}-order"),
        &order_body("longjing-1", 1),
    )
    .await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let id = placed.body["order"]["id"].as_str().unwrap().to_string();
    let total = Fen::new(placed.body["order"]["total"].as_u64().unwrap()).yuan_text();
    (token, id, total)
}

async fn notify(shop: &TestShop, form: &str) -> Answer {
    shop.post_raw(
        "/v1/pay/alipay/notify",
        "application/x-www-form-urlencoded; charset=utf-8",
        form,
    )
    .await
}

async fn status_of(shop: &TestShop, token: &str, id: &str) -> serde_json::Value {
    shop.get_as(token, &format!("/v1/orders/{id}")).await.body
}

#[tokio::test]
async fn a_notification_delivered_five_times_at_once_pays_the_order_once() {
    let shop = TestShop::start().await;
    let (token, id, total) = unpaid(&shop, "ali.1").await;
    let form = shop.stack.alipay.notification(&id, &total, |_| {});

    let answers = futures::future::join_all((0..5).map(|_| notify(&shop, &form))).await;

    for answer in &answers {
        assert_eq!((answer.status, answer.text.as_str()), (200, "success"));
    }
    let order = status_of(&shop, &token, &id).await;
    assert_eq!(order["status"], "PAID");
    assert!(
        order["transactionId"]
            .as_str()
            .unwrap()
            .starts_with("20261125220014")
    );
    let paid_entries = order["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["status"] == "PAID")
        .count();
    assert_eq!(paid_entries, 1);
}

#[tokio::test]
async fn forged_altered_and_unsigned_notifications_change_nothing() {
    let shop = TestShop::start().await;
    let (token, id, total) = unpaid(&shop, "ali.2").await;
    let genuine = shop.stack.alipay.notification(&id, &total, |_| {});
    let forger = devstack::alipay_sandbox::AlipaySandbox::new();
    let forged = forger.notification(&id, &total, |_| {});
    let altered = genuine.replace(&format!("total_amount={total}"), "total_amount=0.01");
    let unsigned: String = genuine
        .split('&')
        .filter(|pair| !pair.starts_with("sign="))
        .collect::<Vec<_>>()
        .join("&");

    for form in [&forged, &altered, &unsigned] {
        let answer = notify(&shop, form).await;
        assert_eq!((answer.status, answer.text.as_str()), (401, "failure"));
    }
    let garbage = notify(&shop, "%zz").await;
    assert_eq!(garbage.text, "failure");
    assert_eq!(
        status_of(&shop, &token, &id).await["status"],
        "PENDING_PAYMENT"
    );
}

#[tokio::test]
async fn an_amount_or_app_that_does_not_match_is_kept_for_review_and_never_pays() {
    let shop = TestShop::start().await;
    let (token, id, _) = unpaid(&shop, "ali.3").await;
    let short = shop.stack.alipay.notification(&id, "0.01", |_| {});
    let other_app = shop.stack.alipay.notification(&id, "0.01", |form| {
        for (k, v) in form.iter_mut() {
            if k == "app_id" {
                *v = "2021999999999999".into();
            }
        }
    });

    for form in [&short, &other_app] {
        let answer = notify(&shop, form).await;
        // Acknowledged (Alipay would otherwise resend it for a day) but not applied.
        assert_eq!((answer.status, answer.text.as_str()), (200, "success"));
    }

    assert_eq!(
        status_of(&shop, &token, &id).await["status"],
        "PENDING_PAYMENT"
    );
    let trade_no = short
        .split('&')
        .find_map(|p| p.strip_prefix("trade_no="))
        .unwrap();
    let review = shop
        .stack
        .order_store()
        .review("mismatch", trade_no)
        .await
        .unwrap()
        .expect("a review record");
    assert_eq!(review["provider"], "alipay");
    assert_eq!(review["amount"], 1);
}

#[tokio::test]
async fn an_amount_with_more_than_two_decimals_is_refused() {
    let shop = TestShop::start().await;
    let (token, id, _) = unpaid(&shop, "ali.4").await;
    let answer = notify(&shop, &shop.stack.alipay.notification(&id, "1.005", |_| {})).await;
    assert_eq!((answer.status, answer.text.as_str()), (400, "failure"));
    assert_eq!(
        status_of(&shop, &token, &id).await["status"],
        "PENDING_PAYMENT"
    );
}

#[tokio::test]
async fn a_shop_without_alipay_refuses_its_notifications() {
    let shop = TestShop::with_settings(
        [("ALIPAY_APP_ID", ""), ("ALIPAY_PUBLIC_KEY", "")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
    )
    .await;
    let answer = notify(&shop, "app_id=1").await;
    assert_eq!((answer.status, answer.text.as_str()), (404, "failure"));
}

#[tokio::test]
async fn the_alipay_client_and_the_sandbox_sign_and_verify_each_other() {
    let shop = TestShop::start().await;
    // The client's own settings (app key, gateway) as a function using it would have them.
    let mut map = shop.stack.settings.clone();
    map.extend(shop.stack.alipay.settings(&shop.stack.sandbox_url));
    let settings = settings::Settings::from_map(map);
    let client =
        providers::alipay::AlipayClient::from_settings(&settings, providers::wechat::http_client())
            .unwrap()
            .expect("the stack configures Alipay");
    let now = domain::clock::now_epoch_seconds();

    let open_id = client.login("ada.1", now).await.unwrap();
    assert_eq!(
        open_id,
        devstack::alipay_sandbox::AlipaySandbox::open_id_of("ada.2")
    );
    let reused = client.login("ada.1", now).await.unwrap_err();
    assert_eq!(reused.sub_code(), Some("isv.code-invalid"));

    let order = "20261125alipayclient0001";
    let unknown = client.query(order, now).await.unwrap_err();
    assert_eq!(unknown.sub_code(), Some("ACQ.TRADE_NOT_EXIST"));
    let trade_no = client
        .create_trade(
            order,
            Fen::new(12_800),
            "西湖龙井",
            &open_id,
            now + 900,
            now,
        )
        .await
        .unwrap();
    let waiting = client.query(order, now).await.unwrap();
    assert_eq!(
        (
            waiting.trade_no.as_str(),
            waiting.trade_status.as_str(),
            waiting.total
        ),
        (trade_no.as_str(), "WAIT_BUYER_PAY", Fen::new(12_800))
    );
    shop.stack.alipay.pay(order).unwrap();
    assert_eq!(
        client.query(order, now).await.unwrap().trade_status,
        "TRADE_SUCCESS"
    );
    let paid_close = client.close(order, now).await.unwrap_err();
    assert_eq!(paid_close.sub_code(), Some("ACQ.TRADE_STATUS_ERROR"));
    client
        .refund(order, "R1", Fen::new(2_800), "少发一件", now)
        .await
        .unwrap();
    // The same request asked again refunds nothing more.
    client
        .refund(order, "R1", Fen::new(2_800), "少发一件", now)
        .await
        .unwrap();
    assert_eq!(shop.stack.alipay.refunded(order), 2_800);
    let too_much = client
        .refund(order, "R2", Fen::new(10_001), "全退", now)
        .await
        .unwrap_err();
    assert!(too_much.sub_code().is_some());
}

#[tokio::test]
async fn an_alipay_code_logs_in_the_same_kind_of_shopper_once_per_alipay_account() {
    let shop = TestShop::start().await;
    let login = |code: &'static str| {
        let shop = &shop;
        async move {
            shop.post("/v1/auth/login/alipay", &serde_json::json!({"code": code}))
                .await
        }
    };

    let first = login("ali-bo.1").await;
    let again = login("ali-bo.2").await;
    let reused = login("ali-bo.1").await;
    let wechat = shop
        .post("/v1/auth/login", &serde_json::json!({"code": "ali-bo.3"}))
        .await;

    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["user"]["isNew"], true);
    assert_eq!(again.body["user"]["id"], first.body["user"]["id"]);
    assert_eq!(again.body["user"]["isNew"], false);
    assert_eq!(
        (reused.status, reused.error_code()),
        (401, "alipay_code_invalid")
    );
    assert_ne!(
        wechat.body["user"]["id"], first.body["user"]["id"],
        "a WeChat account is another identity"
    );
    // The token works like any shopper's.
    let token = first.body["token"].as_str().unwrap();
    assert_eq!(shop.get_as(token, "/v1/rewards").await.status, 200);
    assert!(
        !first
            .text
            .contains(&devstack::alipay_sandbox::AlipaySandbox::open_id_of(
                "ali-bo"
            ))
    );
}

/// A shopper of the shop's Alipay mini-program with an unpaid Alipay order:
/// (token, order id, tradeNO).
async fn alipay_order(shop: &TestShop, who: &str) -> (String, String, String) {
    let login = shop
        .post("/v1/auth/login/alipay", &serde_json::json!({"code": who}))
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    let token = login.body["token"].as_str().unwrap().to_string();
    let mut body = order_body("longjing-1", 1);
    body["provider"] = serde_json::json!("alipay");
    let placed = place(shop, &token, &format!("{who}-order"), &body).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    assert_eq!(placed.body["payment"]["provider"], "alipay");
    assert_eq!(placed.body["order"]["provider"], "alipay");
    let trade_no = placed.body["payment"]["tradeNO"]
        .as_str()
        .unwrap()
        .to_string();
    let id = placed.body["order"]["id"].as_str().unwrap().to_string();
    (token, id, trade_no)
}

fn deadline_now(id: &str) -> aws_lambda_events::sqs::SqsEvent {
    let body = serde_json::json!({"type": "order.deadline", "orderId": id, "dueAt": 0});
    serde_json::from_value(
        serde_json::json!({"Records": [{"messageId": "d1", "body": body.to_string()}]}),
    )
    .unwrap()
}

#[tokio::test]
async fn an_alipay_order_is_paid_through_my_trade_pay_and_its_notification() {
    let shop = TestShop::start().await;
    let (token, id, trade_no) = alipay_order(&shop, "alpay.1").await;
    // The same Idempotency-Key answers the same trade.
    let mut body = order_body("longjing-1", 1);
    body["provider"] = serde_json::json!("alipay");
    let again = place(&shop, &token, "alpay.1-order", &body).await;
    assert_eq!(again.body["payment"]["tradeNO"], trade_no.as_str());

    let notice = shop.stack.alipay.pay(&id).unwrap();
    let answer = notify(&shop, &notice).await;

    assert_eq!((answer.status, answer.text.as_str()), (200, "success"));
    let order = status_of(&shop, &token, &id).await;
    assert_eq!(order["status"], "PAID");
    assert_eq!(order["transactionId"], trade_no.as_str());
}

#[tokio::test]
async fn a_shopper_pays_only_through_a_provider_they_logged_in_with() {
    let shop = TestShop::start().await;
    let (wechat, _) = shop.login("only-wechat.1").await;
    let mut body = order_body("longjing-1", 1);
    body["provider"] = serde_json::json!("alipay");
    let refused = place(&shop, &wechat, "k1", &body).await;
    assert_eq!(
        (refused.status, refused.error_code(), refused.error_field()),
        (422, "payer_unknown", "provider")
    );
    body["provider"] = serde_json::json!("unionpay");
    let unknown = place(&shop, &wechat, "k2", &body).await;
    assert_eq!((unknown.status, unknown.error_field()), (400, "provider"));
}

#[tokio::test]
async fn a_lost_alipay_notification_is_found_by_the_deadline_before_anything_is_cancelled() {
    let shop = TestShop::start().await;
    let (token, id, _) = alipay_order(&shop, "allost.1").await;
    shop.stack.alipay.pay(&id).unwrap(); // paid; the notification never arrives

    let handled = shop.stack.deadlines.handle(deadline_now(&id)).await;

    assert!(handled.batch_item_failures.is_empty());
    assert_eq!(status_of(&shop, &token, &id).await["status"], "PAID");
}

#[tokio::test]
async fn an_unpaid_alipay_order_is_closed_at_alipay_then_cancelled_and_a_late_payment_goes_back() {
    let shop = TestShop::start().await;
    let (token, id, _) = alipay_order(&shop, "allate.1").await;

    let handled = shop.stack.deadlines.handle(deadline_now(&id)).await;

    assert!(handled.batch_item_failures.is_empty());
    assert_eq!(status_of(&shop, &token, &id).await["status"], "CANCELLED");
    assert_eq!(shop.stack.alipay.trade_status(&id), Some("TRADE_CLOSED"));
    // Money arriving anyway (the buyer's app paid before the close reached it) goes back.
    let total = Fen::new(
        status_of(&shop, &token, &id).await["total"]
            .as_u64()
            .unwrap(),
    );
    let late = shop
        .stack
        .alipay
        .notification(&id, &total.yuan_text(), |_| {});
    assert_eq!(notify(&shop, &late).await.text, "success");
    shop.stack.alipay.pay(&id).unwrap();
    shop.stack.drain("DeadlinesQueue").await.unwrap();
    assert_eq!(shop.stack.alipay.refunded(&id), total.get());
    assert_eq!(status_of(&shop, &token, &id).await["status"], "CANCELLED");
}

#[tokio::test]
async fn an_alipay_refund_is_finished_on_the_spot_and_counted_once() {
    let shop = TestShop::start().await;
    let (token, id, _) = alipay_order(&shop, "alrefund.1").await;
    notify(&shop, &shop.stack.alipay.pay(&id).unwrap()).await;
    let reason = serde_json::json!({"reason": "不想要了"});

    let first = shop
        .post_as(&token, &format!("/v1/orders/{id}/refund"), &reason)
        .await;
    let again = shop
        .post_as(&token, &format!("/v1/orders/{id}/refund"), &reason)
        .await;

    assert_eq!(first.status, 202, "{}", first.text);
    assert_eq!(first.body["order"]["status"], "REFUNDED");
    assert_eq!(
        (again.status, again.error_code()),
        (409, "order_not_refundable"),
        "a refunded order has nothing left to refund"
    );
    let total = status_of(&shop, &token, &id).await["total"]
        .as_u64()
        .unwrap();
    assert_eq!(shop.stack.alipay.refunded(&id), total);
}

#[tokio::test]
async fn the_sandbox_pays_a_trade_and_notifies_the_url_it_was_created_with() {
    let shop = TestShop::start().await;
    let (token, id, _) = alipay_order(&shop, "alcontrol.1").await;

    let answer = shop
        .sandbox(
            "/__sandbox/alipay/pay",
            &serde_json::json!({"outTradeNo": id}),
        )
        .await;

    assert_eq!(answer["notified"], "success");
    assert_eq!(status_of(&shop, &token, &id).await["status"], "PAID");
}
