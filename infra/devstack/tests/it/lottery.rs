//! Lucky draws against the emulator: racing draws never give a prize past its quantity, a
//! shopper's chances and points hold under concurrency, and a prize run out is drawn as the
//! fallback, never refused.

use crate::support::TestShop;
use domain::ids::{PromotionId, UserId};
use domain::lottery::{Chance, DrawRefusal, Lottery, LotteryDraft, LotteryId, Reward};
use edge::runtime::QueueFunction;
use rand::SeedableRng;
use serde_json::json;
use store::lottery::{Drawn, LotteryStore};
use store::marketing::MarketingStore;
use store::points::{LedgerEntry, PointsLedger};

fn table(shop: &TestShop) -> String {
    shop.stack.resources.tables["MarketingTable"].clone()
}

fn store(shop: &TestShop) -> LotteryStore {
    LotteryStore::new(shop.stack.dynamodb.clone(), table(shop))
}

fn ledger(shop: &TestShop) -> PointsLedger {
    PointsLedger::new(shop.stack.dynamodb.clone(), table(shop))
}

const NOW: i64 = 1_796_000_000;

/// A draw open around NOW with `prizes` and `chances`, set up as staff set one up.
async fn lottery(
    shop: &TestShop,
    id: &str,
    prizes: serde_json::Value,
    chances: serde_json::Value,
    limit: i64,
) -> Lottery {
    let draft: LotteryDraft = serde_json::from_value(json!({
        "title": "双十二大转盘",
        "startsAt": "2026-11-30T00:00:00+08:00",
        "endsAt": "2027-01-31T00:00:00+08:00",
        "dailyLimit": limit,
        "chances": chances,
        "prizes": prizes,
    }))
    .unwrap();
    let desk = app::lottery_desk::LotteryDesk::new(
        store(shop),
        MarketingStore::new(shop.stack.dynamodb.clone(), table(shop)),
        ledger(shop),
        store::catalog::CatalogStore::new(
            shop.stack.dynamodb.clone(),
            shop.stack.resources.tables["CatalogTable"].clone(),
        ),
    )
    .with_audit(crate::support::audit_log(shop));
    let created = desk
        .create(Some(id), &draft, &app::staff::Actor::shopctl(), NOW)
        .await
        .unwrap();
    assert_eq!(created.id, LotteryId::parse(id).unwrap());
    created
}

fn shopper(i: usize) -> UserId {
    UserId::parse(&format!("u-lottery-{i}")).unwrap()
}

async fn draw_once(store: &LotteryStore, lottery: &Lottery, user: &UserId, seed: u64) -> Drawn {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    store.draw(lottery, user, &[], NOW, &mut rng).await.unwrap()
}

#[tokio::test]
async fn two_hundred_racing_draws_for_a_prize_of_three_award_exactly_three() {
    // given a draw whose big prize (three of them) is as likely as the thank-you
    let shop = TestShop::with_settings(Default::default()).await;
    let store = store(&shop);
    let wheel = lottery(
        &shop,
        "race",
        json!([
            {"id": "big", "name": "1000积分", "reward": {"kind": "points", "points": 1000},
             "quantity": 3, "weight": 1},
            {"id": "thanks", "name": "谢谢参与", "reward": {"kind": "nothing"}, "weight": 1}
        ]),
        json!({"freePerDay": 1}),
        1,
    )
    .await;

    // when 200 shoppers draw their free chance at once
    let drawn = futures::future::join_all((0..200).map(|i| {
        let (store, wheel) = (store.clone(), wheel.clone());
        async move { draw_once(&store, &wheel, &shopper(i), i as u64).await }
    }))
    .await;

    // then exactly three won the big prize, every other draw was the fallback, none refused
    let won: Vec<_> = drawn
        .iter()
        .map(|d| match d {
            Drawn::Won(record) => record.prize_id.as_str(),
            Drawn::Refused(r) => panic!("a draw was refused: {r:?}"),
        })
        .collect();
    assert_eq!(won.iter().filter(|p| **p == "big").count(), 3);
    assert_eq!(won.iter().filter(|p| **p == "thanks").count(), 197);
    assert_eq!(store.left(&wheel).await.unwrap(), vec![Some(0), None]);
    // and the winners' points came once each; the merchant's record has all 200 draws
    let mut winners = 0;
    for (i, p) in won.iter().enumerate() {
        let balance = ledger(&shop).balance(&shopper(i)).await.unwrap();
        assert_eq!(balance, if *p == "big" { 1000 } else { 0 });
        winners += usize::from(*p == "big");
    }
    assert_eq!(winners, 3);
    assert_eq!(store.all_draws(&wheel.id).await.unwrap().len(), 200);
}

