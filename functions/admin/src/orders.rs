//! The shop's orders for its staff: the list by day with filters, one order with everything
//! that happened to it, notes, shipping by hand, cancelling an unpaid order, and revealing the
//! receiver (the only way staff see a full phone or street: step-up, audited).

use super::{Admin, actor};
use domain::ids::OrderId;
use domain::order::{Order, OrderStatus, masked_receiver};
use edge::api::{self, ApiError, ApiRequest, ApiResponse, RequestExt};
use edge::auth::StaffCaller;
use serde::Deserialize;
use serde_json::{Value, json};
use store::ListPosition;
use store::orders::OrderFilter;

/// The longest range of days one listing covers.
pub const MAX_LIST_DAYS: usize = 90;
/// Without `from`, a listing covers this many days up to `to`.
const DEFAULT_LIST_DAYS: i64 = 30;

fn order_id(req: &ApiRequest) -> Result<OrderId, ApiError> {
    OrderId::parse(req.path_param("id")?)
        .map_err(|_| ApiError::new(404, "order_not_found", "no such order"))
}

/// An order as staff see it: the receiver masked.
fn staff_view(order: &Order) -> Result<Value, ApiError> {
    let mut view = serde_json::to_value(order).map_err(|e| ApiError::unexpected(&e))?;
    view["address"] = serde_json::to_value(masked_receiver(&order.address))
        .map_err(|e| ApiError::unexpected(&e))?;
    Ok(view)
}

/// What a listing or an export narrows the orders by, as staff wrote it.
pub(crate) fn order_filter(
    status: Option<&str>,
    provider: Option<&str>,
    channel: Option<&str>,
) -> Result<OrderFilter, ApiError> {
    Ok(OrderFilter {
        status: status
            .map(|s| {
                OrderStatus::parse(s)
                    .ok_or_else(|| ApiError::invalid_field("status", "is not an order status"))
            })
            .transpose()?,
        provider: provider
            .map(|p| {
                domain::payment::Provider::parse(p)
                    .ok_or_else(|| ApiError::invalid_field("provider", "must be wechat or alipay"))
            })
            .transpose()?,
        channel: channel
            .map(|c| {
                if c.chars().count() <= 40 {
                    Ok(c.to_string())
                } else {
                    Err(ApiError::invalid_field(
                        "channel",
                        "is at most 40 characters",
                    ))
                }
            })
            .transpose()?,
    })
}

impl Admin {
    async fn stored(&self, id: &OrderId) -> Result<Order, ApiError> {
        Ok(self
            .orders
            .payments
            .orders
            .get(id)
            .await
            .map_err(|e| ApiError::unexpected(&e))?
            .ok_or_else(|| ApiError::new(404, "order_not_found", "no such order"))?
            .order)
    }

    /// `GET /admin/v1/orders?from&to&status&provider&channel&limit&cursor`: newest first, by the
    /// China day they were placed (the last 30 days up to today by default, at most 90).
    pub(crate) async fn orders_list(
        &self,
        req: &ApiRequest,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let param = |name: &str| req.query_param(name).filter(|v| !v.is_empty());
        if let Some(tail) = param("phone4") {
            return self.orders_by_phone_tail(req, tail).await;
        }
        let app::reports::DayRange { from, to, days } =
            super::day_range(req, now, DEFAULT_LIST_DAYS, MAX_LIST_DAYS)?;
        let filter = order_filter(param("status"), param("provider"), param("channel"))?;
        let scope = format!(
            "orders|{from}|{to}|{}|{}|{}",
            param("status").unwrap_or(""),
            param("provider").unwrap_or(""),
            param("channel").unwrap_or("")
        );
        let after: Option<ListPosition> = self.cursors.position(req, &scope)?;
        let page = self
            .orders
            .payments
            .orders
            .placed_on(&days, &filter, after, api::page_limit(req)?)
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        let items = page
            .items
            .iter()
            .map(staff_view)
            .collect::<Result<Vec<_>, _>>()?;
        let mut answer = json!({"from": from, "to": to, "items": items});
        if let Some(next) = page.next {
            answer["nextCursor"] = json!(self.cursors.seal(&scope, &next));
        }
        Ok(api::json(200, &answer))
    }

