use crate::support::TestShop;
use devstack::SANDBOX_APPID;
use devstack::wechat_sandbox::openid_for;
use domain::ids::UserId;
use serde_json::json;
use std::collections::HashMap;

#[tokio::test]
async fn a_new_shopper_gets_a_token_and_an_account() {
    let shop = TestShop::with_settings(HashMap::new()).await;

    let answer = shop
        .post("/v1/auth/login", &json!({"code": "alice.1"}))
        .await;

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["expiresIn"], 7200);
    assert_eq!(answer.body["user"]["isNew"], true);
    assert_eq!(answer.body["user"]["phoneBound"], false);
    assert!(answer.body["token"].as_str().unwrap().split('.').count() == 3);
    assert!(
        !answer.text.contains(&openid_for(SANDBOX_APPID, "alice")),
        "the openid must never be answered"
    );
    assert!(!answer.text.contains("session_key"));
}

#[tokio::test]
async fn a_returning_shopper_keeps_their_account() {
    let shop = TestShop::with_settings(HashMap::new()).await;
    let (_, first) = shop.login("alice.1").await;

    let again = shop
        .post("/v1/auth/login", &json!({"code": "alice.2"}))
        .await;

    assert_eq!(again.body["user"]["id"], first.as_str());
    assert_eq!(again.body["user"]["isNew"], false);
}

#[tokio::test]
async fn concurrent_first_logins_create_exactly_one_account() {
    let shop = TestShop::with_settings(HashMap::new()).await;

    let bodies: Vec<_> = (0..8)
        .map(|i| json!({"code": format!("bob.{i}")}))
        .collect();

    let answers =
        futures::future::join_all(bodies.iter().map(|body| shop.post("/v1/auth/login", body)))
            .await;

    let ids: std::collections::HashSet<_> = answers
        .iter()
        .map(|a| a.body["user"]["id"].to_string())
        .collect();
    assert_eq!(ids.len(), 1, "one account for one openid");
    assert_eq!(
        answers
            .iter()
            .filter(|a| a.body["user"]["isNew"] == true)
            .count(),
        1
    );
}

#[tokio::test]
async fn a_used_or_invalid_code_is_refused_with_401() {
    let shop = TestShop::with_settings(HashMap::new()).await;
    shop.login("carol.1").await;

    for code in ["carol.1", "invalid-code"] {
        let answer = shop.post("/v1/auth/login", &json!({"code": code})).await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (401, "wechat_code_invalid"),
            "{code}"
        );
    }
}

#[tokio::test]
async fn wechat_refusals_map_to_clear_answers() {
    let shop = TestShop::with_settings(HashMap::new()).await;

    let limited = shop
        .post("/v1/auth/login", &json!({"code": "ratelimited.1"}))
        .await;
    let risky = shop
        .post("/v1/auth/login", &json!({"code": "highrisk.1"}))
        .await;
    let busy_once = shop
        .post("/v1/auth/login", &json!({"code": "busy.1"}))
        .await;

    assert_eq!(
        (limited.status, limited.error_code()),
        (429, "rate_limited")
    );
    assert_eq!(
        (risky.status, risky.error_code()),
        (403, "wechat_high_risk")
    );
    assert_eq!(
        busy_once.status, 200,
        "WeChat busy (-1) is retried once: {}",
        busy_once.text
    );
}

#[tokio::test]
async fn wechat_down_is_a_502_that_leaks_nothing() {
    let shop = TestShop::with_settings(HashMap::from([(
        "WECHAT_API_BASE".to_string(),
        "http://127.0.0.1:9".to_string(),
    )]))
    .await;

    let answer = shop
        .post("/v1/auth/login", &json!({"code": "dave.1"}))
        .await;

    assert_eq!(
        (answer.status, answer.error_code()),
        (502, "wechat_unavailable")
    );
    assert!(
        !answer.text.contains("127.0.0.1"),
        "no internal detail in the answer: {}",
        answer.text
    );
}

#[tokio::test]
async fn bad_login_bodies_are_400s_naming_the_field() {
    let shop = TestShop::with_settings(HashMap::new()).await;
    let long = "x".repeat(129);
    let cases = [
        (json!({}), "code"),
        (json!({"code": ""}), "code"),
        (json!({"code": 42}), "code"),
        (json!({"code": long}), "code"),
        (
            json!({"code": "erin.1", "inviteCode": "no spaces allowed"}),
            "inviteCode",
        ),
    ];
    for (body, field) in cases {
        let answer = shop.post("/v1/auth/login", &body).await;
        assert_eq!(
            (answer.status, answer.error_field()),
            (400, field),
            "{body}: {}",
            answer.text
        );
    }
    let garbage = shop
        .post_raw("/v1/auth/login", "application/json", "{\"code\":")
        .await;
    assert_eq!((garbage.status, garbage.error_field()), (400, "body"));
}