#[tokio::test]
async fn a_shoppers_racing_draws_keep_to_their_chances_and_their_points() {
    // given one free draw a day, more at 100 points each, at most 4 a day, and 250 points
    let shop = TestShop::with_settings(Default::default()).await;
    let store = store(&shop);
    let wheel = lottery(
        &shop,
        "chances",
        json!([
            {"id": "ten", "name": "10积分", "reward": {"kind": "points", "points": 10}, "weight": 1},
            {"id": "thanks", "name": "谢谢参与", "reward": {"kind": "nothing"}, "weight": 1}
        ]),
        json!({"freePerDay": 1, "pointsPerDraw": 100}),
        4,
    )
    .await;
    let me = shopper(1);
    let gift = LedgerEntry {
        key: "test#gift".into(),
        delta: 250,
        reason: "测试赠送".into(),
        order_id: None,
        at: NOW,
    };
    ledger(&shop).post(&me, &gift).await.unwrap();

    // when they press draw ten times at once
    let drawn = futures::future::join_all((0..10).map(|i| {
        let (store, wheel, me) = (store.clone(), wheel.clone(), me.clone());
        async move { draw_once(&store, &wheel, &me, 100 + i).await }
    }))
    .await;

    // then one free draw and two bought ones went through (250 points buy two), the rest
    // refused for points, and the balance is what was paid and won
    let records: Vec<_> = drawn
        .iter()
        .filter_map(|d| match d {
            Drawn::Won(r) => Some(r.clone()),
            Drawn::Refused(_) => None,
        })
        .collect();
    assert_eq!(records.len(), 3, "{drawn:?}");
    assert_eq!(
        records.iter().filter(|r| r.chance == Chance::Free).count(),
        1
    );
    assert_eq!(
        records
            .iter()
            .filter(|r| r.chance == Chance::Points { points: 100 })
            .count(),
        2
    );
    assert!(drawn.iter().all(|d| matches!(
        d,
        Drawn::Won(_) | Drawn::Refused(DrawRefusal::NotEnoughPoints)
    )));
    let won = 10 * records.iter().filter(|r| r.prize_id == "ten").count() as u64;
    assert_eq!(ledger(&shop).balance(&me).await.unwrap(), 250 - 200 + won);
    let tally = store.tally(&wheel.id, &me, NOW).await.unwrap();
    assert_eq!((tally.draws, tally.free_used), (3, 1));
    assert_eq!(store.draws(&wheel.id, &me, 50).await.unwrap().len(), 3);
}

#[tokio::test]
async fn friends_opening_the_link_give_chances_once_each_up_to_the_cap() {
    let shop = TestShop::with_settings(Default::default()).await;
    let store = store(&shop);
    let wheel = lottery(
        &shop,
        "friends",
        json!([
            {"id": "ten", "name": "10积分", "reward": {"kind": "points", "points": 10}, "weight": 1},
            {"id": "thanks", "name": "谢谢参与", "reward": {"kind": "nothing"}, "weight": 1}
        ]),
        json!({"friendCapPerDay": 2}),
        10,
    )
    .await;
    let me = shopper(7);

    // given no free draws, nothing yet earned
    assert_eq!(
        draw_once(&store, &wheel, &me, 1).await,
        Drawn::Refused(DrawRefusal::NoChance)
    );
    // when one friend opens the link three times at once, another once, a third once, and
    // the shopper opens their own link
    let opens = futures::future::join_all([2, 2, 2, 3, 4, 7].map(|f| {
        let (store, wheel, me) = (store.clone(), wheel.clone(), me.clone());
        async move {
            store
                .friend_opened(&wheel, &me, &shopper(f), NOW)
                .await
                .unwrap()
        }
    }))
    .await;

    // then two chances count (the first friend once, the cap of two), never their own open
    assert_eq!(opens.iter().filter(|o| **o).count(), 2, "{opens:?}");
    assert!(!opens[5]);
    for seed in 2..4 {
        assert!(matches!(
            draw_once(&store, &wheel, &me, seed).await,
            Drawn::Won(r) if r.chance == Chance::Friend
        ));
    }
    assert_eq!(
        draw_once(&store, &wheel, &me, 9).await,
        Drawn::Refused(DrawRefusal::NoChance)
    );
}