    /// `GET /admin/v1/orders?phone4=5678`: orders whose receiver's phone ends so, newest first,
    /// found through the keyed hash of the four digits.
    async fn orders_by_phone_tail(
        &self,
        req: &ApiRequest,
        tail: &str,
    ) -> Result<ApiResponse, ApiError> {
        if tail.len() != 4 || !tail.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::invalid_field(
                "phone4",
                "must be the phone's last 4 digits",
            ));
        }
        let scope = format!("orders|phone4|{tail}");
        let after: Option<ListPosition> = self.cursors.position(req, &scope)?;
        let page = self
            .orders
            .payments
            .orders
            .with_phone_tail(tail, after, api::page_limit(req)?)
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        let items = page
            .items
            .iter()
            .map(staff_view)
            .collect::<Result<Vec<_>, _>>()?;
        let mut answer = json!({"phone4": tail, "items": items});
        if let Some(next) = page.next {
            answer["nextCursor"] = json!(self.cursors.seal(&scope, &next));
        }
        Ok(api::json(200, &answer))
    }

    /// `GET /admin/v1/orders/{id}`: the order with its timeline, payment, refunds (with the
    /// shopper's photos), shipments and their tracking, WeChat's shipping information and the
    /// staff's notes; the receiver masked.
    pub(crate) async fn order_detail(
        &self,
        req: &ApiRequest,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let id = order_id(req)?;
        let order = self.stored(&id).await?;
        let orders = &self.orders.payments.orders;
        let unexpected = |e: store::StoreError| ApiError::unexpected(&e);
        let mut refunds = Vec::new();
        for refund in orders.refunds_of(&id).await.map_err(unexpected)? {
            refunds.push(
                app::after_sales::shown(&self.media, &refund, now)
                    .await
                    .map_err(|e| ApiError::unexpected(&e))?,
            );
        }
        let mut parcels = Vec::new();
        for summary in order.shipment.iter().chain(order.return_shipment.iter()) {
            if let Some(shipment) = self
                .shipments
                .shipment(&summary.number)
                .await
                .map_err(unexpected)?
            {
                parcels.push(json!({
                    "direction": shipment.direction,
                    "company": shipment.company,
                    "number": shipment.number,
                    "warehouseId": shipment.warehouse_id,
                    "state": shipment.state_code.map(domain::logistics::state_name),
                    "deliveredAt": shipment.delivered_at,
                    "exception": shipment.exception,
                    "events": shipment.timeline,
                }));
            }
        }
        let notes = orders.notes(&id).await.map_err(unexpected)?;
        let mut view = staff_view(&order)?;
        view["payment"] = json!({
            "provider": order.provider,
            "transactionId": order.transaction_id,
            "paidAt": order.paid_at,
            "total": order.total,
            "refundedAmount": order.refunded_amount,
        });
        view["refunds"] = json!(refunds);
        view["parcels"] = json!(parcels);
        view["notes"] = json!(notes);
        Ok(api::json(200, &view))
    }

    /// `POST /admin/v1/orders/{id}/notes {text}`.
    pub(crate) async fn add_order_note(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        #[derive(Deserialize)]
        struct Note {
            text: Option<String>,
        }
        let id = order_id(req)?;
        let body: Note = req.json_body()?;
        let text = domain::order::note_text(body.text.as_deref())?;
        let note = self
            .orders
            .add_note(&id, text, &actor(req, caller), now)
            .await?;
        Ok(api::json(201, &note))
    }

    /// `POST /admin/v1/orders/{id}/ship {company, number}`: shipped by hand.
    pub(crate) async fn ship_order(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let id = order_id(req)?;
        let body: Value = req.json_body()?;
        let waybill = domain::logistics::WaybillInput::parse(
            body.get("company").and_then(Value::as_str),
            body.get("number").and_then(Value::as_str),
            true,
        )?;
        let order = self
            .orders
            .ship_manually(&id, &waybill, &actor(req, caller), now)
            .await?;
        Ok(api::json(200, &staff_view(&order)?))
    }

    /// `POST /admin/v1/orders/{id}/cancel {reason?}`: an unpaid order, released exactly once.
    pub(crate) async fn cancel_order(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let id = order_id(req)?;
        #[derive(Deserialize, Default)]
        struct Cancel {
            reason: Option<String>,
        }
        let body: Cancel = req.json_body_or_default()?;
        let reason = body
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|r| r.chars().take(80).collect::<String>());
        let order = self.stored(&id).await?;
        let cancelled = self
            .orders
            .cancel_unpaid(
                &order,
                reason.as_deref().unwrap_or("cancelled by the shop"),
                Some(&actor(req, caller)),
                now,
            )
            .await?;
        Ok(api::json(200, &staff_view(&cancelled)?))
    }

    /// `POST /admin/v1/orders/{id}/receiver`: the receiver in full, for a staff member who may
    /// see it and entered a code within five minutes; each reveal is an audit record.
    pub(crate) async fn reveal_receiver(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        caller.require_step_up(now)?;
        let id = order_id(req)?;
        let order = self.stored(&id).await?;
        let masked = masked_receiver(&order.address);
        let entry = actor(req, caller).entry(
            "receiver.reveal",
            format!("order:{id}"),
            json!(null),
            json!({"phone": masked.phone, "name": masked.name}),
            now,
        );
        self.desk
            .audit
            .commit(Vec::new(), entry)
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        tracing::info!(order_id = %id, by = %caller.staff_id, "receiver revealed");
        Ok(api::json(
            200,
            &json!({"orderId": id, "address": order.address}),
        ))
    }
}
