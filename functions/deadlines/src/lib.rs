//! `deadlines`: the SQS consumer for timeouts. An unpaid order past its deadline is asked
//! about at WeChat Pay first (a lost notification must not cancel a paid order), then closed,
//! cancelled and its stock released. Money that arrived for a cancelled order is refunded. A
//! delivered order earns its points and, `COMPLETE_AFTER_DAYS` later, becomes COMPLETED.
//! A new review's text and photos go to WeChat's content checks (`review.check`), tried again
//! with a growing delay while WeChat is busy, and left to the merchant once it refuses.
//!
//! Idempotency: every step is conditional on the order's status, points are posted under a key
//! naming the order, and a refund is keyed by its `out_refund_no`, so redelivered messages
//! change nothing.

use app::payment::PaymentDesk;
use app::provider::{Closed, Providers, Queried};
use app::reviews::{Checked, ContentChecks};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use domain::clock::now_epoch_seconds;
use domain::ids::GroupId;
use domain::ids::OrderId;
use domain::money::Fen;
use domain::order::OrderStatus;
use domain::order::UploadState;
use domain::social::GroupStatus;
use edge::runtime::{Clients, QueueFunction, each_message};
use settings::{ConfigError, Settings};
use store::marketing::MarketingStore;
use store::points::PointsLedger;
use store::queue::{DeadlineMessage, FulfillmentMessage, MAX_DELAY_SECONDS};
use store::reviews::{ReviewKey, ReviewStore};
use store::social::SocialStore;
use store::users::UserStore;
use telemetry::metrics::Alert;

/// A shopper in the middle of paying gets this long before we ask again.
const USER_PAYING_RETRY_SECONDS: i64 = 60;
/// A delivered order completes (and leaves the easy-return window) after this many days.
const DEFAULT_COMPLETE_AFTER_DAYS: i64 = 7;

pub struct Deadlines {
    payments: PaymentDesk,
    /// WeChat Pay, and Alipay when the shop takes it: each order asks its own.
    providers: Providers,
    marketing: MarketingStore,
    points: PointsLedger,
    social: SocialStore,
    complete_after_seconds: i64,
    content_checks: ContentChecks,
    catalog: store::catalog::CatalogStore,
    /// Where the daily low-stock alert goes (`LOW_STOCK_TOPIC_ARN`), and its default threshold.
    low_stock: (store::topic::Topic, u64),
}

/// Tries of a review's checks while WeChat is busy (about two hours of backoff), after which
/// the merchant decides.
const MAX_CHECK_ATTEMPTS: u32 = 10;

impl Deadlines {
    pub fn new(settings: &Settings, clients: &Clients) -> Result<Self, ConfigError> {
        let (dynamodb, sqs, http) = (
            clients.dynamodb.clone(),
            clients.sqs.clone(),
            clients.http(),
        );
        // Cancelling gives stock back into the catalog table; search postings follow it.
        let catalog = store::catalog::CatalogStore::new(
            clients.dynamodb.clone(),
            settings.required("CATALOG_TABLE")?,
        );
        let marketing = settings.required("MARKETING_TABLE")?;
        let complete_after_days =
            settings.number_in("COMPLETE_AFTER_DAYS", 0..=90, DEFAULT_COMPLETE_AFTER_DAYS)?;
        Ok(Self {
            marketing: MarketingStore::new(dynamodb.clone(), &marketing),
            points: PointsLedger::new(dynamodb.clone(), &marketing),
            social: SocialStore::new(dynamodb.clone(), marketing),
            payments: PaymentDesk::new(settings, dynamodb, sqs, clients.metrics("deadlines"))?,
            providers: Providers::from_settings(settings, http)?,
            complete_after_seconds: complete_after_days * 24 * 60 * 60,
            catalog,
            low_stock: (
                clients.topic(settings, "LOW_STOCK_TOPIC_ARN")?,
                app::catalog_desk::low_stock_threshold(settings)?,
            ),
            content_checks: ContentChecks::new(
                settings,
                clients.http(),
                ReviewStore::new(
                    clients.dynamodb.clone(),
                    settings.required("REVIEWS_TABLE")?,
                )
                .showing(settings.required("CATALOG_TABLE")?),
                UserStore::new(clients.dynamodb.clone(), settings.required("USERS_TABLE")?),
                clients.media_bucket(settings)?,
            )?,
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        let (settings, clients) = edge::runtime::from_env().await?;
        Self::new(&settings, &clients)
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
                provider,
            } => {
                self.refund_late_payment(&order_id, &transaction_id, total, provider)
                    .await
            }
            DeadlineMessage::OrderDelivered {
                order_id,
                delivered_at,
            } => self.order_delivered(&order_id, delivered_at).await,
            DeadlineMessage::OrderComplete { order_id, due_at } => {
                self.complete(&order_id, due_at).await
            }
            DeadlineMessage::ShippingCheck { order_id, due_at } => {
                self.shipping_check(&order_id, due_at).await
            }
            DeadlineMessage::GroupExpire { group_id, due_at } => {
                self.group_expire(&group_id, due_at).await
            }
            DeadlineMessage::BargainExpire { bargain_id, due_at } => {
                let now = now_epoch_seconds();
                if now < due_at {
                    let again = DeadlineMessage::BargainExpire { bargain_id, due_at };
                    return self.come_back(&again, due_at, now).await;
                }
                let expired = self
                    .social
                    .expire_bargain(&bargain_id, now)
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::info!(bargain_id = %bargain_id, expired, "bargain deadline");
                Ok(())
            }
            DeadlineMessage::LowStockAlert => self.low_stock_alert().await,
            DeadlineMessage::CategoryMoved { category_id, pass } => {
                self.category_moved(category_id, pass).await
            }
            DeadlineMessage::CatalogTerms { product_id } => self
                .catalog
                .sync_terms(&product_id)
                .await
                .map_err(|e| e.to_string()),
            DeadlineMessage::ReviewCheck {
                product_id,
                order_id,
                sku_id,
                attempt,
            } => {
                let key = ReviewKey {
                    product_id,
                    order_id,
                    sku_id,
                };
                self.review_check(key, attempt).await
            }
        }
    }

