//! A shopper's rights over their data (个人信息保护法): everything exported as one document, the
//! account deleted with its tokens, orders in flight blocking that, and WeChat telling us of a
//! revocation or of the WeChat account itself being deleted.

use crate::checkout::{order_body, place};
use crate::social::{deliver_order, pay, shop_with};
use crate::support::TestShop;
use domain::ids::OrderId;
use serde_json::{Value, json};

async fn export(shop: &TestShop, token: &str) -> Value {
    let answer = shop.get_as(token, "/v1/me/export").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body
}

async fn delete_me(shop: &TestShop, token: &str) -> crate::support::Answer {
    shop.delete_as(token, "/v1/me").await
}

/// A bargain of someone else's that `friend` helped with their nickname and avatar: its id.
async fn helped_bargain(shop: &TestShop, owner: &str, friend: &str) -> String {
    let (owner, _) = shop.login(owner).await;
    let started = shop
        .post_as(&owner, "/v1/bargains", &json!({"skuId": "zhengshan-1"}))
        .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.body["id"].as_str().unwrap().to_string();
    let helped = shop
        .post_as(
            friend,
            &format!("/v1/bargains/{id}/help"),
            &json!({"nickname": "小美", "avatarUrl": "https://a.example/mei.png"}),
        )
        .await;
    assert_eq!(helped.status, 200, "{}", helped.text);
    id
}

