//! Stock and prices through the merchant's API: every change made against what the staff
//! member saw, so a stale page never overwrites what orders or a colleague did.

use crate::admin::{member, owner};
use crate::checkout::{place, stock_of};
use crate::support::{TestShop, address, audit_log};
use domain::staff::Role;
use serde_json::json;

async fn audited(shop: &TestShop, action: &str) -> usize {
    audit_log(shop)
        .day(&domain::clock::china_day(domain::clock::now_epoch_seconds()))
        .await
        .unwrap()
        .records
        .iter()
        .filter(|r| r.action == action)
        .count()
}

#[tokio::test]
async fn a_stale_stock_edit_is_refused_and_the_stock_is_unchanged() {
    // given an operator looking at a SKU's stock, and a shopper ordering one unit meanwhile
    let shop = TestShop::start().await;
    let (owner_token, _, _) = owner(&shop, "laoban.c").await;
    let (operator, _) = member(&shop, &owner_token, "yunying.c", Role::Operator).await;
    let (service, _) = member(&shop, &owner_token, "kefu.h", Role::Service).await;
    let page = shop.get_as(&operator, "/admin/v1/products/cashew").await;
    assert_eq!(page.status, 200, "{}", page.text);
    let seen = page.body["skus"][0]["stock"].as_i64().unwrap();
    let (shopper, _) = shop.login("stale.1").await;
    let ordered = place(
        &shop,
        &shopper,
        "stale-order",
        &json!({"items": [{"skuId": "cashew-1", "quantity": 1}], "address": address()}),
    )
    .await;
    assert_eq!(ordered.status, 201, "{}", ordered.text);

    // when the operator saves the stock they saw, plus 50
    let stale = shop
        .post_as(
            &operator,
            "/admin/v1/skus/cashew-1/stock",
            &json!({"seen": seen, "set": seen + 50, "reason": "到货"}),
        )
        .await;

    // then it is refused with the stock as it is now, and nothing changed
    assert_eq!(
        (stale.status, stale.error_code()),
        (409, "stale_edit"),
        "{}",
        stale.text
    );
    assert_eq!(stale.body["error"]["current"], seen - 1, "{}", stale.text);
    assert_eq!(stock_of(&shop, "cashew-1").await, seen - 1);
    assert_eq!(audited(&shop, "stock.set").await, 0);

    // and two staff saving from the same fresh number at once change it once
    let fresh = seen - 1;
    let save = |delta: i64| {
        let (shop, operator) = (&shop, operator.clone());
        async move {
            shop.post_as(
                &operator,
                "/admin/v1/skus/cashew-1/stock",
                &json!({"seen": fresh, "delta": delta, "reason": "盘点"}),
            )
            .await
        }
    };
    let (a, b) = tokio::join!(save(50), save(-3));
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", a.text, b.text);
    let winner = if a.status == 200 { 50 } else { -3 };
    assert_eq!(stock_of(&shop, "cashew-1").await, fresh + winner);
    assert_eq!(audited(&shop, "stock.set").await, 1);
    // and no stock below zero, and not by a role without stock
    let now = stock_of(&shop, "cashew-1").await;
    let below = shop
        .post_as(
            &operator,
            "/admin/v1/skus/cashew-1/stock",
            &json!({"seen": now, "delta": -(now + 1), "reason": "报损"}),
        )
        .await;
    assert_eq!(
        (below.status, below.error_code()),
        (422, "stock_below_zero")
    );
    let forbidden = shop
        .post_as(
            &service,
            "/admin/v1/skus/cashew-1/stock",
            &json!({"seen": now, "set": 1, "reason": "x"}),
        )
        .await;
    assert_eq!(
        (forbidden.status, forbidden.error_code()),
        (403, "forbidden")
    );
}

