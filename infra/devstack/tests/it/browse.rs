use crate::support::TestShop;
use aws_sdk_dynamodb::types::AttributeValue;
use devstack::seed;
use domain::ids::{CategoryId, ProductId, UserId};
use serde_json::Value;

fn ids(answer: &Value) -> Vec<String> {
    answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

/// Follows `nextCursor` from `first` to the end, returning every id in order.
async fn all_pages(shop: &TestShop, first: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut path = first.to_string();
    for _ in 0..50 {
        let page = shop.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.text);
        seen.extend(ids(&page.body));
        match page.body["nextCursor"].as_str() {
            Some(c) => path = format!("{first}&cursor={c}"),
            None => return seen,
        }
    }
    panic!("paging never ended");
}

#[tokio::test]
async fn categories_come_as_a_cacheable_tree() {
    let shop = TestShop::start().await;

    let answer = shop.get("/v1/categories").await;

    assert_eq!(answer.status, 200);
    let top = answer.body["categories"].as_array().unwrap();
    assert_eq!(
        top.iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["茶叶", "零食坚果", "新鲜水果", "家居日用"]
    );
    assert_eq!(top[0]["children"].as_array().unwrap().len(), 3);
    assert!(
        answer
            .header("cache-control")
            .unwrap()
            .starts_with("public")
    );
    let etag = answer.header("etag").unwrap().to_string();

    let again = shop
        .get_with("/v1/categories", ("if-none-match", &etag))
        .await;
    assert_eq!(again.status, 304);
    assert!(again.text.is_empty());
}

#[tokio::test]
async fn paging_lists_every_product_on_the_shelf_once_best_sellers_first() {
    let shop = TestShop::start().await;

    let listed = all_pages(&shop, "/v1/products?limit=4").await;

    let on_shelf: Vec<_> = seed::demo_products()
        .into_iter()
        .filter(|(p, _)| p.on_shelf)
        .collect();
    assert_eq!(listed.len(), on_shelf.len());
    let unique: std::collections::HashSet<_> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "no product twice");
    assert!(
        !listed.contains(&"mooncake".to_string()),
        "off-shelf products are not listed"
    );
    assert_eq!(listed[0], "daily-nuts", "the best seller comes first");
}

#[tokio::test]
async fn a_category_lists_only_its_products() {
    let shop = TestShop::start().await;

    let fruit = all_pages(&shop, "/v1/products?category=fruit&limit=2").await;

    let expected: Vec<_> = seed::demo_products()
        .into_iter()
        .filter(|(p, _)| p.category_id.as_str() == "fruit" && p.on_shelf)
        .map(|(p, _)| p.id.to_string())
        .collect();
    assert_eq!(fruit.len(), expected.len());
    assert!(fruit.iter().all(|id| expected.contains(id)));
}

#[tokio::test]
async fn chinese_keywords_find_products_by_title() {
    let shop = TestShop::start().await;

    let puer = shop.get("/v1/products?q=普洱").await;
    let longjing = shop.get("/v1/products?q=龙井").await;
    let green = all_pages(&shop, "/v1/products?q=茶&category=green-tea&limit=1").await;
    let nothing = shop.get("/v1/products?q=咖啡").await;
    let off_shelf = shop.get("/v1/products?q=月饼").await;

    assert_eq!(ids(&puer.body), ["puer-cake", "puer-raw"]);
    assert_eq!(ids(&longjing.body), ["longjing", "tea-gift"]);
    assert_eq!(green.len(), 3);
    assert!(ids(&nothing.body).is_empty());
    assert!(
        ids(&off_shelf.body).is_empty(),
        "off-shelf products are not found"
    );
    assert_eq!(
        puer.body["items"][0]["priceFrom"], 12800,
        "listing lines show the lowest SKU price in fen"
    );
}

#[tokio::test]
async fn forged_and_foreign_cursors_are_400s() {
    let shop = TestShop::start().await;
    let page = shop.get("/v1/products?category=fruit&limit=2").await;
    let cursor = page.body["nextCursor"].as_str().unwrap().to_string();
    let mut forged = cursor.clone();
    forged.replace_range(0..1, if cursor.starts_with('e') { "f" } else { "e" });

    for path in [
        format!("/v1/products?category=fruit&limit=2&cursor={forged}"),
        format!("/v1/products?category=home&limit=2&cursor={cursor}"),
        "/v1/products?cursor=garbage".to_string(),
        "/v1/products?q=茶&cursor=garbage".to_string(),
    ] {
        let answer = shop.get(&path).await;
        assert_eq!(
            (answer.status, answer.error_field()),
            (400, "cursor"),
            "{path}: {}",
            answer.text
        );
    }
}

