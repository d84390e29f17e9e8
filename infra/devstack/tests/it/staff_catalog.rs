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

/// The product ids a shopper's search for `q` finds.
async fn found(shop: &TestShop, q: &str) -> Vec<String> {
    let answer = shop.get(&format!("/v1/products?q={q}")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_product_staff_create_sells_and_is_found_at_once_and_edits_go_against_its_version() {
    // given an operator
    let shop = TestShop::start().await;
    let (owner_token, _, _) = owner(&shop, "laoban.p").await;
    let (operator, _) = member(&shop, &owner_token, "yunying.p", Role::Operator).await;
    let (service, _) = member(&shop, &owner_token, "kefu.p", Role::Service).await;
    let draft = json!({
        "id": "dianhong-gold",
        "title": "滇红昔归 一级",
        "subtitle": "云南凤庆",
        "categoryId": "black-tea",
        "images": ["https://img.example.com/dianhong.jpg"],
        "onShelf": true,
        "skus": [{"id": "dianhong-100", "specs": {"规格": "100克"}, "price": 8800, "stock": 5}]
    });

    // when they create a product on the shelf
    let created = shop.post_as(&operator, "/admin/v1/products", &draft).await;

    // then shoppers see it, find it and can buy it at once
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["version"], 1);
    let seen = shop.get("/v1/products/dianhong-gold").await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    assert_eq!(found(&shop, "昔归").await, vec!["dianhong-gold"]);
    let (shopper, _) = shop.login("puer.1").await;
    let ordered = place(
        &shop,
        &shopper,
        "dianhong-order",
        &json!({"items": [{"skuId": "dianhong-100", "quantity": 2}], "address": address()}),
    )
    .await;
    assert_eq!(ordered.status, 201, "{}", ordered.text);
    assert_eq!(stock_of(&shop, "dianhong-100").await, 3);

    // and an edit against version 1 renames it, adds a SKU and keeps the stock orders took
    let mut edit = draft.clone();
    edit["version"] = json!(1);
    edit["title"] = json!("滇红曼松 一级");
    edit["skus"] = json!([
        {"id": "dianhong-100", "specs": {"规格": "100克"}, "price": 1, "stock": 999},
        {"id": "dianhong-250", "specs": {"规格": "250克"}, "price": 19800, "stock": 8}
    ]);
    let edited = shop
        .post_as(&operator, "/admin/v1/products/dianhong-gold", &edit)
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    assert_eq!(edited.body["version"], 2);
    assert_eq!(
        (
            stock_of(&shop, "dianhong-100").await,
            stock_of(&shop, "dianhong-250").await
        ),
        (3, 8)
    );
    assert_eq!(
        edited.body["skus"][0]["price"], 8800,
        "a stored SKU keeps its price"
    );
    assert_eq!(found(&shop, "曼松").await, vec!["dianhong-gold"]);
    assert!(
        found(&shop, "昔归").await.is_empty(),
        "the old title's terms are gone"
    );

    // and the same edit again, made on the page showing version 1, is refused unchanged
    let stale = shop
        .post_as(&operator, "/admin/v1/products/dianhong-gold", &edit)
        .await;
    assert_eq!(
        (
            stale.status,
            stale.error_code(),
            stale.body["error"]["current"].as_u64()
        ),
        (409, "stale_edit", Some(2)),
        "{}",
        stale.text
    );

    // and taken off the shelf it leaves the shop's listings and search, and staff still list it
    let shelved = shop
        .post_as(
            &operator,
            "/admin/v1/products/dianhong-gold/shelf",
            &json!({"version": 2, "onShelf": false}),
        )
        .await;
    assert_eq!(shelved.status, 200, "{}", shelved.text);
    assert!(found(&shop, "曼松").await.is_empty());
    let listing = shop.get("/v1/products?category=black-tea&limit=50").await;
    assert!(!listing.text.contains("dianhong-gold"), "{}", listing.text);
    let off = shop.get_as(&operator, "/admin/v1/products?shelf=off").await;
    assert_eq!(off.status, 200, "{}", off.text);
    let off_ids: Vec<&str> = off.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["product"]["id"].as_str())
        .collect();
    assert!(off_ids.contains(&"dianhong-gold"), "{}", off.text);
    // and staff find it by its words among the off-shelf products, not among those on sale
    let staff_found = |shelf: &'static str| {
        let shop = &shop;
        let operator = &operator;
        async move {
            let answer = shop
                .get_as(
                    operator,
                    &format!("/admin/v1/products?shelf={shelf}&q=曼松"),
                )
                .await;
            assert_eq!(answer.status, 200, "{}", answer.text);
            answer.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p["product"]["id"].as_str().map(str::to_string))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(staff_found("off").await, vec!["dianhong-gold"]);
    assert!(staff_found("on").await.is_empty());
    let bought = place(
        &shop,
        &shopper,
        "dianhong-order-2",
        &json!({"items": [{"skuId": "dianhong-250", "quantity": 1}], "address": address()}),
    )
    .await;
    assert_eq!(
        bought.status, 422,
        "off the shelf is off sale: {}",
        bought.text
    );

    // and an id or SKU id already taken is refused naming it; a service member may not create
    let again = shop.post_as(&operator, "/admin/v1/products", &draft).await;
    assert_eq!((again.status, again.error_code()), (409, "product_exists"));
    let mut thief = draft.clone();
    thief["id"] = json!("another-tea");
    let taken = shop.post_as(&operator, "/admin/v1/products", &thief).await;
    assert_eq!(
        (
            taken.status,
            taken.error_code(),
            taken.body["error"]["field"].as_str()
        ),
        (409, "sku_taken", Some("skus[0].id")),
        "{}",
        taken.text
    );
    let refused = shop.post_as(&service, "/admin/v1/products", &thief).await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        (
            audited(&shop, "product.create").await,
            audited(&shop, "product.edit").await,
            audited(&shop, "product.shelf").await
        ),
        (1, 1, 1)
    );
}