#[tokio::test]
async fn a_coupon_prize_goes_into_the_wallet_and_once_its_template_runs_out_the_fallback_is_drawn()
{
    // given a coupon template with two left and a draw whose only counted prize is that coupon
    let shop = TestShop::with_settings(Default::default()).await;
    shop.stack
        .shopctl(&[
            "coupon",
            "create",
            "wheel-20",
            "--title",
            "转盘20元券",
            "--off",
            "20",
            "--min-spend",
            "99",
            "--valid-days",
            "7",
            "--total",
            "2",
            "--per-user",
            "1",
        ])
        .await
        .unwrap();
    let marketing = MarketingStore::new(shop.stack.dynamodb.clone(), table(&shop));
    let template = marketing
        .template(&PromotionId::parse("wheel-20").unwrap())
        .await
        .unwrap()
        .unwrap();
    let store = store(&shop);
    let wheel = lottery(
        &shop,
        "coupons",
        json!([
            {"id": "coupon", "name": "20元券", "reward": {"kind": "coupon", "template": "wheel-20"},
             "quantity": 50, "weight": 1000000},
            {"id": "thanks", "name": "谢谢参与", "reward": {"kind": "nothing"}, "weight": 1}
        ]),
        json!({"freePerDay": 1}),
        1,
    )
    .await;

    // when three shoppers draw (the coupon all but certain each time)
    let mut prizes = Vec::new();
    for i in 0..3 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(i);
        let drawn = store
            .draw(
                &wheel,
                &shopper(20 + i as usize),
                std::slice::from_ref(&template),
                NOW,
                &mut rng,
            )
            .await
            .unwrap();
        let Drawn::Won(record) = drawn else {
            panic!("refused: {drawn:?}")
        };
        prizes.push(record);
    }

    // then the first two have the coupon in their wallets, and the third, the template being
    // used up, got the fallback
    assert_eq!(
        prizes[0].reward,
        Reward::Coupon {
            template: "wheel-20".into()
        }
    );
    for record in &prizes[..2] {
        let wallet = marketing.wallet(&record.shopper).await.unwrap();
        assert_eq!(wallet.len(), 1);
        assert_eq!(Some(wallet[0].id.to_string()), record.coupon_id);
    }
    assert_eq!(prizes[2].prize_id, "thanks");
    assert!(
        marketing
            .wallet(&prizes[2].shopper)
            .await
            .unwrap()
            .is_empty()
    );
    // and the prize's own count moved only for the two given
    assert_eq!(store.left(&wheel).await.unwrap(), vec![Some(48), None]);
}

