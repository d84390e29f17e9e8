//! `rewards`: the SQS consumer that decides invite rewards.
//!
//! An invited shopper's payment arrives as `invitee.paid`; the first paid order is marked on the
//! invite (once, conditionally) and watched with `invite.check`: refunded or cancelled -> the
//! invite is forfeited; delivered and kept past the refund window -> the inviter gets the shop's
//! reward (points and/or a coupon) unless the invitee is the inviter under another account (same
//! phone) or the inviter's daily cap is reached. The invite's state moves once from PENDING, so
//! redelivered, duplicated or reordered messages grant nothing twice.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use domain::clock::now_epoch_seconds;
use domain::ids::OrderId;
use domain::ids::UserId;
use domain::order::OrderStatus;
use domain::social::InviteState;
use edge::runtime::{Clients, QueueFunction, each_message};
use settings::{ConfigError, Settings};
use store::marketing::MarketingStore;
use store::orders::OrderStore;
use store::queue::{MAX_DELAY_SECONDS, Queue, RewardMessage};
use store::social::{FirstOrder, Settled, SocialStore};
use store::users::UserStore;

pub struct Rewards {
    metrics: telemetry::metrics::Metrics,
    social: SocialStore,
    orders: OrderStore,
    users: UserStore,
    marketing: MarketingStore,
    rewards: Queue,
    refund_window_seconds: i64,
}

/// What the first order says about the reward now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Forfeit,
    Grant,
    /// Not decided yet: look again at this time.
    LookAgainAt(i64),
}

fn verdict(order: &domain::order::Order, window_seconds: i64, now: i64) -> Verdict {
    match order.status {
        OrderStatus::Cancelled | OrderStatus::Refunding | OrderStatus::Refunded => Verdict::Forfeit,
        _ if order.refunded_amount.get() > 0 => Verdict::Forfeit,
        OrderStatus::Delivered | OrderStatus::Completed => {
            let due = order.delivered_at.unwrap_or(order.created_at) + window_seconds;
            if now >= due {
                Verdict::Grant
            } else {
                Verdict::LookAgainAt(due)
            }
        }
        _ => Verdict::LookAgainAt(now + MAX_DELAY_SECONDS),
    }
}

