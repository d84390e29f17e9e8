//! Promotions and warehouses through the merchant's API: the same use case as shopctl, each
//! change audited, the shop's checkout pricing with what staff set.

use crate::admin::{member, owner};
use crate::support::{TestShop, audit_log};
use domain::staff::Role;
use serde_json::{Value, json};

async fn actions(shop: &TestShop) -> Vec<(String, String, String)> {
    audit_log(shop)
        .day(&domain::clock::china_day(domain::clock::now_epoch_seconds()))
        .await
        .unwrap()
        .records
        .into_iter()
        .map(|r| (r.action, r.target, r.staff_id))
        .collect()
}

fn coupon(total: u64) -> Value {
    json!({
        "id": "evening-20",
        "title": "晚八点满100减20",
        "value": {"kind": "amountOff", "off": 2000, "minSpend": 10000},
        "scope": {"kind": "shop"},
        "validity": {"kind": "daysAfterClaim", "days": 7},
        "totalLimit": total,
        "perUserLimit": 1
    })
}

#[tokio::test]
async fn an_operators_coupon_and_reduction_price_the_shoppers_quote_and_are_audited() {
    // given an operator
    let shop = TestShop::start().await;
    let (owner_token, _, _) = owner(&shop, "dianzhang.p").await;
    let (operator, operator_id) = member(&shop, &owner_token, "yunying.p", Role::Operator).await;

    // when they create a coupon and a 满减 rule, and a shopper claims the coupon and asks for a quote
    let created = shop
        .post_as(&operator, "/admin/v1/coupons", &coupon(2))
        .await;
    let reduction = shop
        .post_as(
            &operator,
            "/admin/v1/promotions/reductions/evening",
            &json!({"tiers": [{"threshold": 29900, "off": 4000}, {"threshold": 19900, "off": 2000}]}),
        )
        .await;
    let (token, _) = shop.login("promo.shopper.1").await;
    let claimed = shop
        .post_as(&token, "/v1/coupons/evening-20/claim", &json!({}))
        .await;
    let quote = shop
        .post_as(
            &token,
            "/v1/checkout/quote",
            &json!({"items": [{"skuId": "longjing-1", "quantity": 3}], "couponId": "evening-20.1"}),
        )
        .await;
    // and lower the coupon's total under what is claimed, then to what is claimed
    let (other, _) = shop.login("promo-other.1").await;
    let second = shop
        .post_as(&other, "/v1/coupons/evening-20/claim", &json!({}))
        .await;
    assert_eq!(second.status, 201, "{}", second.text);
    let too_low = shop
        .post_as(&operator, "/admin/v1/coupons", &coupon(1))
        .await;
    let listed = shop.get_as(&operator, "/admin/v1/coupons").await;

    // then the coupon was created and the rule set, tiers in order
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["coupon"]["issued"], 0);
    assert_eq!(reduction.status, 200, "{}", reduction.text);
    let tiers = &reduction.body["rules"]["fullReductions"][0]["tiers"];
    assert_eq!(tiers[0]["threshold"], 19900);
    assert_eq!(claimed.status, 201, "{}", claimed.text);
    // and the quote takes the rule's 40 yuan and the coupon's 20
    assert_eq!(quote.status, 200, "{}", quote.text);
    let discounts: Vec<(&str, u64)> = quote.body["discounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["kind"].as_str().unwrap(), d["amount"].as_u64().unwrap()))
        .collect();
    assert_eq!(discounts, [("full_reduction", 4000), ("coupon", 2000)]);
    // and a total under the two claimed is refused, the template unchanged
    assert_eq!(
        (too_low.status, too_low.error_code(), too_low.error_field()),
        (409, "total_below_claimed", "totalLimit")
    );
    assert_eq!(too_low.body["error"]["issued"], 2);
    assert_eq!(listed.body["items"][0]["totalLimit"], 2);
    assert_eq!(listed.body["items"][0]["issued"], 2);
    // and both changes are audited as the operator's
    let log = actions(&shop).await;
    for (action, target) in [
        ("coupon.save", "coupon:evening-20"),
        ("reduction.set", "reduction:evening"),
    ] {
        assert_eq!(
            log.iter()
                .filter(|(a, t, s)| a == action && t == target && *s == operator_id)
                .count(),
            1,
            "{action}: {log:?}"
        );
    }
}

