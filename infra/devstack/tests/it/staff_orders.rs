//! The shop's orders through the merchant's API: listed by day, one in full, noted, shipped by
//! hand, cancelled, and the receiver revealed only to who may see it.

use crate::admin::{member, owner};
use crate::checkout::{place, stock_of};
use crate::social::pay;
use crate::support::{Answer, TestShop, address, audit_log};
use domain::staff::Role;
use serde_json::{Value, json};

async fn placed(shop: &TestShop, token: &str, key: &str) -> String {
    let answer = place(
        shop,
        token,
        key,
        &json!({"items": [{"skuId": "walnut-1", "quantity": 1}], "address": address()}),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.body["order"]["id"].as_str().unwrap().to_string()
}

async fn staff_order(shop: &TestShop, token: &str, id: &str) -> Answer {
    shop.get_as(token, &format!("/admin/v1/orders/{id}")).await
}

async fn ship_by_hand(shop: &TestShop, token: &str, id: &str, number: &str) -> Answer {
    shop.post_as(
        token,
        &format!("/admin/v1/orders/{id}/ship"),
        &json!({"company": "zhongtong", "number": number}),
    )
    .await
}

async fn actions(shop: &TestShop, action: &str) -> Vec<domain::audit::AuditRecord> {
    audit_log(shop)
        .day(&domain::clock::china_day(domain::clock::now_epoch_seconds()))
        .await
        .unwrap()
        .records
        .into_iter()
        .filter(|r| r.action == action)
        .collect()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn staff_list_the_days_orders_newest_first_filtered_and_paged_with_receivers_masked() {
    // given three orders today, one of them paid
    let shop = TestShop::start().await;
    let (token, _) = shop.login("lister.1").await;
    let first = placed(&shop, &token, "list-1").await;
    let second = placed(&shop, &token, "list-2").await;
    let third = placed(&shop, &token, "list-3").await;
    pay(&shop, &second).await;
    let (owner_token, _, _) = owner(&shop, "guanli").await;
    let (service, _) = member(&shop, &owner_token, "kefu.e", Role::Service).await;
    let (operator, _) = member(&shop, &owner_token, "yunying.b", Role::Operator).await;

    // when customer service lists them, all, paid only, and two at a time
    let all = shop.get_as(&service, "/admin/v1/orders").await;
    let paid = shop.get_as(&service, "/admin/v1/orders?status=PAID").await;
    let page_one = shop.get_as(&service, "/admin/v1/orders?limit=2").await;
    let cursor = page_one.body["nextCursor"].as_str().unwrap().to_string();
    let page_two = shop
        .get_as(
            &service,
            &format!("/admin/v1/orders?limit=2&cursor={cursor}"),
        )
        .await;

    // then newest first, narrowed and paged without gaps or repeats
    assert_eq!(all.status, 200, "{}", all.text);
    let mine: Vec<String> = ids(&all.body)
        .into_iter()
        .filter(|id| [&first, &second, &third].contains(&id))
        .collect();
    let mut expected = vec![first.clone(), second.clone(), third.clone()];
    let mut found = mine.clone();
    expected.sort();
    found.sort();
    assert_eq!(found, expected);
    let placed_at: Vec<i64> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["createdAt"].as_i64().unwrap())
        .collect();
    assert!(
        placed_at.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {placed_at:?}"
    );
    assert_eq!(ids(&paid.body), vec![second.clone()]);
    let mut paged = ids(&page_one.body);
    paged.extend(ids(&page_two.body));
    assert_eq!(paged, ids(&all.body));
    // and the receiver is masked
    let shown = &all.body["items"][0]["address"];
    assert_eq!(shown["phone"], "138****5678", "{shown}");
    assert_eq!(shown["name"], "张*");
    assert_eq!(shown["detail"], "****");
    assert_eq!(shown["city"], "杭州市");
    assert!(!all.text.contains("13812345678") && !all.text.contains("文三路"));
    // and a range past 90 days, a bad status and a role without orders are refused
    let long = shop
        .get_as(&service, "/admin/v1/orders?from=2026-01-01&to=2026-12-01")
        .await;
    assert_eq!((long.status, long.error_field()), (400, "from"));
    let bad = shop.get_as(&service, "/admin/v1/orders?status=LOST").await;
    assert_eq!((bad.status, bad.error_field()), (400, "status"));
    let refused = shop.get_as(&operator, "/admin/v1/orders").await;
    assert_eq!((refused.status, refused.error_code()), (403, "forbidden"));
    // and the phone's last four digits find the shopper's orders, never another number's
    let by_phone = shop.get_as(&service, "/admin/v1/orders?phone4=5678").await;
    assert_eq!(by_phone.status, 200, "{}", by_phone.text);
    let mut found = ids(&by_phone.body);
    found.sort();
    assert_eq!(found, expected);
    let none = shop.get_as(&service, "/admin/v1/orders?phone4=0000").await;
    assert!(ids(&none.body).is_empty(), "{}", none.text);
    let bad_tail = shop.get_as(&service, "/admin/v1/orders?phone4=56a8").await;
    assert_eq!((bad_tail.status, bad_tail.error_field()), (400, "phone4"));
    let raw = shop
        .stack
        .dynamodb
        .scan()
        .table_name(&shop.stack.resources.tables["OrdersTable"])
        .send()
        .await
        .unwrap();
    let links: Vec<&str> = raw
        .items()
        .iter()
        .filter_map(|i| i.get("pk").and_then(|v| v.as_s().ok()))
        .filter_map(|pk| pk.strip_prefix("PHONE4#"))
        .collect();
    assert!(!links.is_empty());
    for hash in links {
        assert!(
            hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "a keyed hash, not the digits: {hash}"
        );
    }
    let everything = format!("{:?}", raw.items());
    assert!(!everything.contains("13812345678") && !everything.contains("****5678"));
}

#[tokio::test]
async fn an_orders_detail_shows_what_happened_and_notes_and_only_a_stepped_up_owner_sees_the_receiver()
 {
    // given a paid order
    let shop = TestShop::start().await;
    let (token, _) = shop.login("detailed.1").await;
    let id = placed(&shop, &token, "detail-1").await;
    pay(&shop, &id).await;
    let (owner_token, _, _) = owner(&shop, "laoban.b").await;
    let (service, _) = member(&shop, &owner_token, "kefu.f", Role::Service).await;

    // when customer service notes it and reads it, and both try to reveal the receiver
    let noted = shop
        .post_as(
            &service,
            &format!("/admin/v1/orders/{id}/notes"),
            &json!({"text": "顾客要求周末送达"}),
        )
        .await;
    let empty_note = shop
        .post_as(
            &service,
            &format!("/admin/v1/orders/{id}/notes"),
            &json!({"text": ""}),
        )
        .await;
    let detail = staff_order(&shop, &service, &id).await;
    let hidden = shop
        .post_as(
            &service,
            &format!("/admin/v1/orders/{id}/receiver"),
            &json!({}),
        )
        .await;
    let revealed = shop
        .post_as(
            &owner_token,
            &format!("/admin/v1/orders/{id}/receiver"),
            &json!({}),
        )
        .await;

    // then the detail has the timeline, the payment and the note, the receiver masked
    assert_eq!(noted.status, 201, "{}", noted.text);
    assert_eq!((empty_note.status, empty_note.error_field()), (400, "text"));
    assert_eq!(detail.status, 200, "{}", detail.text);
    assert_eq!(detail.body["status"], "PAID");
    assert_eq!(detail.body["payment"]["provider"], "wechat");
    assert!(detail.body["payment"]["transactionId"].is_string());
    assert!(detail.body["history"].as_array().unwrap().len() >= 2);
    assert_eq!(detail.body["notes"][0]["text"], "顾客要求周末送达");
    assert_eq!(detail.body["address"]["phone"], "138****5678");
    // and only the owner, stepped up by signing in, sees the receiver in full, audited
    assert_eq!((hidden.status, hidden.error_code()), (403, "forbidden"));
    assert_eq!(revealed.status, 200, "{}", revealed.text);
    assert_eq!(revealed.body["address"]["phone"], "13812345678");
    assert_eq!(revealed.body["address"]["detail"], "文三路 90 号");
    let reveals = actions(&shop, "receiver.reveal").await;
    assert_eq!(reveals.len(), 1);
    assert_eq!(
        reveals[0].after["phone"], "138****5678",
        "the log keeps it masked"
    );
    assert_eq!(actions(&shop, "order.note").await.len(), 1);
}

#[tokio::test]
async fn shipping_by_hand_takes_the_consumers_path_and_an_order_it_shipped_is_refused_once() {
    // given two paid orders in a shop with warehouses and a shipped-notice template; the
    // fulfillment consumer ships the first itself
    let shop = TestShop::seeded_with(&[("WECHAT_SHIPPED_TEMPLATE_ID", "tmpl-shipped")]).await;
    devstack::seed::warehouses(&shop.stack.admin(), 0)
        .await
        .unwrap();
    let (token, _) = shop.login("handship.1").await;
    let (owner_token, _, _) = owner(&shop, "cangku.zhu").await;
    let by_consumer = placed(&shop, &token, "hand-1").await;
    pay(&shop, &by_consumer).await;
    shop.stack.drain("FulfillmentQueue").await.unwrap();
    let consumer_waybill =
        staff_order(&shop, &owner_token, &by_consumer).await.body["shipment"]["number"]
            .as_str()
            .unwrap()
            .to_string();
    let by_hand = placed(&shop, &token, "hand-2").await;
    pay(&shop, &by_hand).await;
    let (warehouse, _) = member(&shop, &owner_token, "cangku", Role::Warehouse).await;
    let notices_before = shop.stack.wechat.subscribe_messages().len();

    // when the warehouse ships the consumer's order by hand, then the other, then reuses its
    // waybill, then names a courier WeChat does not know
    let twice = ship_by_hand(&shop, &warehouse, &by_consumer, "ZT7399000777").await;
    let shipped = ship_by_hand(&shop, &warehouse, &by_hand, "ZT7399000888").await;
    let third = placed(&shop, &token, "hand-3").await;
    pay(&shop, &third).await;
    let reused = ship_by_hand(&shop, &warehouse, &third, "ZT7399000888").await;
    let unknown = shop
        .post_as(
            &warehouse,
            &format!("/admin/v1/orders/{third}/ship"),
            &json!({"company": "wodekuaidi", "number": "AB123456"}),
        )
        .await;
    shop.stack.drain("FulfillmentQueue").await.unwrap();

    // then the consumer's order is refused and keeps its own waybill
    assert_eq!(
        (twice.status, twice.error_code()),
        (409, "order_not_shippable")
    );
    let kept = staff_order(&shop, &owner_token, &by_consumer).await;
    assert_eq!(kept.body["shipment"]["number"], consumer_waybill.as_str());
    // and the one shipped by hand is SHIPPED, tracked, uploaded to WeChat and noticed once
    assert_eq!(shipped.status, 200, "{}", shipped.text);
    assert_eq!(shipped.body["status"], "SHIPPED");
    assert!(shop.stack.kuaidi100.is_subscribed("ZT7399000888"));
    let detail = staff_order(&shop, &owner_token, &by_hand).await;
    assert_eq!(
        detail.body["shippingUpload"]["state"], "UPLOADED",
        "{}",
        detail.text
    );
    assert!(
        shop.stack
            .wechat
            .shipping_uploads()
            .iter()
            .any(|u| u.to_string().contains("ZT7399000888"))
    );
    let notices: Vec<Value> = shop.stack.wechat.subscribe_messages()[notices_before..]
        .iter()
        .filter(|m| m.to_string().contains("ZT7399000888"))
        .cloned()
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    // and another order cannot take its waybill, nor an unknown courier
    assert_eq!((reused.status, reused.error_code()), (409, "waybill_taken"));
    assert_eq!((unknown.status, unknown.error_field()), (400, "company"));
    assert_eq!(actions(&shop, "order.ship").await.len(), 1);
}

#[tokio::test]
async fn staff_cancel_an_unpaid_order_and_its_stock_comes_back_once() {
    // given an unpaid order and a paid one
    let shop = TestShop::start().await;
    let (token, _) = shop.login("canceller.1").await;
    let before = stock_of(&shop, "walnut-1").await;
    let unpaid = placed(&shop, &token, "cancel-1").await;
    let paid = placed(&shop, &token, "cancel-2").await;
    pay(&shop, &paid).await;
    let (owner_token, _, _) = owner(&shop, "dianzhu").await;
    let (service, _) = member(&shop, &owner_token, "kefu.g", Role::Service).await;

    // when customer service cancels the unpaid one twice at once, and the paid one
    let cancel = |id: String| {
        let (shop, service) = (&shop, service.clone());
        async move {
            shop.post_as(
                &service,
                &format!("/admin/v1/orders/{id}/cancel"),
                &json!({"reason": "顾客电话要求取消"}),
            )
            .await
        }
    };
    let (a, b) = tokio::join!(cancel(unpaid.clone()), cancel(unpaid.clone()));
    let refused = cancel(paid.clone()).await;

    // then it is cancelled and its unit back on the shelf once; the paid one is refused
    assert_eq!((a.status, b.status), (200, 200), "{} / {}", a.text, b.text);
    assert_eq!(a.body["status"], "CANCELLED");
    assert_eq!(
        stock_of(&shop, "walnut-1").await,
        before - 1,
        "the paid unit stays sold"
    );
    assert_eq!(
        (refused.status, refused.error_code()),
        (409, "order_not_cancellable")
    );
    assert_eq!(actions(&shop, "order.cancel").await.len(), 1);
    let seen = shop.get_as(&token, &format!("/v1/orders/{unpaid}")).await;
    assert_eq!(seen.body["status"], "CANCELLED");
}

#[tokio::test]
async fn orders_from_before_the_list_existed_are_listed_by_shopctl_once() {
    // given an order written before the merchant's list existed (no day index on it)
    let shop = TestShop::start().await;
    let (token, _) = shop.login("old-order.1").await;
    let id = placed(&shop, &token, "old-1").await;
    shop.stack
        .dynamodb
        .update_item()
        .table_name(&shop.stack.resources.tables["OrdersTable"])
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ORDER#{id}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("ORDER".into()),
        )
        .update_expression("REMOVE gsi2pk, gsi2sk")
        .send()
        .await
        .unwrap();
    let (owner_token, _, _) = owner(&shop, "laoban.e").await;
    let before = ids(&shop.get_as(&owner_token, "/admin/v1/orders").await.body);
    assert!(!before.contains(&id));

    // when the merchant runs the command, twice
    let now = domain::clock::now_epoch_seconds();
    let first = shopctl::run(&shop.stack.admin(), &["orders", "list-unlisted"], now)
        .await
        .unwrap();
    let second = shopctl::run(&shop.stack.admin(), &["orders", "list-unlisted"], now)
        .await
        .unwrap();

    // then the order is listed, once
    assert!(first.starts_with("listed 1 orders"), "{first}");
    assert!(second.starts_with("listed 0 orders"), "{second}");
    let after = ids(&shop.get_as(&owner_token, "/admin/v1/orders").await.body);
    assert_eq!(after, vec![id]);
}

#[tokio::test]
async fn a_deleted_accounts_orders_are_no_longer_found_by_their_phone() {
    // given a shopper whose cancelled order staff can find by the phone's last digits
    let shop = TestShop::start().await;
    let (token, _) = shop.login("leaver.1").await;
    let id = placed(&shop, &token, "leaver-1").await;
    let cancelled = shop
        .post_as(&token, &format!("/v1/orders/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    let (owner_token, _, _) = owner(&shop, "laoban.f").await;
    let find = || shop.get_as(&owner_token, "/admin/v1/orders?phone4=5678");
    assert_eq!(ids(&find().await.body), vec![id.clone()]);

    // when the shopper deletes their account
    let deleted = shop.delete_as(&token, "/v1/me").await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);

    // then their phone no longer finds the order, which is kept for the accounts
    assert!(ids(&find().await.body).is_empty());
    let kept = staff_order(&shop, &owner_token, &id).await;
    assert_eq!(kept.status, 200);
    assert_eq!(kept.body["address"]["phone"], "");
}
