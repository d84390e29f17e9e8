//! WeChat's message push (消息推送, safe mode): the URL check, messages refused unless signed
//! with our Token, fresh and addressed to our AppID, each message acting once however often
//! it is pushed, settlement confirming receipt, reminders raising alerts, a revoked phone
//! forgotten.

use crate::checkout::{order_body, place};
use crate::support::TestShop;
use domain::ids::UserId;
use serde_json::{Value, json};

const EVENTS: &str = "/v1/wechat/events";

/// A paid WeChat Pay order of `who`, shipped by the fulfillment consumer: (token, order id).
async fn shipped_order(shop: &TestShop, who: &str) -> (String, String) {
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
    let paid = shop
        .sandbox("/__sandbox/wechatpay/pay", &json!({"outTradeNo": id}))
        .await;
    assert_eq!(paid["notifyStatus"], 204, "{paid}");
    // order.paid, then the shipping upload it queues
    assert_eq!(shop.stack.drain("FulfillmentQueue").await.unwrap(), 2);
    assert_eq!(status_of(shop, &token, &id).await, "SHIPPED");
    (token, id)
}

async fn order_of(shop: &TestShop, token: &str, id: &str) -> Value {
    let answer = shop.get_as(token, &format!("/v1/orders/{id}")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body
}

async fn status_of(shop: &TestShop, token: &str, id: &str) -> String {
    order_of(shop, token, id).await["status"]
        .as_str()
        .unwrap()
        .to_string()
}

fn settlement(order_id: &str, created: i64, confirmed: Option<i64>, settled: Option<i64>) -> Value {
    let mut message = json!({
        "ToUserName": "gh_sandbox",
        "FromUserName": "o_wechat_platform",
        "CreateTime": created,
        "MsgType": "event",
        "Event": "trade_manage_order_settlement",
        "transaction_id": "4200000001",
        "merchant_id": "1900000109",
        "merchant_trade_no": order_id,
        "pay_time": created - 600,
        "shipped_time": created - 300,
        "estimated_settlement_time": created + 86_400 * 10,
    });
    if let Some(at) = confirmed {
        message["confirm_receive_method"] = json!(1);
        message["confirm_receive_time"] = json!(at);
    }
    if let Some(at) = settled {
        message["settlement_time"] = json!(at);
    }
    message
}

async fn post_sealed(shop: &TestShop, query: &str, body: &str) -> crate::support::Answer {
    shop.post_raw(&format!("{EVENTS}?{query}"), "application/json", body)
        .await
}

#[tokio::test]
async fn the_url_check_echoes_echostr_only_for_our_tokens_signature() {
    // given the Token the shop entered in WeChat's console
    let shop = TestShop::with_settings(
        [("WECHAT_PUSH_TOKEN".to_string(), "fixedtoken1".to_string())].into(),
    )
    .await;
    // sha1 of "1714000000", "fixedtoken1", "n0nce" sorted and joined, by Python's hashlib
    let signature = "5b974b707814e1aa493b5716a0615351fceab457";

    let checked = shop
        .get(&format!(
            "{EVENTS}?signature={signature}&timestamp=1714000000&nonce=n0nce&echostr=echo-5123"
        ))
        .await;
    let forged = shop
        .get(&format!(
            "{EVENTS}?signature={signature}&timestamp=1714000001&nonce=n0nce&echostr=echo-5123"
        ))
        .await;
    let missing = shop.get(&format!("{EVENTS}?timestamp=1&nonce=n")).await;

    assert_eq!((checked.status, checked.text.as_str()), (200, "echo-5123"));
    assert_eq!(forged.status, 401, "{}", forged.text);
    assert!(!forged.text.contains("echo-5123"));
    assert_eq!((missing.status, missing.error_field()), (400, "signature"));
}

#[tokio::test]
async fn forged_stale_or_foreign_pushes_are_refused_and_change_nothing() {
    // given a shipped order and a confirmation of it, sealed as WeChat would seal it
    let shop = TestShop::shipping().await;
    let (token, id) = shipped_order(&shop, "mei.1").await;
    let now = domain::clock::now_epoch_seconds();
    let message = settlement(&id, now, Some(now), None);
    let sealed = shop.stack.wechat.seal(&message, now).unwrap();

    // when its signature is forged, its timestamp is old, or it names another AppID
    let forged = post_sealed(
        &shop,
        &sealed.query.replace("msg_signature=", "msg_signature=0"),
        &sealed.body,
    )
    .await;
    let stale_seal = shop.stack.wechat.seal(&message, now - 3600).unwrap();
    let stale = post_sealed(&shop, &stale_seal.query, &stale_seal.body).await;
    let theirs = devstack::wechat_sandbox::WeChatSandbox::new("wx0123456789abcdef", "s")
        .pushing_to(
            "http://unused",
            &shop.stack.settings["WECHAT_PUSH_TOKEN"],
            &shop.stack.settings["WECHAT_PUSH_AES_KEY"],
        )
        .unwrap()
        .seal(&message, now)
        .unwrap();
    let foreign = post_sealed(&shop, &theirs.query, &theirs.body).await;
    let tampered_body = sealed.body.replace(&sealed.encrypted[..8], "AAAAAAAA");
    let tampered = post_sealed(&shop, &sealed.query, &tampered_body).await;
    let not_json = post_sealed(&shop, &sealed.query, "{\"Encrypt\": 5}").await;

    // then each is refused, the order has not moved, and the genuine push still works
    for (what, answer, status) in [
        ("forged", &forged, 401),
        ("stale", &stale, 401),
        ("foreign", &foreign, 401),
        ("tampered", &tampered, 401),
        ("mistyped", &not_json, 400),
    ] {
        assert_eq!(answer.status, status, "{what}: {}", answer.text);
        assert_ne!(answer.text, "success", "{what}");
    }
    assert_eq!(not_json.error_field(), "Encrypt");
    assert_eq!(status_of(&shop, &token, &id).await, "SHIPPED");
    let genuine = post_sealed(&shop, &sealed.query, &sealed.body).await;
    assert_eq!((genuine.status, genuine.text.as_str()), (200, "success"));
    assert_eq!(status_of(&shop, &token, &id).await, "DELIVERED");
}

#[tokio::test]
async fn a_confirmation_pushed_five_times_at_once_delivers_the_order_once_and_never_back() {
    // given a shipped order
    let shop = TestShop::shipping().await;
    let (token, id) = shipped_order(&shop, "lan.1").await;
    let now = domain::clock::now_epoch_seconds();
    let confirmation = settlement(&id, now, Some(now - 60), None);

    // when WeChat pushes its confirmation five times at once
    let pushes =
        futures::future::join_all((0..5).map(|_| shop.stack.wechat.push(&confirmation))).await;

    // then every push is answered success, and the order is delivered once
    for answer in pushes {
        let answer = answer.unwrap();
        assert_eq!((answer.status, answer.body.as_str()), (200, "success"));
    }
    let order = order_of(&shop, &token, &id).await;
    assert_eq!(order["status"], "DELIVERED");
    assert_eq!(order["deliveredAt"], now - 60);
    assert_eq!(order["confirmedReceivedAt"], now - 60);
    let delivered_entries = order["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["status"] == "DELIVERED")
        .count();
    assert_eq!(delivered_entries, 1);
    let delivered_metrics = shop.metric_count("Delivered");
    assert_eq!(delivered_metrics, 1);
    // the deadlines consumer takes the delivery (points, completion later) as the courier's
    assert!(shop.stack.drain("DeadlinesQueue").await.unwrap() >= 1);

    // and the settlement that follows is recorded without moving the order anywhere
    let settled = settlement(&id, now + 5, Some(now - 60), Some(now + 5));
    let answer = shop.stack.wechat.push(&settled).await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    let order = order_of(&shop, &token, &id).await;
    assert_eq!(order["settledAt"], now + 5);
    assert_ne!(order["status"], "SHIPPED");
    assert_eq!(
        order["confirmedReceivedAt"],
        now - 60,
        "the first confirmation stands"
    );
}

#[tokio::test]
async fn a_shipping_reminder_raises_an_alert_naming_the_order_once() {
    let shop = TestShop::with_settings(Default::default()).await;
    let now = domain::clock::now_epoch_seconds();
    let reminder = json!({
        "ToUserName": "gh_sandbox", "FromUserName": "o_wechat_platform", "CreateTime": now,
        "MsgType": "event", "Event": "trade_manage_remind_shipping",
        "transaction_id": "4200000002", "merchant_trade_no": "20261201remindme0000",
    });

    for _ in 0..3 {
        let answer = shop.stack.wechat.push(&reminder).await.unwrap();
        assert_eq!((answer.status, answer.body.as_str()), (200, "success"));
    }

    let alerts = shop.metric_count("WeChatShippingReminder");
    assert_eq!(alerts, 1);
}

#[tokio::test]
async fn revoking_the_phone_on_wechat_removes_it_from_the_account_and_the_address_book() {
    // given a shopper who bound a phone
    let shop = TestShop::with_settings(Default::default()).await;
    let (token, id) = shop.login("rui.1").await;
    let bound = shop
        .post_as(
            &token,
            "/v1/auth/phone",
            &json!({"code": "phone-13812345678"}),
        )
        .await;
    assert_eq!(bound.status, 200, "{}", bound.text);
    let openid = devstack::wechat_sandbox::openid_for(devstack::SANDBOX_APPID, "rui");
    // and two saved addresses, one with the bound number and one with another
    let mut saved = Vec::new();
    for phone in ["13812345678", "13987654321"] {
        let mut body = crate::support::address();
        body["phone"] = json!(phone);
        let added = shop.post_as(&token, "/v1/addresses", &body).await;
        assert_eq!(added.status, 201, "{}", added.text);
        saved.push(added.body["id"].as_str().unwrap().to_string());
    }

    // when WeChat tells us they revoked the phone (8)
    shop.push_event(
        "user_authorization_revoke",
        &openid,
        json!({"RevokeInfo": "8"}),
    )
    .await;

    // then the account keeps no trace of the phone, and a new login says so
    let user = shop
        .stack
        .user_store()
        .get(&UserId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((user.phone_hash, user.phone_masked), (None, None));
    // and the address that held the number keeps no phone (an order must not use it), the
    // other keeps its own
    let book = shop.get_as(&token, "/v1/addresses").await.body;
    let phone_of = |id: &str| {
        book["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id)
            .unwrap()["phone"]
            .clone()
    };
    assert_eq!(phone_of(&saved[0]), "");
    assert_eq!(phone_of(&saved[1]), "13987654321");
    let ordered = crate::checkout::place(
        &shop,
        &token,
        "rui-book",
        &json!({"items": [{"skuId": "longjing-1", "quantity": 1}], "addressId": saved[0]}),
    )
    .await;
    assert_eq!(
        (ordered.status, ordered.error_code()),
        (422, "address_incomplete")
    );
    let again = shop.post("/v1/auth/login", &json!({"code": "rui.2"})).await;
    assert_eq!(again.body["user"]["phoneBound"], false);
}