    async fn review_check(&self, key: ReviewKey, attempt: u32) -> Result<(), String> {
        let now = now_epoch_seconds();
        let checked = self
            .content_checks
            .check(&key, now)
            .await
            .map_err(|e| e.to_string())?;
        match checked {
            Checked::Sent(review) => {
                tracing::info!(product_id = %key.product_id, order_id = %key.order_id, state = review.state.as_str(), "review sent to WeChat's checks");
            }
            Checked::Nothing => {}
            Checked::Later(why) if attempt + 1 < MAX_CHECK_ATTEMPTS => {
                let delay = (30_i64 << attempt.min(5)).min(MAX_DELAY_SECONDS);
                tracing::warn!(product_id = %key.product_id, attempt, delay, why, "WeChat's content checks busy; trying again");
                let again = DeadlineMessage::ReviewCheck {
                    product_id: key.product_id,
                    order_id: key.order_id,
                    sku_id: key.sku_id,
                    attempt: attempt + 1,
                };
                self.payments
                    .deadlines
                    .send(&again, delay)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Checked::Later(why) => {
                self.content_checks
                    .unchecked(&key, now, &why)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// The day's low-stock alert: sent once a China day (a second message that day finds it
    /// sent), and only when something is low.
    async fn low_stock_alert(&self) -> Result<(), String> {
        let now = now_epoch_seconds();
        let day = domain::clock::china_day(now);
        if self
            .catalog
            .low_stock_alert_sent(&day)
            .await
            .map_err(|e| e.to_string())?
        {
            tracing::info!(day, "low-stock alert already sent today");
            return Ok(());
        }
        let (topic, default) = &self.low_stock;
        let low = self
            .catalog
            .low_stock(*default)
            .await
            .map_err(|e| e.to_string())?;
        if let Some((subject, text)) = app::catalog_desk::low_stock_alert(&low) {
            topic
                .publish(&subject, &text)
                .await
                .map_err(|e| e.to_string())?;
        }
        self.catalog
            .record_low_stock_alert(&day, now)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(day, low = low.items.len(), "low-stock alert");
        Ok(())
    }

    /// The order a message names; one that does not exist can never be handled (poison).
    async fn order(&self, order_id: &OrderId) -> Result<store::orders::StoredOrder, String> {
        self.payments
            .orders
            .get(order_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("poison message: order {order_id} does not exist"))
    }

    /// Points for a delivered order (once: the ledger entry is keyed by the order), then its
    /// completion scheduled.
    async fn order_delivered(&self, order_id: &OrderId, delivered_at: i64) -> Result<(), String> {
        let stored = self.order(order_id).await?;
        let order = &stored.order;
        if !matches!(
            order.status,
            OrderStatus::Delivered | OrderStatus::Completed
        ) {
            tracing::info!(order_id = %order_id, status = order.status.as_str(), "delivered notice for an order that is not delivered; no points");
            return Ok(());
        }
        let now = now_epoch_seconds();
        let rules = self.marketing.rules().await.map_err(|e| e.to_string())?;
        let posted = self
            .points
            .award_delivered_order(order, rules.points_earned_per_yuan, now)
            .await
            .map_err(|e| e.to_string())?;
        if let store::points::Posted::Posted { .. } = posted {
            self.payments.metrics.points(
                domain::promotions::points_earned(order.total, rules.points_earned_per_yuan),
                0,
            );
        }
        tracing::info!(order_id = %order_id, ?posted, "delivered order's points");
        // The courier's word reaches WeChat through the fulfillment consumer; an order the
        // shopper confirmed on WeChat needs no notice.
        if order.provider == domain::payment::Provider::Wechat
            && order.confirmed_received_at.is_none()
            && order.shipping_upload.is_some()
        {
            let notice = FulfillmentMessage::ReceiptNotify {
                order_id: order_id.clone(),
                received_at: delivered_at,
                attempt: 0,
            };
            self.payments
                .fulfillment
                .send(&notice, 0)
                .await
                .map_err(|e| e.to_string())?;
        }
        if order.status == OrderStatus::Delivered {
            self.complete(order_id, delivered_at + self.complete_after_seconds)
                .await?;
        }
        Ok(())
    }

    /// A day after shipping began: a WeChat Pay order WeChat still has no shipping information
    /// for raises one alert (metric and a log line naming it). Orders refunded, cancelled or
    /// still waiting for their group are left alone.
    async fn shipping_check(&self, order_id: &OrderId, due_at: i64) -> Result<(), String> {
        let now = now_epoch_seconds();
        if now < due_at {
            let again = DeadlineMessage::ShippingCheck {
                order_id: order_id.clone(),
                due_at,
            };
            return self.come_back(&again, due_at, now).await;
        }
        let stored = self.order(order_id).await?;
        let order = &stored.order;
        let uploaded = order
            .shipping_upload
            .as_ref()
            .is_some_and(|u| u.state == UploadState::Uploaded);
        let expects_upload = matches!(
            order.status,
            OrderStatus::Paid | OrderStatus::Shipped | OrderStatus::Delivered
        );
        if uploaded || !expects_upload || order.provider != domain::payment::Provider::Wechat {
            return Ok(());
        }
        if self
            .payments
            .orders
            .record_shipping_alert(order_id, now)
            .await
            .map_err(|e| e.to_string())?
        {
            self.payments.metrics.alert(Alert::ShippingNotUploaded);
            tracing::warn!(order_id = %order_id, status = order.status.as_str(), upload = ?order.shipping_upload.as_ref().map(|u| u.state), "a day on, WeChat still has no shipping information for this order: its funds stay frozen");
        }
        Ok(())
    }

    /// Sends `message` back to this queue for `due_at`. SQS delays at most 15 minutes: longer
    /// waits go round again.
    /// One page of the pass over the products after a category move; the next page is its
    /// own message, so a pass over any catalog stays inside the function's timeout.
    async fn category_moved(
        &self,
        category_id: domain::ids::CategoryId,
        pass: store::catalog::CategoryPass,
    ) -> Result<(), String> {
        let categories = self.catalog.categories().await.map_err(|e| e.to_string())?;
        let moved = domain::catalog::category_and_below(&categories, &category_id);
        let next = self
            .catalog
            .restamp_categories(&categories, &moved, pass)
            .await
            .map_err(|e| e.to_string())?;
        match next {
            Some(pass) => {
                let message = DeadlineMessage::CategoryMoved { category_id, pass };
                self.payments
                    .deadlines
                    .send(&message, 0)
                    .await
                    .map_err(|e| e.to_string())
            }
            None => {
                tracing::info!(category_id = %category_id, "category move: every product's SKUs carry the new tree");
                Ok(())
            }
        }
    }

    async fn come_back(
        &self,
        message: &DeadlineMessage,
        due_at: i64,
        now: i64,
    ) -> Result<(), String> {
        self.payments
            .deadlines
            .send(message, (due_at - now).min(MAX_DELAY_SECONDS))
            .await
            .map_err(|e| e.to_string())
    }

    async fn complete(&self, order_id: &OrderId, due_at: i64) -> Result<(), String> {
        let now = now_epoch_seconds();
        if now < due_at {
            let again = DeadlineMessage::OrderComplete {
                order_id: order_id.clone(),
                due_at,
            };
            return self.come_back(&again, due_at, now).await;
        }
        let transition = self
            .payments
            .orders
            .advance(
                order_id,
                OrderStatus::Delivered,
                OrderStatus::Completed,
                "delivered and the return window passed",
                now,
            )
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(order_id = %order_id, ?transition, "order completion");
        Ok(())
    }

    async fn order_deadline(&self, order_id: &OrderId, due_at: i64) -> Result<(), String> {
        let now = now_epoch_seconds();
        if now < due_at {
            let again = DeadlineMessage::OrderDeadline {
                order_id: order_id.clone(),
                due_at,
            };
            return self.come_back(&again, due_at, now).await;
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
        let provider = self
            .providers
            .of(stored.order.provider)
            .map_err(|e| e.to_string())?;
        match provider
            .query(order_id, now)
            .await
            .map_err(|e| e.to_string())?
        {
            Queried::Paid(payment) => {
                let settled = self
                    .payments
                    .settle(&payment, now)
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::warn!(order_id = %order_id, ?settled, "deadline found a payment whose notification never came");
                return Ok(());
            }
            Queried::Paying => {
                let due_at = now + USER_PAYING_RETRY_SECONDS;
                let again = DeadlineMessage::OrderDeadline {
                    order_id: order_id.clone(),
                    due_at,
                };
                return self.come_back(&again, due_at, now).await;
            }
            Queried::NotPaid => match provider
                .close(order_id, now)
                .await
                .map_err(|e| e.to_string())?
            {
                Closed::Closed | Closed::NeverCreated => {}
                // Paid between our query and our close: the next delivery settles it.
                Closed::AlreadyPaid => {
                    return Err(format!("order {order_id} was paid while closing it"));
                }
            },
            // The payment never started at the provider: there is nothing to close.
            Queried::Unknown => {}
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

    /// A group's time is up: short of members it fails, and every paid member is refunded
    /// through the refund flow (once each: each refund begins conditionally on the order, and
    /// asking WeChat Pay again for the same `out_refund_no` is safe). A redelivery finds the
    /// group failed and asks again for whatever is still processing.
    async fn group_expire(&self, group_id: &GroupId, due_at: i64) -> Result<(), String> {
        let now = now_epoch_seconds();
        let Some(group) = self
            .social
            .group(group_id)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(());
        };
        match group.status {
            GroupStatus::Open => {
                let ends = group.expires_at.unwrap_or(due_at);
                if now < ends {
                    let again = DeadlineMessage::GroupExpire {
                        group_id: group_id.clone(),
                        due_at: ends,
                    };
                    return self.come_back(&again, ends, now).await;
                }
                let failed = self
                    .social
                    .fail_group(group_id, now)
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::info!(group_id = %group_id, failed, paid = group.paid, "group time is up");
                // Not failed by us: completed at the last moment, or failed by another delivery.
                if !failed
                    && self
                        .social
                        .group(group_id)
                        .await
                        .map_err(|e| e.to_string())?
                        .is_none_or(|g| g.status != GroupStatus::Failed)
                {
                    return Ok(());
                }
            }
            GroupStatus::Failed => {}
            _ => return Ok(()),
        }
        let members = self
            .social
            .members(group_id)
            .await
            .map_err(|e| e.to_string())?;
        let mut problems = Vec::new();
        for member in &members {
            let refund = self
                .payments
                .orders
                .refund_everything(&member.order_id, "拼团失败，自动退款", now)
                .await
                .map_err(|e| e.to_string())?;
            let Some(refund) = refund else { continue };
            let Some(order) = self
                .payments
                .orders
                .get(&member.order_id)
                .await
                .map_err(|e| e.to_string())?
            else {
                continue;
            };
            if let Err(err) = self
                .providers
                .refund(&self.payments, &order.order, &refund, now)
                .await
            {
                problems.push(format!("refunding {}: {err}", order.order.id));
            } else {
                tracing::info!(group_id = %group_id, order_id = %order.order.id, out_refund_no = %refund.out_refund_no, "failed group member refunded");
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    async fn refund_late_payment(
        &self,
        order_id: &OrderId,
        transaction_id: &str,
        total: u64,
        provider: app::payment::Provider,
    ) -> Result<(), String> {
        let out_refund_no = format!("LATE{order_id}");
        let total = Fen::new(total);
        self.providers
            .of(provider)
            .map_err(|e| e.to_string())?
            .refund(
                order_id,
                &out_refund_no,
                total,
                total,
                "订单已超时取消，款项原路退回",
                now_epoch_seconds(),
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
