//! Refunds in the orders table: `ORDER#<orderId>` / `REFUND#<outRefundNo>`, beside the order.
//!
//! Beginning a refund and finishing it are each one transaction with the order, conditional on
//! the order's `refundCount` and `refundsProcessing` as read, so two refunds racing each other,
//! or a duplicated notification racing a new refund, can never count a line twice or refund more
//! than was paid. A refund's end (`PROCESSING -> SUCCESS | ABNORMAL | CLOSED`) is conditional on
//! `PROCESSING`, so each notification counts once; with it come the stock of goods that never
//! left and, when the order is wholly refunded, its coupon and points.
//!
//! A refund waiting for staff (`AWAITING_APPROVAL`) also carries `gsi1pk = AFTER_SALES#AWAITING`
//! and `gsi1sk = <createdAt>#<orderId>#<outRefundNo>`: the merchant's queue, oldest first, in
//! the `ByUser` index; a decision removes both. Approving is `AWAITING_APPROVAL -> PROCESSING`,
//! rejecting ends it as `REJECTED` the way a closed refund ends (its lines refundable again),
//! each conditional on `AWAITING_APPROVAL` and committed with its audit record.

use super::orders::{OrderStore, history_entry, order_key, sku_key};
use super::points::PointsLedger;
use super::{Item, StoreError, failed_conditions, from_item, get_i64, get_s, n, s, to_item};
use super::{ListPosition, Page};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use domain::ids::OrderId;
use domain::ids::SkuId;
use domain::order::{Order, OrderStatus, StatusChange};
use domain::refund::{Decision, Refund, RefundStatus};

/// The merchant's queue of refunds awaiting approval, in the `ByUser` index.
const AWAITING_QUEUE: &str = "AFTER_SALES#AWAITING";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begun {
    Begun,
    /// The order changed since it was read (another refund, a status change): plan again.
    OrderChanged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    /// The refund ended; the order is now in this status.
    Finished(OrderStatus),
    /// This refund had ended before: a duplicate notification.
    AlreadyFinished,
    UnknownRefund,
}

/// The writes that end a refund, to commit as one transaction (with an audit record, for a
/// staff decision); the first is the refund's own, conditional on its status as read, the
/// second the order's, conditional on its refund counters as read.
pub enum Prepared {
    Writes {
        items: Vec<TransactWriteItem>,
        /// The order's status once they are written.
        next: OrderStatus,
    },
    /// Not in the status it would end from: decided or finished before.
    AlreadyFinished,
    UnknownRefund,
}

fn refund_key(order: &OrderId, out_refund_no: &str) -> Item {
    let mut key: Item = order_key(order).into_iter().collect();
    key.insert("sk".into(), s(format!("REFUND#{out_refund_no}")));
    key
}

/// The order as stored, with the refund bookkeeping the domain type does not carry.
struct RefundState {
    order: Order,
    processing: i64,
    before: Option<OrderStatus>,
}

fn sku_list(ids: &[SkuId]) -> AttributeValue {
    AttributeValue::L(ids.iter().map(|id| s(id.as_str())).collect())
}

impl OrderStore {
    async fn refund_state(&self, id: &OrderId) -> Result<Option<RefundState>, StoreError> {
        let Some(item) = self.order_item(id).await? else {
            return Ok(None);
        };
        let processing = get_i64(&item, "refundsProcessing").unwrap_or(0);
        let before = get_s(&item, "statusBeforeRefund").and_then(OrderStatus::parse);
        let order = self.orders_of(vec![item]).await?.remove(0);
        Ok(Some(RefundState {
            order,
            processing,
            before,
        }))
    }

