//! Shipments and warehouses.
//!
//! Orders table:
//! - `WAYBILL#<number>` / `SHIPMENT`: the shipment, its timeline and a `version` every update is
//!   conditional on, keyed by waybill number because that is all a courier push carries. While it
//!   has an exception it also carries `gsi1pk = SHIPMENT_EXCEPTIONS` (a sparse partition of the
//!   `ByUser` index) so the merchant can list parcels in trouble without a scan.
//! - the order item gets `shipment` (company, number, warehouse) when it ships, and `shipClaim`
//!   while a fulfillment worker is creating its waybill.
//!
//! Catalog table: `WAREHOUSE` / `<id>`: a warehouse.

use super::orders::{INDEX_BY_USER, Transition, history_entry, order_key};
use super::{Item, StoreError, failed_conditions, from_item, get_i64, n, s, to_item};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use domain::ids::OrderId;
use domain::logistics::{Shipment, TrackingReport, Warehouse};
use domain::order::ShippingUpload;
use domain::order::{OrderStatus, ShipmentSummary, StatusChange};
use domain::platform::Settlement;

/// A claim older than this is taken to be from a worker that died.
const CLAIM_SECONDS: i64 = 120;
const EXCEPTIONS: &str = "SHIPMENT_EXCEPTIONS";

#[derive(Clone)]
pub struct ShipmentStore {
    client: Client,
    orders: String,
    catalog: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShipClaim {
    /// This worker creates the waybill.
    Claimed,
    /// Someone else is on it, or the order is not (or no longer) waiting to ship.
    NotOurs,
}

/// What a courier report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    UnknownWaybill,
    Applied {
        shipment: Box<Shipment>,
        effect: domain::logistics::PushEffect,
        /// The order moved `SHIPPED -> DELIVERED` with this report.
        order_delivered: bool,
    },
}

/// What WeChat's settlement news did to its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    UnknownOrder,
    Recorded {
        /// When the order was delivered, if it is: by this confirmation or before it.
        delivered_at: Option<i64>,
        /// This confirmation moved it `SHIPPED -> DELIVERED`.
        moved: bool,
        channel: Option<String>,
    },
}

fn waybill_key(number: &str) -> Item {
    [
        ("pk".to_string(), s(format!("WAYBILL#{number}"))),
        ("sk".to_string(), s("SHIPMENT")),
    ]
    .into()
}

impl ShipmentStore {
    pub fn new(client: Client, orders: impl Into<String>, catalog: impl Into<String>) -> Self {
        Self {
            client,
            orders: orders.into(),
            catalog: catalog.into(),
        }
    }

