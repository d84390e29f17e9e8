//! Points tasks (积分任务) through the shop's API: the merchant sets each task's points, cap and
//! window; a product view earns only once its page was open long enough, once per product a
//! day; a friend's open earns the sharer once per friend; once-only tasks earn once, when done.

use crate::reviews::{delivered, photo, review};
use crate::social::shop_with;
use crate::support::{Answer, TestShop};
use domain::tasks::ViewTicket;
use edge::cursor::{CursorSealer, view_ticket_scope};
use secrecy::SecretString;
use serde_json::{Value, json};

/// The JWT secret the shop's functions seal view tickets with, so a test can hand in one
/// whose page opened a while ago without waiting for it.
const JWT: &str = "tasks-test-jwt-secret-not-a-real-one-0123456789abcdef";

async fn shop() -> TestShop {
    shop_with(&[("JWT_SECRET", JWT)]).await
}

fn ticket(user: &str, product: &str, seconds_ago: i64) -> String {
    CursorSealer::derive(&SecretString::from(JWT)).seal(
        &view_ticket_scope(&domain::ids::UserId::parse(user).unwrap()),
        &ViewTicket {
            product_id: domain::ids::ProductId::parse(product).unwrap(),
            opened_at: domain::clock::now_epoch_seconds() - seconds_ago,
        },
    )
}

fn task(extra: Value) -> Value {
    let mut body =
        json!({"startsAt": "2026-01-01T00:00:00+08:00", "endsAt": "2036-01-01T00:00:00+08:00"});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

async fn set_task(shop: &TestShop, owner: &str, id: &str, extra: Value) -> Answer {
    shop.post_as(owner, &format!("/admin/v1/tasks/{id}"), &task(extra))
        .await
}

async fn claim(shop: &TestShop, token: &str, id: &str, body: Value) -> Answer {
    shop.post_as(token, &format!("/v1/tasks/{id}/claim"), &body)
        .await
}

/// The shopper's task `id` today: (done, points), and their balance.
async fn progress(shop: &TestShop, token: &str, id: &str) -> (u64, u64) {
    let today = shop.get_as(token, "/v1/tasks").await;
    assert_eq!(today.status, 200, "{}", today.text);
    let done = today.body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == id)
        .map(|t| t["done"].as_u64().unwrap())
        .unwrap_or_else(|| panic!("no task {id} in {}", today.text));
    (done, today.body["balance"].as_u64().unwrap())
}

