//! The merchant's door: staff sign-in with a password and a TOTP code, the lock after five
//! wrong passwords, codes used once, tokens of their own kind, step-up, and every admin route
//! with every role against the one permission table.

use crate::support::{Answer, TestShop, audit_log};
use app::credentials::totp_at;
use app::staff::StaffDesk;
use domain::staff::Role;
use serde_json::{Value, json};
use store::staff::StaffStore;

fn store(shop: &TestShop) -> StaffStore {
    StaffStore::new(
        shop.stack.dynamodb.clone(),
        shop.stack.settings["STAFF_TABLE"].clone(),
    )
}

fn now() -> i64 {
    domain::clock::now_epoch_seconds()
}

fn code(secret: &[u8], step_offset: i64) -> String {
    format!("{:06}", totp_at(secret, now() / 30 + step_offset))
}

async fn sign_in(shop: &TestShop, username: &str, password: &str, code: Option<&str>) -> Answer {
    shop.post(
        "/admin/v1/auth/sign-in",
        &json!({"username": username, "password": password, "code": code}),
    )
    .await
}

fn token_of(answer: &Answer) -> String {
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["token"].as_str().unwrap().to_string()
}

/// An owner made as `shopctl staff create-owner` makes one: (token, TOTP secret, id).
pub(crate) async fn owner(shop: &TestShop, name: &str) -> (String, Vec<u8>, String) {
    let (owner, password, uri) = StaffDesk::new(store(shop), audit_log(shop))
        .create_owner(name, now())
        .await
        .unwrap();
    assert!(uri.starts_with(&format!("otpauth://totp/wechat-shop:{name}?secret=")));
    let secret = owner.totp_secret.clone().unwrap();
    let token = token_of(&sign_in(shop, name, &password, Some(&code(&secret, 0))).await);
    change_password(shop, &token, &password).await;
    (token, secret, owner.id)
}

