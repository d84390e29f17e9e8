//! Applying a payment to its order: the one place an order becomes PAID, whichever provider took
//! the money (WeChat Pay, Alipay) and whether its webhook or a deadline's query reported it.

use domain::ids::OrderId;
use domain::money::Fen;
use domain::order::OrderStatus;
use providers::wechatpay::Transaction;
use serde_json::json;
use store::StoreError;
use store::orders::{OrderStore, Transition};
use store::queue::{DeadlineMessage, FulfillmentMessage, Queue, QueueError, RewardMessage};

pub use domain::payment::Provider;

/// A payment as its provider reports it, in the shop's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderPayment {
    pub provider: Provider,
    /// Our order number as the provider has it.
    pub out_trade_no: String,
    /// The provider's own number for the payment (WeChat `transaction_id`, Alipay `trade_no`).
    pub transaction_id: String,
    /// The money arrived.
    pub paid: bool,
    /// For our merchant account and our app.
    pub ours: bool,
    pub amount: Option<Fen>,
    pub success_time: Option<String>,
}

impl ProviderPayment {
    /// A WeChat Pay transaction (notification or query answer), judged against who we are.
    pub fn wechat(tx: &Transaction, merchant: &Merchant) -> Self {
        Self {
            provider: Provider::Wechat,
            out_trade_no: tx.out_trade_no.clone(),
            transaction_id: tx.transaction_id.clone().unwrap_or_default(),
            paid: tx.trade_state == "SUCCESS",
            ours: tx.mchid == merchant.mchid && tx.appid == merchant.appid,
            amount: tx.amount.as_ref().map(|a| Fen::new(a.total)),
            success_time: tx.success_time.clone(),
        }
    }

    /// An authentic Alipay notification, judged against our Alipay app.
    pub fn alipay(notice: &providers::alipay::TradeNotice, app_id: &str) -> Self {
        Self {
            provider: Provider::Alipay,
            out_trade_no: notice.out_trade_no.clone(),
            transaction_id: notice.trade_no.clone(),
            paid: notice.is_paid(),
            ours: notice.app_id == app_id,
            amount: Some(notice.total),
            success_time: notice.gmt_payment.clone(),
        }
    }
}

/// Who we are to WeChat Pay: a transaction for anyone else is never our payment.
#[derive(Debug, Clone)]
pub struct Merchant {
    pub mchid: String,
    pub appid: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// The order moved to PAID now.
    Paid,
    /// It already was (a duplicate); `order.paid` was sent again for the consumer to dedupe.
    AlreadyPaid,
    /// The order had been cancelled: recorded for review, and a refund requested.
    LatePayment,
    /// Merchant, app or amount do not match the order: recorded for review, order untouched.
    Mismatch,
    /// No such order: recorded for review.
    UnknownOrder,
    /// The transaction is not a successful payment; nothing to do.
    NotPaid,
}

#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Everything that settles payments: the orders, who we are, and the queues a settlement feeds.
/// Built once per cold start by each function that takes money in.
#[derive(Clone)]
pub struct PaymentDesk {
    pub orders: OrderStore,
    pub fulfillment: Queue,
    pub deadlines: Queue,
    /// An invited shopper's payments go here: their first decides the inviter's reward.
    pub rewards: Queue,
    pub merchant: Merchant,
    pub metrics: telemetry::metrics::Metrics,
}

impl PaymentDesk {
    pub fn new(
        settings: &settings::Settings,
        dynamodb: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
        metrics: telemetry::metrics::Metrics,
    ) -> Result<Self, settings::ConfigError> {
        Ok(Self {
            orders: OrderStore::new(
                dynamodb,
                settings.required("ORDERS_TABLE")?,
                settings.get("CATALOG_TABLE").unwrap_or_default(),
                settings.get("IDEMPOTENCY_TABLE").unwrap_or_default(),
                settings.get("MARKETING_TABLE").unwrap_or_default(),
            ),
            fulfillment: Queue::new(sqs.clone(), settings.required("FULFILLMENT_QUEUE_URL")?),
            deadlines: Queue::new(sqs.clone(), settings.required("DEADLINES_QUEUE_URL")?),
            rewards: Queue::new(sqs, settings.required("REWARDS_QUEUE_URL")?),
            metrics,
            merchant: Merchant {
                mchid: settings.required("WECHATPAY_MCHID")?,
                appid: settings.required("WECHAT_APPID")?,
            },
        })
    }

