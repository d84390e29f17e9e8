//! Social selling end to end: share links and invite rewards, daily check-in, group-buy and
//! bargains, under the races and the failures shops report from other systems.

use crate::checkout::{place, stock_of};
use crate::support::{Answer, TestShop, address};
use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use devstack::wechatpay_sandbox::SignedNotification;
use domain::ids::OrderId;
use edge::runtime::QueueFunction;
use serde_json::{Value, json};
use std::collections::HashMap;

async fn deliver(shop: &TestShop, n: &SignedNotification) -> u16 {
    shop.stack
        .wechatpay
        .deliver(&format!("{}/v1/pay/wechat/notify", shop.base), n)
        .await
        .unwrap()
}

/// The shopper pays at the sandbox and WeChat Pay tells us, signed.
pub(crate) async fn pay(shop: &TestShop, order: &str) {
    shop.stack.wechatpay.mark_paid(order).unwrap();
    let notification = shop.stack.wechatpay.notification(order, |_| {}).unwrap();
    assert_eq!(deliver(shop, &notification).await, 204);
}

fn sqs_event(bodies: &[Value]) -> SqsEvent {
    let records: Vec<Value> = bodies
        .iter()
        .map(|b| json!({"messageId": format!("m-{}", domain::ids::random_token(8)), "body": b.to_string()}))
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

async fn order_of(shop: &TestShop, token: &str, id: &str) -> Value {
    shop.get_as(token, &format!("/v1/orders/{id}")).await.body
}

fn group_order(sku: &str, group: Option<&str>) -> Value {
    let group_buy = match group {
        Some(id) => json!({"groupId": id, "nickname": "拼友"}),
        None => json!({"nickname": "团长"}),
    };
    json!({"items": [{"skuId": sku, "quantity": 1}], "address": address(), "groupBuy": group_buy})
}

/// A shop with the demo catalog, promotions and warehouses, and `settings` over the defaults.
pub(crate) async fn shop_with(settings: &[(&str, &str)]) -> TestShop {
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
    let now = domain::clock::now_epoch_seconds();
    devstack::seed::promotions(&shop.stack.admin(), now)
        .await
        .unwrap();
    devstack::seed::warehouses(&shop.stack.admin(), now)
        .await
        .unwrap();
    shop
}

/// A group of `size` on dianhong-1 (88 yuan, 59 in a group) whose leader has paid: (leader's
/// token, leader's order, group id).
async fn open_group(shop: &TestShop, size: u8) -> (String, String, String) {
    shop.stack
        .shopctl(&[
            "group-buy",
            "set",
            "dianhong-1",
            "--size",
            &size.to_string(),
            "--price",
            "59",
            "--hours",
            "24",
        ])
        .await
        .unwrap();
    let (leader, _) = shop.login("leader.1").await;
    let placed = place(shop, &leader, "lead", &group_order("dianhong-1", None)).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    assert_eq!(placed.body["order"]["lines"][0]["unitPrice"], 5900);
    let order = placed.body["order"]["id"].as_str().unwrap().to_string();
    let group = placed.body["order"]["groupId"]
        .as_str()
        .unwrap()
        .to_string();
    let before = shop.get(&format!("/v1/groups/{group}")).await;
    assert_eq!(before.body["status"], "AWAITING_LEADER");
    pay(shop, &order).await;
    shop.stack.drain("FulfillmentQueue").await.unwrap();
    (leader, order, group)
}

#[tokio::test]
async fn two_check_ins_at_once_grant_once_and_the_rewards_page_shows_it() {
    let shop = TestShop::start().await;
    let (token, _) = shop.login("checker.1").await;

    let empty = json!({});
    let (a, b) = futures::join!(
        shop.post_as(&token, "/v1/checkin", &empty),
        shop.post_as(&token, "/v1/checkin", &empty)
    );

    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "{} / {}", a.text, b.text);
    let refused = if a.status == 409 { &a } else { &b };
    assert_eq!(refused.error_code(), "already_checked_in");
    let granted = if a.status == 201 { &a } else { &b };
    assert_eq!(granted.body["points"], 5);
    assert_eq!(granted.body["streak"], 1);
    let rewards = shop.get_as(&token, "/v1/rewards").await.body;
    assert_eq!(rewards["points"]["balance"], 5);
    assert_eq!(rewards["points"]["entries"].as_array().unwrap().len(), 1);
    assert_eq!(rewards["checkin"]["checkedInToday"], true);
    let again = shop.post_as(&token, "/v1/checkin", &json!({})).await;
    assert_eq!(again.status, 409);
    assert_eq!(
        shop.post("/v1/checkin", &json!({})).await.status,
        401,
        "check-in needs a shopper"
    );
}

