//! After-sales (售后): a shopper asking for their money back, and the shop's staff approving or
//! rejecting what waits for them. One use case behind both doors: checkout's
//! `POST /v1/orders/{id}/refund` and the admin API's approve and reject.
//!
//! `REFUND_APPROVAL` says what waits: `shipped` (the default: an order not shipped yet refunds
//! at once, a shipped or delivered one waits for staff), `always` or `never`. A waiting refund
//! holds its lines (nobody asks for them twice) and keeps the order REFUNDING. Approving it asks
//! the payment provider exactly as an unattended refund does; rejecting it gives the lines back,
//! with the reason the shopper sees, so they may ask again. Each decision is one conditional
//! write committed with its audit record: two staff deciding at once decide once.

use crate::payment::PaymentDesk;
use crate::provider::{ProviderError, Providers, RefundError};
use crate::staff::Actor;
use domain::ids::{OrderId, SkuId};
use domain::money::Fen;
use domain::order::Order;
use domain::refund::{
    Decision, Evidence, Refund, RefundApproval, RefundKind, RefundRefusal, RefundStatus,
};
use serde_json::json;
use store::StoreError;
use store::audit::{AuditLog, Committed};
use store::refunds::{Begun, Prepared};
use store::shipments::ShipmentStore;

/// What a shopper asks for.
#[derive(Debug, Clone)]
pub struct RefundAsk {
    pub reason: String,
    /// The SKUs asked for; none means every line not refunded yet.
    pub lines: Option<Vec<SkuId>>,
    pub evidence: Evidence,
}

#[derive(Debug, thiserror::Error)]
pub enum AfterSalesError {
    #[error("{0}")]
    Refused(RefundRefusal),
    #[error("the order changed meanwhile; please try again")]
    OrderChanged,
    #[error("every line asked for is refunded already")]
    AlreadyRefunded,
    #[error("no such order or refund")]
    NotFound,
    #[error("this refund is {} already", .0.as_str())]
    Decided(RefundStatus),
    #[error(
        "the return parcel is not signed for yet: approve once it arrives, or override (audited)"
    )]
    ReturnNotReceived,
    /// Approving this much needs a code entered within five minutes.
    #[error("approving a refund this large needs a fresh code")]
    StepUpRequired,
    /// Recorded, but the provider did not answer: asking again is safe.
    #[error(
        "the refund is recorded but the payment provider did not answer; send the same request again"
    )]
    ProviderUnavailable {
        out_refund_no: String,
        #[source]
        source: ProviderError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Recording(#[from] crate::payment::SettleError),
}

/// How a staff member decides a waiting refund.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Refund it; `override_return` approves a return-and-refund before its parcel is signed
    /// for (said so in the audit record); `stepped_up`: the staff member entered a code within
    /// five minutes, as a refund above the step-up amount needs.
    Approve {
        override_return: bool,
        stepped_up: bool,
    },
    /// Give the lines back, telling the shopper why.
    Reject { reason: String },
}

/// A refund as the shopper and the shop's staff see it: what was asked, shown and decided, its
/// photos as links that work for an hour.
pub async fn shown(
    media: &store::media::MediaBucket,
    refund: &Refund,
    now: i64,
) -> Result<serde_json::Value, store::media::MediaError> {
    let keys: Vec<domain::media::MediaKey> = refund
        .evidence
        .iter()
        .flat_map(|e| e.photos.iter().cloned())
        .collect();
    let links = media.photo_links(&keys, now).await?;
    let photos: Vec<serde_json::Value> = keys
        .iter()
        .zip(links)
        .map(|(key, url)| json!({"key": key, "url": url}))
        .collect();
    Ok(json!({
        "orderId": refund.order_id,
        "outRefundNo": refund.out_refund_no,
        "status": refund.status,
        "amount": refund.amount,
        "skuIds": refund.sku_ids,
        "reason": refund.reason,
        "kind": refund.evidence.as_ref().map(|e| e.kind),
        "description": refund.evidence.as_ref().map(|e| e.description.clone()),
        "photos": photos,
        "createdAt": refund.created_at,
        "decidedAt": refund.decision.as_ref().map(|d| d.at),
        "rejectedReason": refund.decision.as_ref().and_then(|d| d.reason.clone()),
    }))
}

/// `REFUND_APPROVAL` (`shipped` when unset).
pub fn approval_from(
    settings: &settings::Settings,
) -> Result<RefundApproval, settings::ConfigError> {
    match settings
        .get("REFUND_APPROVAL")
        .filter(|v| !v.trim().is_empty())
    {
        None => Ok(RefundApproval::default()),
        Some(raw) => RefundApproval::parse(raw.trim()).ok_or_else(|| {
            settings::ConfigError::new("REFUND_APPROVAL", "must be shipped, always or never")
        }),
    }
}