    /// The same desk sealing the receivers of the orders it writes and opening those it reads.
    pub fn with_personal_data(mut self, keys: store::personal::PersonalDataKeys) -> Self {
        self.orders = self.orders.with_personal_data(keys);
        self
    }

    /// A WeChat Pay transaction, settled as [`PaymentDesk::settle`] settles any payment.
    pub async fn settle_wechat(
        &self,
        tx: &Transaction,
        now: i64,
    ) -> Result<Settlement, SettleError> {
        self.settle(&ProviderPayment::wechat(tx, &self.merchant), now)
            .await
    }

    /// Idempotency key: the order id. An order becomes PAID once, with one transaction id; a
    /// repeat changes nothing and re-sends `order.paid` (its consumer dedupes), so a crash
    /// between the write and the send loses nothing. The same for every provider.
    pub async fn settle(
        &self,
        payment: &ProviderPayment,
        now: i64,
    ) -> Result<Settlement, SettleError> {
        if !payment.paid {
            return Ok(Settlement::NotPaid);
        }
        let transaction_id = payment.transaction_id.clone();
        let reference = if transaction_id.is_empty() {
            payment.out_trade_no.clone()
        } else {
            transaction_id.clone()
        };
        let details = json!({
            "provider": payment.provider.as_str(), "outTradeNo": payment.out_trade_no,
            "transactionId": transaction_id, "ours": payment.ours,
            "amount": payment.amount.map(Fen::get), "successTime": payment.success_time,
        });
        let Some(order_id) = OrderId::parse(&payment.out_trade_no).ok() else {
            return self
                .review("unknown_order", &reference, details, now)
                .await
                .map(|()| Settlement::UnknownOrder);
        };
        let Some(mut stored) = self.orders.get(&order_id).await? else {
            return self
                .review("unknown_order", &reference, details, now)
                .await
                .map(|()| Settlement::UnknownOrder);
        };
        let amount_matches = payment.amount == Some(stored.order.total);
        if !payment.ours || !amount_matches || transaction_id.is_empty() {
            let mut details = details;
            details["orderTotal"] = json!(stored.order.total.get());
            return self
                .review("mismatch", &reference, details, now)
                .await
                .map(|()| Settlement::Mismatch);
        }
        let success_time = payment.success_time.clone().unwrap_or_default();
        // Two rounds at most: a concurrent transition (a duplicate, the deadline) moves the
        // order on between our read and our write, and the second read sees where it went.
        for _ in 0..2 {
            match stored.order.status {
                OrderStatus::PendingPayment => {
                    if self
                        .orders
                        .mark_paid(&order_id, &transaction_id, &success_time, now)
                        .await?
                        == Transition::Done
                    {
                        self.fulfillment
                            .send(
                                &FulfillmentMessage::order_paid(&order_id, &transaction_id),
                                0,
                            )
                            .await?;
                        self.tell_inviter(&stored.order).await?;
                        self.metrics.event(
                            telemetry::metrics::BusinessEvent::OrderPaid,
                            &telemetry::metrics::Facts {
                                channel: stored.order.channel.as_deref(),
                                amount: Some(stored.order.total),
                                ..Default::default()
                            },
                        );
                        for line in &stored.order.lines {
                            self.metrics.sold(
                                &line.product_id,
                                stored.order.channel.as_deref(),
                                u64::from(line.quantity.get()),
                                line.line_total,
                            );
                        }
                        tracing::info!(order_id = %order_id, "order paid");
                        return Ok(Settlement::Paid);
                    }
                }
                OrderStatus::Cancelled => {
                    self.review("late_payment", order_id.as_str(), details, now)
                        .await?;
                    let refund = DeadlineMessage::LatePayment {
                        order_id: order_id.clone(),
                        transaction_id,
                        total: stored.order.total.get(),
                        provider: payment.provider,
                    };
                    self.deadlines.send(&refund, 0).await?;
                    return Ok(Settlement::LatePayment);
                }
                _ => {
                    if stored.order.transaction_id.as_deref() != Some(transaction_id.as_str()) {
                        self.review("second_payment", &reference, details, now)
                            .await?;
                        return Ok(Settlement::Mismatch);
                    }
                    self.fulfillment
                        .send(
                            &FulfillmentMessage::order_paid(&order_id, &transaction_id),
                            0,
                        )
                        .await?;
                    self.tell_inviter(&stored.order).await?;
                    return Ok(Settlement::AlreadyPaid);
                }
            }
            stored = match self.orders.get(&order_id).await? {
                Some(s) => s,
                None => break,
            };
        }
        Err(SettleError::Store(StoreError::Corrupt {
            key: format!("ORDER#{order_id}"),
            problem: "status kept changing while settling".into(),
        }))
    }