#[tokio::test]
async fn a_shoppers_draws_are_in_their_data_export_and_go_with_their_account() {
    // given a shopper who drew twice in a draw with two free chances
    let shop = TestShop::with_settings(Default::default()).await;
    let store = store(&shop);
    let wheel = lottery(
        &shop,
        "privacy",
        json!([
            {"id": "ten", "name": "10积分", "reward": {"kind": "points", "points": 10}, "weight": 1},
            {"id": "thanks", "name": "谢谢参与", "reward": {"kind": "nothing"}, "weight": 1}
        ]),
        json!({"freePerDay": 2}),
        2,
    )
    .await;
    let me = shopper(40);
    for seed in 0..2 {
        assert!(matches!(
            draw_once(&store, &wheel, &me, seed).await,
            Drawn::Won(_)
        ));
    }
    let records = store::privacy::ShopperRecords::new(shop.stack.dynamodb.clone(), table(&shop));

    // then their export holds both draws
    let traces = records.traces(&me).await.unwrap();
    assert_eq!(traces.draws.len(), 2);
    assert!(traces.draws.iter().all(|d| d.shopper == me));

    // and erasing the account deletes their own records of the draw, the merchant's copy
    // keeping the count of draws made
    let erased = records.erase(&me).await.unwrap();
    assert!(erased.own_records >= 3, "{erased:?}");
    assert!(records.traces(&me).await.unwrap().draws.is_empty());
    assert!(store.draws(&wheel.id, &me, 50).await.unwrap().is_empty());
    assert_eq!(store.all_draws(&wheel.id).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_draw_set_up_by_the_owner_is_drawn_by_shoppers_and_audited_by_the_merchant() {
    // given the owner setting up a draw of 100 points (2 of them) or a thank-you, one free
    // draw a day and more at 300 points (more than a win gives, so a second draw never pays)
    let shop = TestShop::with_settings(Default::default()).await;
    let (owner, _, _) = crate::admin::owner(&shop, "lottery-owner").await;
    let body = json!({
        "id": "d12-wheel", "title": "双十二大转盘",
        "startsAt": "2026-01-01T00:00:00+08:00", "endsAt": "2036-01-01T00:00:00+08:00",
        "dailyLimit": 2, "chances": {"freePerDay": 1, "pointsPerDraw": 300},
        "prizes": [
            {"id": "hundred", "name": "100积分", "reward": {"kind": "points", "points": 100}, "quantity": 2, "weight": 1},
            {"id": "thanks", "name": "谢谢参与", "reward": {"kind": "nothing"}, "weight": 3}
        ]
    });
    let created = shop.post_as(&owner, "/admin/v1/lotteries", &body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    // the same id again is a conflict, and a draft without a fallback names the prizes
    let again = shop.post_as(&owner, "/admin/v1/lotteries", &body).await;
    assert_eq!(
        (again.status, again.body["error"]["code"].as_str()),
        (409, Some("lottery_exists"))
    );
    let mut no_fallback = body.clone();
    no_fallback["id"] = json!("other");
    no_fallback["prizes"][1]["quantity"] = json!(10);
    let refused = shop
        .post_as(&owner, "/admin/v1/lotteries", &no_fallback)
        .await;
    assert_eq!(
        (refused.status, refused.body["error"]["field"].as_str()),
        (400, Some("prizes"))
    );

    // when a shopper looks at it and draws twice (the free one, then none bought: no points)
    let (token, _) = shop.login("lottery-shopper.1").await;
    let view = shop.get_as(&token, "/v1/lotteries/d12-wheel").await;
    assert_eq!(view.status, 200, "{}", view.text);
    assert_eq!(view.body["chances"]["free"], 1);
    assert_eq!(view.body["prizes"][0]["left"], 2);
    assert_eq!(view.body["prizes"][0]["oddsPermille"], 250);
    assert_eq!(view.body["prizes"][1]["left"], serde_json::Value::Null);
    let first = shop
        .post_as(&token, "/v1/lotteries/d12-wheel/draw", &json!({}))
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.body["draw"]["chance"], "free");
    let second = shop
        .post_as(&token, "/v1/lotteries/d12-wheel/draw", &json!({}))
        .await;
    assert_eq!(
        (second.status, second.body["error"]["code"].as_str()),
        (409, Some("insufficient_points"))
    );

    // then their page lists the draw, and the merchant sees it with what each prize gave
    let after = shop.get_as(&token, "/v1/lotteries/d12-wheel").await;
    assert_eq!(after.body["draws"].as_array().unwrap().len(), 1);
    assert_eq!(after.body["chances"]["free"], 0);
    let listed = shop.get_as(&owner, "/admin/v1/lotteries").await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body["items"][0]["lottery"]["id"], "d12-wheel");
    let left = listed.body["items"][0]["left"][0].as_u64().unwrap();
    assert!(left == 2 || left == 1, "{left}");
    assert_eq!(listed.body["items"][0]["left"][1], serde_json::Value::Null);
    let audit = shop
        .get_as(&owner, "/admin/v1/lotteries/d12-wheel/draws")
        .await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    assert_eq!(audit.body["items"].as_array().unwrap().len(), 1);
    let won = &audit.body["won"];
    assert_eq!(
        won["hundred"].as_u64().unwrap() + won["thanks"].as_u64().unwrap(),
        1
    );
    // and an unknown draw is 404 to both
    let missing = shop.get_as(&token, "/v1/lotteries/nope").await;
    assert_eq!(
        (missing.status, missing.body["error"]["code"].as_str()),
        (404, Some("lottery_not_found"))
    );
    let missing = shop.get_as(&owner, "/admin/v1/lotteries/nope/draws").await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn friends_opening_a_shared_draw_give_the_sharer_chances_through_the_api() {
    // given a draw with no free chances, only friends' (two a day), shared by a shopper
    let shop = TestShop::with_settings(Default::default()).await;
    let (owner, _, _) = crate::admin::owner(&shop, "share-owner").await;
    let created = shop
        .post_as(
            &owner,
            "/admin/v1/lotteries",
            &json!({
                "id": "friends-wheel", "title": "好友助力转盘",
                "startsAt": "2026-01-01T00:00:00+08:00", "endsAt": "2036-01-01T00:00:00+08:00",
                "dailyLimit": 5, "chances": {"friendCapPerDay": 2},
                "prizes": [
                    {"id": "ten", "name": "10积分", "reward": {"kind": "points", "points": 10}, "weight": 1},
                    {"id": "thanks", "name": "谢谢参与", "reward": {"kind": "nothing"}, "weight": 1}
                ]
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let (sharer, _) = shop.login("lottery-sharer.1").await;
    let share = shop
        .post_as(
            &sharer,
            "/v1/shares",
            &json!({"lotteryId": "friends-wheel"}),
        )
        .await;
    assert_eq!(share.status, 201, "{}", share.text);
    let code = share.body["code"].as_str().unwrap().to_string();
    assert!(
        share.body["path"]
            .as_str()
            .unwrap()
            .starts_with("/pages/lottery/index?id=friends-wheel")
    );
    let unknown = shop
        .post_as(&sharer, "/v1/shares", &json!({"lotteryId": "nope"}))
        .await;
    assert_eq!(
        (unknown.status, unknown.body["error"]["field"].as_str()),
        (404, Some("lotteryId"))
    );
    // a share names a product or a draw, never both
    let both = shop
        .post_as(
            &sharer,
            "/v1/shares",
            &json!({"productId": "longjing", "lotteryId": "friends-wheel"}),
        )
        .await;
    assert_eq!(
        (both.status, both.body["error"]["field"].as_str()),
        (400, Some("lotteryId"))
    );

    // when the sharer opens it, a visitor not signed in opens it, and three friends open it
    // (the first twice)
    let open = |token: Option<String>| {
        let (shop, code) = (&shop, code.clone());
        async move {
            let path = format!("/v1/shares/{code}/open");
            let answer = match token {
                Some(t) => shop.post_as(&t, &path, &json!({})).await,
                None => {
                    shop.post(&path, &json!({"visitorId": "visitor-0001"}))
                        .await
                }
            };
            assert_eq!(answer.status, 200, "{}", answer.text);
            answer.body["chanceGiven"].as_bool().unwrap()
        }
    };
    assert!(!open(Some(sharer.clone())).await);
    assert!(!open(None).await);
    let mut friends = Vec::new();
    for name in ["f1", "f2", "f3"] {
        friends.push(shop.login(&format!("lottery-{name}.1")).await.0);
    }
    let mut given = Vec::new();
    for friend in [&friends[0], &friends[0], &friends[1], &friends[2]] {
        given.push(open(Some(friend.clone())).await);
    }

    // then the first two friends' first opens gave chances (the cap), and the sharer draws twice
    assert_eq!(given, [true, false, true, false]);
    let view = shop.get_as(&sharer, "/v1/lotteries/friends-wheel").await;
    assert_eq!(view.body["chances"]["friend"], 2);
    for _ in 0..2 {
        let drawn = shop
            .post_as(&sharer, "/v1/lotteries/friends-wheel/draw", &json!({}))
            .await;
        assert_eq!(
            (drawn.status, &drawn.body["draw"]["chance"]),
            (201, &json!("friend"))
        );
    }
    let third = shop
        .post_as(&sharer, "/v1/lotteries/friends-wheel/draw", &json!({}))
        .await;
    assert_eq!(third.body["error"]["code"], "no_draw_chance");
}

#[tokio::test]
async fn a_gift_prize_ships_once_to_the_address_its_winner_gives() {
    // given a draw whose teacup (2 of them) comes up almost always, set up by the owner (a
    // gift of a SKU the catalog lacks is refused by its field)
    let shop = TestShop::shipping().await;
    let (owner, _, _) = crate::admin::owner(&shop, "gift-owner").await;
    let mut body = json!({
        "id": "cup-wheel", "title": "茶杯转盘",
        "startsAt": "2026-01-01T00:00:00+08:00", "endsAt": "2036-01-01T00:00:00+08:00",
        "dailyLimit": 3, "chances": {"freePerDay": 3},
        "prizes": [
            {"id": "cup", "name": "青花茶杯", "reward": {"kind": "gift", "skuId": "no-such-sku"}, "quantity": 2, "weight": 1_000_000},
            {"id": "thanks", "name": "谢谢参与", "reward": {"kind": "nothing"}, "weight": 1}
        ]
    });
    let refused = shop.post_as(&owner, "/admin/v1/lotteries", &body).await;
    assert_eq!(
        (refused.status, refused.error_field()),
        (400, "prizes[0].reward.skuId")
    );
    body["prizes"][0]["reward"]["skuId"] = json!("teacup-1");
    let created = shop.post_as(&owner, "/admin/v1/lotteries", &body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let wheel = store(&shop)
        .lottery(&LotteryId::parse("cup-wheel").unwrap())
        .await
        .unwrap()
        .unwrap();
    let (token, user) = shop.login("gift-winner.1").await;
    let user = UserId::parse(&user).unwrap();
    // drawn with a seeded generator, so the cup comes up (what the API draws with the OS's)
    let Drawn::Won(won) = draw_once(&store(&shop), &wheel, &user, 11).await else {
        panic!("no draw")
    };
    assert_eq!(won.prize_id, "cup");
    let claim = format!("/v1/lotteries/cup-wheel/draws/{}/claim", won.id);

    // when the winner claims it without an address, then with one, five times at once
    let bare = shop.post_as(&token, &claim, &json!({})).await;
    let body = json!({"address": crate::support::address()});
    let answers =
        futures::future::join_all((0..5).map(|_| shop.post_as(&token, &claim, &body))).await;

    // then the bare claim names the address, and one order exists: paid at zero, the same
    // answer to every claim
    assert_eq!((bare.status, bare.error_field()), (400, "address"));
    let mut statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 201],
        "{:?}",
        answers.iter().map(|a| &a.text).collect::<Vec<_>>()
    );
    let order = &answers.iter().find(|a| a.status == 201).unwrap().body["order"]["order"];
    let order_id = order["id"].as_str().unwrap().to_string();
    for answer in &answers {
        assert_eq!(answer.body["order"]["order"]["id"], order_id.as_str());
        assert_eq!(answer.body["draw"]["orderId"], order_id.as_str());
    }
    assert_eq!(
        (&order["status"], &order["total"]),
        (&json!("PAID"), &json!(0))
    );
    assert_eq!(order["lines"][0]["skuId"], "teacup-1");
    let mine = shop.get_as(&token, "/v1/orders").await;
    assert_eq!(
        mine.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        mine.text
    );

    // and fulfillment ships it, the merchant's record shows its order, and nobody else (nor a
    // draw that won no gift) can claim
    let paid = json!({"Records": [{"messageId": "gift-ship", "body": json!({"type": "order.paid", "orderId": order_id, "transactionId": "", "dedupeKey": format!("order.paid:{order_id}")}).to_string()}]});
    let shipped = shop
        .stack
        .fulfillment
        .handle(serde_json::from_value(paid).unwrap())
        .await;
    assert!(shipped.batch_item_failures.is_empty());
    let after = shop.get_as(&token, &format!("/v1/orders/{order_id}")).await;
    assert_eq!(after.body["status"], "SHIPPED", "{}", after.text);
    let record = shop
        .get_as(&owner, "/admin/v1/lotteries/cup-wheel/draws")
        .await;
    assert_eq!(record.body["items"][0]["orderId"], order_id.as_str());
    let (other, _) = shop.login("gift-other.1").await;
    let stolen = shop.post_as(&other, &claim, &body).await;
    assert_eq!(
        (stolen.status, stolen.error_code()),
        (404, "draw_not_found")
    );
    // two more draws: the cups are two, so one of the three won none
    let mut thanks = None;
    for seed in [3, 5] {
        if let Drawn::Won(d) = draw_once(&store(&shop), &wheel, &user, seed).await
            && d.prize_id == "thanks"
        {
            thanks = Some(d.id);
        }
    }
    let claimed = shop
        .post_as(
            &token,
            &format!("/v1/lotteries/cup-wheel/draws/{}/claim", thanks.unwrap()),
            &body,
        )
        .await;
    assert_eq!((claimed.status, claimed.error_code()), (409, "not_a_gift"));
}