    pub async fn warehouses(&self) -> Result<Vec<Warehouse>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.catalog)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s("WAREHOUSE"))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query warehouses", e))?;
        out.items().iter().map(from_item).collect()
    }

    /// The write that creates or replaces a warehouse: commit it with its audit record.
    pub fn warehouse_write(
        &self,
        warehouse: &Warehouse,
    ) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
        let mut item = to_item(warehouse);
        item.insert("pk".into(), s("WAREHOUSE"));
        item.insert("sk".into(), s(&warehouse.id));
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.catalog)
            .set_item(Some(item))
            .build()
            .map_err(|e| StoreError::dynamo("build transaction", e))?;
        Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder()
            .put(put)
            .build())
    }

    /// Takes the order's shipping for this worker: only a PAID order (or one whose group completed:
    /// the caller checks), and only if no other worker
    /// claimed it in the last two minutes. The claim keeps racing redeliveries from asking the
    /// courier for two waybills.
    pub async fn claim_shipping(&self, order: &OrderId, now: i64) -> Result<ShipClaim, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.orders)
            .set_key(Some(order_key(order).into_iter().collect()))
            .update_expression("SET shipClaim = :now")
            .condition_expression(
                "#s IN (:paid, :waiting) AND (attribute_not_exists(shipClaim) OR shipClaim < :stale)",
            )
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":paid", s(OrderStatus::Paid.as_str()))
            .expression_attribute_values(":waiting", s(OrderStatus::WaitingGroup.as_str()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":stale", n(now - CLAIM_SECONDS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(ShipClaim::Claimed),
            Err(err) if super::condition_failed(&err) => Ok(ShipClaim::NotOurs),
            Err(err) => Err(StoreError::dynamo("UpdateItem claim shipping", err)),
        }
    }

    /// The writes of the shipment and `PAID | WAITING_GROUP -> SHIPPED`, for one transaction: the
    /// waybill's (refused when another order holds the number), then the order's (refused
    /// unless it waits to ship). A staff member's shipment commits them with its audit record.
    pub fn shipment_writes(
        &self,
        shipment: &Shipment,
        now: i64,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let build = |e| StoreError::dynamo("build transaction", e);
        let mut item = to_item(shipment);
        item.extend(waybill_key(&shipment.number));
        item.insert("version".into(), n(1));
        let put = Put::builder()
            .table_name(&self.orders)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR orderId = :o")
            .expression_attribute_values(":o", s(shipment.order_id.as_str()))
            .build()
            .map_err(build)?;
        let summary = ShipmentSummary {
            company: shipment.company.clone(),
            number: shipment.number.clone(),
            warehouse_id: shipment.warehouse_id.clone(),
        };
        let ship = Update::builder()
            .table_name(&self.orders)
            .set_key(Some(order_key(&shipment.order_id).into_iter().collect()))
            .update_expression("SET #s = :shipped, shipment = :summary, history = list_append(history, :h) REMOVE shipClaim")
            .condition_expression("#s IN (:paid, :waiting)")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":shipped", s(OrderStatus::Shipped.as_str()))
            .expression_attribute_values(":paid", s(OrderStatus::Paid.as_str()))
            .expression_attribute_values(":waiting", s(OrderStatus::WaitingGroup.as_str()))
            .expression_attribute_values(":summary", AttributeValue::M(to_item(&summary)))
            .expression_attribute_values(":h", history_entry(&StatusChange { status: OrderStatus::Shipped, at: now, reason: None }))
            .build()
            .map_err(build)?;
        Ok(vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().update(ship).build(),
        ])
    }

    /// The shipment and `PAID | WAITING_GROUP -> SHIPPED` in one transaction. The waybill item is
    /// written once per number (a retry with the courier's same number rewrites nothing it
    /// should not).
    pub async fn record_shipment(
        &self,
        shipment: &Shipment,
        now: i64,
    ) -> Result<Transition, StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(self.shipment_writes(shipment, now)?))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Transition::Done),
            Err(err) => match failed_conditions(&err) {
                Some(failed) if failed.get(1) == Some(&true) => Ok(Transition::NotApplicable),
                _ => Err(StoreError::dynamo("TransactWriteItems ship order", err)),
            },
        }
    }

    /// Takes the shopper's "shipped" notice for waybill `number` of the order: true once per
    /// waybill, however often the message asking for it comes.
    pub async fn claim_shipped_notice(
        &self,
        order: &OrderId,
        number: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.orders)
            .set_key(Some(order_key(order).into_iter().collect()))
            .update_expression("SET shippedNotice = :n")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(shippedNotice) OR shippedNotice <> :n)",
            )
            .expression_attribute_values(":n", s(number))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if super::condition_failed(&err) => Ok(false),
            Err(err) => Err(StoreError::dynamo("UpdateItem shipped notice", err)),
        }
    }

    /// Writes the shipment of goods coming back, once per waybill number.
    pub async fn record_return(&self, shipment: &Shipment) -> Result<(), StoreError> {
        let mut item = to_item(shipment);
        item.extend(waybill_key(&shipment.number));
        item.insert("version".into(), n(1));
        let result = self
            .client
            .put_item()
            .table_name(&self.orders)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if super::condition_failed(&err) => Ok(()),
            Err(err) => Err(StoreError::dynamo("PutItem return shipment", err)),
        }
    }

    async fn versioned(&self, number: &str) -> Result<Option<(Shipment, i64)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.orders)
            .set_key(Some(waybill_key(number)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem shipment", e))?;
        out.item
            .map(|item| Ok((from_item(&item)?, get_i64(&item, "version").unwrap_or(0))))
            .transpose()
    }

    /// WeChat's settlement news on the order (`trade_manage_order_settlement`): the times it
    /// reports, a confirmation and a settlement kept as first reported, the estimate as last
    /// reported; and with a confirmation, `SHIPPED -> DELIVERED` at the time the shopper
    /// confirmed (forward only: a refunding or delivered order stays where it is).
    pub async fn record_settlement(
        &self,
        id: &OrderId,
        settlement: &Settlement,
        now: i64,
    ) -> Result<Settled, StoreError> {
        let mut sets = vec!["wechatSettlementAt = :now".to_string()];
        let mut update = self
            .client
            .update_item()
            .table_name(&self.orders)
            .set_key(Some(order_key(id).into_iter().collect()))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", n(now))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        for (name, value, first_wins) in [
            ("confirmedReceivedAt", settlement.confirm_receive_time, true),
            ("settledAt", settlement.settlement_time, true),
            (
                "estimatedSettlementAt",
                settlement.estimated_settlement_time,
                false,
            ),
        ] {
            let Some(value) = value else { continue };
            let placeholder = format!(":{name}");
            sets.push(if first_wins {
                format!("{name} = if_not_exists({name}, {placeholder})")
            } else {
                format!("{name} = {placeholder}")
            });
            update = update.expression_attribute_values(placeholder, n(value));
        }
        let stored = match update
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await
        {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(err) if super::condition_failed(&err) => return Ok(Settled::UnknownOrder),
            Err(err) => return Err(StoreError::dynamo("UpdateItem record settlement", err)),
        };
        let channel = super::get_s(&stored, "channel").map(str::to_string);
        let status = super::get_s(&stored, "status");
        let confirmed = get_i64(&stored, "confirmedReceivedAt");
        if status == Some(OrderStatus::Delivered.as_str()) {
            return Ok(Settled::Recorded {
                delivered_at: get_i64(&stored, "deliveredAt"),
                moved: false,
                channel,
            });
        }
        let (Some(at), Some(OrderStatus::Shipped)) =
            (confirmed, status.and_then(OrderStatus::parse))
        else {
            return Ok(Settled::Recorded {
                delivered_at: None,
                moved: false,
                channel,
            });
        };
        let change = StatusChange {
            status: OrderStatus::Delivered,
            at: now,
            reason: Some("confirmed received on WeChat".into()),
        };
        let moved = self
            .client
            .update_item()
            .table_name(&self.orders)
            .set_key(Some(order_key(id).into_iter().collect()))
            .update_expression(
                "SET #s = :delivered, deliveredAt = :at, history = list_append(history, :h)",
            )
            .condition_expression("#s = :shipped")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":delivered", s(OrderStatus::Delivered.as_str()))
            .expression_attribute_values(":shipped", s(OrderStatus::Shipped.as_str()))
            .expression_attribute_values(":at", n(at))
            .expression_attribute_values(":h", history_entry(&change))
            .send()
            .await;
        match moved {
            Ok(_) => Ok(Settled::Recorded {
                delivered_at: Some(at),
                moved: true,
                channel,
            }),
            // Moved on in between (the courier's signed-for push, a refund): read where it is.
            Err(err) if super::condition_failed(&err) => {
                Box::pin(self.record_settlement(id, settlement, now)).await
            }
            Err(err) => Err(StoreError::dynamo("UpdateItem confirm received", err)),
        }
    }

    /// Replaces the order's shipping upload with `next` (its version one past `read`'s), if
    /// it is still what was read: false when another worker wrote it in between.
    pub async fn swap_upload(
        &self,
        id: &OrderId,
        read: Option<&ShippingUpload>,
        next: &ShippingUpload,
    ) -> Result<bool, StoreError> {
        let next = ShippingUpload {
            version: read.map_or(1, |r| r.version + 1),
            ..next.clone()
        };
        let value = serde_json::to_value(&next).map_err(|e| StoreError::Corrupt {
            key: format!("ORDER#{id}"),
            problem: e.to_string(),
        })?;
        let mut update = self
            .client
            .update_item()
            .table_name(&self.orders)
            .set_key(Some(order_key(id).into_iter().collect()))
            .update_expression("SET shippingUpload = :next")
            .expression_attribute_values(":next", super::to_attribute(&value));
        update = match read {
            None => update.condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(shippingUpload)",
            ),
            Some(read) => update
                .condition_expression("shippingUpload.version = :read")
                .expression_attribute_values(":read", n(read.version)),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(err) if super::condition_failed(&err) => Ok(false),
            Err(err) => Err(StoreError::dynamo("UpdateItem shipping upload", err)),
        }
    }

    pub async fn shipment(&self, number: &str) -> Result<Option<Shipment>, StoreError> {
        Ok(self.versioned(number).await?.map(|(s, _)| s))
    }

    /// Applies a courier report to its shipment: one read, then one transaction that writes the
    /// merged shipment (conditional on the version read) and, when the parcel is signed for,
    /// moves the order `SHIPPED -> DELIVERED`. A racing push re-reads and merges again.
    pub async fn apply_report(
        &self,
        report: &TrackingReport,
        now: i64,
    ) -> Result<Applied, StoreError> {
        let build = |e| StoreError::dynamo("build transaction", e);
        let mut deliver_order = true;
        for _ in 0..8 {
            let Some((mut shipment, version)) = self.versioned(&report.number).await? else {
                return Ok(Applied::UnknownWaybill);
            };
            let was_delivered = shipment.delivered_at.is_some();
            let effect = shipment.apply(report, now);
            if !effect.changed() {
                return Ok(Applied::Applied {
                    shipment: Box::new(shipment),
                    effect,
                    order_delivered: false,
                });
            }
            let mut item = to_item(&shipment);
            item.extend(waybill_key(&shipment.number));
            item.insert("version".into(), n(version + 1));
            if let Some(exception) = &shipment.exception {
                item.insert("gsi1pk".into(), s(EXCEPTIONS));
                item.insert(
                    "gsi1sk".into(),
                    s(format!("{:012}#{}", exception.at, shipment.number)),
                );
            }
            let put = Put::builder()
                .table_name(&self.orders)
                .set_item(Some(item))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(version))
                .build()
                .map_err(build)?;
            let mut request = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put).build());
            let delivers = deliver_order
                && effect.delivered
                && !was_delivered
                && shipment.direction == domain::logistics::Direction::ToShopper;
            if delivers {
                let deliver = Update::builder()
                    .table_name(&self.orders)
                    .set_key(Some(order_key(&shipment.order_id).into_iter().collect()))
                    .update_expression("SET #s = :delivered, deliveredAt = :now, history = list_append(history, :h)")
                    .condition_expression("#s = :shipped")
                    .expression_attribute_names("#s", "status")
                    .expression_attribute_values(":delivered", s(OrderStatus::Delivered.as_str()))
                    .expression_attribute_values(":shipped", s(OrderStatus::Shipped.as_str()))
                    .expression_attribute_values(":now", n(now))
                    .expression_attribute_values(":h", history_entry(&StatusChange { status: OrderStatus::Delivered, at: now, reason: Some("signed for".into()) }))
                    .build()
                    .map_err(build)?;
                request =
                    request.transact_items(TransactWriteItem::builder().update(deliver).build());
            }
            match request.send().await {
                Ok(_) => {
                    return Ok(Applied::Applied {
                        shipment: Box::new(shipment),
                        effect,
                        order_delivered: delivers,
                    });
                }
                Err(err) => match failed_conditions(&err) {
                    // Another push got in first: read its result and merge again.
                    Some(failed) if failed.first() == Some(&true) => continue,
                    // The order is not SHIPPED (refunding, or delivered already): keep the
                    // parcel's news, leave the order where it is.
                    Some(failed) if failed.get(1) == Some(&true) => {
                        deliver_order = false;
                        continue;
                    }
                    _ => return Err(StoreError::dynamo("TransactWriteItems apply tracking", err)),
                },
            }
        }
        Err(StoreError::Corrupt {
            key: format!("WAYBILL#{}", report.number),
            problem: "too many concurrent updates; the courier will push again".into(),
        })
    }

    /// Parcels in trouble (problem, refused, returning), newest first.
    pub async fn exceptions(&self) -> Result<Vec<Shipment>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.orders)
            .index_name(INDEX_BY_USER)
            .key_condition_expression("gsi1pk = :e")
            .expression_attribute_values(":e", s(EXCEPTIONS))
            .scan_index_forward(false)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query shipment exceptions", e))?;
        out.items().iter().map(from_item).collect()
    }
}