async fn helpers_of(shop: &TestShop, bargain: &str) -> Value {
    let answer = shop.get(&format!("/v1/bargains/{bargain}")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["helpedBy"].clone()
}

#[tokio::test]
async fn deleting_an_account_erases_it_refuses_its_tokens_and_a_new_login_finds_nothing() {
    // given a shopper with a phone, points, a share link, a bargain cut and a delivered order
    let shop = shop_with(&[]).await;
    let (token, old_id) = shop.login("mei.1").await;
    let bound = shop
        .post_as(
            &token,
            "/v1/auth/phone",
            &json!({"code": "phone-13812345678"}),
        )
        .await;
    assert_eq!(bound.status, 200, "{}", bound.text);
    assert_eq!(
        shop.post_as(&token, "/v1/checkin", &json!({})).await.status,
        201
    );
    let share = shop
        .post_as(&token, "/v1/shares", &json!({"productId": "longjing"}))
        .await;
    let code = share.body["code"].as_str().unwrap().to_string();
    let bargain = helped_bargain(&shop, "owner.1", &token).await;
    let saved = shop
        .post_as(&token, "/v1/addresses", &crate::support::address())
        .await;
    assert_eq!(saved.status, 201, "{}", saved.text);
    let carted = shop
        .post_as(
            &token,
            "/v1/cart/items",
            &json!({"skuId": "walnut-1", "quantity": 1}),
        )
        .await;
    assert_eq!(carted.status, 201, "{}", carted.text);
    let placed = place(&shop, &token, "mei-order", &order_body("longjing-1", 1)).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let order_id = placed.body["order"]["id"].as_str().unwrap().to_string();
    let total = placed.body["order"]["total"].clone();
    pay(&shop, &order_id).await;
    deliver_order(&shop, &token, &order_id).await;
    let before = export(&shop, &token).await;
    assert_eq!(before["profile"]["id"], old_id.as_str());
    assert_eq!(before["profile"]["phone"], "138****5678");
    assert_eq!(before["orders"][0]["address"]["name"], "张三");
    assert_eq!(before["points"]["balance"], 5);
    assert_eq!(before["shares"]["links"][0]["code"], code.as_str());
    assert_eq!(
        before["shares"]["bargainHelps"][0]["help"]["nickname"],
        "小美"
    );
    let kept: Vec<&str> = before["shopping"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["record"].as_str())
        .collect();
    assert!(kept.contains(&"CART#walnut-1"), "{kept:?}");
    assert!(kept.iter().any(|r| r.starts_with("ADDRESS#")), "{kept:?}");

    // when they delete their account
    let deleted = delete_me(&shop, &token).await;

    // then it is gone: its token refused everywhere, its order anonymised but still adding up
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(
        deleted.body,
        json!({"deleted": true, "ordersAnonymised": 1, "reviewsAnonymised": 0})
    );
    for path in ["/v1/me/export", "/v1/orders", "/v1/rewards"] {
        assert_eq!(shop.get_as(&token, path).await.status, 401, "{path}");
    }
    assert_eq!(delete_me(&shop, &token).await.status, 401);
    let order = shop
        .stack
        .order_store()
        .get(&OrderId::parse(&order_id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.order.address.name, domain::order::ERASED_RECEIVER);
    assert_eq!(
        (
            order.order.address.phone.as_str(),
            order.order.address.detail.as_str()
        ),
        ("", "")
    );
    assert_eq!(json!(order.order.total), total);
    assert_eq!(order.order.lines.len(), 1);
    assert!(
        order.openid.is_none(),
        "whom WeChat Pay charged is forgotten"
    );
    let opened = shop
        .post(&format!("/v1/shares/{code}/open"), &json!({}))
        .await;
    assert_eq!(opened.status, 404, "the share link is gone");
    let helpers = helpers_of(&shop, &bargain).await;
    assert_eq!(helpers[0]["nickname"], "微信用户");
    assert_eq!(helpers[0]["avatarUrl"], Value::Null, "{helpers}");

    // and the same person logging in again starts afresh, with no trace of the old account
    let again = shop.post("/v1/auth/login", &json!({"code": "mei.2"})).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["user"]["isNew"], true);
    assert_eq!(again.body["user"]["phoneBound"], false);
    let new_token = again.body["token"].as_str().unwrap();
    let fresh = export(&shop, new_token).await;
    assert_ne!(fresh["profile"]["id"], old_id.as_str());
    assert_eq!(fresh["orders"], json!([]));
    assert_eq!(fresh["points"], json!({"balance": 0, "entries": []}));
    assert_eq!(fresh["coupons"], json!([]));
    assert_eq!(fresh["shares"]["links"], json!([]));
    assert_eq!(fresh["shares"]["bargainHelps"], json!([]));
    assert_eq!(fresh["shopping"], json!([]));
    let text = fresh.to_string();
    for trace in [old_id.as_str(), "5678", code.as_str(), "小美", &order_id] {
        assert!(!text.contains(trace), "{trace} left in {text}");
    }
}

#[tokio::test]
async fn an_order_in_flight_blocks_deletion_and_is_named() {
    // given a shopper with an unpaid order
    let shop = shop_with(&[]).await;
    let (token, _) = shop.login("lan.1").await;
    let placed = place(&shop, &token, "lan-order", &order_body("longjing-1", 1)).await;
    let order_id = placed.body["order"]["id"].as_str().unwrap().to_string();

    // when they ask to delete their account, unpaid and then paid
    let unpaid = delete_me(&shop, &token).await;
    pay(&shop, &order_id).await;
    let paid = delete_me(&shop, &token).await;

    // then both are refused naming the order, and the account is untouched
    assert_eq!(
        (unpaid.status, unpaid.error_code()),
        (409, "orders_in_flight")
    );
    assert_eq!(
        unpaid.body["error"]["orders"],
        json!([{"id": order_id, "status": "PENDING_PAYMENT"}])
    );
    assert_eq!(
        paid.body["error"]["orders"],
        json!([{"id": order_id, "status": "PAID"}])
    );
    let kept = export(&shop, &token).await;
    assert_eq!(kept["orders"][0]["address"]["name"], "张三");
}

#[tokio::test]
async fn a_wechat_account_deleted_on_wechat_takes_the_shop_account_with_it() {
    // given a shopper with points
    let shop = shop_with(&[]).await;
    let (token, _) = shop.login("wen.1").await;
    assert_eq!(
        shop.post_as(&token, "/v1/checkin", &json!({})).await.status,
        201
    );
    let openid = shop.sandbox_get("/__sandbox/wechat/openid?name=wen").await["openid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        openid,
        devstack::wechat_sandbox::openid_for(devstack::SANDBOX_APPID, "wen")
    );

    // when WeChat pushes user_authorization_cancellation, twice
    for _ in 0..2 {
        shop.push_event("user_authorization_cancellation", &openid, json!({}))
            .await;
    }

    // then the token is refused and the next login is a new, empty account
    assert_eq!(shop.get_as(&token, "/v1/me/export").await.status, 401);
    let again = shop.post("/v1/auth/login", &json!({"code": "wen.2"})).await;
    assert_eq!(again.body["user"]["isNew"], true);
    let fresh = export(&shop, again.body["token"].as_str().unwrap()).await;
    assert_eq!(fresh["points"]["balance"], 0);
}

#[tokio::test]
async fn revoking_addresses_and_profile_on_wechat_forgets_them_but_not_what_is_on_its_way() {
    // given a shopper with a cancelled order, an unpaid one and a bargain cut with their face
    let shop = shop_with(&[]).await;
    let (token, _) = shop.login("yu.1").await;
    let first = place(&shop, &token, "yu-1", &order_body("longjing-1", 1)).await;
    let cancelled = first.body["order"]["id"].as_str().unwrap().to_string();
    let cancel = shop
        .post_as(
            &token,
            &format!("/v1/orders/{cancelled}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(cancel.status, 200, "{}", cancel.text);
    let second = place(&shop, &token, "yu-2", &order_body("longjing-1", 1)).await;
    let unpaid = second.body["order"]["id"].as_str().unwrap().to_string();
    let bargain = helped_bargain(&shop, "owner.2", &token).await;
    let saved = shop
        .post_as(&token, "/v1/addresses", &crate::support::address())
        .await;
    assert_eq!(saved.status, 201, "{}", saved.text);
    let openid = devstack::wechat_sandbox::openid_for(devstack::SANDBOX_APPID, "yu");

    // when WeChat says they revoked their addresses (2) and nickname and avatar (6)
    shop.push_event(
        "user_authorization_revoke",
        &openid,
        json!({"RevokeInfo": "2,6"}),
    )
    .await;

    // then the finished order forgets its receiver, the unpaid one keeps it to be delivered,
    // and the cut shows WeChat's anonymous face; the account itself stays
    let order = |id: String| {
        let shop = &shop;
        let token = token.clone();
        async move { shop.get_as(&token, &format!("/v1/orders/{id}")).await.body }
    };
    let (cancelled, unpaid) = (order(cancelled).await, order(unpaid).await);
    assert_eq!(cancelled["address"]["name"], domain::order::ERASED_RECEIVER);
    assert_eq!(cancelled["address"]["phone"], "");
    assert_eq!(unpaid["address"]["name"], "张三");
    let book = shop.get_as(&token, "/v1/addresses").await.body;
    assert_eq!(book["items"], json!([]), "the address book is emptied");
    let helpers = helpers_of(&shop, &bargain).await;
    assert_eq!(helpers[0]["nickname"], "微信用户");
    assert_eq!(helpers[0]["avatarUrl"], Value::Null, "{helpers}");
    assert_eq!(shop.get_as(&token, "/v1/me/export").await.status, 200);
}
