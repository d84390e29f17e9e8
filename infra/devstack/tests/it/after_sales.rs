//! After-sales approval (售后审核): a shipped order's refund waits for the shop's staff, who
//! approve it once however many press the button, or reject it with a reason the shopper reads.

use crate::admin::{member, owner};
use crate::events::refund_awaiting_approval;
use crate::support::{Answer, TestShop, audit_log};
use domain::staff::Role;
use serde_json::{Value, json};

async fn approve(shop: &TestShop, token: &str, order: &str, no: &str, body: Value) -> Answer {
    shop.post_as(
        token,
        &format!("/admin/v1/orders/{order}/refunds/{no}/approve"),
        &body,
    )
    .await
}

async fn reject(shop: &TestShop, token: &str, order: &str, no: &str, reason: &str) -> Answer {
    shop.post_as(
        token,
        &format!("/admin/v1/orders/{order}/refunds/{no}/reject"),
        &json!({ "reason": reason }),
    )
    .await
}

async fn order_of(shop: &TestShop, token: &str, id: &str) -> Value {
    shop.get_as(token, &format!("/v1/orders/{id}")).await.body
}

/// The shipped order's return parcel, signed for by the shop's warehouse.
async fn return_signed_for(shop: &TestShop, token: &str, order: &str) {
    shop.stack.drain("FulfillmentQueue").await.unwrap();
    let number = order_of(shop, token, order).await["returnShipment"]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = shop
        .stack
        .kuaidi100
        .push(&number, 3, "商家已签收")
        .await
        .unwrap();
    assert_eq!(status, 200);
}

async fn queue(shop: &TestShop, token: &str) -> Vec<Value> {
    let answer = shop.get_as(token, "/admin/v1/after-sales").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["items"].as_array().unwrap().clone()
}

fn audited(records: &[domain::audit::AuditRecord], action: &str) -> Vec<Value> {
    records
        .iter()
        .filter(|r| r.action == action)
        .map(|r| r.after.clone())
        .collect()
}

async fn todays_records(shop: &TestShop) -> Vec<domain::audit::AuditRecord> {
    audit_log(shop)
        .day(&domain::clock::china_day(domain::clock::now_epoch_seconds()))
        .await
        .unwrap()
        .records
}

#[tokio::test]
async fn a_waiting_refund_approved_by_two_at_once_is_refunded_exactly_once() {
    // given a shipped order whose return-and-refund waits for staff, its parcel back
    let shop = TestShop::shipping().await;
    let (token, _) = shop.login("waiter.1").await;
    let (order, no) = refund_awaiting_approval(&shop, &token, "approve-twice").await;
    return_signed_for(&shop, &token, &order).await;
    let (owner_token, _, _) = owner(&shop, "laoban").await;
    let (first, _) = member(&shop, &owner_token, "kefu.a", Role::Service).await;
    let (second, _) = member(&shop, &owner_token, "kefu.b", Role::Service).await;

    // then the shopper sees it waiting, WeChat Pay was not asked, and the queue shows it
    let waiting = order_of(&shop, &token, &order).await;
    assert_eq!(waiting["status"], "REFUNDING");
    assert_eq!(waiting["afterSales"][0]["status"], "AWAITING_APPROVAL");
    assert!(!shop.stack.wechatpay.refunds().contains_key(&no));
    let listed = queue(&shop, &first).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["outRefundNo"], no.as_str());
    assert_eq!(listed[0]["kind"], "return_and_refund");

    // when two staff approve it at the same moment
    let (a, b) = tokio::join!(
        approve(&shop, &first, &order, &no, json!({})),
        approve(&shop, &second, &order, &no, json!({}))
    );

    // then one approval counts: the other, racing it, is told it was decided, or, after it,
    // finds the refund approved and asks WeChat Pay again for the same refund (which is safe)
    assert!(
        a.status == 200 || b.status == 200,
        "{} / {}",
        a.text,
        b.text
    );
    for answer in [&a, &b] {
        assert!(
            answer.status == 200 || (answer.status, answer.error_code()) == (409, "refund_decided"),
            "{}",
            answer.text
        );
    }
    // and WeChat Pay was asked for it, once, and its notification refunds the order once
    assert!(shop.stack.wechatpay.refunds().contains_key(&no));
    let success = shop
        .stack
        .wechatpay
        .refund_notification(&no, "SUCCESS", |_| {})
        .unwrap();
    for _ in 0..2 {
        let status = shop
            .stack
            .wechatpay
            .deliver(&format!("{}/v1/pay/wechat/notify", shop.base), &success)
            .await
            .unwrap();
        assert_eq!(status, 204);
    }
    let refunded = order_of(&shop, &token, &order).await;
    assert_eq!(refunded["status"], "REFUNDED");
    assert_eq!(
        refunded["refundedAmount"],
        refunded["lines"][0]["lineTotal"]
    );
    assert!(
        queue(&shop, &first).await.is_empty(),
        "decided: off the queue"
    );
    assert_eq!(
        audited(&todays_records(&shop).await, "refund.approve").len(),
        1
    );
}

