//! SQS messages between functions. Consumers get them at least once, so every message names
//! the key its consumer deduplicates on.

use domain::ids::OrderId;
use domain::ids::UserId;
use domain::ids::{BargainId, GroupId};
use domain::ids::{CategoryId, ProductId, SkuId};
use serde::{Deserialize, Serialize};

/// Longest delay SQS allows on one message; longer waits are re-enqueued.
pub const MAX_DELAY_SECONDS: i64 = 900;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum FulfillmentMessage {
    /// Dedupe key: `order.paid:<orderId>` (also in `dedupeKey`).
    #[serde(rename = "order.paid", rename_all = "camelCase")]
    OrderPaid {
        order_id: OrderId,
        transaction_id: String,
        dedupe_key: String,
    },
    /// The shopper sends the goods back under this waybill: track it with the same hook.
    #[serde(rename = "return.registered", rename_all = "camelCase")]
    ReturnRegistered {
        order_id: OrderId,
        company: String,
        number: String,
    },
    /// Every seat of a group-buy group is paid: ship its members' orders (each once, by status).
    #[serde(rename = "group.completed", rename_all = "camelCase")]
    GroupCompleted { group_id: GroupId },
    /// Upload the order's shipping information to WeChat; `attempt` counts the tries so far.
    #[serde(rename = "shipping.upload", rename_all = "camelCase")]
    ShippingUpload {
        order_id: OrderId,
        #[serde(default)]
        attempt: u32,
    },
    /// Staff shipped the order by hand under this waybill: notice, WeChat's shipping
    /// information and tracking follow as for a waybill of our own.
    #[serde(rename = "order.shipped_by_hand", rename_all = "camelCase")]
    ShippedByHand { order_id: OrderId, number: String },
    /// The courier says the parcel was signed for: tell WeChat (`notify_confirm_receive`), once.
    #[serde(rename = "receipt.notify", rename_all = "camelCase")]
    ReceiptNotify {
        order_id: OrderId,
        received_at: i64,
        #[serde(default)]
        attempt: u32,
    },
}

