//! `deadlines`: the SQS consumer for timeouts. An unpaid order past its deadline is asked
//! about at WeChat Pay first (a lost notification must not cancel a paid order), then closed,
//! cancelled and its stock released. Money that arrived for a cancelled order is refunded.
//!
//! Idempotency: every step is conditional on the order's status (`PENDING_PAYMENT` only), and
//! a refund is keyed by its `out_refund_no`, so redelivered messages change nothing.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use shared::clock::now_epoch_seconds;
use shared::config::{ConfigError, Settings};
use shared::money::Fen;
use shared::order::{OrderId, OrderStatus};
use shared::payment::PaymentDesk;
use shared::queue::{DeadlineMessage, MAX_DELAY_SECONDS};
use shared::runtime::{Clients, QueueFunction, each_message};
use shared::wechatpay::WeChatPay;

/// A shopper in the middle of paying gets this long before we ask again.
const USER_PAYING_RETRY_SECONDS: i64 = 60;

pub struct Deadlines {
    payments: PaymentDesk,
    pay: WeChatPay,
}

impl Deadlines {
    pub fn new(settings: &Settings, clients: &Clients) -> Result<Self, ConfigError> {
        let (dynamodb, sqs, http) = (
            clients.dynamodb.clone(),
            clients.sqs.clone(),
            clients.http(),
        );
        // Cancelling gives coupons and points back into the marketing table.
        settings.required("MARKETING_TABLE")?;
        settings.required("CATALOG_TABLE")?;
        Ok(Self {
            payments: PaymentDesk::new(settings, dynamodb, sqs)?,
            pay: WeChatPay::new(settings, http)?,
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::new(&Settings::from_process_env(), &Clients::from_env().await)
    }

    async fn process(&self, message: &SqsMessage) -> Result<(), String> {
        let body = message.body.as_deref().unwrap_or("");
        let parsed: DeadlineMessage = serde_json::from_str(body)
            .map_err(|e| format!("poison message (not a deadline message): {e}"))?;
        match parsed {
            DeadlineMessage::OrderDeadline { order_id, due_at } => {
                self.order_deadline(&order_id, due_at).await
            }
            DeadlineMessage::LatePayment {
                order_id,
                transaction_id,
                total,
            } => {
                self.refund_late_payment(&order_id, &transaction_id, total)
                    .await
            }
        }
    }

    async fn order_deadline(&self, order_id: &OrderId, due_at: i64) -> Result<(), String> {
        let now = now_epoch_seconds();
        if now < due_at {
            // SQS delays at most 15 minutes: longer waits go round again.
            let again = DeadlineMessage::OrderDeadline {
                order_id: order_id.clone(),
                due_at,
            };
            return self
                .payments
                .deadlines
                .send(&again, (due_at - now).min(MAX_DELAY_SECONDS))
                .await
                .map_err(|e| e.to_string());
        }
        let Some(stored) = self
            .payments
            .orders
            .get(order_id)
            .await
            .map_err(|e| e.to_string())?
        else {
            // The reservation this deadline was sent for never happened (out of stock, a retry).
            tracing::info!(order_id = %order_id, "deadline for an order that was never placed");
            return Ok(());
        };
        if stored.order.status != OrderStatus::PendingPayment {
            return Ok(());
        }
        match self.pay.query(order_id).await {
            Ok(tx) if tx.trade_state == "SUCCESS" => {
                let settled = self
                    .payments
                    .settle(&tx, now)
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::warn!(order_id = %order_id, ?settled, "deadline found a payment whose notification never came");
                return Ok(());
            }
            Ok(tx) if tx.trade_state == "USERPAYING" => {
                let again = DeadlineMessage::OrderDeadline {
                    order_id: order_id.clone(),
                    due_at: now + USER_PAYING_RETRY_SECONDS,
                };
                return self
                    .payments
                    .deadlines
                    .send(&again, USER_PAYING_RETRY_SECONDS)
                    .await
                    .map_err(|e| e.to_string());
            }
            Ok(_) => match self.pay.close(order_id).await {
                Ok(()) => {}
                Err(err) if err.code() == Some("ORDER_NOT_EXIST") => {}
                // Paid between our query and our close: the next delivery settles it.
                Err(err) => return Err(format!("closing at WeChat Pay: {err}")),
            },
            // Prepay never succeeded: there is nothing to close.
            Err(err) if err.code() == Some("ORDER_NOT_EXIST") => {}
            Err(err) => return Err(format!("querying WeChat Pay: {err}")),
        }
        let transition = self
            .payments
            .orders
            .cancel_and_release(&stored.order, "payment deadline passed", now)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(order_id = %order_id, ?transition, "unpaid order cancelled, stock released");
        Ok(())
    }

    async fn refund_late_payment(
        &self,
        order_id: &OrderId,
        transaction_id: &str,
        total: u64,
    ) -> Result<(), String> {
        let out_refund_no = format!("LATE{order_id}");
        let total = Fen::new(total);
        self.pay
            .refund(
                order_id,
                &out_refund_no,
                total,
                total,
                "订单已超时取消，款项原路退回",
            )
            .await
            .map_err(|e| format!("refunding late payment: {e}"))?;
        tracing::warn!(order_id = %order_id, transaction_id, "late payment refunded");
        Ok(())
    }
}

#[async_trait::async_trait]
impl QueueFunction for Deadlines {
    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        each_message(&event, |m| self.process(m)).await
    }
}