#[tokio::test]
async fn policies_changed_at_once_all_land_and_bad_ones_name_their_field() {
    // given an owner
    let shop = TestShop::start().await;
    let (token, _, _) = owner(&shop, "dianzhang.q").await;

    // when the points, invite and check-in policies are changed at the same moment
    let (points_body, invite_body, checkin_body) = (
        json!({"pointsPerYuan": 50, "maxSharePercent": 30, "earnPerYuan": 2}),
        json!({"points": 300, "dailyCap": 3}),
        json!({"points": 10, "streakBonus": 2, "streakCap": 10}),
    );
    let (points, invite, checkin) = tokio::join!(
        shop.post_as(&token, "/admin/v1/promotions/points", &points_body),
        shop.post_as(&token, "/admin/v1/promotions/invite", &invite_body),
        shop.post_as(&token, "/admin/v1/promotions/checkin", &checkin_body),
    );
    let rules = shop.get_as(&token, "/admin/v1/promotions").await;
    let bad = [
        shop.post_as(
            &token,
            "/admin/v1/promotions/points",
            &json!({"pointsPerYuan": 0, "maxSharePercent": 30}),
        )
        .await,
        shop.post_as(
            &token,
            "/admin/v1/promotions/points",
            &json!({"pointsPerYuan": 10, "maxSharePercent": 130}),
        )
        .await,
        shop.post_as(
            &token,
            "/admin/v1/promotions/invite",
            &json!({"points": 0, "dailyCap": 3}),
        )
        .await,
        shop.post_as(
            &token,
            "/admin/v1/promotions/invite",
            &json!({"points": 5, "dailyCap": 3, "couponTemplate": "nope"}),
        )
        .await,
        shop.post_as(
            &token,
            "/admin/v1/promotions/checkin",
            &json!({"points": 5, "streakBonus": 1, "streakCap": 0}),
        )
        .await,
        shop.post_as(
            &token,
            "/admin/v1/promotions/reductions/x1",
            &json!({"tiers": []}),
        )
        .await,
        shop.delete_as(&token, "/admin/v1/promotions/reductions/none-such")
            .await,
    ];

    // then every change is in the rules (each write against the version it read, retried)
    for answer in [&points, &invite, &checkin] {
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let r = &rules.body["rules"];
    assert_eq!(r["points"]["pointsPerUnit"], 50);
    assert_eq!(r["pointsEarnedPerYuan"], 2);
    assert_eq!(r["invite"]["points"], 300);
    assert_eq!(r["checkin"]["streakCap"], 10);
    // and bad policies are refused naming what is wrong
    let refused: Vec<(u16, &str)> = bad.iter().map(|a| (a.status, a.error_field())).collect();
    assert_eq!(
        refused,
        [
            (400, "pointsPerYuan"),
            (400, "maxSharePercent"),
            (400, "points"),
            (400, "couponTemplate"),
            (400, "streakCap"),
            (400, "tiers"),
            (404, ""),
        ]
    );
    assert_eq!(
        actions(&shop)
            .await
            .iter()
            .filter(|(a, _, _)| a.ends_with(".policy"))
            .count(),
        3
    );
}

#[tokio::test]
async fn warehouse_staff_set_where_parcels_leave_from() {
    // given a warehouse member
    let shop = TestShop::start().await;
    let (owner_token, _, _) = owner(&shop, "dianzhang.r").await;
    let (keeper, _) = member(&shop, &owner_token, "cangguan.r", Role::Warehouse).await;
    let warehouse = |phone: &str| {
        json!({"name": "成都仓", "provinces": ["四川", " 重庆 "], "priority": 2, "courier": "yunda",
               "senderName": "茶小铺西南", "senderPhone": phone, "senderAddress": "成都市武侯区 1 号"})
    };

    // when they save one, and one with a phone no courier can call
    let saved = shop
        .post_as(
            &keeper,
            "/admin/v1/warehouses/chengdu",
            &warehouse("13900001111"),
        )
        .await;
    let bad = shop
        .post_as(&keeper, "/admin/v1/warehouses/chengdu", &warehouse("12345"))
        .await;
    let listed = shop.get_as(&keeper, "/admin/v1/warehouses").await;

    // then the first is listed as saved (provinces trimmed), the second refused naming the phone
    assert_eq!(saved.status, 200, "{}", saved.text);
    assert_eq!(
        saved.body["warehouse"]["provinces"],
        json!(["四川", "重庆"])
    );
    assert_eq!((bad.status, bad.error_field()), (400, "senderPhone"));
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"chengdu"), "{ids:?}");
    assert_eq!(
        actions(&shop)
            .await
            .iter()
            .filter(|(a, t, _)| a == "warehouse.save" && t == "warehouse:chengdu")
            .count(),
        1
    );
}