#[tokio::test]
async fn a_share_link_counts_each_visitor_once_a_day_and_never_its_sharer() {
    let shop = TestShop::start().await;
    let (sharer, _) = shop.login("sharer.1").await;
    let share = shop
        .post_as(&sharer, "/v1/shares", &json!({"productId": "longjing"}))
        .await;
    assert_eq!(share.status, 201, "{}", share.text);
    let code = share.body["code"].as_str().unwrap().to_string();
    assert_eq!(
        share.body["path"],
        format!("/pages/product/index?id=longjing&s={code}")
    );
    let open = |body: Value| {
        let shop = &shop;
        let code = code.clone();
        async move { shop.post(&format!("/v1/shares/{code}/open"), &body).await }
    };

    let first = open(json!({"visitorId": "visitor-0001"})).await;
    let again = open(json!({"visitorId": "visitor-0001"})).await;
    let other = open(json!({"visitorId": "visitor-0002"})).await;
    let own = shop
        .post_as(&sharer, &format!("/v1/shares/{code}/open"), &json!({}))
        .await;

    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["inviteCode"], code);
    assert_eq!(
        [&first, &again, &other, &own].map(|a| a.body["counted"].clone()),
        [json!(true), json!(false), json!(true), json!(false)]
    );
    let bad = open(json!({"visitorId": "a b"})).await;
    assert_eq!((bad.status, bad.error_field()), (400, "visitorId"));
    let unknown = shop.post("/v1/shares/nosuchcode1/open", &json!({})).await;
    assert_eq!(unknown.status, 404);
    let no_product = shop
        .post_as(&sharer, "/v1/shares", &json!({"productId": "nope"}))
        .await;
    assert_eq!(
        (no_product.status, no_product.error_field()),
        (404, "productId")
    );
}

#[tokio::test]
async fn twenty_shoppers_racing_for_the_last_two_seats_get_exactly_two_and_the_full_group_ships() {
    let shop = shop_with(&[]).await;
    let (leader, leader_order, group) = open_group(&shop, 3).await;
    let opened = shop.get(&format!("/v1/groups/{group}")).await.body;
    assert_eq!(opened["status"], "OPEN");
    assert_eq!(opened["seatsLeft"], 2);
    assert_eq!(opened["members"][0]["leader"], true);
    assert_eq!(
        order_of(&shop, &leader, &leader_order).await["status"],
        "WAITING_GROUP"
    );
    let mut tokens = Vec::new();
    for i in 0..20 {
        tokens.push(shop.login(&format!("joiner{i}.1")).await.0);
    }

    let answers: Vec<Answer> =
        futures::future::join_all(tokens.iter().enumerate().map(|(i, token)| {
            let shop = &shop;
            let body = group_order("dianhong-1", Some(&group));
            async move { place(shop, token, &format!("join-{i}"), &body).await }
        }))
        .await;

    let joined: Vec<(usize, &Answer)> = answers
        .iter()
        .enumerate()
        .filter(|(_, a)| a.status == 201)
        .collect();
    assert_eq!(joined.len(), 2, "exactly the two seats left");
    for refused in answers.iter().filter(|a| a.status != 201) {
        assert_eq!(
            (refused.status, refused.error_code()),
            (409, "group_full"),
            "{}",
            refused.text
        );
    }
    let own = place(
        &shop,
        &leader,
        "own",
        &group_order("dianhong-1", Some(&group)),
    )
    .await;
    assert_eq!((own.status, own.error_code()), (409, "group_own"));
    let full = shop.get(&format!("/v1/groups/{group}")).await;
    assert_eq!(full.body["seatsLeft"], 0);
    assert!(!full.text.contains("openid") && !full.text.contains("userId"));

    for (_, answer) in &joined {
        pay(&shop, answer.body["order"]["id"].as_str().unwrap()).await;
    }
    shop.stack.drain("FulfillmentQueue").await.unwrap();

    let done = shop.get(&format!("/v1/groups/{group}")).await.body;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["paid"], 3);
    assert_eq!(
        order_of(&shop, &leader, &leader_order).await["status"],
        "SHIPPED"
    );
    for (i, answer) in &joined {
        let id = answer.body["order"]["id"].as_str().unwrap();
        assert_eq!(order_of(&shop, &tokens[*i], id).await["status"], "SHIPPED");
    }
}