#[tokio::test]
async fn a_view_ticket_claimed_early_twice_or_by_someone_else_earns_nothing() {
    // given the owner's view task: 5 points for 10 seconds on a product, twice a day
    let shop = shop().await;
    let (owner, _, _) = crate::admin::owner(&shop, "tasks-owner").await;
    let short = set_task(
        &shop,
        &owner,
        "view-product",
        json!({"points": 5, "dailyCap": 2, "seconds": 1}),
    )
    .await;
    assert_eq!((short.status, short.error_field()), (400, "seconds"));
    let unknown = set_task(&shop, &owner, "nap", json!({"points": 5})).await;
    assert_eq!(
        (unknown.status, unknown.error_code()),
        (404, "task_not_found")
    );
    let set = set_task(
        &shop,
        &owner,
        "view-product",
        json!({"points": 5, "dailyCap": 2, "seconds": 10}),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text);
    let settings = shop.get_as(&owner, "/admin/v1/tasks").await;
    let items = settings.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 5, "{}", settings.text);
    let view = items.iter().find(|t| t["id"] == "view-product").unwrap();
    assert_eq!(
        (&view["task"]["points"], &view["task"]["seconds"]),
        (&json!(5), &json!(10))
    );

    // when a signed-in shopper opens a product, and claims its ticket at once
    let (token, user) = shop.login("tasks-viewer.1").await;
    let page = shop.get_as(&token, "/v1/products/longjing").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.header("cache-control"), Some("private, no-store"));
    let fresh = page.body["viewTicket"].as_str().unwrap().to_string();
    let early = claim(&shop, &token, "view-product", json!({"ticket": fresh})).await;

    // then it is too early, by the seconds still to wait, and nobody else can claim it
    assert_eq!(
        (early.status, early.error_code()),
        (409, "view_too_short"),
        "{}",
        early.text
    );
    let wait = early.body["error"]["waitSeconds"].as_i64().unwrap();
    assert!((9..=10).contains(&wait), "{wait}");
    let (other, _) = shop.login("tasks-other.1").await;
    let stolen = claim(&shop, &other, "view-product", json!({"ticket": fresh})).await;
    assert_eq!((stolen.status, stolen.error_field()), (400, "ticket"));
    let missing = claim(&shop, &token, "view-product", json!({})).await;
    assert_eq!((missing.status, missing.error_field()), (400, "ticket"));
    let not_text = claim(&shop, &token, "view-product", json!({"ticket": 42})).await;
    assert_eq!((not_text.status, not_text.error_field()), (400, "ticket"));
    let unknown = claim(&shop, &token, "nap", json!({})).await;
    assert_eq!(
        (unknown.status, unknown.error_code()),
        (404, "task_not_found")
    );
    assert!(
        shop.get("/v1/products/longjing")
            .await
            .body
            .get("viewTicket")
            .is_none()
    );

    // when the page has been open 30 seconds, they claim it twice, then two more products
    let open_long = ticket(&user, "longjing", 30);
    let first = claim(&shop, &token, "view-product", json!({"ticket": open_long})).await;
    let twice = claim(&shop, &token, "view-product", json!({"ticket": open_long})).await;
    let again = claim(
        &shop,
        &token,
        "view-product",
        json!({"ticket": ticket(&user, "longjing", 20)}),
    )
    .await;
    let second = claim(
        &shop,
        &token,
        "view-product",
        json!({"ticket": ticket(&user, "cashew", 30)}),
    )
    .await;
    let third = claim(
        &shop,
        &token,
        "view-product",
        json!({"ticket": ticket(&user, "kiwi", 30)}),
    )
    .await;
    let stale = claim(
        &shop,
        &token,
        "view-product",
        json!({"ticket": ticket(&user, "kiwi", 7200)}),
    )
    .await;

    // then the first earns 5, the same product again nothing, a second product 5, then the cap
    assert_eq!(
        (first.status, &first.body["points"]),
        (201, &json!(5)),
        "{}",
        first.text
    );
    assert_eq!(twice.error_code(), "task_already_done", "{}", twice.text);
    assert_eq!(again.error_code(), "task_already_done", "{}", again.text);
    assert_eq!(
        (second.status, &second.body["balance"]),
        (201, &json!(10)),
        "{}",
        second.text
    );
    assert_eq!(third.error_code(), "task_cap_reached", "{}", third.text);
    assert_eq!(stale.error_code(), "view_ticket_expired", "{}", stale.text);
    assert_eq!(progress(&shop, &token, "view-product").await, (2, 10));
    let entries = store::points::PointsLedger::new(
        shop.stack.dynamodb.clone(),
        shop.stack.resources.tables["MarketingTable"].clone(),
    )
    .entries(&domain::ids::UserId::parse(&user).unwrap())
    .await
    .unwrap();
    let keys: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.key.as_str(), e.reason.as_str()))
        .collect();
    let today = domain::social::shanghai_day(domain::clock::now_epoch_seconds()).1;
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.contains(&(
            format!("task#view-product#longjing#{today}").as_str(),
            "任务：浏览商品"
        )),
        "{keys:?}"
    );
}

#[tokio::test]
async fn friends_opening_a_share_earn_the_sharer_once_each_within_the_cap() {
    // given a share task of 20 points, twice a day, and a shopper's share of a product
    let shop = shop().await;
    let (owner, _, _) = crate::admin::owner(&shop, "share-task-owner").await;
    let set = set_task(
        &shop,
        &owner,
        "share-opened",
        json!({"points": 20, "dailyCap": 2}),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text);
    let (sharer, _) = shop.login("task-sharer.1").await;
    let share = shop
        .post_as(&sharer, "/v1/shares", &json!({"productId": "longjing"}))
        .await;
    assert_eq!(share.status, 201, "{}", share.text);
    let path = format!("/v1/shares/{}/open", share.body["code"].as_str().unwrap());

    // when the sharer opens it, then friends open it: the first twice, then two more
    assert_eq!(shop.post_as(&sharer, &path, &json!({})).await.status, 200);
    let mut friends = Vec::new();
    for name in ["a", "b", "c"] {
        friends.push(shop.login(&format!("task-friend-{name}.1")).await.0);
    }
    for friend in [&friends[0], &friends[0], &friends[1], &friends[2]] {
        let opened = shop.post_as(friend, &path, &json!({})).await;
        assert_eq!(opened.status, 200, "{}", opened.text);
    }

    // then two friends earned the sharer 40 points, and the task is not the shopper's to claim
    assert_eq!(progress(&shop, &sharer, "share-opened").await, (2, 40));
    let claimed = claim(&shop, &sharer, "share-opened", json!({})).await;
    assert_eq!(
        (claimed.status, claimed.error_code()),
        (409, "task_counts_itself")
    );
}