#[tokio::test]
async fn a_base64_encoded_body_is_read_like_api_gateway_sends_it() {
    let shop = TestShop::with_settings(HashMap::new()).await;

    // A non-text content type makes API Gateway (and the local gateway) base64-encode the body.
    let answer = shop
        .post_raw(
            "/v1/auth/login",
            "application/octet-stream",
            r#"{"code":"frank.1"}"#,
        )
        .await;

    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[tokio::test]
async fn a_new_shoppers_invite_code_is_remembered_once() {
    let shop = TestShop::with_settings(HashMap::new()).await;

    let first = shop
        .post(
            "/v1/auth/login",
            &json!({"code": "gina.1", "inviteCode": "s_share42"}),
        )
        .await;
    shop.post(
        "/v1/auth/login",
        &json!({"code": "gina.2", "inviteCode": "s_other"}),
    )
    .await;

    let id = UserId::parse(first.body["user"]["id"].as_str().unwrap()).unwrap();
    let user = shop.stack.user_store().get(&id).await.unwrap().unwrap();
    assert_eq!(user.invite_code.as_deref(), Some("s_share42"));
}

#[tokio::test]
async fn binding_a_phone_answers_and_stores_only_the_masked_number() {
    let shop = TestShop::with_settings(HashMap::new()).await;
    let (token, id) = shop.login("hana.1").await;

    let answer = shop
        .post_as(
            &token,
            "/v1/auth/phone",
            &json!({"code": "phone-13812345678"}),
        )
        .await;

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["phone"], "138****5678");
    let user = shop
        .stack
        .user_store()
        .get(&UserId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.phone_masked.as_deref(), Some("138****5678"));
    assert!(!user.phone_hash.unwrap().contains("12345678"));
    let again = shop
        .post("/v1/auth/login", &json!({"code": "hana.2"}))
        .await;
    assert_eq!(again.body["user"]["phoneBound"], true);
}

#[tokio::test]
async fn the_access_token_is_cached_across_requests_and_renewed_when_revoked() {
    let shop = TestShop::with_settings(HashMap::new()).await;
    let (a, _) = shop.login("ivan.1").await;
    let (b, _) = shop.login("judy.1").await;

    shop.post_as(&a, "/v1/auth/phone", &json!({"code": "p1"}))
        .await;
    shop.post_as(&b, "/v1/auth/phone", &json!({"code": "p2"}))
        .await;
    assert_eq!(
        shop.stack.wechat.stable_token_calls(),
        1,
        "one stable_token call serves both bindings"
    );

    shop.stack.wechat.revoke_access_token();
    let after_revoke = shop
        .post_as(&a, "/v1/auth/phone", &json!({"code": "p3"}))
        .await;
    assert_eq!(after_revoke.status, 200, "{}", after_revoke.text);
    assert_eq!(shop.stack.wechat.stable_token_calls(), 2);
}

#[tokio::test]
async fn phone_binding_needs_a_valid_token_and_a_valid_code() {
    let shop = TestShop::with_settings(HashMap::new()).await;
    let (token, _) = shop.login("kate.1").await;

    let anonymous = shop.post("/v1/auth/phone", &json!({"code": "p1"})).await;
    let forged = shop
        .post_as("not.a.token", "/v1/auth/phone", &json!({"code": "p1"}))
        .await;
    let bad_code = shop
        .post_as(
            &token,
            "/v1/auth/phone",
            &json!({"code": "invalid-phone-code"}),
        )
        .await;
    let no_code = shop.post_as(&token, "/v1/auth/phone", &json!({})).await;

    assert_eq!(anonymous.status, 401);
    assert_eq!(forged.status, 401);
    assert_eq!(
        (bad_code.status, bad_code.error_code()),
        (401, "wechat_code_invalid")
    );
    assert_eq!((no_code.status, no_code.error_field()), (400, "code"));
}

#[tokio::test]
async fn an_unknown_route_is_a_json_404() {
    let shop = TestShop::with_settings(HashMap::new()).await;

    let answer = shop.get("/v1/nothing-here").await;

    assert_eq!(
        (answer.status, answer.error_code()),
        (404, "route_not_found")
    );
}