pub struct AfterSales {
    pub desk: PaymentDesk,
    providers: Providers,
    approval: RefundApproval,
    window_days: i64,
    shipments: ShipmentStore,
    audit: Option<AuditLog>,
    /// Approving a refund above this needs step-up.
    step_up_above: Fen,
}

impl AfterSales {
    pub fn new(
        desk: PaymentDesk,
        providers: Providers,
        approval: RefundApproval,
        window_days: i64,
        shipments: ShipmentStore,
    ) -> Self {
        Self {
            desk,
            providers,
            approval,
            window_days,
            shipments,
            audit: None,
            step_up_above: Fen::ZERO,
        }
    }

    /// As the settings say: `REFUND_APPROVAL` and `REFUND_WINDOW_DAYS`.
    pub fn from_settings(
        settings: &settings::Settings,
        desk: PaymentDesk,
        providers: Providers,
        shipments: ShipmentStore,
    ) -> Result<Self, settings::ConfigError> {
        Ok(Self::new(
            desk,
            providers,
            approval_from(settings)?,
            settings.number_in(
                "REFUND_WINDOW_DAYS",
                0..=365,
                domain::refund::DEFAULT_WINDOW_DAYS,
            )?,
            shipments,
        ))
    }

    /// The same use case deciding for staff, each decision audited in this log; approving a
    /// refund above `step_up_above` needs step-up.
    pub fn deciding(mut self, audit: AuditLog, step_up_above: Fen) -> Self {
        self.audit = Some(audit);
        self.step_up_above = step_up_above;
        self
    }

    async fn order(&self, id: &OrderId) -> Result<Order, AfterSalesError> {
        Ok(self
            .desk
            .orders
            .get(id)
            .await?
            .ok_or(AfterSalesError::NotFound)?
            .order)
    }

    /// The shopper's request on `order` (theirs, as read): begun and sent to the provider, or
    /// begun and waiting for staff, as `REFUND_APPROVAL` says. Asking again for lines already
    /// being refunded answers the same refund (and asks its provider again, which is safe).
    pub async fn request(
        &self,
        mut order: Order,
        ask: &RefundAsk,
        now: i64,
    ) -> Result<Refund, AfterSalesError> {
        let mut attempt = 0;
        let refund = loop {
            attempt += 1;
            let planned = domain::refund::plan(
                &order,
                ask.lines.as_deref(),
                &ask.reason,
                self.window_days,
                now,
            );
            match planned {
                Ok(mut refund) => {
                    refund.evidence = Some(ask.evidence.clone());
                    if self.approval.waits_for_staff(&order) {
                        refund.status = RefundStatus::AwaitingApproval;
                    }
                    match self.desk.orders.begin_refund(&order, &refund, now).await? {
                        Begun::Begun => break refund,
                        Begun::OrderChanged if attempt < 4 => {}
                        Begun::OrderChanged => return Err(AfterSalesError::OrderChanged),
                    }
                }
                Err(RefundRefusal::NothingLeft) => {
                    let wanted: Vec<SkuId> = ask
                        .lines
                        .clone()
                        .unwrap_or_else(|| order.lines.iter().map(|l| l.sku_id.clone()).collect());
                    let pending = self
                        .desk
                        .orders
                        .refunds_of(&order.id)
                        .await?
                        .into_iter()
                        .find(|r| {
                            matches!(
                                r.status,
                                RefundStatus::Processing | RefundStatus::AwaitingApproval
                            ) && wanted.iter().all(|w| r.sku_ids.contains(w))
                        });
                    break pending.ok_or(AfterSalesError::AlreadyRefunded)?;
                }
                Err(refusal) => return Err(AfterSalesError::Refused(refusal)),
            }
            order = self.order(&order.id).await?;
        };
        if refund.status == RefundStatus::Processing {
            self.ask_provider(&order, &refund, now).await?;
        }
        tracing::info!(order_id = %order.id, out_refund_no = %refund.out_refund_no,
            amount = refund.amount.get(), status = refund.status.as_str(), "refund requested");
        Ok(refund)
    }

    async fn ask_provider(
        &self,
        order: &Order,
        refund: &Refund,
        now: i64,
    ) -> Result<(), AfterSalesError> {
        match self.providers.refund(&self.desk, order, refund, now).await {
            Ok(_) => Ok(()),
            Err(RefundError::Recording(err)) => Err(err.into()),
            Err(RefundError::Provider(source)) => Err(AfterSalesError::ProviderUnavailable {
                out_refund_no: refund.out_refund_no.clone(),
                source,
            }),
        }
    }

    /// Whether the goods of `order` are back: its return parcel signed for.
    async fn goods_back(&self, order: &Order) -> Result<bool, AfterSalesError> {
        let Some(parcel) = &order.return_shipment else {
            return Ok(false);
        };
        Ok(self
            .shipments
            .shipment(&parcel.number)
            .await?
            .is_some_and(|s| s.delivered_at.is_some()))
    }