#[tokio::test]
async fn a_rejected_refund_tells_the_shopper_why_and_its_lines_can_be_asked_for_again() {
    // given a waiting refund
    let shop = TestShop::shipping().await;
    let (token, _) = shop.login("rejected.1").await;
    let (order, no) = refund_awaiting_approval(&shop, &token, "reject-once").await;
    let (owner_token, _, _) = owner(&shop, "dianzhang").await;
    let (service, _) = member(&shop, &owner_token, "kefu.c", Role::Service).await;
    let (operator, _) = member(&shop, &owner_token, "yunying", Role::Operator).await;

    // when an operator tries, a reason is missing, then customer service rejects it
    let forbidden = reject(&shop, &operator, &order, &no, "不行").await;
    let no_reason = reject(&shop, &service, &order, &no, " ").await;
    let rejected = reject(&shop, &service, &order, &no, "商品已拆封使用，不支持退货").await;

    // then only the rejection counts, and the order is back as it was before the refund
    assert_eq!(
        (forbidden.status, forbidden.error_code()),
        (403, "forbidden")
    );
    assert_eq!((no_reason.status, no_reason.error_field()), (400, "reason"));
    assert_eq!(rejected.status, 200, "{}", rejected.text);
    assert_eq!(rejected.body["refund"]["status"], "REJECTED");
    let back = order_of(&shop, &token, &order).await;
    assert_eq!(back["status"], "SHIPPED");
    assert_eq!(back["refundedAmount"].as_u64().unwrap_or(0), 0, "{back}");
    assert_eq!(back["afterSales"][0]["status"], "REJECTED");
    assert_eq!(
        back["afterSales"][0]["rejectedReason"],
        "商品已拆封使用，不支持退货"
    );
    assert!(!shop.stack.wechatpay.refunds().contains_key(&no));
    // and deciding it again changes nothing
    let late = approve(&shop, &service, &order, &no, json!({})).await;
    assert_eq!((late.status, late.error_code()), (409, "refund_decided"));
    // and the shopper may ask again: a new refund, waiting again
    let again = shop
        .post_as(
            &token,
            &format!("/v1/orders/{order}/refund"),
            &json!({"reason": "质量问题", "kind": "return_and_refund"}),
        )
        .await;
    assert_eq!(again.status, 202, "{}", again.text);
    assert_eq!(again.body["refund"]["status"], "AWAITING_APPROVAL");
    assert_ne!(again.body["refund"]["outRefundNo"], no.as_str());
    let records = todays_records(&shop).await;
    let rejections = audited(&records, "refund.reject");
    assert_eq!(rejections.len(), 1);
    assert_eq!(rejections[0]["reason"], "商品已拆封使用，不支持退货");
}

#[tokio::test]
async fn approving_above_the_step_up_amount_needs_a_fresh_code_and_a_return_waits_for_its_parcel() {
    // given a shop where approving any refund above 1 fen needs step-up, and a waiting refund
    // whose return parcel has not arrived
    let shop = TestShop::seeded_with(&[("REFUND_STEP_UP_FEN", "1")]).await;
    devstack::seed::warehouses(&shop.stack.admin(), 0)
        .await
        .unwrap();
    let (token, _) = shop.login("stepper.1").await;
    let (order, no) = refund_awaiting_approval(&shop, &token, "step-up").await;
    // the owner signed in with a code just now: that counts as a step-up for five minutes
    let (owner_token, _, _) = owner(&shop, "zongjian").await;
    let (service, _) = member(&shop, &owner_token, "kefu.d", Role::Service).await;

    // when customer service (no code entered) approves, then the owner, then the owner overriding
    let unverified = approve(&shop, &service, &order, &no, json!({})).await;
    let too_early = approve(&shop, &owner_token, &order, &no, json!({})).await;
    let overridden = approve(
        &shop,
        &owner_token,
        &order,
        &no,
        json!({"overrideReturn": true}),
    )
    .await;

    // then a code was needed, the parcel was waited for, and the override was taken and audited
    assert_eq!(
        (unverified.status, unverified.error_code()),
        (403, "step_up_required")
    );
    assert_eq!(
        (too_early.status, too_early.error_code()),
        (409, "return_not_received")
    );
    assert_eq!(overridden.status, 200, "{}", overridden.text);
    assert_eq!(overridden.body["refund"]["status"], "PROCESSING");
    assert_eq!(
        overridden.body["refund"]["decision"]["overrideReturn"],
        true
    );
    assert!(shop.stack.wechatpay.refunds().contains_key(&no));
    let approvals = audited(&todays_records(&shop).await, "refund.approve");
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0]["returnOverridden"], true);
}

#[tokio::test]
async fn with_approval_always_even_an_unshipped_orders_refund_waits_and_never_none_does() {
    for (setting, expected) in [("always", "AWAITING_APPROVAL"), ("never", "PROCESSING")] {
        // given a paid order not shipped yet
        let shop = TestShop::seeded_with(&[("REFUND_APPROVAL", setting)]).await;
        let (token, _) = shop.login(&format!("{setting}.1")).await;
        let placed = crate::checkout::place(
            &shop,
            &token,
            "approval-policy",
            &json!({"items": [{"skuId": "walnut-1", "quantity": 1}], "address": crate::support::address()}),
        )
        .await;
        let order = placed.body["order"]["id"].as_str().unwrap().to_string();
        crate::social::pay(&shop, &order).await;

        // when the shopper asks for their money back
        let asked = shop
            .post_as(
                &token,
                &format!("/v1/orders/{order}/refund"),
                &json!({"reason": "拍错了"}),
            )
            .await;

        // then it waits for staff only when the shop says so
        assert_eq!(asked.status, 202, "{}", asked.text);
        assert_eq!(asked.body["refund"]["status"], expected, "{setting}");
    }
}