#[tokio::test]
async fn a_group_that_expires_with_two_of_three_paid_refunds_both_exactly_once() {
    let shop = shop_with(&[]).await;
    let stock_before = stock_of(&shop, "dianhong-1").await;
    let (leader, leader_order, group) = open_group(&shop, 3).await;
    let (member, _) = shop.login("member.1").await;
    let joined = place(
        &shop,
        &member,
        "join",
        &group_order("dianhong-1", Some(&group)),
    )
    .await;
    assert_eq!(joined.status, 201, "{}", joined.text);
    let member_order = joined.body["order"]["id"].as_str().unwrap().to_string();
    pay(&shop, &member_order).await;
    shop.stack.drain("FulfillmentQueue").await.unwrap();
    assert_eq!(
        order_of(&shop, &member, &member_order).await["status"],
        "WAITING_GROUP"
    );

    // Given the group's 24 hours have passed...
    let now = domain::clock::now_epoch_seconds();
    shop.stack
        .dynamodb
        .update_item()
        .table_name(&shop.stack.resources.tables["MarketingTable"])
        .key("pk", AttributeValue::S(format!("GROUP#{group}")))
        .key("sk", AttributeValue::S("GROUP".into()))
        .update_expression("SET expiresAt = :past")
        .expression_attribute_values(":past", AttributeValue::N((now - 1).to_string()))
        .send()
        .await
        .unwrap();
    let late = shop.get(&format!("/v1/groups/{group}")).await.body;
    assert_eq!(
        late["status"], "FAILED",
        "shown failed before the deadline runs"
    );
    // ...when its deadline arrives three times at once (SQS delivers at least once).
    let expire = json!({"type": "group.expire", "groupId": group, "dueAt": now - 1});
    let batches = futures::future::join_all((0..3).map(|_| {
        shop.stack
            .deadlines
            .handle(sqs_event(std::slice::from_ref(&expire)))
    }))
    .await;

    assert!(batches.iter().all(|b| b.batch_item_failures.is_empty()));
    let failed = shop.get(&format!("/v1/groups/{group}")).await.body;
    assert_eq!(failed["status"], "FAILED");
    let store = shop.stack.order_store();
    for (token, id) in [(&leader, &leader_order), (&member, &member_order)] {
        let refunds = store
            .refunds_of(&OrderId::parse(id).unwrap())
            .await
            .unwrap();
        assert_eq!(refunds.len(), 1, "one refund for {id}");
        let order = order_of(&shop, token, id).await;
        assert_eq!(order["status"], "REFUNDING");
        assert_eq!(refunds[0].amount.get(), order["total"].as_u64().unwrap());
        let success = shop
            .stack
            .wechatpay
            .refund_notification(&refunds[0].out_refund_no, "SUCCESS", |_| {})
            .unwrap();
        assert_eq!(deliver(&shop, &success).await, 204);
        assert_eq!(order_of(&shop, token, id).await["status"], "REFUNDED");
    }
    assert_eq!(stock_of(&shop, "dianhong-1").await, stock_before);
    let (latecomer, _) = shop.login("latecomer.1").await;
    let refused = place(
        &shop,
        &latecomer,
        "late",
        &group_order("dianhong-1", Some(&group)),
    )
    .await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (409, "group_expired")
    );
}