/// The SKU ids on the low-stock list, lowest stock first.
async fn low_list(shop: &TestShop, token: &str) -> Vec<String> {
    let answer = shop.get_as(token, "/admin/v1/stock/low").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["truncated"], false);
    answer.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["skuId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn skus_at_or_under_their_threshold_are_on_the_low_stock_list_and_off_shelf_ones_are_not() {
    // given a SKU on the shelf with 4 left (the shop's default threshold is 10), and one off
    // the shelf with 1 left
    let shop = TestShop::start().await;
    let (owner_token, _, _) = owner(&shop, "laoban.l").await;
    let (operator, _) = member(&shop, &owner_token, "yunying.l", Role::Operator).await;
    for (id, on_shelf, stock) in [("low-tea", true, 4), ("hidden-tea", false, 1)] {
        let created = shop
            .post_as(
                &operator,
                "/admin/v1/products",
                &json!({"id": id, "title": "库存测试", "categoryId": "black-tea", "onShelf": on_shelf,
                        "skus": [{"id": format!("{id}-1"), "price": 1000, "stock": stock}]}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
    }
    let before = low_list(&shop, &operator).await;
    assert!(before.contains(&"low-tea-1".to_string()), "{before:?}");
    assert!(!before.contains(&"hidden-tea-1".to_string()));
    assert!(!before.contains(&"cashew-1".to_string()));

    // when the operator lowers the one's threshold to 2 and raises cashew's to 100000
    let threshold = |sku: &'static str, value: serde_json::Value| {
        let (shop, operator) = (&shop, operator.clone());
        async move {
            shop.post_as(
                &operator,
                &format!("/admin/v1/skus/{sku}/low-stock"),
                &json!({ "threshold": value }),
            )
            .await
        }
    };
    assert_eq!(threshold("low-tea-1", json!(2)).await.status, 200);
    let raised = threshold("cashew-1", json!(100000)).await;
    assert_eq!(raised.status, 200, "{}", raised.text);
    assert_eq!(raised.body["lowStockAt"], 100000);

    // then the list follows each SKU's own threshold
    let after = low_list(&shop, &operator).await;
    assert!(!after.contains(&"low-tea-1".to_string()), "{after:?}");
    assert!(after.contains(&"cashew-1".to_string()), "{after:?}");

    // and null gives the shop's default back; a bad threshold is 400 naming it
    assert_eq!(threshold("low-tea-1", json!(null)).await.status, 200);
    assert!(
        low_list(&shop, &operator)
            .await
            .contains(&"low-tea-1".to_string())
    );
    let bad = threshold("low-tea-1", json!(-1)).await;
    assert_eq!(
        (bad.status, bad.body["error"]["field"].as_str()),
        (400, Some("threshold"))
    );
    assert_eq!(threshold("no-such-sku", json!(3)).await.status, 404);
    assert_eq!(audited(&shop, "stock.threshold").await, 3);
}

#[tokio::test]
async fn the_daily_alert_names_the_low_skus_on_the_shops_topic_once_a_day() {
    // given a queue subscribed to the shop's low-stock topic, and cashew down to 3
    let shop = TestShop::start().await;
    let config = devstack::aws_config(&shop.stack.endpoint).await;
    let sns = aws_sdk_sns::Client::new(&config);
    let inbox = shop
        .stack
        .sqs
        .create_queue()
        .queue_name(format!("alert-inbox-{}", domain::ids::random_token(8)))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let inbox_arn = shop
        .stack
        .sqs
        .get_queue_attributes()
        .queue_url(&inbox)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    sns.subscribe()
        .topic_arn(&shop.stack.resources.topics["LowStockTopic"])
        .protocol("sqs")
        .endpoint(inbox_arn)
        .send()
        .await
        .unwrap();
    crate::checkout::set_stock(&shop, "cashew-1", 3).await;

    // when the schedule's message arrives, and again (SQS delivers at least once)
    let deadlines = &shop.stack.resources.queue_urls["DeadlinesQueue"];
    for _ in 0..2 {
        shop.stack
            .sqs
            .send_message()
            .queue_url(deadlines)
            .message_body(r#"{"type": "stock.low"}"#)
            .send()
            .await
            .unwrap();
        shop.stack.drain("DeadlinesQueue").await.unwrap();
    }

    // then one alert arrived, naming cashew's SKU with its stock
    let received = shop
        .stack
        .sqs
        .receive_message()
        .queue_url(&inbox)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 1, "{received:?}");
    let envelope: serde_json::Value = serde_json::from_str(received[0].body().unwrap()).unwrap();
    assert!(
        envelope["Subject"]
            .as_str()
            .unwrap()
            .starts_with("库存预警"),
        "{envelope}"
    );
    let text = envelope["Message"].as_str().unwrap();
    assert!(text.contains("（cashew-1）：剩 3 件，预警值 10"), "{text}");
}

#[tokio::test]
async fn a_category_staff_create_is_in_the_shops_tree_at_once_and_keeps_its_parent() {
    // given an operator
    let shop = TestShop::start().await;
    let (owner_token, _, _) = owner(&shop, "laoban.k").await;
    let (operator, _) = member(&shop, &owner_token, "yunying.k", Role::Operator).await;

    // when they add 乌龙茶 under 茶 and rename it
    let created = shop
        .post_as(
            &operator,
            "/admin/v1/categories",
            &json!({"id": "oolong", "name": "乌龙茶", "parentId": "tea", "sort": 3}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let renamed = shop
        .post_as(
            &operator,
            "/admin/v1/categories/oolong",
            &json!({"name": "乌龙 岩茶", "sort": 1, "parentId": "snacks"}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);

    // then the shop's tree shows it under 茶 with its new name, the parent unmoved
    let tree = shop.get("/v1/categories").await;
    let tea = tree.body["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "tea")
        .cloned()
        .unwrap_or_else(|| panic!("{}", tree.text));
    let oolong = tea["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "oolong")
        .cloned()
        .unwrap_or_else(|| panic!("{}", tree.text));
    assert_eq!(
        (oolong["name"].as_str(), oolong["sort"].as_u64()),
        (Some("乌龙 岩茶"), Some(1))
    );

    // and a taken id, an unknown parent or category, and a bad name are refused naming them
    let again = shop
        .post_as(
            &operator,
            "/admin/v1/categories",
            &json!({"id": "oolong", "name": "又一个"}),
        )
        .await;
    assert_eq!((again.status, again.error_code()), (409, "category_exists"));
    let orphan = shop
        .post_as(
            &operator,
            "/admin/v1/categories",
            &json!({"id": "orphan", "name": "孤儿", "parentId": "nowhere"}),
        )
        .await;
    assert_eq!(
        (orphan.status, orphan.body["error"]["field"].as_str()),
        (400, Some("parentId"))
    );
    let missing = shop
        .post_as(
            &operator,
            "/admin/v1/categories/nowhere",
            &json!({"name": "无"}),
        )
        .await;
    assert_eq!(missing.status, 404);
    let unnamed = shop
        .post_as(
            &operator,
            "/admin/v1/categories/oolong",
            &json!({"name": ""}),
        )
        .await;
    assert_eq!(
        (unnamed.status, unnamed.body["error"]["field"].as_str()),
        (400, Some("name"))
    );
    assert_eq!(
        (
            audited(&shop, "category.create").await,
            audited(&shop, "category.edit").await
        ),
        (1, 1)
    );
}

#[tokio::test]
async fn a_product_write_without_what_it_needs_is_refused_naming_the_field() {
    // given an operator and a seeded product
    let shop = TestShop::start().await;
    let (owner_token, _, _) = owner(&shop, "laoban.v").await;
    let (operator, _) = member(&shop, &owner_token, "yunying.v", Role::Operator).await;
    let cases = [
        // an edit that names no version, a shelving without onShelf, a new one without an id
        (
            "/admin/v1/products/cashew",
            json!({"title": "腰果", "categoryId": "snacks", "skus": [{"id": "cashew-1", "price": 4590}]}),
            "version",
        ),
        (
            "/admin/v1/products/cashew/shelf",
            json!({"version": 1}),
            "onShelf",
        ),
        (
            "/admin/v1/products",
            json!({"title": "无名", "categoryId": "snacks", "skus": [{"id": "x-1", "price": 1}]}),
            "id",
        ),
        (
            "/admin/v1/products",
            json!({"id": "bad-cat", "title": "无类", "categoryId": "nowhere", "skus": [{"id": "x-1", "price": 1}]}),
            "categoryId",
        ),
    ];
    for (path, body, field) in cases {
        // when it is sent
        let answer = shop.post_as(&operator, path, &body).await;
        // then it is a 4xx naming the field, and nothing was written
        assert!(
            (400..500).contains(&answer.status),
            "{path}: {}",
            answer.text
        );
        assert_eq!(
            answer.body["error"]["field"], field,
            "{path}: {}",
            answer.text
        );
    }
    assert_eq!(audited(&shop, "product.create").await, 0);
    assert_eq!(audited(&shop, "product.edit").await, 0);
}

#[tokio::test]
async fn a_bulk_stock_change_is_all_or_nothing_needs_a_fresh_code_and_names_the_stale_sku() {
    // given an owner (stepped up by signing in), an operator without a second factor, and
    // two SKUs' stock as the owner saw it; a shopper then orders one of the second
    let shop = TestShop::start().await;
    let (owner_token, _, _) = owner(&shop, "laoban.bulk").await;
    let (operator, _) = member(&shop, &owner_token, "yunying.bulk", Role::Operator).await;
    let first = stock_of(&shop, "dianhong-1").await;
    let second = stock_of(&shop, "zhengshan-1").await;
    let (shopper, _) = shop.login("bulk.shopper.1").await;
    let placed = place(
        &shop,
        &shopper,
        "bulk-1",
        &json!({"items": [{"skuId": "zhengshan-1", "quantity": 1}], "address": address()}),
    )
    .await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let changes = |second_seen: i64| {
        json!({"reason": "盘点", "changes": [
            {"skuId": "dianhong-1", "seen": first, "delta": 10},
            {"skuId": "zhengshan-1", "seen": second_seen, "set": 100}
        ]})
    };

    // when the operator tries, then the owner from the stale page, then from the fresh one
    let unstepped = shop
        .post_as(&operator, "/admin/v1/stock/bulk", &changes(second - 1))
        .await;
    let stale = shop
        .post_as(&owner_token, "/admin/v1/stock/bulk", &changes(second))
        .await;
    let after_stale = (
        stock_of(&shop, "dianhong-1").await,
        stock_of(&shop, "zhengshan-1").await,
    );
    let fresh = shop
        .post_as(&owner_token, "/admin/v1/stock/bulk", &changes(second - 1))
        .await;
    let twice = shop
        .post_as(
            &owner_token,
            "/admin/v1/prices/bulk",
            &json!({"reason": "调价", "changes": [
                {"skuId": "dianhong-1", "seen": 8800, "price": 7800},
                {"skuId": "dianhong-1", "seen": 8800, "price": 6800}
            ]}),
        )
        .await;

    // then the operator needs a fresh code, the stale change moved nothing and named the SKU
    assert_eq!(
        (unstepped.status, unstepped.error_code()),
        (403, "step_up_required")
    );
    assert_eq!(
        (stale.status, stale.error_code(), stale.error_field()),
        (409, "stale_edit", "changes[1].seen")
    );
    assert_eq!(
        stale.body["error"]["stale"],
        json!([{"index": 1, "skuId": "zhengshan-1", "current": second - 1}])
    );
    assert_eq!(after_stale, (first, second - 1));
    // and the fresh one moved both, audited once
    assert_eq!(fresh.status, 200, "{}", fresh.text);
    assert_eq!(stock_of(&shop, "dianhong-1").await, first + 10);
    assert_eq!(stock_of(&shop, "zhengshan-1").await, 100);
    assert_eq!(audited(&shop, "stock.bulk").await, 1);
    // and a SKU listed twice is refused by its place in the list
    assert_eq!(
        (twice.status, twice.error_field()),
        (400, "changes[1].skuId")
    );
}

/// What the shopper's quote for three 龙井 takes off for the 满减 rule.
async fn reduction_on_longjing(shop: &TestShop, token: &str) -> u64 {
    let quote = shop
        .post_as(
            token,
            "/v1/checkout/quote",
            &json!({"items": [{"skuId": "longjing-1", "quantity": 3}]}),
        )
        .await;
    assert_eq!(quote.status, 200, "{}", quote.text);
    quote.body["discounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "full_reduction")
        .filter_map(|d| d["amount"].as_u64())
        .sum()
}

#[tokio::test]
async fn a_category_moved_takes_its_products_into_the_new_parents_promotions() {
    // given a 满减 rule for 零食坚果 only, and 绿茶 (with 龙井) under 茶叶
    let shop = TestShop::start().await;
    let (owner_token, _, _) = owner(&shop, "laoban.m").await;
    let (operator, operator_id) = member(&shop, &owner_token, "yunying.m", Role::Operator).await;
    let rule = shop
        .post_as(
            &operator,
            "/admin/v1/promotions/reductions/snacks-night",
            &json!({"scope": {"kind": "category", "categoryId": "snacks"},
                    "tiers": [{"threshold": 19900, "off": 2000}]}),
        )
        .await;
    assert_eq!(rule.status, 200, "{}", rule.text);
    let (shopper, _) = shop.login("move.shopper.1").await;
    assert_eq!(reduction_on_longjing(&shop, &shopper).await, 0);

    // when the operator moves 绿茶 under 零食坚果
    let moved = shop
        .post_as(
            &operator,
            "/admin/v1/categories/green-tea/move",
            &json!({"parentId": "snacks"}),
        )
        .await;

    // then the tree shows it there at once, and 龙井's quote takes the rule once the move's
    // pass has run on the deadlines queue (a page of products per message, chained)
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(moved.body["parentId"], "snacks");
    let tree = shop.get("/v1/categories").await;
    let snacks = tree.body["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "snacks")
        .cloned()
        .unwrap_or_else(|| panic!("{}", tree.text));
    assert!(
        snacks["children"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "green-tea"),
        "{}",
        tree.text
    );
    assert!(shop.stack.drain("DeadlinesQueue").await.unwrap() >= 2);
    assert_eq!(reduction_on_longjing(&shop, &shopper).await, 2000);

    // and a move under itself, under a category below it or under an unknown one is refused
    // naming parentId, an unknown category is 404, and none of them is audited
    for (path, parent) in [
        ("green-tea", json!("green-tea")),
        ("snacks", json!("green-tea")),
        ("green-tea", json!("nowhere")),
    ] {
        let refused = shop
            .post_as(
                &operator,
                &format!("/admin/v1/categories/{path}/move"),
                &json!({ "parentId": parent }),
            )
            .await;
        assert_eq!(
            (refused.status, refused.error_field()),
            (400, "parentId"),
            "{path} under {parent}: {}",
            refused.text
        );
    }
    let unknown = shop
        .post_as(
            &operator,
            "/admin/v1/categories/nowhere/move",
            &json!({"parentId": null}),
        )
        .await;
    assert_eq!(unknown.status, 404);

    // and moved back to the top level, 龙井 leaves the rule again
    let back = shop
        .post_as(
            &operator,
            "/admin/v1/categories/green-tea/move",
            &json!({"parentId": null}),
        )
        .await;
    assert_eq!(back.status, 200, "{}", back.text);
    assert!(back.body.get("parentId").is_none(), "{}", back.text);
    shop.stack.drain("DeadlinesQueue").await.unwrap();
    assert_eq!(reduction_on_longjing(&shop, &shopper).await, 0);
    let log = audit_log(&shop)
        .day(&domain::clock::china_day(domain::clock::now_epoch_seconds()))
        .await
        .unwrap()
        .records;
    let moves: Vec<(&str, &str)> = log
        .iter()
        .filter(|r| r.action == "category.move")
        .map(|r| (r.target.as_str(), r.staff_id.as_str()))
        .collect();
    assert_eq!(
        moves,
        [
            ("category:green-tea", operator_id.as_str()),
            ("category:green-tea", operator_id.as_str())
        ]
    );
}

/// Uploads `image` as a browser does with the form `POST /admin/v1/uploads` answered: a
/// multipart POST of its fields, then the file, to its URL.
async fn upload_with_form(form: &serde_json::Value, image: &[u8]) -> u16 {
    let boundary = "shop-test-boundary-7f3a";
    let mut body = Vec::new();
    for (name, value) in form["fields"].as_object().unwrap() {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{}\r\n",
                value.as_str().unwrap()
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(image);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    reqwest::Client::new()
        .post(form["url"].as_str().unwrap())
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_image_staff_upload_is_shown_to_shoppers_from_the_shops_address_and_kept() {
    // given an operator and an image they upload with the form the admin API gives
    let shop = TestShop::start().await;
    let (owner_token, _, _) = owner(&shop, "laoban.img").await;
    let (operator, _) = member(&shop, &owner_token, "yunying.img", Role::Operator).await;
    let (service, _) = member(&shop, &owner_token, "kefu.img", Role::Service).await;
    let asked = json!({"contentType": "image/png", "size": 64});
    let form = shop.post_as(&operator, "/admin/v1/uploads", &asked).await;
    assert_eq!(form.status, 201, "{}", form.text);
    let key = form.body["key"].as_str().unwrap().to_string();
    assert!(
        key.starts_with("uploads/catalog/") && key.ends_with(".png"),
        "{key}"
    );
    let image = b"\x89PNG\r\n\x1a\n a product photo".to_vec();
    assert!((200..300).contains(&upload_with_form(&form.body, &image).await));
    let image_url = form.body["imageUrl"].as_str().unwrap().to_string();
    assert_eq!(image_url, format!("{}/{key}", shop.stack.api_url));

    // when a product names it beside a link elsewhere
    let draft = json!({
        "id": "baicha-shoumei",
        "title": "福鼎白茶 寿眉",
        "categoryId": "black-tea",
        "images": [image_url, "https://img.example.com/shoumei.jpg"],
        "onShelf": true,
        "skus": [{"id": "shoumei-100", "specs": {"规格": "100克"}, "price": 6800, "stock": 5}]
    });
    let created = shop.post_as(&operator, "/admin/v1/products", &draft).await;

    // then shoppers see the image at the shop's address, and the bucket keeps it
    assert_eq!(created.status, 201, "{}", created.text);
    let seen = shop.get("/v1/products/baicha-shoumei").await;
    assert_eq!(seen.body["images"][0], image_url.as_str(), "{}", seen.text);
    let shown = reqwest::get(&image_url).await.unwrap();
    assert_eq!(shown.status(), 200);
    assert_eq!(shown.headers()["content-type"], "image/png");
    assert_eq!(shown.bytes().await.unwrap().to_vec(), image);
    assert!(crate::support::kept_in_bucket(&shop, &key).await);

    // and an image never uploaded, or a shopper's photo, is refused naming its place
    let never = format!(
        "{}/{}",
        shop.stack.api_url,
        domain::media::MediaKey::catalog_image(domain::media::ImageType::Jpeg).as_str()
    );
    let photo = format!("{}/uploads/review/u1abc/abcdefgh12.jpg", shop.stack.api_url);
    for (images, field) in [
        (json!(["https://img.example.com/a.jpg", never]), "images[1]"),
        (json!([photo]), "images[0]"),
    ] {
        let mut other = draft.clone();
        other["id"] = json!("baicha-other");
        other["skus"][0]["id"] = json!("baicha-other-1");
        other["images"] = images;
        let refused = shop.post_as(&operator, "/admin/v1/products", &other).await;
        assert_eq!(
            (refused.status, refused.error_field()),
            (400, field),
            "{}",
            refused.text
        );
    }
    // and the shop's address serves product images only
    assert_eq!(reqwest::get(&photo).await.unwrap().status(), 404);
    // and an upload is for images up to 5 MB, asked by staff who may write the catalog
    for (body, field) in [
        (
            json!({"contentType": "application/pdf", "size": 10}),
            "contentType",
        ),
        (
            json!({"contentType": "image/png", "size": 6 * 1024 * 1024}),
            "size",
        ),
    ] {
        let refused = shop.post_as(&operator, "/admin/v1/uploads", &body).await;
        assert_eq!(
            (refused.status, refused.error_field()),
            (400, field),
            "{body}"
        );
    }
    let forbidden = shop.post_as(&service, "/admin/v1/uploads", &asked).await;
    assert_eq!(forbidden.status, 403, "{}", forbidden.text);
}
