//! A shopper's receipt confirmed on WeChat, whichever way we hear of it (the message push's
//! settlement, or the confirm-receipt component checked with WeChat's `get_order`): the
//! order's settlement times are kept, it moves `SHIPPED -> DELIVERED` once, and the deadlines
//! consumer hears of the delivery as it does of a courier's signed-for push.

use domain::ids::OrderId;
use domain::platform::Settlement;
use store::StoreError;
use store::queue::{DeadlineMessage, Queue, QueueError};
use store::shipments::{Settled, ShipmentStore};
use telemetry::metrics::{BusinessEvent, Facts, Metrics};

#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

pub struct Receipts {
    shipments: ShipmentStore,
    deadlines: Queue,
    metrics: Metrics,
}

impl Receipts {
    pub fn new(shipments: ShipmentStore, deadlines: Queue, metrics: Metrics) -> Self {
        Self {
            shipments,
            deadlines,
            metrics,
        }
    }

    /// Records WeChat's settlement news on the order. `order.delivered` goes out on every call
    /// that finds it delivered (a crash after the write loses nothing; the consumer counts it
    /// once); the Delivered metric only with the move itself.
    pub async fn record(
        &self,
        order_id: &OrderId,
        settlement: &Settlement,
        now: i64,
    ) -> Result<Settled, ReceiptError> {
        let settled = self
            .shipments
            .record_settlement(order_id, settlement, now)
            .await?;
        if let Settled::Recorded {
            delivered_at: Some(delivered_at),
            moved,
            channel,
        } = &settled
        {
            self.deadlines
                .send(
                    &DeadlineMessage::OrderDelivered {
                        order_id: order_id.clone(),
                        delivered_at: *delivered_at,
                    },
                    0,
                )
                .await?;
            if *moved {
                self.metrics.event(
                    BusinessEvent::Delivered,
                    &Facts {
                        channel: channel.as_deref(),
                        ..Facts::default()
                    },
                );
            }
        }
        Ok(settled)
    }
}