    /// A staff member's decision on a waiting refund, committed with its audit record. A
    /// refund approved already is asked of its provider again (safe: the same refund number),
    /// so an approval whose provider did not answer is finished by approving again.
    pub async fn decide(
        &self,
        order_id: &OrderId,
        out_refund_no: &str,
        verdict: &Verdict,
        actor: &Actor,
        now: i64,
    ) -> Result<Refund, AfterSalesError> {
        let audit = self.audit.as_ref().ok_or(AfterSalesError::NotFound)?;
        let order = self.order(order_id).await?;
        let refund = self
            .desk
            .orders
            .refund(order_id, out_refund_no)
            .await?
            .ok_or(AfterSalesError::NotFound)?;
        if let Verdict::Approve {
            stepped_up: false, ..
        } = verdict
            && refund.amount > self.step_up_above
        {
            return Err(AfterSalesError::StepUpRequired);
        }
        match (verdict, refund.status) {
            (Verdict::Approve { .. }, RefundStatus::Processing) => {
                self.ask_provider(&order, &refund, now).await?;
                return Ok(refund);
            }
            (_, RefundStatus::AwaitingApproval) => {}
            (_, decided) => return Err(AfterSalesError::Decided(decided)),
        }
        let target = format!("refund:{out_refund_no}");
        let before =
            json!({"status": refund.status, "amount": refund.amount, "skuIds": refund.sku_ids});
        match verdict {
            Verdict::Approve {
                override_return, ..
            } => {
                let returned = refund
                    .evidence
                    .as_ref()
                    .is_some_and(|e| e.kind == RefundKind::ReturnAndRefund)
                    || order.return_shipment.is_some();
                let back = !returned || self.goods_back(&order).await?;
                if !back && !override_return {
                    return Err(AfterSalesError::ReturnNotReceived);
                }
                let decision = Decision {
                    by: actor.staff_id.clone(),
                    at: now,
                    reason: None,
                    override_return: !back,
                };
                let write = self
                    .desk
                    .orders
                    .approve_write(order_id, out_refund_no, &decision)?;
                let entry = actor.entry(
                    "refund.approve",
                    target,
                    before,
                    json!({"status": RefundStatus::Processing, "order": order_id, "returnOverridden": decision.override_return}),
                    now,
                );
                match audit.commit(vec![write], entry).await? {
                    Committed::Done(_) => {}
                    // Decided by someone else meanwhile: answer as it stands now.
                    Committed::Refused(_) => return self.after_race(order_id, out_refund_no).await,
                }
                let approved = Refund {
                    status: RefundStatus::Processing,
                    decision: Some(decision),
                    ..refund
                };
                self.ask_provider(&order, &approved, now).await?;
                tracing::info!(order_id = %order_id, out_refund_no, by = %actor.staff_id, "refund approved");
                Ok(approved)
            }
            Verdict::Reject { reason } => {
                let decision = Decision {
                    by: actor.staff_id.clone(),
                    at: now,
                    reason: Some(reason.clone()),
                    override_return: false,
                };
                for _ in 0..4 {
                    let prepared = self
                        .desk
                        .orders
                        .prepare_finish(
                            order_id,
                            out_refund_no,
                            RefundStatus::AwaitingApproval,
                            RefundStatus::Rejected,
                            Some(&decision),
                            now,
                        )
                        .await?;
                    let writes = match prepared {
                        Prepared::Writes { items, .. } => items,
                        Prepared::UnknownRefund => return Err(AfterSalesError::NotFound),
                        Prepared::AlreadyFinished => {
                            return self.after_race(order_id, out_refund_no).await;
                        }
                    };
                    let entry = actor.entry(
                        "refund.reject",
                        target.clone(),
                        before.clone(),
                        json!({"status": RefundStatus::Rejected, "order": order_id, "reason": reason}),
                        now,
                    );
                    match audit.commit(writes, entry).await? {
                        Committed::Done(_) => {
                            tracing::info!(order_id = %order_id, out_refund_no, by = %actor.staff_id, "refund rejected");
                            return Ok(Refund {
                                status: RefundStatus::Rejected,
                                decision: Some(decision),
                                finished_at: Some(now),
                                ..refund
                            });
                        }
                        // The refund itself was decided: say how.
                        Committed::Refused(failed) if failed.first() == Some(&true) => {
                            return self.after_race(order_id, out_refund_no).await;
                        }
                        // The order moved (another refund began or ended): read it again.
                        Committed::Refused(_) => {}
                    }
                }
                Err(AfterSalesError::OrderChanged)
            }
        }
    }

    /// Another decision won: the refund as it is now, as the error a second decider gets.
    async fn after_race(
        &self,
        order_id: &OrderId,
        out_refund_no: &str,
    ) -> Result<Refund, AfterSalesError> {
        let now = self
            .desk
            .orders
            .refund(order_id, out_refund_no)
            .await?
            .ok_or(AfterSalesError::NotFound)?;
        Err(AfterSalesError::Decided(now.status))
    }
}
