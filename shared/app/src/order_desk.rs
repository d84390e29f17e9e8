//! The shop's orders as its staff handle them: cancelling an unpaid order (the same exactly-once
//! release a shopper's cancel makes, through the same code), shipping by hand when the courier's
//! label API cannot be used (the same transition, notice and WeChat upload as the fulfillment
//! consumer's), and notes. Every staff change is committed with its audit record.

use crate::payment::{PaymentDesk, SettleError};
use crate::provider::{Closed, ProviderError, Providers, Queried};
use crate::staff::Actor;
use domain::ids::OrderId;
use domain::logistics::{Shipment, WaybillInput};
use domain::order::{Order, OrderStatus, StaffNote};
use serde_json::json;
use store::StoreError;
use store::audit::{AuditLog, Committed};
use store::orders::Transition;
use store::queue::{FulfillmentMessage, QueueError};
use store::shipments::ShipmentStore;

/// What a shipment by hand is recorded under instead of a warehouse.
pub const SHIPPED_BY_HAND: &str = "manual";

#[derive(Debug, thiserror::Error)]
pub enum OrderDeskError {
    #[error("no such order")]
    NotFound,
    #[error("a {} order cannot be cancelled", .0.as_str())]
    NotCancellable(OrderStatus),
    #[error("a {} order cannot be shipped", .0.as_str())]
    NotShippable(OrderStatus),
    #[error("waybill {0} belongs to another order")]
    WaybillTaken(String),
    #[error("the payment provider did not answer: {0}")]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Recording(#[from] SettleError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

pub struct OrderDesk {
    pub payments: PaymentDesk,
    providers: Providers,
    shipments: ShipmentStore,
    audit: Option<AuditLog>,
}

impl OrderDesk {
    pub fn new(payments: PaymentDesk, providers: Providers, shipments: ShipmentStore) -> Self {
        Self {
            payments,
            providers,
            shipments,
            audit: None,
        }
    }

    /// The same desk acting for staff, each change audited in this log.
    pub fn for_staff(mut self, audit: AuditLog) -> Self {
        self.audit = Some(audit);
        self
    }

    fn audit(&self) -> Result<&AuditLog, OrderDeskError> {
        self.audit
            .as_ref()
            .ok_or(OrderDeskError::Store(StoreError::Corrupt {
                key: "audit".into(),
                problem: "this desk keeps no audit log".into(),
            }))
    }

    async fn current(&self, id: &OrderId) -> Result<Order, OrderDeskError> {
        Ok(self
            .payments
            .orders
            .get(id)
            .await?
            .ok_or(OrderDeskError::NotFound)?
            .order)
    }

    /// Cancels an unpaid order and releases everything it holds, exactly once however many
    /// cancels and deadlines race. The trade is closed at its provider first, so it cannot be
    /// paid after its stock is released; one paid meanwhile is settled and stays. `actor` is
    /// the staff member cancelling (audited), `None` the shopper.
    pub async fn cancel_unpaid(
        &self,
        order: &Order,
        reason: &str,
        actor: Option<&Actor>,
        now: i64,
    ) -> Result<Order, OrderDeskError> {
        if order.status == OrderStatus::Cancelled {
            return Ok(order.clone());
        }
        if order.status != OrderStatus::PendingPayment {
            return Err(OrderDeskError::NotCancellable(order.status));
        }
        let provider = self.providers.of(order.provider)?;
        match provider.close(&order.id, now).await? {
            Closed::Closed | Closed::NeverCreated => {}
            Closed::AlreadyPaid => {
                if let Queried::Paid(payment) = provider.query(&order.id, now).await? {
                    let settled = self.payments.settle(&payment, now).await?;
                    tracing::info!(order_id = %order.id, ?settled, "cancel found the order paid");
                }
                return Err(OrderDeskError::NotCancellable(OrderStatus::Paid));
            }
        }
        let cancelled = match actor {
            None => {
                self.payments
                    .orders
                    .cancel_and_release(order, reason, now)
                    .await?
            }
            Some(actor) => {
                let writes = self.payments.orders.cancel_writes(order, reason, now)?;
                let entry = actor.entry(
                    "order.cancel",
                    format!("order:{}", order.id),
                    json!({"status": order.status, "total": order.total}),
                    json!({"status": OrderStatus::Cancelled, "reason": reason}),
                    now,
                );
                match self.audit()?.commit(writes, entry).await? {
                    Committed::Done(_) => Transition::Done,
                    Committed::Refused(_) => Transition::NotApplicable,
                }
            }
        };
        let current = self.current(&order.id).await?;
        if cancelled == Transition::NotApplicable && current.status != OrderStatus::Cancelled {
            return Err(OrderDeskError::NotCancellable(current.status));
        }
        Ok(current)
    }

    /// Ships a paid order under a waybill the staff member created elsewhere: `PAID -> SHIPPED`
    /// with the shipment, committed with its audit record, then the fulfillment consumer sends
    /// the shopper's notice, WeChat's shipping information and the tracking subscription as it
    /// does for its own waybills. An order shipped already is refused and nothing changes.
    pub async fn ship_manually(
        &self,
        order_id: &OrderId,
        waybill: &WaybillInput,
        actor: &Actor,
        now: i64,
    ) -> Result<Order, OrderDeskError> {
        let order = self.current(order_id).await?;
        if order.status != OrderStatus::Paid {
            return Err(OrderDeskError::NotShippable(order.status));
        }
        let shipment = Shipment::outgoing(
            &order,
            SHIPPED_BY_HAND,
            &waybill.company,
            &waybill.number,
            now,
        );
        let writes = self.shipments.shipment_writes(&shipment, now)?;
        let entry = actor.entry(
            "order.ship",
            format!("order:{}", order.id),
            json!({"status": order.status}),
            json!({"status": OrderStatus::Shipped, "company": waybill.company, "number": waybill.number}),
            now,
        );
        match self.audit()?.commit(writes, entry).await? {
            Committed::Done(_) => {}
            Committed::Refused(failed) if failed.first() == Some(&true) => {
                return Err(OrderDeskError::WaybillTaken(waybill.number.clone()));
            }
            Committed::Refused(_) => {
                let now_status = self.current(order_id).await?.status;
                return Err(OrderDeskError::NotShippable(now_status));
            }
        }
        self.payments
            .fulfillment
            .send(
                &FulfillmentMessage::ShippedByHand {
                    order_id: order.id.clone(),
                    number: waybill.number.clone(),
                },
                0,
            )
            .await?;
        tracing::info!(order_id = %order.id, company = %waybill.company, number = %waybill.number, by = %actor.staff_id, "order shipped by hand");
        self.current(order_id).await
    }

    /// A note on an order, kept with its audit record.
    pub async fn add_note(
        &self,
        order_id: &OrderId,
        text: String,
        actor: &Actor,
        now: i64,
    ) -> Result<StaffNote, OrderDeskError> {
        let note = StaffNote {
            at: now,
            by: actor.staff_id.clone(),
            text,
        };
        let writes = self.payments.orders.note_writes(order_id, &note)?;
        let entry = actor.entry(
            "order.note",
            format!("order:{order_id}"),
            json!(null),
            json!({"text": note.text}),
            now,
        );
        match self.audit()?.commit(writes, entry).await? {
            Committed::Done(_) => Ok(note),
            Committed::Refused(_) => Err(OrderDeskError::NotFound),
        }
    }
}