#[tokio::test]
async fn a_price_change_shows_in_the_shop_at_once_and_a_stale_one_is_refused() {
    // given an operator and the SKU's price as shown
    let shop = TestShop::start().await;
    let (owner_token, _, _) = owner(&shop, "laoban.d").await;
    let (operator, _) = member(&shop, &owner_token, "yunying.d", Role::Operator).await;
    let shown = shop
        .get_as(&operator, "/admin/v1/products/cashew")
        .await
        .body["skus"][0]["price"]
        .as_i64()
        .unwrap();

    // when they lower it, then save the old number again
    let lowered = shop
        .post_as(
            &operator,
            "/admin/v1/skus/cashew-1/price",
            &json!({"seen": shown, "price": shown - 300, "reason": "双十二"}),
        )
        .await;
    let again = shop
        .post_as(
            &operator,
            "/admin/v1/skus/cashew-1/price",
            &json!({"seen": shown, "price": shown - 500, "reason": "双十二"}),
        )
        .await;

    // then the shop shows the new price, and the stale save changed nothing
    assert_eq!(lowered.status, 200, "{}", lowered.text);
    assert_eq!((again.status, again.error_code()), (409, "stale_edit"));
    let product = shop.get("/v1/products/cashew").await;
    assert_eq!(product.body["priceFrom"], shown - 300, "{}", product.text);
    assert_eq!(audited(&shop, "price.set").await, 1);
}

#[tokio::test]
async fn an_operator_runs_a_flash_sale_the_shop_shows_at_once_and_ends_it_audited() {
    // given an operator, a service member, and the SKU's list price
    let shop = TestShop::start().await;
    let (owner_token, _, _) = owner(&shop, "laoban.f").await;
    let (operator, _) = member(&shop, &owner_token, "yunying.f", Role::Operator).await;
    let (service, _) = member(&shop, &owner_token, "kefu.f", Role::Service).await;
    let now = domain::clock::now_epoch_seconds();
    let list = shop.get("/v1/products/cashew").await.body["skus"][0]["price"]
        .as_u64()
        .unwrap();
    let sale = |price: u64| {
        json!({
            "price": price,
            "quota": 50,
            "perUser": 2,
            "startsAt": domain::clock::rfc3339_shanghai(now - 60),
            "endsAt": domain::clock::rfc3339_shanghai(now + 3600),
        })
    };
    let path = "/admin/v1/skus/cashew-1/offers/flash-sale";

    // when the service member tries, the operator asks above the list price, then sets it
    let not_theirs = shop.post_as(&service, path, &sale(list - 1000)).await;
    let too_dear = shop.post_as(&operator, path, &sale(list)).await;
    let too_big = shop
        .post_as(
            &operator,
            "/admin/v1/skus/cashew-1/offers/group-buy",
            &json!({"size": 11, "price": 100, "hours": 24}),
        )
        .await;
    let set = shop.post_as(&operator, path, &sale(list - 1000)).await;

    // then only the operator's good one counts, and shoppers see it at once
    assert_eq!(not_theirs.status, 403, "{}", not_theirs.text);
    assert_eq!(
        (too_dear.status, too_dear.body["error"]["field"].as_str()),
        (400, Some("price"))
    );
    assert_eq!(
        (too_big.status, too_big.body["error"]["field"].as_str()),
        (400, Some("size"))
    );
    assert_eq!(set.status, 200, "{}", set.text);
    let shown = shop.get("/v1/products/cashew").await;
    assert_eq!(
        shown.body["skus"][0]["flashSale"]["price"],
        list - 1000,
        "{}",
        shown.text
    );
    assert_eq!(audited(&shop, "offer.set").await, 1);

    // when the operator ends it
    let ended = shop.delete_as(&operator, path).await;

    // then it is gone from the shop, audited
    assert_eq!(ended.status, 200, "{}", ended.text);
    let shown = shop.get("/v1/products/cashew").await;
    assert!(
        shown.body["skus"][0].get("flashSale").is_none(),
        "{}",
        shown.text
    );
    assert_eq!(audited(&shop, "offer.end").await, 1);
    let unknown = shop
        .delete_as(&operator, "/admin/v1/skus/cashew-1/offers/lottery")
        .await;
    assert_eq!(unknown.status, 404);
}