    /// An invited shopper's payment, for the rewards consumer (which knows if it was the first).
    async fn tell_inviter(&self, order: &domain::order::Order) -> Result<(), SettleError> {
        if let Some(inviter) = &order.invited_by {
            let message = RewardMessage::InviteePaid {
                order_id: order.id.clone(),
                invitee_id: order.user_id.clone(),
                inviter_id: inviter.clone(),
            };
            self.rewards.send(&message, 0).await?;
        }
        Ok(())
    }

    /// A refund's end, from the provider's notification (WeChat Pay) or its synchronous answer
    /// (Alipay): the order and the refund move once (see `OrderStore::finish_refund`), the
    /// refunded metric counts once, and an order back to PAID (a partial refund, or a closed one)
    /// is queued to ship again; a repeat checks that too, in case the first stopped before it.
    pub async fn refund_finished(
        &self,
        order_id: &OrderId,
        out_refund_no: &str,
        outcome: domain::refund::RefundStatus,
        amount: Fen,
        now: i64,
    ) -> Result<store::refunds::Finished, SettleError> {
        use store::refunds::Finished;
        let finished = self
            .orders
            .finish_refund(order_id, out_refund_no, outcome, now)
            .await?;
        let needs_order = matches!(finished, Finished::AlreadyFinished)
            || (matches!(finished, Finished::Finished(_))
                && outcome == domain::refund::RefundStatus::Success);
        let order = if needs_order {
            self.orders.get(order_id).await?.map(|s| s.order)
        } else {
            None
        };
        if outcome == domain::refund::RefundStatus::Success
            && matches!(finished, Finished::Finished(_))
        {
            self.metrics.event(
                telemetry::metrics::BusinessEvent::Refunded,
                &telemetry::metrics::Facts {
                    channel: order.as_ref().and_then(|o| o.channel.as_deref()),
                    amount: Some(amount),
                    ..Default::default()
                },
            );
        }
        let back_to_paid = match &finished {
            Finished::Finished(status) => *status == OrderStatus::Paid,
            Finished::AlreadyFinished => order
                .as_ref()
                .is_some_and(|o| o.status == OrderStatus::Paid),
            Finished::UnknownRefund => false,
        };
        if back_to_paid {
            // Fulfillment skipped the order while it was refunding: what is left ships now.
            self.fulfillment
                .send(&FulfillmentMessage::order_paid(order_id, out_refund_no), 0)
                .await?;
        }
        Ok(finished)
    }

    async fn review(
        &self,
        kind: &str,
        reference: &str,
        details: serde_json::Value,
        now: i64,
    ) -> Result<(), SettleError> {
        self.orders
            .record_review(kind, reference, &details, now)
            .await?;
        // Alert-worthy: money arrived that does not fit an order. The details name no shopper.
        tracing::error!(alert = true, kind, reference, "payment recorded for review");
        Ok(())
    }
}