#[tokio::test]
async fn once_only_tasks_earn_when_done_and_only_once() {
    // given tasks for binding a phone (30) and a first review with photos (50)
    let shop = shop().await;
    let (owner, _, _) = crate::admin::owner(&shop, "once-owner").await;
    for (id, points) in [("bind-phone", 30), ("first-review", 50)] {
        let set = set_task(&shop, &owner, id, json!({"points": points})).await;
        assert_eq!(set.status, 200, "{}", set.text);
    }
    let (token, order) = delivered(&shop, "task-reviewer", &["longjing-1"]).await;

    // when the shopper claims both before doing them
    let phone_early = claim(&shop, &token, "bind-phone", json!({})).await;
    let review_early = claim(&shop, &token, "first-review", json!({})).await;

    // then neither earns
    assert_eq!(
        (phone_early.status, phone_early.error_code()),
        (409, "task_not_done")
    );
    assert_eq!(review_early.error_code(), "task_not_done");

    // when they bind a phone and review the order with a photo WeChat passes
    let bound = shop
        .post_as(
            &token,
            "/v1/auth/phone",
            &json!({"code": "phone-13812345678"}),
        )
        .await;
    assert_eq!(bound.status, 200, "{}", bound.text);
    let key = photo(&shop, &token, b"\xff\xd8\xff tea leaves").await;
    let posted = review(
        &shop,
        &token,
        &order,
        &json!({"skuId": "longjing-1", "rating": 5, "text": "好茶", "photos": [key]}),
    )
    .await;
    assert_eq!(posted.status, 201, "{}", posted.text);
    let still_hidden = claim(&shop, &token, "first-review", json!({})).await;
    shop.stack.drain("DeadlinesQueue").await.unwrap();
    shop.stack.wechat.release_media_checks().await.unwrap();
    let (_, before) = progress(&shop, &token, "bind-phone").await;

    // then the review counts only once shown, and each task earns once
    assert_eq!(still_hidden.error_code(), "task_not_done");
    let phone = claim(&shop, &token, "bind-phone", json!({})).await;
    let first_review = claim(&shop, &token, "first-review", json!({})).await;
    let phone_again = claim(&shop, &token, "bind-phone", json!({})).await;
    assert_eq!(
        (phone.status, &phone.body["points"]),
        (201, &json!(30)),
        "{}",
        phone.text
    );
    assert_eq!(
        (first_review.status, &first_review.body["balance"]),
        (201, &json!(before + 80)),
        "{}",
        first_review.text
    );
    assert_eq!(phone_again.error_code(), "task_already_done");
    assert_eq!(progress(&shop, &token, "first-review").await.0, 1);
}