    /// Records `refund` (planned from `order` as read) and moves the order to REFUNDING, in one
    /// transaction conditional on the order being as read.
    pub async fn begin_refund(
        &self,
        order: &Order,
        refund: &Refund,
        now: i64,
    ) -> Result<Begun, StoreError> {
        let build = |e| StoreError::dynamo("build transaction", e);
        let change = StatusChange {
            status: OrderStatus::Refunding,
            at: now,
            reason: Some(refund.reason.clone()),
        };
        let update = Update::builder()
            .table_name(&self.orders)
            .set_key(Some(order_key(&order.id).into_iter().collect()))
            .update_expression(
                "SET #s = :refunding, statusBeforeRefund = if_not_exists(statusBeforeRefund, :current), \
                 refundedSkus = list_append(if_not_exists(refundedSkus, :none), :skus), \
                 refundedAmount = if_not_exists(refundedAmount, :zero) + :amount, refundCount = :next, \
                 refundsProcessing = if_not_exists(refundsProcessing, :zero) + :one, \
                 history = list_append(history, :h)",
            )
            .condition_expression(
                "#s = :current AND (attribute_not_exists(refundCount) OR refundCount = :count)",
            )
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":refunding", s(OrderStatus::Refunding.as_str()))
            .expression_attribute_values(":current", s(order.status.as_str()))
            .expression_attribute_values(":none", AttributeValue::L(vec![]))
            .expression_attribute_values(":skus", sku_list(&refund.sku_ids))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":amount", n(refund.amount.get()))
            .expression_attribute_values(":count", n(order.refund_count))
            .expression_attribute_values(":next", n(order.refund_count + 1))
            .expression_attribute_values(":h", history_entry(&change))
            .build()
            .map_err(build)?;
        let mut item = to_item(refund);
        item.extend(refund_key(&order.id, &refund.out_refund_no));
        if refund.status == RefundStatus::AwaitingApproval {
            item.insert("gsi1pk".into(), s(AWAITING_QUEUE));
            item.insert(
                "gsi1sk".into(),
                s(format!(
                    "{:012}#{}#{}",
                    refund.created_at, order.id, refund.out_refund_no
                )),
            );
        }
        let put = Put::builder()
            .table_name(&self.orders)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(sk)")
            .build()
            .map_err(build)?;
        let mut items = vec![
            TransactWriteItem::builder().update(update).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        // A member refunded while their group is still forming gives the seat back, so the
        // group never completes counting someone who left.
        if order.status == OrderStatus::WaitingGroup
            && let Some(group) = &order.group_id
            && self
                .social
                .group(group)
                .await?
                .is_some_and(|g| g.status == domain::social::GroupStatus::Open)
        {
            items.extend(self.social.leave_writes(order)?);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Begun::Begun),
            Err(err) => match failed_conditions(&err) {
                Some(failed) if failed.iter().any(|f| *f) => Ok(Begun::OrderChanged),
                _ => Err(StoreError::dynamo("TransactWriteItems begin refund", err)),
            },
        }
    }

    /// Begins a refund of whatever of the order is not refunded yet, for refunds the shop owes
    /// (a failed group-buy): the refund to ask the provider for, new or still processing from an
    /// earlier attempt (asking again for the same `out_refund_no` is safe), or none when the
    /// order holds no money to give back.
    pub async fn refund_everything(
        &self,
        id: &OrderId,
        reason: &str,
        now: i64,
    ) -> Result<Option<Refund>, StoreError> {
        for _ in 0..4 {
            let Some(stored) = self.get(id).await? else {
                return Ok(None);
            };
            match domain::refund::plan(&stored.order, None, reason, 365, now) {
                Ok(refund) => {
                    if self.begin_refund(&stored.order, &refund, now).await? == Begun::Begun {
                        return Ok(Some(refund));
                    }
                }
                Err(_) => {
                    return Ok(self
                        .refunds_of(id)
                        .await?
                        .into_iter()
                        .find(|r| r.status == RefundStatus::Processing));
                }
            }
        }
        Err(StoreError::Corrupt {
            key: format!("ORDER#{id}"),
            problem: "order kept changing while refunding it".into(),
        })
    }

    pub async fn refund(
        &self,
        order: &OrderId,
        out_refund_no: &str,
    ) -> Result<Option<Refund>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.orders)
            .set_key(Some(refund_key(order, out_refund_no)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem refund", e))?;
        out.item.as_ref().map(from_item).transpose()
    }

    /// The order's refunds, oldest first.
    pub async fn refunds_of(&self, order: &OrderId) -> Result<Vec<Refund>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.orders)
            .key_condition_expression("pk = :pk AND begins_with(sk, :refund)")
            .expression_attribute_values(":pk", s(format!("ORDER#{order}")))
            .expression_attribute_values(":refund", s("REFUND#"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query refunds", e))?;
        let mut refunds: Vec<Refund> = out
            .items()
            .iter()
            .map(from_item)
            .collect::<Result<_, _>>()?;
        refunds.sort_by_key(|r| r.created_at);
        Ok(refunds)
    }

    /// The writes that end the refund `out_refund_no` of `order_id` from `from` as `outcome`
    /// (with `decision`, for staff's), as the order stands now. On success the goods that never
    /// left go back on the shelf, and an order with every line refunded becomes REFUNDED and
    /// gives back its coupon and points; otherwise its lines become refundable again.
    pub async fn prepare_finish(
        &self,
        order_id: &OrderId,
        out_refund_no: &str,
        from: RefundStatus,
        outcome: RefundStatus,
        decision: Option<&Decision>,
        now: i64,
    ) -> Result<Prepared, StoreError> {
        let build = |e| StoreError::dynamo("build transaction", e);
        let (Some(state), Some(refund)) = (
            self.refund_state(order_id).await?,
            self.refund(order_id, out_refund_no).await?,
        ) else {
            return Ok(Prepared::UnknownRefund);
        };
        if refund.status != from || outcome == from {
            return Ok(Prepared::AlreadyFinished);
        }
        let order = &state.order;
        let processing_left = (state.processing - 1).max(0);
        let (refunded_skus, refunded_amount) = if outcome == RefundStatus::Success {
            (order.refunded_skus.clone(), order.refunded_amount.get())
        } else {
            (
                order
                    .refunded_skus
                    .iter()
                    .filter(|id| !refund.sku_ids.contains(id))
                    .cloned()
                    .collect::<Vec<_>>(),
                order
                    .refunded_amount
                    .get()
                    .saturating_sub(refund.amount.get()),
            )
        };
        let before = state.before.unwrap_or(OrderStatus::Paid);
        let all_refunded = refunded_skus.len() == order.lines.len();
        let next = match (processing_left, all_refunded) {
            (0, true) => OrderStatus::Refunded,
            (0, false) => before,
            _ => OrderStatus::Refunding,
        };
        let mut set = vec![
            "#s = :next",
            "refundsProcessing = :left",
            "refundedSkus = :skus",
            "refundedAmount = :amount",
        ];
        if next != order.status {
            set.push("history = list_append(history, :h)");
        }
        let remove = if processing_left == 0 {
            " REMOVE statusBeforeRefund"
        } else {
            ""
        };
        let mut update = Update::builder()
            .table_name(&self.orders)
            .set_key(Some(order_key(order_id).into_iter().collect()))
            .update_expression(format!("SET {}{remove}", set.join(", ")))
            .condition_expression("refundCount = :count AND refundsProcessing = :processing")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":next", s(next.as_str()))
            .expression_attribute_values(":left", n(processing_left))
            .expression_attribute_values(":skus", sku_list(&refunded_skus))
            .expression_attribute_values(":amount", n(refunded_amount))
            .expression_attribute_values(":count", n(order.refund_count))
            .expression_attribute_values(":processing", n(state.processing));
        if next != order.status {
            update = update.expression_attribute_values(
                ":h",
                history_entry(&StatusChange {
                    status: next,
                    at: now,
                    reason: Some(format!("refund {out_refund_no} {}", outcome.as_str())),
                }),
            );
        }
        let mut mark_set = "SET #s = :outcome, finishedAt = :now".to_string();
        if decision.is_some() {
            mark_set.push_str(", decision = :d");
        }
        if from == RefundStatus::AwaitingApproval {
            mark_set.push_str(" REMOVE gsi1pk, gsi1sk");
        }
        let mut mark = Update::builder()
            .table_name(&self.orders)
            .set_key(Some(refund_key(order_id, out_refund_no)))
            .update_expression(mark_set)
            .condition_expression("#s = :from")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":outcome", s(outcome.as_str()))
            .expression_attribute_values(":from", s(from.as_str()))
            .expression_attribute_values(":now", n(now));
        if let Some(decision) = decision {
            mark = mark.expression_attribute_values(":d", AttributeValue::M(to_item(decision)));
        }
        let mark = mark.build().map_err(build)?;
        let mut items = vec![
            TransactWriteItem::builder().update(mark).build(),
            TransactWriteItem::builder()
                .update(update.build().map_err(build)?)
                .build(),
        ];
        if outcome == RefundStatus::Success && refund.restock {
            for line in order
                .lines
                .iter()
                .filter(|l| refund.sku_ids.contains(&l.sku_id))
            {
                let restock = Update::builder()
                    .table_name(&self.catalog)
                    .set_key(Some(sku_key(&line.sku_id).into_iter().collect()))
                    .update_expression("ADD stock :q")
                    .expression_attribute_values(":q", n(line.quantity.get()))
                    .build()
                    .map_err(build)?;
                items.push(TransactWriteItem::builder().update(restock).build());
            }
        }
        if next == OrderStatus::Refunded {
            if let Some(coupon) = &order.coupon_id {
                items.push(
                    self.coupons
                        .return_write(&order.user_id, coupon, order_id)?,
                );
            }
            if order.points_used > 0 {
                items.extend(
                    self.points
                        .entry_writes(&order.user_id, &PointsLedger::return_entry(order, now))?,
                );
            }
            items.extend(super::points_mall::release_writes(
                self.points.table(),
                order,
            )?);
        }
        Ok(Prepared::Writes { items, next })
    }

    /// Ends a refund as its provider reported it (`PROCESSING -> outcome`), once per refund.
    pub async fn finish_refund(
        &self,
        order_id: &OrderId,
        out_refund_no: &str,
        outcome: RefundStatus,
        now: i64,
    ) -> Result<Finished, StoreError> {
        for _ in 0..8 {
            let prepared = self
                .prepare_finish(
                    order_id,
                    out_refund_no,
                    RefundStatus::Processing,
                    outcome,
                    None,
                    now,
                )
                .await?;
            let (items, next) = match prepared {
                Prepared::Writes { items, next } => (items, next),
                Prepared::AlreadyFinished => return Ok(Finished::AlreadyFinished),
                Prepared::UnknownRefund => return Ok(Finished::UnknownRefund),
            };
            match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
            {
                Ok(_) => return Ok(Finished::Finished(next)),
                Err(err) => match failed_conditions(&err) {
                    Some(failed) if failed.first() == Some(&true) => {
                        return Ok(Finished::AlreadyFinished);
                    }
                    // The order moved (another refund began or ended): read again.
                    Some(failed) if failed.get(1) == Some(&true) => continue,
                    _ => return Err(StoreError::dynamo("TransactWriteItems finish refund", err)),
                },
            }
        }
        Err(StoreError::Corrupt {
            key: format!("ORDER#{order_id}"),
            problem: "too many concurrent refund changes; the notification will come again".into(),
        })
    }

    /// The write that approves a waiting refund (`AWAITING_APPROVAL -> PROCESSING`, leaving the
    /// merchant's queue): commit it with its audit record.
    pub fn approve_write(
        &self,
        order_id: &OrderId,
        out_refund_no: &str,
        decision: &Decision,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.orders)
            .set_key(Some(refund_key(order_id, out_refund_no)))
            .update_expression("SET #s = :processing, decision = :d REMOVE gsi1pk, gsi1sk")
            .condition_expression("#s = :awaiting")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":processing", s(RefundStatus::Processing.as_str()))
            .expression_attribute_values(":awaiting", s(RefundStatus::AwaitingApproval.as_str()))
            .expression_attribute_values(":d", AttributeValue::M(to_item(decision)))
            .build()
            .map_err(|e| StoreError::dynamo("build approval", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The refunds waiting for staff, oldest first.
    pub async fn awaiting_approval(
        &self,
        after: Option<ListPosition>,
        limit: usize,
    ) -> Result<Page<Refund>, StoreError> {
        let mut items: Vec<Item> = Vec::new();
        let mut start = after.map(ListPosition::into_key);
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.orders)
                .index_name(super::orders::INDEX_BY_USER)
                .key_condition_expression("gsi1pk = :q")
                .expression_attribute_values(":q", s(AWAITING_QUEUE))
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query refunds awaiting approval", e))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if items.len() > limit || start.is_none() {
                break;
            }
        }
        let next = if items.len() > limit {
            items.truncate(limit);
            items
                .last()
                .map(|last| ListPosition::of(last, &["pk", "sk", "gsi1pk", "gsi1sk"]))
        } else {
            None
        };
        Ok(Page {
            items: items.iter().map(from_item).collect::<Result<_, _>>()?,
            next,
        })
    }

    /// Records the waybill the shopper sends the goods back under, once, on a shipped order.
    /// False when the order is not shipped or has a return already.
    pub async fn register_return(
        &self,
        order_id: &OrderId,
        company: &str,
        number: &str,
    ) -> Result<bool, StoreError> {
        let summary = domain::order::ShipmentSummary {
            company: company.to_string(),
            number: number.to_string(),
            warehouse_id: "return".into(),
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.orders)
            .set_key(Some(order_key(order_id).into_iter().collect()))
            .update_expression("SET returnShipment = :r")
            .condition_expression(
                "(#s = :shipped OR #s = :delivered) AND attribute_not_exists(returnShipment)",
            )
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":shipped", s(OrderStatus::Shipped.as_str()))
            .expression_attribute_values(":delivered", s(OrderStatus::Delivered.as_str()))
            .expression_attribute_values(":r", AttributeValue::M(to_item(&summary)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if super::condition_failed(&err) => Ok(false),
            Err(err) => Err(StoreError::dynamo("UpdateItem register return", err)),
        }
    }
}