impl FulfillmentMessage {
    pub fn order_paid(order_id: &OrderId, transaction_id: &str) -> Self {
        FulfillmentMessage::OrderPaid {
            order_id: order_id.clone(),
            transaction_id: transaction_id.to_string(),
            dedupe_key: format!("order.paid:{order_id}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum DeadlineMessage {
    /// An order's payment deadline; idempotent because every step is conditional on the status.
    #[serde(rename = "order.deadline", rename_all = "camelCase")]
    OrderDeadline { order_id: OrderId, due_at: i64 },
    /// Money arrived for an order already cancelled: give it back. Idempotent by `out_refund_no`.
    #[serde(rename = "payment.late", rename_all = "camelCase")]
    LatePayment {
        order_id: OrderId,
        transaction_id: String,
        total: u64,
        /// Who took the money, and so gives it back.
        #[serde(default = "wechat")]
        provider: domain::payment::Provider,
    },
    /// The parcel was signed for: award the order's points (once, by ledger key) and schedule
    /// its completion. Sent again by every push that finds the parcel delivered.
    #[serde(rename = "order.delivered", rename_all = "camelCase")]
    OrderDelivered {
        order_id: OrderId,
        delivered_at: i64,
    },
    /// `DELIVERED -> COMPLETED` once `due_at` has passed (conditional, so once).
    #[serde(rename = "order.complete", rename_all = "camelCase")]
    OrderComplete { order_id: OrderId, due_at: i64 },
    /// A group's time limit: short of members, it fails and every paid member is refunded.
    #[serde(rename = "group.expire", rename_all = "camelCase")]
    GroupExpire { group_id: GroupId, due_at: i64 },
    /// A bargain's time limit: unused, it expires.
    #[serde(rename = "bargain.expire", rename_all = "camelCase")]
    BargainExpire { bargain_id: BargainId, due_at: i64 },
    /// A day after payment: a WeChat Pay order whose shipping information is still not with
    /// WeChat raises an alert (WeChat reminds the shop at 48 hours and holds the funds).
    #[serde(rename = "shipping.check", rename_all = "camelCase")]
    ShippingCheck { order_id: OrderId, due_at: i64 },
    /// A new review's content goes to WeChat's checks (its text and each photo not yet sent);
    /// tried again later while WeChat is busy. Idempotent: what was checked is not sent again.
    #[serde(rename = "review.check", rename_all = "camelCase")]
    ReviewCheck {
        product_id: ProductId,
        order_id: OrderId,
        sku_id: SkuId,
        #[serde(default)]
        attempt: u32,
    },
    /// A product's search postings brought in step with its terms, once more: a staff write
    /// does it at once, and this makes it happen even if that function stopped in between.
    #[serde(rename = "catalog.terms", rename_all = "camelCase")]
    CatalogTerms { product_id: ProductId },
    /// A category moved: the SKUs of every product in it or under it take the categories now
    /// above theirs, a page of products per message (each message queues the next page).
    /// Sent a minute after the move as well as at once, in case the function stopped between.
    #[serde(rename = "category.moved", rename_all = "camelCase")]
    CategoryMoved {
        category_id: CategoryId,
        #[serde(default)]
        pass: crate::catalog::CategoryPass,
    },
    /// The day's low-stock alert, sent by the template's schedule (09:00 China time) as
    /// `{"type": "stock.low"}`: the SKUs at or under their thresholds, to the shop's topic.
    /// Once a China day, however often the schedule's message arrives.
    #[serde(rename = "stock.low")]
    LowStockAlert,
}

/// For the rewards consumer. Invite rewards are decided once, by the invite's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum RewardMessage {
    /// An invited shopper paid an order; if it is their first, its fate decides the reward.
    /// Sent again with every repeat of the payment (the consumer dedupes).
    #[serde(rename = "invitee.paid", rename_all = "camelCase")]
    InviteePaid {
        order_id: OrderId,
        invitee_id: UserId,
        inviter_id: UserId,
    },
    /// Look at the first order again: refunded -> no reward; kept past the refund window ->
    /// reward; otherwise come back later.
    #[serde(rename = "invite.check", rename_all = "camelCase")]
    InviteCheck {
        order_id: OrderId,
        invitee_id: UserId,
        inviter_id: UserId,
    },
}

/// For the exports consumer: write the export's file (once, by the export's state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ExportMessage {
    #[serde(rename = "orders.export", rename_all = "camelCase")]
    Orders { export_id: domain::export::ExportId },
}

fn wechat() -> domain::payment::Provider {
    domain::payment::Provider::Wechat
}

#[derive(Debug, thiserror::Error)]
#[error("SQS SendMessage failed")]
pub struct QueueError(#[source] Box<dyn std::error::Error + Send + Sync>);

/// One queue to send to. Built once per cold start.
#[derive(Clone)]
pub struct Queue {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl Queue {
    pub fn new(sqs: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            sqs,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn send<T: Serialize>(
        &self,
        message: &T,
        delay_seconds: i64,
    ) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).map_err(|e| QueueError(Box::new(e)))?;
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(i32::try_from(delay_seconds.clamp(0, MAX_DELAY_SECONDS)).unwrap_or(0))
            .send()
            .await
            .map_err(|e| {
                QueueError(
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                        .to_string()
                        .into(),
                )
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_their_type_and_dedupe_key() {
        let id = OrderId::parse("20261124abcdefgh").unwrap();
        let json = serde_json::to_value(FulfillmentMessage::order_paid(&id, "4200001")).unwrap();
        assert_eq!(json["type"], "order.paid");
        assert_eq!(json["dedupeKey"], "order.paid:20261124abcdefgh");
        let back: DeadlineMessage = serde_json::from_str(
            r#"{"type":"order.deadline","orderId":"20261124abcdefgh","dueAt":5}"#,
        )
        .unwrap();
        assert_eq!(
            back,
            DeadlineMessage::OrderDeadline {
                order_id: id,
                due_at: 5
            }
        );
    }
}