#[tokio::test]
async fn member_prices_for_two_levels_set_at_once_both_land_and_a_member_pays_theirs() {
    // given an operator and a shopper
    let shop = TestShop::start().await;
    let (owner_token, _, _) = owner(&shop, "dianzhang.s").await;
    let (operator, _) = member(&shop, &owner_token, "yunying.s", Role::Operator).await;
    let (token, user) = shop.login("member.shopper.1").await;

    // when gold and silver prices are set at the same moment, the shopper made gold, and bad
    // asks are made
    let (gold_body, silver_body) = (json!({"price": 11_800}), json!({"price": 12_300}));
    let (gold, silver) = tokio::join!(
        shop.post_as(
            &operator,
            "/admin/v1/skus/longjing-1/member-prices/gold",
            &gold_body
        ),
        shop.post_as(
            &operator,
            "/admin/v1/skus/longjing-1/member-prices/silver",
            &silver_body
        ),
    );
    let made = shop
        .post_as(
            &operator,
            &format!("/admin/v1/shoppers/{user}/member-level"),
            &json!({"level": "gold"}),
        )
        .await;
    let quote = shop
        .post_as(
            &token,
            "/v1/checkout/quote",
            &json!({"items": [{"skuId": "longjing-1", "quantity": 1}]}),
        )
        .await;
    let bad = [
        shop.post_as(
            &operator,
            "/admin/v1/skus/longjing-1/member-prices/gold",
            &json!({"price": 99_999}),
        )
        .await,
        shop.post_as(
            &operator,
            "/admin/v1/skus/longjing-1/member-prices/Gold",
            &json!({"price": 100}),
        )
        .await,
        shop.post_as(
            &operator,
            "/admin/v1/skus/longjing-1/member-prices/gold",
            &json!({}),
        )
        .await,
        shop.post_as(
            &operator,
            "/admin/v1/shoppers/u-nobody/member-level",
            &json!({"level": "gold"}),
        )
        .await,
    ];

    // then both levels' prices are kept (each write against the prices it read) and the
    // member pays theirs
    assert_eq!(gold.status, 200, "{}", gold.text);
    assert_eq!(silver.status, 200, "{}", silver.text);
    let detail = shop.get("/v1/products/longjing").await;
    assert_eq!(detail.body["skus"][0]["memberPrices"]["gold"], 11_800);
    assert_eq!(detail.body["skus"][0]["memberPrices"]["silver"], 12_300);
    assert_eq!(made.status, 200, "{}", made.text);
    assert_eq!(
        quote.body["lines"][0]["unitPrice"], 11_800,
        "{}",
        quote.text
    );
    assert_eq!(quote.body["lines"][0]["priceKind"], "member");
    // and the bad asks name what is wrong
    let refused: Vec<(u16, &str)> = bad.iter().map(|a| (a.status, a.error_field())).collect();
    assert_eq!(
        refused,
        [(400, "price"), (400, "level"), (400, "price"), (404, "")]
    );
    let log = actions(&shop).await;
    assert_eq!(
        log.iter()
            .filter(|(a, _, _)| a == "member_price.set")
            .count(),
        2
    );
    assert_eq!(
        log.iter()
            .filter(|(a, t, _)| a == "member.level" && *t == format!("user:{user}"))
            .count(),
        1
    );
}