#[tokio::test]
async fn task_completions_draws_and_redemptions_are_counted_with_the_points_they_moved() {
    // given the demo shop's check-in task (5 points), a draw that always gives 10 points (one
    // free a day, then 3 points a draw), and a coupon in the points mall for 5 points
    let shop = shop().await;
    let (owner, _, _) = crate::admin::owner(&shop, "points-reports-owner").await;
    let window =
        json!({"startsAt": "2026-01-01T00:00:00+08:00", "endsAt": "2036-01-01T00:00:00+08:00"});
    let mut wheel = json!({
        "id": "ten-wheel", "title": "必中转盘", "dailyLimit": 2,
        "chances": {"freePerDay": 1, "pointsPerDraw": 3},
        "prizes": [
            {"id": "ten", "name": "10积分", "reward": {"kind": "points", "points": 10}, "quantity": 1, "weight": 1},
            {"id": "also-ten", "name": "10积分", "reward": {"kind": "points", "points": 10}, "weight": 1}
        ]
    });
    let mut item = json!({
        "id": "five-coupon", "title": "五积分换券", "reward": {"kind": "coupon", "template": "new-user"},
        "points": 5, "stock": 10, "perShopperLimit": 1
    });
    for body in [&mut wheel, &mut item] {
        for (k, v) in window.as_object().unwrap() {
            body[k] = v.clone();
        }
    }
    let created = shop.post_as(&owner, "/admin/v1/lotteries", &wheel).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let listed = shop.post_as(&owner, "/admin/v1/points-mall", &item).await;
    assert_eq!(listed.status, 201, "{}", listed.text);
    let (token, _) = shop.login("points-reports.1").await;

    // when the shopper checks in, draws twice and redeems the coupon
    let checked_in = claim(&shop, &token, "check-in", json!({})).await;
    assert_eq!(
        (checked_in.status, &checked_in.body["points"]),
        (201, &json!(5)),
        "{}",
        checked_in.text
    );
    for _ in 0..2 {
        let drawn = shop
            .post_as(&token, "/v1/lotteries/ten-wheel/draw", &json!({}))
            .await;
        assert_eq!(drawn.status, 201, "{}", drawn.text);
    }
    let redeemed = shop
        .post_with(
            &token,
            "/v1/points-mall/five-coupon/redeem",
            &[("Idempotency-Key", "points-reports-1")],
            &json!({}),
        )
        .await;
    assert_eq!(redeemed.status, 201, "{}", redeemed.text);
    assert_eq!(
        progress(&shop, &token, "check-in").await,
        (1, 5 + 10 + 10 - 3 - 5)
    );

    // then the metric lines and the merchant's reports count each, with 25 points issued and 8
    // spent
    for (metric, count) in [
        ("TaskCompleted", 1),
        ("LotteryDrawn", 2),
        ("MallRedeemed", 1),
    ] {
        assert_eq!(shop.metric_count(metric), count, "{metric}");
    }
    shop.stack.ship_logs().await.unwrap();
    let funnel = shop.get_as(&owner, "/admin/v1/reports/funnel").await;
    assert_eq!(funnel.status, 200, "{}", funnel.text);
    let counts: Vec<u64> = [
        "tasksCompleted",
        "lotteryDraws",
        "mallRedemptions",
        "pointsIssued",
        "pointsSpent",
    ]
    .iter()
    .map(|k| funnel.body[k].as_u64().unwrap())
    .collect();
    assert_eq!(counts, [1, 2, 1, 25, 8], "{}", funnel.text);
    let hourly = shop.get_as(&owner, "/admin/v1/reports/hourly").await;
    let days = hourly.body["byDay"].as_array().unwrap();
    assert_eq!(days.len(), 7, "{}", hourly.text);
    // (summed over the days: the run may cross midnight in China)
    let sum = |name: &str| days.iter().map(|d| d[name].as_u64().unwrap()).sum::<u64>();
    assert_eq!(
        [
            "pointsIssued",
            "pointsSpent",
            "tasksCompleted",
            "lotteryDraws",
            "mallRedemptions"
        ]
        .map(sum),
        [25, 8, 1, 2, 1]
    );
    assert_eq!(
        days[6]["hour"].as_str().unwrap().len(),
        "2026-12-04".len(),
        "a day row is named by its day"
    );
}

#[tokio::test]
async fn shopctl_sets_a_task_through_the_same_checks_and_lists_it() {
    // given the demo shop's tasks
    let shop = shop().await;

    // when the merchant sets the view task from the command line, once wrongly
    let short = shop
        .stack
        .shopctl(&[
            "task",
            "set",
            "view-product",
            "--points",
            "8",
            "--daily-cap",
            "2",
            "--seconds",
            "1",
            "--starts",
            "now",
            "--ends",
            "now+7d",
        ])
        .await
        .unwrap_err();
    let nap = shop
        .stack
        .shopctl(&["task", "set", "nap", "--starts", "now", "--ends", "now+7d"])
        .await
        .unwrap_err();
    let set = shop
        .stack
        .shopctl(&[
            "task",
            "set",
            "view-product",
            "--points",
            "8",
            "--daily-cap",
            "2",
            "--seconds",
            "20",
            "--starts",
            "now",
            "--ends",
            "now+7d",
        ])
        .await
        .unwrap();

    // then the wrong ones name their option, and the list says what shoppers now earn
    assert!(short.to_string().starts_with("--seconds:"), "{short}");
    assert_eq!(short.exit_code(), 2);
    assert!(nap.to_string().starts_with("--task:"), "{nap}");
    assert!(
        set.contains("8 points, 2 a day, after 20 s on the page"),
        "{set}"
    );
    let listed = shop.stack.shopctl(&["task", "list"]).await.unwrap();
    assert_eq!(listed.lines().count(), 5, "{listed}");
    assert!(
        listed.contains("task view-product (浏览商品): 8 points"),
        "{listed}"
    );
    let (token, _) = shop.login("shopctl-task.1").await;
    let today = shop.get_as(&token, "/v1/tasks").await;
    let view = today.body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "view-product")
        .unwrap()
        .clone();
    assert_eq!((&view["points"], &view["seconds"]), (&json!(8), &json!(20)));
}
