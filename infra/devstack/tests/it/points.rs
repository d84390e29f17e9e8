use crate::checkout::{order_body, place};
use crate::support::TestShop;
use domain::ids::OrderId;
use domain::ids::UserId;
use store::points::{LedgerEntry, PointsLedger, Posted};

fn ledger(shop: &TestShop) -> PointsLedger {
    PointsLedger::new(
        shop.stack.dynamodb.clone(),
        shop.stack.resources.tables["MarketingTable"].clone(),
    )
}

fn entry(key: &str, delta: i64, at: i64) -> LedgerEntry {
    LedgerEntry {
        key: key.into(),
        delta,
        reason: "测试".into(),
        order_id: None,
        at,
    }
}

#[tokio::test]
async fn a_delivered_order_earns_its_points_once_however_often_it_is_posted() {
    let shop = TestShop::start().await;
    let (token, user) = shop.login("lena.1").await;
    let placed = place(&shop, &token, "earn", &order_body("longjing-1", 1)).await;
    let id = OrderId::parse(placed.body["order"]["id"].as_str().unwrap()).unwrap();
    let order = shop
        .stack
        .order_store()
        .get(&id)
        .await
        .unwrap()
        .unwrap()
        .order;
    let ledger = ledger(&shop);

    let results =
        futures::future::join_all((0..10).map(|_| ledger.award_delivered_order(&order, 1, 1_000)))
            .await;

    let posted = results
        .iter()
        .filter(|r| matches!(r, Ok(Posted::Posted { .. })))
        .count();
    assert_eq!(posted, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(Posted::Posted { .. }) | Ok(Posted::AlreadyPosted)))
    );
    let user = UserId::parse(&user).unwrap();
    assert_eq!(ledger.balance(&user).await.unwrap(), 128, "128 yuan paid");
    let entries = ledger.entries(&user).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].order_id.as_ref(), Some(&id));
}

#[tokio::test]
async fn spending_never_goes_below_zero_and_a_return_counts_once() {
    let shop = TestShop::with_settings(Default::default()).await;
    let ledger = ledger(&shop);
    let user = UserId::parse("u-points-test").unwrap();

    assert_eq!(
        ledger
            .post(&user, &entry("checkin#20261124", 500, 1))
            .await
            .unwrap(),
        Posted::Posted { balance: 500 }
    );
    assert_eq!(
        ledger
            .post(&user, &entry("order#A#spend", -300, 2))
            .await
            .unwrap(),
        Posted::Posted { balance: 200 }
    );
    assert_eq!(
        ledger
            .post(&user, &entry("order#B#spend", -300, 3))
            .await
            .unwrap(),
        Posted::Insufficient
    );
    assert_eq!(
        ledger
            .post(&user, &entry("order#A#return", 300, 4))
            .await
            .unwrap(),
        Posted::Posted { balance: 500 }
    );
    assert_eq!(
        ledger
            .post(&user, &entry("order#A#return", 300, 5))
            .await
            .unwrap(),
        Posted::AlreadyPosted
    );

    assert_eq!(ledger.balance(&user).await.unwrap(), 500);
    let keys: Vec<String> = ledger
        .entries(&user)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(
        keys,
        ["order#A#return", "order#A#spend", "checkin#20261124"],
        "newest first, the refused spend not recorded"
    );
}