#[tokio::test]
async fn listing_parameters_are_checked() {
    let shop = TestShop::start().await;

    for (path, field) in [
        ("/v1/products?limit=0", "limit"),
        ("/v1/products?limit=51", "limit"),
        ("/v1/products?limit=abc", "limit"),
        ("/v1/products?category=a%23b", "category"),
    ] {
        let answer = shop.get(path).await;
        assert_eq!(
            (answer.status, answer.error_field()),
            (400, field),
            "{path}"
        );
    }
}

#[tokio::test]
async fn product_detail_shows_skus_prices_and_stock_state_not_counts() {
    let shop = TestShop::start().await;

    let longjing = shop.get("/v1/products/longjing").await;
    let cherry = shop.get("/v1/products/cherry").await;
    let lychee = shop.get("/v1/products/lychee").await;

    assert_eq!(longjing.status, 200);
    let skus = longjing.body["skus"].as_array().unwrap();
    assert_eq!(skus.len(), 2);
    assert_eq!(skus[0]["price"], 12800);
    assert_eq!(skus[0]["specs"]["规格"], "250克");
    assert_eq!(skus[0]["stockState"], "in_stock");
    for absent in ["stock", "memberPrices", "flashSale", "groupBuy"] {
        assert!(skus[0].get(absent).is_none(), "{absent}");
    }
    assert_eq!(cherry.body["stockState"], "low");
    assert_eq!(lychee.body["skus"][0]["stockState"], "sold_out");
    assert!(longjing.header("etag").is_some());
}

#[tokio::test]
async fn unknown_and_malformed_product_ids() {
    let shop = TestShop::start().await;

    let missing = shop.get("/v1/products/no-such-thing").await;
    let malformed = shop.get("/v1/products/%E8%8C%B6").await;
    let off_shelf = shop.get("/v1/products/mooncake").await;

    assert_eq!(
        (missing.status, missing.error_code()),
        (404, "product_not_found")
    );
    assert_eq!((malformed.status, malformed.error_field()), (400, "id"));
    assert_eq!(
        (off_shelf.status, off_shelf.body["onShelf"].clone()),
        (200, Value::Bool(false)),
        "old links still open"
    );
}

#[tokio::test]
async fn guests_get_the_best_sellers() {
    let shop = TestShop::start().await;

    let answer = shop.get("/v1/recommendations").await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["personalized"], false);
    assert_eq!(ids(&answer.body).len(), 10);
    assert_eq!(ids(&answer.body)[0], "daily-nuts");
    assert!(
        answer
            .header("cache-control")
            .unwrap()
            .starts_with("public")
    );
}

#[tokio::test]
async fn shoppers_get_what_they_look_at_minus_what_they_bought() {
    let shop = TestShop::start().await;
    let (token, user) = shop.login("lily.1").await;
    for product in ["kiwi", "mango", "kiwi"] {
        assert_eq!(
            shop.get_as(&token, &format!("/v1/products/{product}"))
                .await
                .status,
            200
        );
    }
    shop.stack.browse.settle().await;
    shop.stack
        .user_store()
        .record_purchase(
            &UserId::parse(&user).unwrap(),
            &CategoryId::parse("fruit").unwrap(),
            &ProductId::parse("navel-orange").unwrap(),
        )
        .await
        .unwrap();

    let answer = shop.get_as(&token, "/v1/recommendations").await;

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["personalized"], true);
    let recommended = ids(&answer.body);
    assert_eq!(recommended.len(), 10);
    assert_eq!(answer.body["items"][0]["categoryId"], "fruit");
    assert!(
        !recommended.contains(&"navel-orange".to_string()),
        "bought products are not recommended"
    );
    assert!(
        answer
            .header("cache-control")
            .unwrap()
            .starts_with("private")
    );
}

#[tokio::test]
async fn a_bad_token_on_a_guest_route_is_still_401() {
    let shop = TestShop::start().await;

    let answer = shop
        .get_as("expired.or.forged", "/v1/recommendations")
        .await;

    assert_eq!(answer.status, 401);
}

#[tokio::test]
async fn seeding_again_keeps_stock_and_duplicates_nothing() {
    let shop = TestShop::start().await;
    let table = shop.stack.resources.tables["CatalogTable"].clone();
    shop.stack
        .dynamodb
        .update_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("SKU#cherry-1".into()))
        .key("sk", AttributeValue::S("SKU".into()))
        .update_expression("SET stock = :zero")
        .expression_attribute_values(":zero", AttributeValue::N("0".into()))
        .send()
        .await
        .unwrap();

    seed::seed(&shop.stack.catalog_store()).await.unwrap();

    let cherry = shop.get("/v1/products/cherry").await;
    assert_eq!(
        cherry.body["stockState"], "sold_out",
        "orders' stock changes survive a re-seed"
    );
    let listed = all_pages(&shop, "/v1/products?limit=50").await;
    assert_eq!(
        listed.len(),
        seed::demo_products()
            .iter()
            .filter(|(p, _)| p.on_shelf)
            .count()
    );
    let puer = shop.get("/v1/products?q=普洱").await;
    assert_eq!(ids(&puer.body).len(), 2);
}