impl Rewards {
    pub fn new(settings: &Settings, clients: &Clients) -> Result<Self, ConfigError> {
        let dynamodb = clients.dynamodb.clone();
        let marketing = settings.required("MARKETING_TABLE")?;
        let window_days = settings.number_in(
            "REFUND_WINDOW_DAYS",
            0..=365,
            domain::refund::DEFAULT_WINDOW_DAYS,
        )?;
        Ok(Self {
            metrics: clients.metrics("rewards"),
            social: SocialStore::new(dynamodb.clone(), &marketing),
            orders: OrderStore::new(
                dynamodb.clone(),
                settings.required("ORDERS_TABLE")?,
                "",
                "",
                &marketing,
            ),
            users: UserStore::new(dynamodb.clone(), settings.required("USERS_TABLE")?),
            marketing: MarketingStore::new(dynamodb, &marketing),
            rewards: Queue::new(clients.sqs.clone(), settings.required("REWARDS_QUEUE_URL")?),
            refund_window_seconds: window_days * 24 * 60 * 60,
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        let (settings, clients) = edge::runtime::from_env().await?;
        Self::new(&settings, &clients)
    }

    async fn process(&self, message: &SqsMessage) -> Result<(), String> {
        let body = message.body.as_deref().unwrap_or("");
        let parsed: RewardMessage = serde_json::from_str(body)
            .map_err(|e| format!("poison message (not a reward message): {e}"))?;
        match parsed {
            RewardMessage::InviteePaid {
                order_id,
                invitee_id,
                inviter_id,
            } => {
                match self
                    .social
                    .first_order_paid(&inviter_id, &invitee_id, &order_id)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    FirstOrder::First => self.check(&order_id, &invitee_id, &inviter_id).await,
                    FirstOrder::NotFirst => Ok(()),
                    FirstOrder::Unknown => {
                        tracing::warn!(order_id = %order_id, "payment by an invitee with no invite record");
                        Ok(())
                    }
                }
            }
            RewardMessage::InviteCheck {
                order_id,
                invitee_id,
                inviter_id,
            } => self.check(&order_id, &invitee_id, &inviter_id).await,
        }
    }

    async fn check(
        &self,
        order_id: &OrderId,
        invitee: &UserId,
        inviter: &UserId,
    ) -> Result<(), String> {
        let invite = self
            .social
            .invite(inviter, invitee)
            .await
            .map_err(|e| e.to_string())?;
        let Some(invite) = invite.filter(|i| {
            i.state == InviteState::Pending && i.first_order_id.as_ref() == Some(order_id)
        }) else {
            // Decided already, or not this order's to decide.
            return Ok(());
        };
        let order = self
            .orders
            .get(order_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("poison message: order {order_id} does not exist"))?
            .order;
        let now = now_epoch_seconds();
        let settled = match verdict(&order, self.refund_window_seconds, now) {
            Verdict::Forfeit => self
                .social
                .forfeit(&invite, now)
                .await
                .map_err(|e| e.to_string())?,
            Verdict::Grant => {
                let rules = self.marketing.rules().await.map_err(|e| e.to_string())?;
                let template = match &rules.invite.coupon_template {
                    Some(id) => self
                        .marketing
                        .template(id)
                        .await
                        .map_err(|e| e.to_string())?,
                    None => None,
                };
                let (a, b) = tokio::join!(self.users.get(inviter), self.users.get(invitee));
                let phones = (
                    a.map_err(|e| e.to_string())?.and_then(|u| u.phone_hash),
                    b.map_err(|e| e.to_string())?.and_then(|u| u.phone_hash),
                );
                let same_person = matches!(phones, (Some(x), Some(y)) if x == y);
                self.social
                    .grant(&invite, &rules.invite, template.as_ref(), same_person, now)
                    .await
                    .map_err(|e| e.to_string())?
            }
            Verdict::LookAgainAt(at) => {
                let again = RewardMessage::InviteCheck {
                    order_id: order_id.clone(),
                    invitee_id: invitee.clone(),
                    inviter_id: inviter.clone(),
                };
                return self
                    .rewards
                    .send(&again, (at - now).clamp(1, MAX_DELAY_SECONDS))
                    .await
                    .map_err(|e| e.to_string());
            }
        };
        if let Settled::Granted { points, .. } = &settled {
            self.metrics.event(
                telemetry::metrics::BusinessEvent::InviteRewarded,
                &telemetry::metrics::Facts {
                    channel: Some("share"),
                    amount: None,
                    points_issued: *points,
                    ..Default::default()
                },
            );
            tracing::info!(order_id = %order_id, points, "invite rewarded");
        }
        tracing::info!(order_id = %order_id, ?settled, "invite reward decided");
        Ok(())
    }
}

#[async_trait::async_trait]
impl QueueFunction for Rewards {
    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        each_message(&event, |m| self.process(m)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::money::Fen;

    fn order(
        status: OrderStatus,
        delivered_at: Option<i64>,
        refunded: u64,
    ) -> domain::order::Order {
        serde_json::from_value(serde_json::json!({
            "id": "20261125abcdefgh", "userId": "u1", "status": status, "lines": [],
            "subtotal": 100, "shipping": 0, "total": 100,
            "address": {"name": "a", "phone": "13812345678", "province": "p", "city": "c", "district": "d", "detail": "x"},
            "createdAt": 0, "payDeadline": 900, "deliveredAt": delivered_at,
            "refundedAmount": Fen::new(refunded),
        }))
        .unwrap()
    }

    #[test]
    fn a_first_order_earns_only_when_kept_past_the_window() {
        let day = 86_400;
        assert_eq!(
            verdict(&order(OrderStatus::Paid, None, 0), day, 10),
            Verdict::LookAgainAt(910)
        );
        assert_eq!(
            verdict(&order(OrderStatus::Refunded, None, 100), day, 10),
            Verdict::Forfeit
        );
        assert_eq!(
            verdict(&order(OrderStatus::Refunding, None, 0), day, 10),
            Verdict::Forfeit
        );
        assert_eq!(
            verdict(&order(OrderStatus::Shipped, None, 30), day, 10),
            Verdict::Forfeit
        );
        assert_eq!(
            verdict(&order(OrderStatus::Delivered, Some(100), 0), day, 200),
            Verdict::LookAgainAt(100 + day)
        );
        assert_eq!(
            verdict(&order(OrderStatus::Completed, Some(100), 0), day, 100 + day),
            Verdict::Grant
        );
    }
}