/// Marks the session behind `token` as stepped up at `at` (more than five minutes ago makes
/// it stale), as entering a code then would have.
pub(crate) async fn stepped_up_at(shop: &TestShop, token: &str, staff_id: &str, at: i64) {
    let claims: Value = {
        use base64::Engine;
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    store(shop)
        .touch_session(
            staff_id,
            claims["sid"].as_str().unwrap(),
            None,
            Some(at),
            now(),
        )
        .await
        .unwrap();
}

/// The handed-out password replaced, as the first sign-in must.
async fn change_password(shop: &TestShop, token: &str, given: &str) {
    let changed = shop
        .post_as(
            token,
            "/admin/v1/me/password",
            &json!({"currentPassword": given, "newPassword": format!("{given}-Mine")}),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.text);
}

/// A member of `role`, added by the owner through the API and signed in: (token, id).
pub(crate) async fn member(
    shop: &TestShop,
    owner_token: &str,
    name: &str,
    role: Role,
) -> (String, String) {
    let added = shop
        .post_as(
            owner_token,
            "/admin/v1/staff",
            &json!({"username": name, "role": role.as_str()}),
        )
        .await;
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(added.body["mustChangePassword"], true);
    let password = added.body["oneTimePassword"].as_str().unwrap().to_string();
    let id = added.body["id"].as_str().unwrap().to_string();
    let token = token_of(&sign_in(shop, name, &password, None).await);
    change_password(shop, &token, &password).await;
    (token, id)
}

#[tokio::test]
async fn eight_wrong_passwords_at_once_count_exactly_five_and_lock_the_account() {
    // given a staff member
    let shop = TestShop::start().await;
    let (owner_token, _, _) = owner(&shop, "boss").await;
    let added = shop
        .post_as(
            &owner_token,
            "/admin/v1/staff",
            &json!({"username": "xiaoli", "role": "service"}),
        )
        .await;
    let password = added.body["oneTimePassword"].as_str().unwrap().to_string();

    // when eight wrong passwords arrive together
    let guesses = futures::future::join_all((0..8).map(|i| {
        let shop = &shop;
        async move { sign_in(shop, "xiaoli", &format!("guess-{i}-Wrong"), None).await }
    }))
    .await;

    // then exactly five were checked (and wrong), the rest refused as locked, and now even
    // the right password is refused for 15 minutes
    let wrong = guesses.iter().filter(|a| a.status == 401).count();
    let locked = guesses.iter().filter(|a| a.status == 423).count();
    assert_eq!(
        (wrong, locked),
        (5, 3),
        "{:?}",
        guesses.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert!(
        guesses
            .iter()
            .filter(|a| a.status == 401)
            .all(|a| a.error_code() == "invalid_credentials")
    );
    let right = sign_in(&shop, "xiaoli", &password, None).await;
    assert_eq!((right.status, right.error_code()), (423, "account_locked"));
    // and an unknown name says no more than a wrong password
    let nobody = sign_in(&shop, "nobody-here", "whatever-Pass1", None).await;
    assert_eq!(
        (nobody.status, nobody.error_code()),
        (401, "invalid_credentials")
    );
}

#[tokio::test]
async fn an_owner_needs_a_code_and_each_code_works_once() {
    // given the shop's first owner
    let shop = TestShop::start().await;
    let (owner, password, _) = StaffDesk::new(store(&shop), audit_log(&shop))
        .create_owner("laoban", now())
        .await
        .unwrap();
    let secret = owner.totp_secret.clone().unwrap();

    // when they sign in without a code, with a wrong one, then with the right one twice
    let no_code = sign_in(&shop, "laoban", &password, None).await;
    let wrong = sign_in(&shop, "laoban", &password, Some("000000")).await;
    let current = code(&secret, 0);
    let first = sign_in(&shop, "laoban", &password, Some(&current)).await;
    let replayed = sign_in(&shop, "laoban", &password, Some(&current)).await;

    // then only the first right code opens a session, stepped up
    assert_eq!(
        (no_code.status, no_code.error_code()),
        (401, "code_required")
    );
    assert_eq!((wrong.status, wrong.error_code()), (401, "invalid_code"));
    let token = token_of(&first);
    assert_eq!(
        (replayed.status, replayed.error_code()),
        (401, "invalid_code")
    );
    let me = shop.get_as(&token, "/admin/v1/me").await;
    assert_eq!(me.body["role"], "owner");
    assert!(me.body["steppedUpAt"].is_i64());
    // and stepping up again takes the next code, once
    let step = shop
        .post_as(&token, "/admin/v1/auth/step-up", &json!({"code": current}))
        .await;
    assert_eq!((step.status, step.error_code()), (401, "invalid_code"));
    let next = code(&secret, 1);
    let stepped = shop
        .post_as(&token, "/admin/v1/auth/step-up", &json!({"code": next}))
        .await;
    assert_eq!(stepped.status, 200, "{}", stepped.text);
}

#[tokio::test]
async fn a_handed_out_password_opens_only_the_members_own_account_until_changed() {
    // given an owner who adds another owner
    let shop = TestShop::start().await;
    let (owner_token, _, _) = owner(&shop, "dalaoban").await;
    let added = shop
        .post_as(
            &owner_token,
            "/admin/v1/staff",
            &json!({"username": "erlaoban", "role": "owner"}),
        )
        .await;
    assert_eq!(added.status, 201, "{}", added.text);
    let given = added.body["oneTimePassword"].as_str().unwrap().to_string();
    let uri = added.body["otpauthUri"].as_str().unwrap();
    let secret_b32 = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let secret = store(&shop)
        .get(added.body["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap()
        .totp_secret
        .unwrap();
    assert_eq!(app::credentials::base32(&secret), secret_b32);

    // when the new owner signs in with the password and a code from the URI's secret
    let token = token_of(&sign_in(&shop, "erlaoban", &given, Some(&code(&secret, 0))).await);

    // then their own account works, the rest waits for a password of their own
    assert_eq!(
        shop.get_as(&token, "/admin/v1/me").await.body["mustChangePassword"],
        true
    );
    let staff = shop.get_as(&token, "/admin/v1/staff").await;
    assert_eq!(
        (staff.status, staff.error_code()),
        (403, "password_change_required")
    );
    change_password(&shop, &token, &given).await;
    assert_eq!(shop.get_as(&token, "/admin/v1/staff").await.status, 200);
    assert_eq!(
        shop.get_as(&token, "/admin/v1/me").await.body["mustChangePassword"],
        false
    );
}

#[tokio::test]
async fn shopper_and_staff_tokens_never_open_each_others_doors() {
    // given a shopper and a staff member, each signed in
    let shop = TestShop::start().await;
    let (shopper, _) = shop.login("keke.1").await;
    let (staff, _, _) = owner(&shop, "zhanggui").await;

    // when each calls the other's API
    let shopper_on_admin = shop.get_as(&shopper, "/admin/v1/me").await;
    let staff_on_shop = shop.get_as(&staff, "/v1/orders").await;

    // then both are 401, and each works on its own
    assert_eq!(shopper_on_admin.status, 401, "{}", shopper_on_admin.text);
    assert_eq!(staff_on_shop.status, 401, "{}", staff_on_shop.text);
    assert_eq!(shop.get_as(&shopper, "/v1/orders").await.status, 200);
    assert_eq!(shop.get_as(&staff, "/admin/v1/me").await.status, 200);
}

#[tokio::test]
async fn signing_out_or_being_disabled_refuses_the_token_at_once_and_adding_staff_needs_a_fresh_code()
 {
    // given an owner and two members signed in
    let shop = TestShop::start().await;
    let (owner_token, secret, owner_id) = owner(&shop, "dong").await;
    let (leaving, _) = member(&shop, &owner_token, "xiaozhao", Role::Operator).await;
    let (disabled, disabled_id) = member(&shop, &owner_token, "xiaoqian", Role::Warehouse).await;
    let renewed = shop
        .post_as(&leaving, "/admin/v1/auth/renew", &json!({}))
        .await;
    let renewed = token_of(&renewed);

    // when one signs out and the owner disables the other
    assert_eq!(
        shop.post_as(&leaving, "/admin/v1/auth/sign-out", &json!({}))
            .await
            .status,
        204
    );
    let off = shop
        .post_as(
            &owner_token,
            &format!("/admin/v1/staff/{disabled_id}/disable"),
            &json!({}),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.text);

    // then their tokens (the renewed one too) are 401 from now on, and the disabled member
    // cannot sign in again
    for token in [&leaving, &renewed, &disabled] {
        assert_eq!(shop.get_as(token, "/admin/v1/me").await.status, 401);
    }
    let listed = shop.get_as(&owner_token, "/admin/v1/staff").await;
    let gone = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == disabled_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(gone["disabled"], true);

    // when the owner's step-up is more than five minutes old
    stepped_up_at(&shop, &owner_token, &owner_id, now() - 301).await;
    let stale = shop
        .post_as(
            &owner_token,
            "/admin/v1/staff",
            &json!({"username": "xiaosun", "role": "service"}),
        )
        .await;

    // then adding staff waits for a fresh code
    assert_eq!(
        (stale.status, stale.error_code()),
        (403, "step_up_required")
    );
    let stepped = shop
        .post_as(
            &owner_token,
            "/admin/v1/auth/step-up",
            &json!({"code": code(&secret, 1)}),
        )
        .await;
    assert_eq!(stepped.status, 200, "{}", stepped.text);
    let fresh = shop
        .post_as(
            &owner_token,
            "/admin/v1/staff",
            &json!({"username": "xiaosun", "role": "service"}),
        )
        .await;
    assert_eq!(fresh.status, 201, "{}", fresh.text);
}

#[tokio::test]
async fn every_admin_route_with_every_role_is_allowed_or_refused_as_the_table_says() {
    // given a signed-in member of every role
    let shop = TestShop::start().await;
    let (owner_token, _, _) = owner(&shop, "quanquan").await;
    let mut tokens = vec![(Role::Owner, owner_token.clone())];
    for (name, role) in [
        ("op-one", Role::Operator),
        ("svc-one", Role::Service),
        ("wh-one", Role::Warehouse),
    ] {
        tokens.push((role, member(&shop, &owner_token, name, role).await.0));
    }

    for (role, token) in &tokens {
        // Signing out last, so the token serves every other route first.
        let mut routes: Vec<_> = admin::ROUTES
            .iter()
            .filter(|(route, _)| *route != "POST /admin/v1/auth/sign-in")
            .collect();
        routes.sort_by_key(|(route, _)| *route == "POST /admin/v1/auth/sign-out");
        for (route, permission) in routes {
            let permission = permission.unwrap();
            let (method, path) = route.split_once(' ').unwrap();
            let path = path
                .replace("{id}", "st_nobody")
                .replace("{refundNo}", "Rnobody-1");
            // when the role calls the route (with a body that names no one real)
            let answer = match method {
                "GET" => shop.get_as(token, &path).await,
                _ => shop.post_as(token, &path, &json!({})).await,
            };
            // then the table decides: refused as forbidden, or past the door
            let refused = answer.status == 403 && answer.error_code() == "forbidden";
            assert_eq!(
                refused,
                !role.allows(permission),
                "{} on {route}: {} {}",
                role.as_str(),
                answer.status,
                answer.text
            );
            assert_ne!(
                answer.status,
                401,
                "{} on {route}: {}",
                role.as_str(),
                answer.text
            );
        }
    }
}

#[tokio::test]
async fn staff_changes_are_audited_in_a_chain_that_names_the_record_edited_or_deleted() {
    // given an owner (created by shopctl) who adds two members and disables one
    let shop = TestShop::start().await;
    let (owner_token, _, owner_id) = owner(&shop, "jianzhang").await;
    let (_, first) = member(&shop, &owner_token, "xiaohu", Role::Service).await;
    member(&shop, &owner_token, "xiaolu", Role::Warehouse).await;
    let off = shop
        .post_as(
            &owner_token,
            &format!("/admin/v1/staff/{first}/disable"),
            &json!({}),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.text);

    // then the day holds four records in a chain that checks, each naming who did what
    let day = domain::clock::china_day(now());
    let log = shop
        .get_as(&owner_token, &format!("/admin/v1/audit?day={day}"))
        .await;
    assert_eq!(log.status, 200, "{}", log.text);
    assert_eq!(log.body["chain"]["intact"], true, "{}", log.text);
    let actions: Vec<(&str, &str)> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap(),
                r["staffId"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("staff.add", "shopctl"),
            ("staff.add", owner_id.as_str()),
            ("staff.add", owner_id.as_str()),
            ("staff.disable", owner_id.as_str()),
        ]
    );
    let disabled = &log.body["items"][3];
    assert_eq!(disabled["target"], format!("staff:{first}"));
    assert!(
        disabled["requestId"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    let filtered = shop
        .get_as(
            &owner_token,
            &format!("/admin/v1/audit?day={day}&action=staff.disable"),
        )
        .await;
    assert_eq!(filtered.body["items"].as_array().unwrap().len(), 1);
    let admin = shop.stack.admin();
    let verify = [
        "audit".to_string(),
        "verify".into(),
        "--day".into(),
        day.clone(),
    ];
    let intact = shopctl::run(&admin, &verify, now()).await.unwrap();
    assert_eq!(intact, format!("{day}: 4 records, the chain is intact"));

    // when someone with table access edits record 2, then deletes record 3
    let table = shop.stack.settings["AUDIT_TABLE"].clone();
    let key = |seq: u64| {
        std::collections::HashMap::from([
            ("pk".to_string(), store::s(format!("DAY#{day}"))),
            ("sk".to_string(), store::s(format!("SEQ#{seq:010}"))),
        ])
    };
    shop.stack
        .dynamodb
        .update_item()
        .table_name(&table)
        .set_key(Some(key(2)))
        .update_expression("SET #after = :after")
        .expression_attribute_names("#after", "after")
        .expression_attribute_values(":after", store::to_attribute(&json!({"role": "owner"})))
        .send()
        .await
        .unwrap();
    let edited = shopctl::run(&admin, &verify, now()).await.unwrap_err();
    shop.stack
        .dynamodb
        .delete_item()
        .table_name(&table)
        .set_key(Some(key(3)))
        .send()
        .await
        .unwrap();
    let deleted = shop
        .get_as(&owner_token, &format!("/admin/v1/audit?day={day}"))
        .await;

    // then the check names record 2 as changed, and the API still reports it first
    assert!(
        edited.to_string().contains("breaks at record 2"),
        "{edited}"
    );
    assert_eq!(deleted.body["chain"]["intact"], false);
    assert_eq!(deleted.body["chain"]["brokenAt"], 2);
    // and an operator may not read the log
    let (operator, _) = member(&shop, &owner_token, "xiaoma", Role::Operator).await;
    let refused = shop.get_as(&operator, "/admin/v1/audit").await;
    assert_eq!((refused.status, refused.error_code()), (403, "forbidden"));
}

#[tokio::test]
async fn a_role_change_is_the_owners_closes_the_members_sessions_and_is_audited() {
    // given an owner and a service member signed in
    let shop = TestShop::start().await;
    let (owner_token, _, owner_id) = owner(&shop, "zhanggui").await;
    let (service_token, service_id) = member(&shop, &owner_token, "xiaoli", Role::Service).await;
    let (other_owner, _, _) = owner(&shop, "fuzhanggui").await;
    let (unverified, _) = member(&shop, &owner_token, "xiaozhao", Role::Service).await;
    let path = format!("/admin/v1/staff/{service_id}/role");

    // when another service member tries, the owner (stepped up by signing in) moves them to
    // the warehouse and then tries to make them an owner without a second factor, another
    // owner names no one, and the owner tries to move themself
    let promote = |token: String, role: &'static str, path: String| {
        let shop = &shop;
        async move { shop.post_as(&token, &path, &json!({ "role": role })).await }
    };
    let forbidden = promote(unverified.clone(), "warehouse", path.clone()).await;
    let moved = promote(owner_token.clone(), "warehouse", path.clone()).await;
    let to_owner = promote(owner_token.clone(), "owner", path.clone()).await;
    let own = promote(
        other_owner.clone(),
        "service",
        format!("/admin/v1/staff/{}/role", "nobody"),
    )
    .await;
    let self_change = promote(
        owner_token.clone(),
        "service",
        format!("/admin/v1/staff/{owner_id}/role"),
    )
    .await;

    // then only the owner's move counts, and the member must sign in again as the new role
    assert_eq!(
        (forbidden.status, forbidden.error_code()),
        (403, "forbidden")
    );
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(moved.body["role"], "warehouse");
    assert_eq!(
        (to_owner.status, to_owner.error_code()),
        (409, "second_factor_required")
    );
    assert_eq!(own.status, 404, "{}", own.text);
    assert_eq!(
        (self_change.status, self_change.error_code()),
        (409, "cannot_change_own_role")
    );
    assert_eq!(
        shop.get_as(&service_token, "/admin/v1/me").await.status,
        401
    );
    let records = crate::support::audit_log(&shop)
        .day(&domain::clock::china_day(now()))
        .await
        .unwrap()
        .records;
    let moves: Vec<_> = records
        .iter()
        .filter(|r| r.action == "staff.role")
        .collect();
    assert_eq!(moves.len(), 1);
    assert_eq!(moves[0].before["role"], "service");
    assert_eq!(moves[0].after["role"], "warehouse");
}
