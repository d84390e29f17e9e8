//! Every sample event in events/ (the files `sam local invoke -e` takes) goes through its
//! function's handler against the emulator and must succeed. Placeholders in the files (a token,
//! an order id, a notification's signature) are filled with real ones first.

use crate::support::{TestShop, address, audit_log};
use aws_lambda_events::sqs::SqsEvent;
use edge::api::ApiRequest;
use edge::runtime::{HttpFunction, QueueFunction};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

fn event_files() -> Vec<PathBuf> {
    let dir = devstack::project_root().join("events");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn read(file: &PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

fn route_of(file: &PathBuf) -> String {
    read(file)["routeKey"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A sample event's body bytes, base64 undone where API Gateway applied it (form bodies).
fn body_of(event: &Value) -> Vec<u8> {
    let text = event["body"].as_str().unwrap_or_default();
    if event["isBase64Encoded"] == true {
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text).unwrap()
    } else {
        text.as_bytes().to_vec()
    }
}

/// Replaces a sample event's body, encoded the way the sample says API Gateway sends it.
fn set_body(event: &mut Value, bytes: &[u8]) {
    event["body"] = if event["isBase64Encoded"] == true {
        json!(base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            bytes
        ))
    } else {
        json!(String::from_utf8(bytes.to_vec()).unwrap())
    };
}

async fn unpaid_order(shop: &TestShop, token: &str, key: &str) -> String {
    let placed = shop
        .post_with(
            token,
            "/v1/orders",
            &[("idempotency-key", key)],
            &json!({"items": [{"skuId": "walnut-1", "quantity": 1}], "address": address()}),
        )
        .await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    placed.body["order"]["id"].as_str().unwrap().to_string()
}

fn event_source(event: &SqsEvent) -> String {
    event.records[0]
        .event_source_arn
        .clone()
        .unwrap_or_default()
}

async fn paid_order(shop: &TestShop, token: &str, key: &str) -> String {
    let id = unpaid_order(shop, token, key).await;
    shop.stack.wechatpay.mark_paid(&id).unwrap();
    shop.stack
        .order_store()
        .mark_paid(
            &domain::ids::OrderId::parse(&id).unwrap(),
            "4200000001",
            "2026-11-24T10:00:00+08:00",
            1,
        )
        .await
        .unwrap();
    id
}

/// The staff the admin samples act as, and what fills their placeholders.
struct SampleStaff {
    fills: Vec<(&'static str, String)>,
    /// Second-factor codes, worked out when the sample runs: the setup and the samples before
    /// can outlast a code's 30 seconds on a busy machine. (placeholder, secret, steps ahead)
    codes: Vec<(&'static str, Vec<u8>, i64)>,
}

impl SampleStaff {
    fn fill(&self, text: &str) -> String {
        let step = domain::clock::now_epoch_seconds() / 30;
        let codes = self.codes.iter().map(|(placeholder, secret, ahead)| {
            let code = app::credentials::totp_at(secret, step + ahead);
            (*placeholder, format!("{code:06}"))
        });
        self.fills
            .iter()
            .cloned()
            .chain(codes)
            .fold(text.to_string(), |t, (placeholder, value)| {
                t.replace(placeholder, &value)
            })
    }
}

async fn staff_for_samples(shop: &TestShop) -> SampleStaff {
    use app::credentials::totp_at;
    let store = store::staff::StaffStore::new(
        shop.stack.dynamodb.clone(),
        shop.stack.settings["STAFF_TABLE"].clone(),
    );
    let desk = app::staff::StaffDesk::new(store.clone(), audit_log(shop));
    let now = domain::clock::now_epoch_seconds();
    let sign_in = |username: String, password: String, code: Option<String>| async move {
        let answer = shop
            .post(
                "/admin/v1/auth/sign-in",
                &json!({"username": username, "password": password, "code": code}),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.body["token"].as_str().unwrap().to_string()
    };
    let (owner, owner_password, _) = desk.create_owner("events-owner", now).await.unwrap();
    let secret = owner.totp_secret.clone().unwrap();
    let owner_token = sign_in(
        "events-owner".into(),
        owner_password.clone(),
        Some(format!("{:06}", totp_at(&secret, now / 30))),
    )
    .await;
    let changed = shop
        .post_as(
            &owner_token,
            "/admin/v1/me/password",
            &json!({"currentPassword": owner_password, "newPassword": "Owner-of-the-tea-shop-1"}),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.text);
    let mut staff = Vec::new();
    for (name, role) in [
        ("events-operator", domain::staff::Role::Operator),
        ("events-leaver", domain::staff::Role::Service),
        ("events-renamer", domain::staff::Role::Warehouse),
        ("events-enroller", domain::staff::Role::Service),
        ("events-gone", domain::staff::Role::Service),
        ("events-moved", domain::staff::Role::Service),
    ] {
        let (member, password, _) = desk
            .add(name, role, &app::staff::Actor::shopctl(), now)
            .await
            .unwrap();
        let token = sign_in(name.into(), password.clone(), None).await;
        staff.push((member, password, token));
    }
    let enrolling = &staff[3];
    let started = shop
        .post_as(&enrolling.2, "/admin/v1/me/totp", &json!({}))
        .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let pending = store
        .get(&enrolling.0.id)
        .await
        .unwrap()
        .unwrap()
        .pending_totp
        .unwrap();
    // An export the owner asked for, for the status sample.
    let today = domain::clock::china_day(now);
    let export = shop
        .post_as(
            &owner_token,
            "/admin/v1/exports/orders",
            &json!({"from": today, "to": today}),
        )
        .await;
    assert_eq!(export.status, 202, "{}", export.text);
    let export_id = export.body["export"]["id"].as_str().unwrap().to_string();
    // A lucky draw for the shoppers' samples (the create sample makes another).
    let lottery = shop
        .post_as(
            &owner_token,
            "/admin/v1/lotteries",
            &json!({
                "id": "events-wheel", "title": "样例转盘",
                "startsAt": "2026-01-01T00:00:00+08:00", "endsAt": "2036-01-01T00:00:00+08:00",
                "dailyLimit": 5, "chances": {"freePerDay": 5},
                "prizes": [
                    {"id": "ten", "name": "10积分", "reward": {"kind": "points", "points": 10}, "quantity": 5, "weight": 1},
                    {"id": "thanks", "name": "谢谢参与", "reward": {"kind": "nothing"}, "weight": 1}
                ]
            }),
        )
        .await;
    assert_eq!(lottery.status, 201, "{}", lottery.text);
    // A coupon in the points mall for the redeem sample (the create sample lists a gift).
    let mall = shop
        .post_as(
            &owner_token,
            "/admin/v1/points-mall",
            &json!({
                "id": "events-mall", "title": "样例兑换券",
                "reward": {"kind": "coupon", "template": "new-user"},
                "points": 10, "stock": 10, "perShopperLimit": 5,
                "startsAt": "2026-01-01T00:00:00+08:00", "endsAt": "2036-01-01T00:00:00+08:00"
            }),
        )
        .await;
    assert_eq!(mall.status, 201, "{}", mall.text);
    // The points tasks the shoppers' samples list and claim (binding a phone, once).
    for (task, body) in [
        ("bind-phone", json!({"points": 20})),
        (
            "view-product",
            json!({"points": 5, "dailyCap": 3, "seconds": 15}),
        ),
    ] {
        let mut body = body;
        body["startsAt"] = json!("2026-01-01T00:00:00+08:00");
        body["endsAt"] = json!("2036-01-01T00:00:00+08:00");
        let set = shop
            .post_as(&owner_token, &format!("/admin/v1/tasks/{task}"), &body)
            .await;
        assert_eq!(set.status, 200, "{}", set.text);
    }
    SampleStaff {
        // Longest first: some placeholders begin with others.
        fills: vec![
            ("REPLACE_WITH_A_LOTTERY_ID", "events-wheel".into()),
            ("REPLACE_WITH_A_MALL_ITEM_ID", "events-mall".into()),
            ("REPLACE_WITH_AN_EXPORT_ID", export_id),
            ("REPLACE_WITH_A_STAFF_TOKEN_TO_SIGN_OUT", staff[1].2.clone()),
            (
                "REPLACE_WITH_A_STAFF_TOKEN_TO_CHANGE_PASSWORD",
                staff[2].2.clone(),
            ),
            ("REPLACE_WITH_ITS_PASSWORD", staff[2].1.clone()),
            ("REPLACE_WITH_AN_ENROLLING_STAFF_TOKEN", enrolling.2.clone()),
            ("REPLACE_WITH_A_STAFF_ID_TO_DISABLE", staff[4].0.id.clone()),
            ("REPLACE_WITH_A_STAFF_ID_TO_MOVE", staff[5].0.id.clone()),
            ("REPLACE_WITH_A_STAFF_USERNAME", "events-operator".into()),
            ("REPLACE_WITH_A_STAFF_PASSWORD", staff[0].1.clone()),
            ("REPLACE_WITH_A_STAFF_TOKEN", staff[0].2.clone()),
            ("REPLACE_WITH_AN_OWNER_TOKEN", owner_token),
        ],
        // The owner's next code, as sign-in used this one.
        codes: vec![
            ("REPLACE_WITH_THE_ENROLLING_CODE", pending, 0),
            ("REPLACE_WITH_THE_OWNERS_NEXT_CODE", secret, 1),
        ],
    }
}

/// A teacup won in the `events-gift-wheel` draw by `user` (the claim sample sends it): the
/// draw's id. Drawn through the store with a seeded generator, so the gift always comes up.
async fn won_gift(shop: &TestShop, user: &str) -> String {
    use rand::SeedableRng;
    let marketing = shop.stack.resources.tables["MarketingTable"].clone();
    let dynamodb = shop.stack.dynamodb.clone();
    let lotteries = store::lottery::LotteryStore::new(dynamodb.clone(), &marketing);
    let draft: domain::lottery::LotteryDraft = serde_json::from_value(json!({
        "title": "样例实物转盘",
        "startsAt": "2026-01-01T00:00:00+08:00", "endsAt": "2036-01-01T00:00:00+08:00",
        "dailyLimit": 1, "chances": {"freePerDay": 1},
        "prizes": [
            {"id": "cup", "name": "青花茶杯", "reward": {"kind": "gift", "skuId": "teacup-1"}, "quantity": 5, "weight": 1_000_000},
            {"id": "thanks", "name": "谢谢参与", "reward": {"kind": "nothing"}, "weight": 1}
        ]
    }))
    .unwrap();
    let now = domain::clock::now_epoch_seconds();
    let lottery = app::lottery_desk::LotteryDesk::new(
        lotteries.clone(),
        store::marketing::MarketingStore::new(dynamodb.clone(), &marketing),
        store::points::PointsLedger::new(dynamodb.clone(), &marketing),
        shop.stack.catalog_store(),
    )
    .with_audit(audit_log(shop))
    .create(
        Some("events-gift-wheel"),
        &draft,
        &app::staff::Actor::shopctl(),
        now,
    )
    .await
    .unwrap();
    let user = domain::ids::UserId::parse(user).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    match lotteries
        .draw(&lottery, &user, &[], now, &mut rng)
        .await
        .unwrap()
    {
        store::lottery::Drawn::Won(record) if record.prize_id == "cup" => record.id,
        other => panic!("the seeded draw gave {other:?}"),
    }
}

/// Ships a paid order through the fulfillment consumer: its waybill number.
async fn ship(shop: &TestShop, token: &str, order: &str) -> String {
    let paid = json!({"Records": [{"messageId": format!("setup-{order}"), "body": json!({"type": "order.paid", "orderId": order, "transactionId": "t", "dedupeKey": format!("order.paid:{order}")}).to_string()}]});
    let shipped = shop
        .stack
        .fulfillment
        .handle(serde_json::from_value(paid).unwrap())
        .await;
    assert!(shipped.batch_item_failures.is_empty());
    shop.get_as(token, &format!("/v1/orders/{order}"))
        .await
        .body["shipment"]["number"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A paid, shipped order sent back under a return waybill, whose refund waits for staff:
/// (order id, out_refund_no).
pub async fn refund_awaiting_approval(shop: &TestShop, token: &str, key: &str) -> (String, String) {
    let order = paid_order(shop, token, key).await;
    ship(shop, token, &order).await;
    let returned = shop
        .post_as(
            token,
            &format!("/v1/orders/{order}/return"),
            &json!({"company": "zhongtong", "number": format!("RT{}", &order[order.len() - 8..])}),
        )
        .await;
    assert_eq!(returned.status, 200, "{}", returned.text);
    let asked = shop
        .post_as(
            token,
            &format!("/v1/orders/{order}/refund"),
            &json!({"reason": "不想要了", "kind": "return_and_refund"}),
        )
        .await;
    assert_eq!(asked.status, 202, "{}", asked.text);
    assert_eq!(
        asked.body["refund"]["status"], "AWAITING_APPROVAL",
        "{}",
        asked.text
    );
    let number = asked.body["refund"]["outRefundNo"]
        .as_str()
        .unwrap()
        .to_string();
    (order, number)
}

#[tokio::test]
async fn every_sample_event_succeeds_through_its_handler() {
    let shop = TestShop::start().await;
    // The demo promotions, so the claim sample finds its coupon.
    devstack::seed::promotions(&shop.stack.admin(), domain::clock::now_epoch_seconds())
        .await
        .unwrap();
    devstack::seed::warehouses(&shop.stack.admin(), 0)
        .await
        .unwrap();
    let (token, user_id) = shop.login("events-setup.1").await;
    let order = unpaid_order(&shop, &token, "events-a").await;
    let to_pay = unpaid_order(&shop, &token, "events-b").await;
    let to_expire = unpaid_order(&shop, &token, "events-c").await;
    shop.stack.wechatpay.mark_paid(&to_pay).unwrap();
    let notification = shop.stack.wechatpay.notification(&to_pay, |_| {}).unwrap();
    // One paid order for the fulfillment sample, one shipped for the courier push sample.
    let to_ship = paid_order(&shop, &token, "events-d").await;
    let tracked = paid_order(&shop, &token, "events-e").await;
    let refundable = paid_order(&shop, &token, "events-f").await;
    let waybill = ship(&shop, &token, &tracked).await;
    // A share, a group (started, not yet paid) and a bargain with a friend to help it.
    let share = shop
        .post_as(&token, "/v1/shares", &json!({"productId": "longjing"}))
        .await
        .body["code"]
        .as_str()
        .unwrap()
        .to_string();
    let leader = shop
        .post_with(
            &token,
            "/v1/orders",
            &[("Idempotency-Key", "events-group")],
            &json!({"items": [{"skuId": "dianhong-1", "quantity": 1}], "address": address(), "groupBuy": {}}),
        )
        .await;
    assert_eq!(leader.status, 201, "{}", leader.text);
    let group = leader.body["order"]["groupId"]
        .as_str()
        .unwrap()
        .to_string();
    let bargain = shop
        .post_as(&token, "/v1/bargains", &json!({"skuId": "zhengshan-1"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (friend, _) = shop.login("events-friend.1").await;
    // Two saved addresses: one to edit and make the default, one to remove.
    let mut saved = Vec::new();
    for _ in 0..2 {
        let added = shop
            .post_as(&token, "/v1/addresses", &crate::support::address())
            .await;
        assert_eq!(added.status, 201, "{}", added.text);
        saved.push(added.body["id"].as_str().unwrap().to_string());
    }
    // Deleting an account needs one with nothing on its way.
    let (leaving, _) = shop.login("events-leaving.1").await;
    // The bind-phone task's claim needs a shopper whose phone is bound.
    let (phone_bound, _) = shop.login("events-phone.1").await;
    let bound = shop
        .post_as(
            &phone_bound,
            "/v1/auth/phone",
            &json!({"code": "phone-13912345678"}),
        )
        .await;
    assert_eq!(bound.status, 200, "{}", bound.text);
    // The shopper confirms the shipped order's receipt in WeChat's component (the
    // confirm-receipt sample then finds WeChat's confirmation).
    let tracked_payment = shop
        .get_as(&token, &format!("/v1/orders/{tracked}"))
        .await
        .body["transactionId"]
        .as_str()
        .unwrap()
        .to_string();
    shop.stack.wechat.confirm_receipt(&tracked_payment);
    // A delivered order for the review sample.
    let received = paid_order(&shop, &token, "events-g").await;
    let received_waybill = ship(&shop, &token, &received).await;
    let (status, _) = shop
        .stack
        .kuaidi100
        .push(&received_waybill, 3, "已签收")
        .await
        .unwrap();
    assert_eq!(status, 200);
    // A paid order the staff ship by hand, and an unpaid one they cancel.
    let to_ship_by_hand = paid_order(&shop, &token, "events-j").await;
    let to_cancel = unpaid_order(&shop, &token, "events-k").await;
    // Two shipped orders whose return-and-refunds wait for staff: one to approve, one to reject.
    let mut awaiting = Vec::new();
    for key in ["events-h", "events-i"] {
        awaiting.push(refund_awaiting_approval(&shop, &token, key).await);
    }
    let staff = staff_for_samples(&shop).await;
    // Points for the redeem sample.
    store::points::PointsLedger::new(
        shop.stack.dynamodb.clone(),
        shop.stack.resources.tables["MarketingTable"].clone(),
    )
    .post(
        &domain::ids::UserId::parse(&user_id).unwrap(),
        &store::points::LedgerEntry {
            key: "events#points".into(),
            delta: 100,
            reason: "样例积分".into(),
            order_id: None,
            at: domain::clock::now_epoch_seconds(),
        },
    )
    .await
    .unwrap();
    let gift_draw = won_gift(&shop, &user_id).await;
    let files = event_files();
    assert!(!files.is_empty());

    for file in files {
        let fill = |text: &str| {
            staff
                .fill(text)
                .replace("REPLACE_WITH_A_TOKEN_FROM_LOGIN", &token)
                .replace("REPLACE_WITH_A_GIFT_DRAW_ID", &gift_draw)
                .replace("REPLACE_WITH_A_USER_ID", &user_id)
                .replace(
                    "REPLACE_WITH_A_TOKEN_OF_A_SHOPPER_WITH_NO_ORDER_IN_FLIGHT",
                    &leaving,
                )
                .replace(
                    "REPLACE_WITH_A_TOKEN_OF_A_SHOPPER_WITH_A_BOUND_PHONE",
                    &phone_bound,
                )
                .replace("REPLACE_WITH_AN_UNPAID_ORDER_ID", &to_expire)
                .replace("REPLACE_WITH_AN_UNPAID_ORDER_TO_CANCEL", &to_cancel)
                .replace(
                    "REPLACE_WITH_A_PAID_ORDER_TO_SHIP_BY_HAND",
                    &to_ship_by_hand,
                )
                .replace("REPLACE_WITH_AN_ADDRESS_ID_TO_REMOVE", &saved[1])
                .replace("REPLACE_WITH_AN_ADDRESS_ID", &saved[0])
                .replace("REPLACE_WITH_AN_ORDER_ID", &order)
                .replace("REPLACE_WITH_A_PAID_ORDER_ID", &to_ship)
                .replace("REPLACE_WITH_A_REFUNDABLE_ORDER_ID", &refundable)
                .replace("REPLACE_WITH_A_SHIPPED_ORDER_ID", &tracked)
                .replace("REPLACE_WITH_A_WAYBILL_NUMBER", &waybill)
                .replace("REPLACE_WITH_A_SHARE_CODE", &share)
                .replace("REPLACE_WITH_A_GROUP_ID", &group)
                .replace("REPLACE_WITH_A_BARGAIN_ID", &bargain)
                .replace("REPLACE_WITH_A_FRIEND_TOKEN", &friend)
                .replace("REPLACE_WITH_A_DELIVERED_ORDER_ID", &received)
                .replace("REPLACE_WITH_REFUND_TO_APPROVE_ORDER", &awaiting[0].0)
                .replace("REPLACE_WITH_REFUND_TO_APPROVE_NO", &awaiting[0].1)
                .replace("REPLACE_WITH_REFUND_TO_REJECT_ORDER", &awaiting[1].0)
                .replace("REPLACE_WITH_REFUND_TO_REJECT_NO", &awaiting[1].1)
        };
        let mut event: Value =
            serde_json::from_str(&fill(&std::fs::read_to_string(&file).unwrap())).unwrap();
        if event["isBase64Encoded"] == true {
            // Placeholders inside an encoded body (a courier push) are filled in its text.
            let body = fill(&String::from_utf8(body_of(&event)).unwrap());
            set_body(&mut event, body.as_bytes());
        }
        if event.get("awslogs").is_some() {
            let logs = serde_json::from_str(&event.to_string()).unwrap();
            edge::runtime::LogsFunction::handle(&*shop.stack.reports, logs)
                .await
                .unwrap_or_else(|problem| panic!("{}: {problem}", file.display()));
            continue;
        }
        if event.get("Records").is_some() {
            let sqs: SqsEvent = serde_json::from_value(event).unwrap();
            let source = event_source(&sqs);
            let consumer: Arc<dyn QueueFunction> = if source.ends_with("FulfillmentQueue") {
                shop.stack.fulfillment.clone()
            } else if source.ends_with("RewardsQueue") {
                shop.stack.rewards.clone()
            } else if source.ends_with("ExportsQueue") {
                shop.stack.exports.clone()
            } else {
                shop.stack.deadlines.clone()
            };
            let response = consumer.handle(sqs).await;
            assert!(
                response.batch_item_failures.is_empty(),
                "{}: {:?}",
                file.display(),
                response.batch_item_failures
            );
            continue;
        }
        if event["routeKey"] == "POST /v1/pay/wechat/notify" {
            // A notification is only valid signed by the sandbox's key a moment ago.
            event["body"] = json!(notification.body);
            for (k, v) in &notification.headers {
                event["headers"][k] = json!(v);
            }
        }
        if event["routeKey"] == "GET /v1/wechat/events" {
            // WeChat's console signs its URL check with the Token the shop entered.
            let keys = providers::wechat_push::PushKeys::new(
                shop.stack.settings["WECHAT_PUSH_TOKEN"].clone().into(),
                &shop.stack.settings["WECHAT_PUSH_AES_KEY"],
                devstack::SANDBOX_APPID.into(),
            )
            .unwrap();
            let query = &event["queryStringParameters"];
            let signature = keys.url_signature(
                query["timestamp"].as_str().unwrap(),
                query["nonce"].as_str().unwrap(),
            );
            let raw = event["rawQueryString"]
                .as_str()
                .unwrap()
                .replace("REPLACE_WITH_A_URL_SIGNATURE", &signature);
            event["rawQueryString"] = json!(raw);
            event["queryStringParameters"]["signature"] = json!(signature);
        }
        if event["routeKey"] == "POST /v1/wechat/events" {
            // A message is only taken encrypted and signed by the sandbox a moment ago.
            let now = domain::clock::now_epoch_seconds();
            let message = json!({"ToUserName": "gh_0123456789ab", "FromUserName": "o_wechat_platform", "CreateTime": now, "MsgType": "event", "Event": "trade_manage_remind_access_api"});
            let sealed = shop.stack.wechat.seal(&message, now).unwrap();
            event["rawQueryString"] = json!(sealed.query);
            event["queryStringParameters"] = json!(
                devstack::server::form_pairs(&sealed.query)
                    .into_iter()
                    .collect::<std::collections::BTreeMap<_, _>>()
            );
            event["body"] = json!(sealed.body);
        }
        if event["routeKey"] == "POST /v1/pay/alipay/notify" {
            // Only the sandbox's Alipay key signs a notification we take: pay `order` with it.
            let total = shop
                .get_as(&token, &format!("/v1/orders/{order}"))
                .await
                .body["total"]
                .as_u64()
                .unwrap();
            let form = shop.stack.alipay.notification(
                &order,
                &domain::money::Fen::new(total).yuan_text(),
                |_| {},
            );
            set_body(&mut event, form.as_bytes());
        }
        if event["routeKey"] == "POST /v1/logistics/kuaidi100/notify" {
            // A push is only valid signed with our salt: sign the sample's param.
            let body = body_of(&event);
            let fields = edge::api::form_fields(&body).unwrap();
            let param = &fields.iter().find(|(k, _)| k == "param").unwrap().1;
            let sign = domain::logistics::push_sign(param, &shop.stack.settings["KUAIDI100_SALT"]);
            let form = format!("param={}&sign={sign}", devstack::server::form_encode(param));
            set_body(&mut event, form.as_bytes());
        }
        let event: ApiRequest = edge::api::request_from_event(&event)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let route = route_of(&file);
        let function = shop
            .stack
            .template
            .routes()
            .find(|(_, r)| r.key() == route)
            .map(|(f, _)| f.logical_id.clone())
            .unwrap_or_else(|| panic!("{}: route {route} is not in template.yaml", file.display()));
        let handler: Arc<dyn HttpFunction> = match function.as_str() {
            "LoginFunction" => shop.stack.login.clone(),
            "BrowseFunction" => shop.stack.browse.clone(),
            "CheckoutFunction" => shop.stack.checkout.clone(),
            "PayNotifyFunction" => shop.stack.pay_notify.clone(),
            "LogisticsHookFunction" => shop.stack.logistics_hook.clone(),
            "ShareRewardFunction" => shop.stack.share_reward.clone(),
            "WeChatPushFunction" => shop.stack.wechat_push.clone(),
            "AdminFunction" => shop.stack.admin.clone(),
            other => panic!("no handler for {other}"),
        };

        // A task of its own, as the gateway and Lambda's runtime run each request.
        let response = tokio::spawn(async move { handler.handle(event).await })
            .await
            .unwrap();

        assert!(
            response.status().is_success(),
            "{}: {} {:?}",
            file.display(),
            response.status(),
            response.body()
        );
    }
    let paid = shop.get_as(&token, &format!("/v1/orders/{to_pay}")).await;
    assert_eq!(paid.body["status"], "PAID");
    let shipped = shop.get_as(&token, &format!("/v1/orders/{to_ship}")).await;
    assert_eq!(shipped.body["status"], "SHIPPED");
    let tracked = shop.get_as(&token, &format!("/v1/orders/{tracked}")).await;
    assert_eq!(
        tracked.body["tracking"]["events"].as_array().unwrap().len(),
        2
    );
    let expired = shop
        .get_as(&token, &format!("/v1/orders/{to_expire}"))
        .await;
    assert_eq!(expired.body["status"], "CANCELLED");
}

#[tokio::test]
async fn every_route_and_queue_consumer_in_the_template_has_a_sample_event() {
    let template = devstack::template::Template::project().unwrap();
    let files = event_files();
    let covered: Vec<String> = files.iter().map(route_of).collect();
    let queue_samples: Vec<String> = files
        .iter()
        .filter_map(|f| {
            read(f)["Records"][0]["eventSourceARN"]
                .as_str()
                .map(str::to_string)
        })
        .collect();

    for (_, route) in template.routes() {
        assert!(
            covered.contains(&route.key()),
            "events/ has no sample for {}",
            route.key()
        );
    }
    let log_samples = files
        .iter()
        .filter(|f| read(f)["awslogs"]["data"].is_string())
        .count();
    for function in &template.functions {
        assert!(
            function.log_groups.is_empty() || log_samples > 0,
            "events/ has no sample of the log lines {} subscribes to",
            function.logical_id
        );
        for queue in &function.queues {
            assert!(
                queue_samples
                    .iter()
                    .any(|arn| arn.ends_with(queue.as_str())),
                "events/ has no sample for queue {queue}"
            );
        }
    }
}

/// Answers every request 200: the sample events are compared as requests, not handled.
struct Accepts;

#[async_trait::async_trait]
impl HttpFunction for Accepts {
    async fn handle(&self, _req: ApiRequest) -> edge::api::ApiResponse {
        edge::api::empty(200)
    }
}

#[test]
fn every_http_sample_event_parses_as_on_lambda_and_the_local_gateway_builds_the_same_request() {
    use edge::api::RequestExt;
    let template = devstack::template::Template::project().unwrap();
    let functions: std::collections::HashMap<String, Arc<dyn HttpFunction>> = template
        .routes()
        .map(|(f, _)| {
            (
                f.logical_id.clone(),
                Arc::new(Accepts) as Arc<dyn HttpFunction>,
            )
        })
        .collect();
    let gateway = devstack::gateway::Gateway::new(&template, &functions).unwrap();
    let mut parsed = 0;

    for file in event_files() {
        let event = read(&file);
        if event.get("Records").is_some() || event.get("awslogs").is_some() {
            continue;
        }
        let name = file.display();
        let cloud = edge::api::request_from_event(&event).unwrap_or_else(|e| panic!("{name}: {e}"));
        let route_key = route_of(&file);
        let (method, path) = route_key.split_once(' ').unwrap();
        let raw_path = event["rawPath"].as_str().unwrap();
        let raw_query = event["rawQueryString"].as_str().unwrap_or_default();
        assert_eq!(cloud.method().as_str(), method, "{name}");
        assert_eq!(cloud.uri().path(), raw_path, "{name}");
        assert_eq!(cloud.route(), route_key, "{name}: requestContext.routeKey");
        assert!(
            cloud.request_id() != "-",
            "{name}: requestContext.requestId"
        );
        let route = template
            .routes()
            .map(|(_, r)| r)
            .find(|r| r.key() == route_key)
            .unwrap_or_else(|| panic!("{name}: {route_key} is not in template.yaml"));
        assert_eq!(route.path, path);
        let params = route
            .matches(method, raw_path)
            .unwrap_or_else(|| panic!("{name}: rawPath does not match {path}"));
        for (param, value) in &params {
            assert_eq!(cloud.path_param(param).unwrap(), value, "{name}: {param}");
        }

        // The same request sent to the local gateway, as a client would send it.
        let mut headers = http::HeaderMap::new();
        for (k, v) in event["headers"].as_object().into_iter().flatten() {
            headers.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v.as_str().unwrap()).unwrap(),
            );
        }
        let body = body_of(&event);
        let incoming = devstack::server::Incoming {
            method: http::Method::from_bytes(method.as_bytes()).unwrap(),
            path: raw_path.to_string(),
            query: raw_query.to_string(),
            headers,
            body: body.clone().into(),
            peer: "203.0.113.10:443".parse().unwrap(),
        };
        let (local, _) = gateway
            .event_for(&incoming)
            .unwrap_or_else(|| panic!("{name}: the local gateway found no route"));

        assert_eq!(local.method(), cloud.method(), "{name}");
        assert_eq!(local.uri().path(), cloud.uri().path(), "{name}");
        assert_eq!(local.uri().query(), cloud.uri().query(), "{name}");
        assert_eq!(local.route(), cloud.route(), "{name}");
        for param in params.keys() {
            assert_eq!(
                local.path_param(param).unwrap(),
                cloud.path_param(param).unwrap(),
                "{name}"
            );
        }
        for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
            let key = pair.split('=').next().unwrap();
            assert_eq!(
                local.query_param(key),
                cloud.query_param(key),
                "{name}: ?{key}"
            );
        }
        for (k, v) in cloud.headers() {
            assert_eq!(local.headers().get(k), Some(v), "{name}: header {k}");
        }
        assert_eq!(
            local.body_bytes().unwrap(),
            cloud.body_bytes().unwrap(),
            "{name}: body"
        );
        assert_eq!(cloud.body_bytes().unwrap(), body.as_slice(), "{name}: body");
        parsed += 1;
    }
    assert!(parsed >= 20, "only {parsed} HTTP sample events");
}