#[tokio::test]
async fn a_member_refunded_before_the_group_completes_frees_the_seat() {
    let shop = shop_with(&[]).await;
    let (_, _, group) = open_group(&shop, 3).await;
    let (member, _) = shop.login("leaver.1").await;
    let joined = place(
        &shop,
        &member,
        "join",
        &group_order("dianhong-1", Some(&group)),
    )
    .await;
    let id = joined.body["order"]["id"].as_str().unwrap().to_string();
    pay(&shop, &id).await;
    shop.stack.drain("FulfillmentQueue").await.unwrap();
    assert_eq!(
        shop.get(&format!("/v1/groups/{group}")).await.body["seatsLeft"],
        1
    );

    let refund = shop
        .post_as(
            &member,
            &format!("/v1/orders/{id}/refund"),
            &json!({"reason": "不想拼了"}),
        )
        .await;

    assert_eq!(refund.status, 202, "{}", refund.text);
    let after = shop.get(&format!("/v1/groups/{group}")).await.body;
    assert_eq!(after["seatsLeft"], 2, "{after}");
    assert_eq!(after["paid"], 1);
    assert_eq!(after["members"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn fifty_friends_on_a_bargain_of_ten_cut_exactly_ten_times_down_to_the_floor() {
    let shop = shop_with(&[]).await;
    shop.stack
        .shopctl(&[
            "bargain",
            "set",
            "zhengshan-1",
            "--floor",
            "9.9",
            "--helpers",
            "10",
            "--hours",
            "24",
        ])
        .await
        .unwrap();
    let (owner, _) = shop.login("bargainer.1").await;
    let started = shop
        .post_as(&owner, "/v1/bargains", &json!({"skuId": "zhengshan-1"}))
        .await;
    assert_eq!(started.status, 201, "{}", started.text);
    assert_eq!(started.body["price"], 9800);
    let id = started.body["id"].as_str().unwrap().to_string();
    let help = format!("/v1/bargains/{id}/help");
    let own = shop.post_as(&owner, &help, &json!({})).await;
    assert_eq!((own.status, own.error_code()), (409, "bargain_own"));
    let mut friends = Vec::new();
    for i in 0..50 {
        friends.push(shop.login(&format!("friend{i}.1")).await.0);
    }

    let profile = json!({"nickname": "好友"});
    let answers: Vec<Answer> = futures::future::join_all(
        friends
            .iter()
            .map(|token| shop.post_as(token, &help, &profile)),
    )
    .await;

    let cuts: Vec<u64> = answers
        .iter()
        .filter(|a| a.status == 200)
        .map(|a| a.body["cut"].as_u64().unwrap())
        .collect();
    assert_eq!(cuts.len(), 10, "exactly ten helpers");
    assert!(cuts.iter().all(|c| *c >= 1));
    assert_eq!(
        cuts.iter().sum::<u64>(),
        9800 - 990,
        "lands exactly on the floor"
    );
    for refused in answers.iter().filter(|a| a.status != 200) {
        assert_eq!(
            (refused.status, refused.error_code()),
            (409, "bargain_full")
        );
    }
    let view = shop.get(&format!("/v1/bargains/{id}")).await.body;
    assert_eq!(view["price"], 990);
    assert_eq!(view["reachedFloor"], true);
    assert_eq!(view["helpedBy"].as_array().unwrap().len(), 10);

    let body = json!({"items": [{"skuId": "zhengshan-1", "quantity": 1}], "address": address(), "bargainId": id});
    let ordered = place(&shop, &owner, "bargain", &body).await;
    assert_eq!(ordered.status, 201, "{}", ordered.text);
    assert_eq!(ordered.body["order"]["lines"][0]["unitPrice"], 990);
    let replay = place(&shop, &owner, "bargain", &body).await;
    assert_eq!(replay.status, 201, "{}", replay.text);
    assert_eq!(replay.body["order"]["id"], ordered.body["order"]["id"]);
    let twice = place(&shop, &owner, "bargain-again", &body).await;
    assert_eq!((twice.status, twice.error_code()), (409, "bargain_closed"));
}

#[tokio::test]
async fn a_friend_helps_a_bargain_once() {
    let shop = shop_with(&[]).await;
    let (owner, _) = shop.login("owner.1").await;
    let (friend, _) = shop.login("friend.1").await;
    let started = shop
        .post_as(&owner, "/v1/bargains", &json!({"skuId": "zhengshan-1"}))
        .await;
    let help = format!("/v1/bargains/{}/help", started.body["id"].as_str().unwrap());

    let empty = json!({});
    let (a, b) = futures::join!(
        shop.post_as(&friend, &help, &empty),
        shop.post_as(&friend, &help, &empty)
    );

    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    let refused = if a.status == 409 { &a } else { &b };
    assert_eq!(refused.error_code(), "bargain_helped");
    let none = shop
        .post_as(&owner, "/v1/bargains", &json!({"skuId": "longjing-1"}))
        .await;
    assert_eq!(
        (none.status, none.error_code()),
        (422, "bargain_unavailable")
    );
}

/// Ships the paid order and has the courier report it signed for.
pub(crate) async fn deliver_order(shop: &TestShop, token: &str, order: &str) {
    shop.stack.drain("FulfillmentQueue").await.unwrap();
    let number = order_of(shop, token, order).await["shipment"]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = shop
        .stack
        .kuaidi100
        .push(&number, 3, "已签收")
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(order_of(shop, token, order).await["status"], "DELIVERED");
}

/// An invited shopper with a paid first order: (inviter token, invitee token, order id).
async fn invited_purchase(shop: &TestShop) -> (String, String, String) {
    let (inviter, _) = shop.login("inviter.1").await;
    let code = shop.post_as(&inviter, "/v1/shares", &json!({})).await.body["code"]
        .as_str()
        .unwrap()
        .to_string();
    let joined = shop
        .post(
            "/v1/auth/login",
            &json!({"code": "invitee.1", "inviteCode": code}),
        )
        .await;
    assert_eq!(joined.body["user"]["isNew"], true);
    // An existing shopper arriving through the link later is nobody's invitee.
    shop.post(
        "/v1/auth/login",
        &json!({"code": "inviter.2", "inviteCode": code}),
    )
    .await;
    let invitee = joined.body["token"].as_str().unwrap().to_string();
    let invites = shop.get_as(&inviter, "/v1/rewards").await.body["invites"].clone();
    assert_eq!(invites["count"], 1);
    assert_eq!(invites["items"][0]["state"], "JOINED");
    let placed = place(
        shop,
        &invitee,
        "first",
        &json!({"items": [{"skuId": "longjing-1", "quantity": 1}], "address": address()}),
    )
    .await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let order = placed.body["order"]["id"].as_str().unwrap().to_string();
    pay(shop, &order).await;
    (inviter, invitee, order)
}

#[tokio::test]
async fn an_invitee_who_refunds_inside_the_window_earns_the_inviter_nothing() {
    let shop = shop_with(&[]).await;
    let (inviter, invitee, order) = invited_purchase(&shop).await;
    let refund = shop
        .post_as(
            &invitee,
            &format!("/v1/orders/{order}/refund"),
            &json!({"reason": "买错了"}),
        )
        .await;
    assert_eq!(refund.status, 202, "{}", refund.text);
    let out_refund_no = refund.body["refund"]["outRefundNo"].as_str().unwrap();
    let success = shop
        .stack
        .wechatpay
        .refund_notification(out_refund_no, "SUCCESS", |_| {})
        .unwrap();
    assert_eq!(deliver(&shop, &success).await, 204);

    shop.stack.drain("RewardsQueue").await.unwrap();

    let rewards = shop.get_as(&inviter, "/v1/rewards").await.body;
    assert_eq!(rewards["invites"]["items"][0]["state"], "FORFEITED");
    assert_eq!(rewards["invites"]["granted"], 0);
    assert_eq!(rewards["points"]["balance"], 0);
    assert!(rewards["coupons"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn an_invitee_whose_first_order_is_kept_earns_the_inviter_one_reward() {
    let shop = shop_with(&[("REFUND_WINDOW_DAYS", "0")]).await;
    let (inviter, invitee, order) = invited_purchase(&shop).await;
    shop.stack.drain("RewardsQueue").await.unwrap();
    let pending = shop.get_as(&inviter, "/v1/rewards").await.body;
    assert_eq!(pending["invites"]["items"][0]["state"], "PENDING");
    deliver_order(&shop, &invitee, &order).await;

    // The check comes back (SQS delays it); three deliveries of it at once.
    let inviter_id = shop.login("inviter.3").await.1;
    let invitee_id = shop.login("invitee.2").await.1;
    let check = json!({"type": "invite.check", "orderId": order, "inviteeId": invitee_id, "inviterId": inviter_id});
    futures::future::join_all((0..3).map(|_| {
        shop.stack
            .rewards
            .handle(sqs_event(std::slice::from_ref(&check)))
    }))
    .await;

    let rewards = shop.get_as(&inviter, "/v1/rewards").await.body;
    assert_eq!(rewards["invites"]["items"][0]["state"], "GRANTED");
    assert_eq!(rewards["invites"]["granted"], 1);
    assert_eq!(
        rewards["points"]["balance"], 200,
        "the demo policy's points, once"
    );
    let coupons = rewards["coupons"].as_array().unwrap();
    assert_eq!(coupons.len(), 1, "{coupons:?}");
    assert!(
        coupons[0]["couponId"]
            .as_str()
            .unwrap()
            .starts_with("invite-thanks.")
    );
}

#[tokio::test]
async fn the_inviter_under_another_account_and_invites_past_the_daily_cap_earn_nothing() {
    let shop = shop_with(&[("REFUND_WINDOW_DAYS", "0")]).await;
    shop.stack
        .shopctl(&["invite", "policy", "--points", "50", "--daily-cap", "1"])
        .await
        .unwrap();
    let (inviter, inviter_id) = shop.login("host.1").await;
    let bind = |token: String, phone: &'static str| {
        let shop = &shop;
        async move {
            let answer = shop
                .post_as(
                    &token,
                    "/v1/auth/phone",
                    &json!({"code": format!("phone-{phone}.{}", domain::ids::random_token(4))}),
                )
                .await;
            assert_eq!(answer.status, 200, "{}", answer.text);
        }
    };
    bind(inviter.clone(), "13812345678").await;
    let code = shop.post_as(&inviter, "/v1/shares", &json!({})).await.body["code"]
        .as_str()
        .unwrap()
        .to_string();
    // The same person under a second WeChat account, then two real friends.
    let mut invitees = Vec::new();
    for (who, phone) in [
        ("alt", "13812345678"),
        ("bea", "13900000001"),
        ("cai", "13900000002"),
    ] {
        let answer = shop
            .post(
                "/v1/auth/login",
                &json!({"code": format!("{who}.1"), "inviteCode": code}),
            )
            .await;
        let token = answer.body["token"].as_str().unwrap().to_string();
        let id = answer.body["user"]["id"].as_str().unwrap().to_string();
        bind(token.clone(), phone).await;
        invitees.push((token, id));
    }

    for (i, (token, id)) in invitees.iter().enumerate() {
        let placed = place(
            &shop,
            token,
            &format!("first-{i}"),
            &json!({"items": [{"skuId": "longjing-1", "quantity": 1}], "address": address()}),
        )
        .await;
        let order = placed.body["order"]["id"].as_str().unwrap().to_string();
        pay(&shop, &order).await;
        shop.stack.drain("RewardsQueue").await.unwrap();
        deliver_order(&shop, token, &order).await;
        let check = json!({"type": "invite.check", "orderId": order, "inviteeId": id, "inviterId": inviter_id});
        let result = shop.stack.rewards.handle(sqs_event(&[check])).await;
        assert!(result.batch_item_failures.is_empty());
    }

    let invites = shop.get_as(&inviter, "/v1/rewards").await.body;
    let mut states: Vec<&str> = invites["invites"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["state"].as_str().unwrap())
        .collect();
    states.sort_unstable();
    assert_eq!(
        states,
        ["GRANTED", "NOT_REWARDED", "NOT_REWARDED"],
        "{invites}"
    );
    assert_eq!(
        invites["points"]["balance"], 50,
        "one reward: the real friend within the cap"
    );
    let notes: Vec<&str> = invites["invites"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["note"].as_str())
        .collect();
    assert!(notes.contains(&"邀请人与被邀请人为同一人"), "{notes:?}");
    assert!(notes.contains(&"今日邀请奖励已达上限"), "{notes:?}");
}

#[tokio::test]
async fn an_unpaid_seat_comes_back_when_its_order_is_cancelled_and_an_unpaid_leader_closes_the_group()
 {
    let shop = shop_with(&[]).await;
    let (_, _, group) = open_group(&shop, 2).await;
    let (first, _) = shop.login("hesitant.1").await;
    let (second, _) = shop.login("eager.1").await;
    let held = place(
        &shop,
        &first,
        "hold",
        &group_order("dianhong-1", Some(&group)),
    )
    .await;
    assert_eq!(held.status, 201, "{}", held.text);
    let full = place(
        &shop,
        &second,
        "try",
        &group_order("dianhong-1", Some(&group)),
    )
    .await;
    assert_eq!((full.status, full.error_code()), (409, "group_full"));

    let id = held.body["order"]["id"].as_str().unwrap();
    let cancelled = shop
        .post_as(&first, &format!("/v1/orders/{id}/cancel"), &json!({}))
        .await;

    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    assert_eq!(
        shop.get(&format!("/v1/groups/{group}")).await.body["seatsLeft"],
        1
    );
    let joined = place(
        &shop,
        &second,
        "retry",
        &group_order("dianhong-1", Some(&group)),
    )
    .await;
    assert_eq!(joined.status, 201, "{}", joined.text);

    let (starter, _) = shop.login("starter.1").await;
    let started = place(&shop, &starter, "start", &group_order("dianhong-1", None)).await;
    let unpaid_group = started.body["order"]["groupId"]
        .as_str()
        .unwrap()
        .to_string();
    let unpaid = started.body["order"]["id"].as_str().unwrap();
    let early = place(
        &shop,
        &second,
        "early",
        &group_order("dianhong-1", Some(&unpaid_group)),
    )
    .await;
    assert_eq!((early.status, early.error_code()), (409, "group_not_open"));
    shop.post_as(&starter, &format!("/v1/orders/{unpaid}/cancel"), &json!({}))
        .await;
    assert_eq!(
        shop.get(&format!("/v1/groups/{unpaid_group}")).await.body["status"],
        "CLOSED"
    );
    let none = place(
        &shop,
        &second,
        "plain",
        &json!({"items": [{"skuId": "longjing-1", "quantity": 1}], "address": address(), "groupBuy": {}}),
    )
    .await;
    assert_eq!(
        (none.status, none.error_code()),
        (422, "group_buy_unavailable")
    );
}

#[tokio::test]
async fn shopctl_refuses_offers_that_make_no_sense_naming_the_option() {
    let shop = shop_with(&[]).await;
    for (words, option) in [
        (
            &[
                "group-buy",
                "set",
                "dianhong-1",
                "--size",
                "11",
                "--price",
                "59",
                "--hours",
                "24",
            ][..],
            "--size",
        ),
        (
            &[
                "group-buy",
                "set",
                "dianhong-1",
                "--size",
                "3",
                "--price",
                "88",
                "--hours",
                "24",
            ],
            "--price",
        ),
        (
            &[
                "group-buy",
                "set",
                "dianhong-1",
                "--size",
                "3",
                "--price",
                "59",
                "--hours",
                "0",
            ],
            "--hours",
        ),
        (
            &[
                "bargain",
                "set",
                "zhengshan-1",
                "--floor",
                "98",
                "--helpers",
                "5",
                "--hours",
                "24",
            ],
            "--floor",
        ),
        (
            &[
                "bargain",
                "set",
                "zhengshan-1",
                "--floor",
                "9.9",
                "--helpers",
                "51",
                "--hours",
                "24",
            ],
            "--helpers",
        ),
        (
            &["invite", "policy", "--points", "0", "--daily-cap", "5"],
            "--points",
        ),
        (
            &[
                "checkin",
                "policy",
                "--points",
                "5",
                "--streak-bonus",
                "1",
                "--streak-cap",
                "0",
            ],
            "--streak-cap",
        ),
    ] {
        let refused = shop.stack.shopctl(words).await.unwrap_err().to_string();
        assert!(refused.starts_with(option), "{words:?}: {refused}");
    }
    // Nothing was written: the demo offers stand.
    let product = shop.get("/v1/products/dianhong").await.body;
    assert_eq!(product["skus"][0]["groupBuy"]["groupSize"], 3);
}
