//! `fulfillment`: ships paid orders (SQS, at least once).
//!
//! For each `order.paid`: claim the order (so racing redeliveries ask the courier for one
//! waybill), pick the warehouse by the address's province, get the waybill and subscribe it to
//! tracking, then write the shipment and `PAID -> SHIPPED` in one transaction, and tell the
//! shopper with a subscribe message (a failed notice is logged, never fails the order). A
//! redelivered message finds the order SHIPPED and does nothing; a message that can never work
//! (not JSON, no such order) fails alone and reaches the DLQ after five receives.
//!
//! A shipped WeChat Pay order then has its shipping information uploaded to WeChat
//! (`shipping.upload`, through this queue so WeChat never holds up shipping): once per
//! waybill, claimed so duplicate messages call WeChat once, retried with a growing delay while
//! WeChat is busy or has not indexed the payment (10060001), and recorded on the order
//! (`shippingUpload`: PENDING, UPLOADED, or FAILED with WeChat's errcode).

use app::wechat::{AccessTokenError, access_token};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use domain::clock::now_epoch_seconds;
use domain::ids::GroupId;
use domain::ids::OrderId;
use domain::logistics::{Direction, Shipment, choose_warehouse};
use domain::order::OrderStatus;
use domain::order::{ShippingUpload, UploadState};
use domain::shipping_info::{self, UploadPlan};
use domain::social::GroupStatus;
use edge::runtime::{Clients, QueueFunction, each_message};
use providers::kuaidi100::{Courier, Kuaidi100, Waybill, WaybillRequest};
use providers::wechat::{WeChatApi, WeChatError};
use serde_json::json;
use settings::{ConfigError, Settings};
use std::sync::Arc;
use store::orders::{OrderStore, StoredOrder, Transition};
use store::queue::{DeadlineMessage, FulfillmentMessage, Queue};
use store::shipments::{ShipClaim, ShipmentStore};
use store::shopping::ShoppingStore;
use store::social::{GroupStep, SocialStore};
use store::users::UserStore;

pub struct Fulfillment {
    metrics: telemetry::metrics::Metrics,
    orders: OrderStore,
    orders_table: String,
    social: SocialStore,
    fulfillment: Queue,
    deadlines: Queue,
    shipments: ShipmentStore,
    courier: Arc<dyn Courier>,
    wechat: WeChatApi,
    users: UserStore,
    /// The carts paid orders were placed from: their bought lines leave them.
    shopping: ShoppingStore,
    /// The subscribe-message template for "order shipped"; no notices without one.
    shipped_template: Option<String>,
}

/// Tries of one shipping upload before it is recorded FAILED (about an hour of backoff).
const MAX_UPLOAD_ATTEMPTS: u32 = 10;
/// A WeChat Pay order without shipping information this long after it ships (or fails to)
/// raises an alert; WeChat itself reminds at 48 hours.
const SHIPPING_CHECK_SECONDS: i64 = 24 * 60 * 60;

/// The first `max` characters: WeChat's `thing` fields take 20.
fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

impl Fulfillment {
    pub fn new(settings: &Settings, clients: &Clients) -> Result<Self, ConfigError> {
        let dynamodb = clients.dynamodb.clone();
        let orders_table = settings.required("ORDERS_TABLE")?;
        let catalog_table = settings.required("CATALOG_TABLE")?;
        Ok(Self {
            metrics: clients.metrics("fulfillment"),
            // The courier's label needs the receiver: this function opens, never seals.
            orders: OrderStore::new(dynamodb.clone(), &orders_table, &catalog_table, "", "")
                .with_personal_data(clients.personal_data(settings)?),
            orders_table: orders_table.clone(),
            social: SocialStore::new(dynamodb.clone(), settings.required("MARKETING_TABLE")?),
            fulfillment: Queue::new(
                clients.sqs.clone(),
                settings.required("FULFILLMENT_QUEUE_URL")?,
            ),
            deadlines: Queue::new(
                clients.sqs.clone(),
                settings.required("DEADLINES_QUEUE_URL")?,
            ),
            shipments: ShipmentStore::new(dynamodb.clone(), &orders_table, &catalog_table),
            courier: Arc::new(Kuaidi100::new(settings, clients.http())?),
            wechat: WeChatApi::new(settings, clients.http())?,
            shopping: ShoppingStore::new(dynamodb.clone(), settings.required("SHOPPING_TABLE")?),
            users: UserStore::new(dynamodb, settings.required("USERS_TABLE")?),
            shipped_template: settings
                .get("WECHAT_SHIPPED_TEMPLATE_ID")
                .filter(|t| !t.trim().is_empty()),
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        let (settings, clients) = edge::runtime::from_env().await?;
        Self::new(&settings, &clients)
    }

    async fn process(&self, message: &SqsMessage) -> Result<(), String> {
        let body = message.body.as_deref().unwrap_or("");
        let parsed: FulfillmentMessage = serde_json::from_str(body)
            .map_err(|e| format!("poison message (not a fulfillment message): {e}"))?;
        match parsed {
            FulfillmentMessage::OrderPaid { order_id, .. } => self.ship(&order_id).await,
            FulfillmentMessage::GroupCompleted { group_id } => self.ship_group(&group_id).await,
            FulfillmentMessage::ReturnRegistered {
                order_id,
                company,
                number,
            } => self.track_return(&order_id, company, number).await,
            FulfillmentMessage::ShippingUpload { order_id, attempt } => {
                self.upload_shipping(&order_id, attempt).await
            }
            FulfillmentMessage::ShippedByHand { order_id, number } => {
                self.shipped_by_hand(&order_id, &number).await
            }
            FulfillmentMessage::ReceiptNotify {
                order_id,
                received_at,
                attempt,
            } => self.notify_receipt(&order_id, received_at, attempt).await,
        }
    }

    /// The order a message names; one that does not exist can never be handled (poison).
    async fn order(&self, order_id: &OrderId) -> Result<StoredOrder, String> {
        self.orders
            .get(order_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("poison message: order {order_id} does not exist"))
    }

    /// Queues the order's shipping upload (`attempt` tries so far) after `delay` seconds.
    async fn queue_upload(
        &self,
        order_id: &OrderId,
        attempt: u32,
        delay: u32,
    ) -> Result<(), String> {
        self.fulfillment
            .send(
                &FulfillmentMessage::ShippingUpload {
                    order_id: order_id.clone(),
                    attempt,
                },
                i64::from(delay),
            )
            .await
            .map_err(|e| format!("queueing the shipping upload: {e}"))
    }

    /// Uploads the order's shipping information to WeChat, as the module comment says.
    async fn upload_shipping(&self, order_id: &OrderId, attempt: u32) -> Result<(), String> {
        let stored = self.order(order_id).await?;
        let Some(shipment) = stored.order.shipment.clone() else {
            return Err(format!("order {order_id} has no shipment to upload yet"));
        };
        let now = now_epoch_seconds();
        match shipping_info::plan(&stored.order, &shipment.number, now) {
            UploadPlan::Nothing | UploadPlan::Failed => return Ok(()),
            UploadPlan::NoUploadsLeft => {
                tracing::warn!(order_id = %order_id, number = %shipment.number, "the waybill changed after WeChat's one re-upload: correct it in WeChat's merchant platform");
                return Ok(());
            }
            // Its worker finishes it, or its claim lapses and a redelivery takes over.
            UploadPlan::Claimed => {
                return Err(format!(
                    "order {order_id}'s upload is claimed by another worker"
                ));
            }
            UploadPlan::Upload => {}
        }
        let read = stored.order.shipping_upload.clone();
        let base = read.clone().unwrap_or(ShippingUpload {
            state: UploadState::Pending,
            tracking_no: None,
            uploads: 0,
            attempts: 0,
            errcode: None,
            uploaded_at: None,
            claimed_until: None,
            receipt_notified_at: None,
            version: 0,
        });
        let claimed = ShippingUpload {
            state: UploadState::Pending,
            attempts: attempt + 1,
            claimed_until: Some(now + 30),
            ..base.clone()
        };
        if !self
            .shipments
            .swap_upload(order_id, read.as_ref(), &claimed)
            .await
            .map_err(|e| e.to_string())?
        {
            return Err(format!(
                "order {order_id}'s upload moved on while claiming it; rereading"
            ));
        }
        let claimed = ShippingUpload {
            version: read.as_ref().map_or(1, |r| r.version + 1),
            ..claimed
        };
        let settle = |state: UploadState, errcode: Option<i64>| ShippingUpload {
            state,
            errcode,
            claimed_until: None,
            ..claimed.clone()
        };
        let body = shipping_info::upload_body(
            &stored.order,
            stored.payer().as_deref().unwrap_or(""),
            &shipment.company,
            &shipment.number,
            &domain::clock::rfc3339_shanghai(now),
        );
        let outcome = match body {
            Err(refused) => {
                tracing::error!(order_id = %order_id, problem = %refused, "shipping information cannot be uploaded");
                return self
                    .finish_upload(order_id, &claimed, &settle(UploadState::Failed, None))
                    .await;
            }
            Ok(body) => match access_token(&self.wechat, &self.users, now).await {
                Ok(token) => self.wechat.upload_shipping_info(&token, &body).await,
                Err(AccessTokenError::WeChat(err)) => Err(err),
                Err(AccessTokenError::Store(err)) => return Err(err.to_string()),
            },
        };
        match outcome {
            Ok(()) => {
                tracing::info!(order_id = %order_id, number = %shipment.number, "shipping information uploaded to WeChat");
                let uploaded = ShippingUpload {
                    tracking_no: Some(shipment.number.clone()),
                    uploads: claimed.uploads + 1,
                    attempts: 0,
                    uploaded_at: Some(now),
                    ..settle(UploadState::Uploaded, None)
                };
                self.finish_upload(order_id, &claimed, &uploaded).await
            }
            Err(err) => {
                let errcode = match &err {
                    WeChatError::Refused { errcode, .. }
                    | WeChatError::InvalidAccessToken(errcode) => Some(*errcode),
                    _ => None,
                };
                let again = matches!(err, WeChatError::Unavailable(_) | WeChatError::RateLimited)
                    || errcode.is_some_and(shipping_info::retryable);
                if again && claimed.attempts < MAX_UPLOAD_ATTEMPTS {
                    tracing::warn!(order_id = %order_id, error = %err, attempt = claimed.attempts, "WeChat could not take the shipping information yet; retrying");
                    self.finish_upload(order_id, &claimed, &settle(UploadState::Pending, errcode))
                        .await?;
                    return self
                        .queue_upload(
                            order_id,
                            claimed.attempts,
                            shipping_info::retry_delay_seconds(claimed.attempts),
                        )
                        .await;
                }
                tracing::error!(order_id = %order_id, error = %err, "WeChat refused the shipping information: the merchant must upload it by hand");
                self.finish_upload(order_id, &claimed, &settle(UploadState::Failed, errcode))
                    .await
            }
        }
    }

    /// Tells WeChat the courier delivered an uploaded order (`notify_confirm_receive`), once:
    /// claimed like an upload, recorded as `receiptNotifiedAt`. An upload still on its way is
    /// waited for; an order WeChat itself saw confirmed needs nothing.
    async fn notify_receipt(
        &self,
        order_id: &OrderId,
        received_at: i64,
        attempt: u32,
    ) -> Result<(), String> {
        let stored = self.order(order_id).await?;
        let order = &stored.order;
        let (Some(upload), Some(transaction_id)) = (&order.shipping_upload, &order.transaction_id)
        else {
            return Ok(());
        };
        if upload.receipt_notified_at.is_some() || order.confirmed_received_at.is_some() {
            return Ok(());
        }
        let now = now_epoch_seconds();
        let again = |attempt: u32| FulfillmentMessage::ReceiptNotify {
            order_id: order_id.clone(),
            received_at,
            attempt,
        };
        let busy = upload.claimed_until.is_some_and(|until| until > now);
        if busy || upload.state == UploadState::Pending {
            if attempt >= MAX_UPLOAD_ATTEMPTS {
                tracing::warn!(order_id = %order_id, "WeChat was never told of the delivery: the upload did not finish");
                return Ok(());
            }
            return self
                .fulfillment
                .send(
                    &again(attempt + 1),
                    i64::from(shipping_info::retry_delay_seconds(attempt + 1)),
                )
                .await
                .map_err(|e| e.to_string());
        }
        if upload.state != UploadState::Uploaded {
            tracing::warn!(order_id = %order_id, "delivered, but its shipping information never reached WeChat");
            return Ok(());
        }
        let claimed = ShippingUpload {
            claimed_until: Some(now + 30),
            ..upload.clone()
        };
        if !self
            .shipments
            .swap_upload(order_id, Some(upload), &claimed)
            .await
            .map_err(|e| e.to_string())?
        {
            return Err(format!(
                "order {order_id}'s upload moved on while claiming it; rereading"
            ));
        }
        let claimed = ShippingUpload {
            version: upload.version + 1,
            ..claimed
        };
        let told = match access_token(&self.wechat, &self.users, now).await {
            Ok(token) => {
                self.wechat
                    .notify_confirm_receive(&token, transaction_id, received_at)
                    .await
            }
            Err(AccessTokenError::WeChat(err)) => Err(err),
            Err(AccessTokenError::Store(err)) => return Err(err.to_string()),
        };
        let released = ShippingUpload {
            claimed_until: None,
            ..claimed.clone()
        };
        match told {
            Ok(()) => {
                tracing::info!(order_id = %order_id, "WeChat told the order was received");
                let notified = ShippingUpload {
                    receipt_notified_at: Some(now),
                    ..released
                };
                self.finish_upload(order_id, &claimed, &notified).await
            }
            Err(err) => {
                let retry = matches!(err, WeChatError::Unavailable(_) | WeChatError::RateLimited)
                    || matches!(&err, WeChatError::Refused { errcode, .. } | WeChatError::InvalidAccessToken(errcode) if shipping_info::retryable(*errcode));
                self.finish_upload(order_id, &claimed, &released).await?;
                if retry && attempt < MAX_UPLOAD_ATTEMPTS {
                    tracing::warn!(order_id = %order_id, error = %err, "WeChat could not take the receipt yet; retrying");
                    return self
                        .fulfillment
                        .send(
                            &again(attempt + 1),
                            i64::from(shipping_info::retry_delay_seconds(attempt + 1)),
                        )
                        .await
                        .map_err(|e| e.to_string());
                }
                tracing::error!(order_id = %order_id, error = %err, "WeChat refused the receipt notice");
                Ok(())
            }
        }
    }

    /// Records how the claimed upload ended; a claim lost in the meantime (it lapsed and
    /// another worker took over) leaves the record to that worker.
    async fn finish_upload(
        &self,
        order_id: &OrderId,
        claimed: &ShippingUpload,
        outcome: &ShippingUpload,
    ) -> Result<(), String> {
        let written = self
            .shipments
            .swap_upload(order_id, Some(claimed), outcome)
            .await
            .map_err(|e| e.to_string())?;
        if !written {
            tracing::warn!(order_id = %order_id, "the shipping upload's claim lapsed before its outcome was recorded");
        }
        Ok(())
    }

    /// A return parcel: its shipment (so the hook knows the number) and a tracking subscription.
    async fn track_return(
        &self,
        order_id: &OrderId,
        company: String,
        number: String,
    ) -> Result<(), String> {
        let stored = self.order(order_id).await?;
        let shipment = Shipment {
            order_id: order_id.clone(),
            direction: Direction::Return,
            user_id: stored.order.user_id.clone(),
            warehouse_id: "return".into(),
            company: company.clone(),
            number: number.clone(),
            state_code: None,
            timeline: Vec::new(),
            exception: None,
            created_at: now_epoch_seconds(),
            delivered_at: None,
            channel: None,
        };
        self.shipments
            .record_return(&shipment)
            .await
            .map_err(|e| e.to_string())?;
        self.courier
            .subscribe(&Waybill { company, number }, &stored.order.address.phone)
            .await
            .map_err(|e| format!("subscribing return waybill {}: {e}", shipment.number))?;
        tracing::info!(order_id = %order_id, number = %shipment.number, "return parcel tracked");
        Ok(())
    }

    async fn ship(&self, order_id: &OrderId) -> Result<(), String> {
        let stored = self.order(order_id).await?;
        self.leave_cart(&stored).await?;
        match stored.order.status {
            OrderStatus::Paid if let Some(group) = &stored.order.group_id => {
                return self.seat_paid(&stored.order, group).await;
            }
            OrderStatus::Paid => {}
            OrderStatus::WaitingGroup => {
                let group =
                    stored.order.group_id.as_ref().ok_or_else(|| {
                        format!("order {order_id} waits for a group but names none")
                    })?;
                let status = self
                    .social
                    .group(group)
                    .await
                    .map_err(|e| e.to_string())?
                    .map(|g| g.status);
                if status != Some(GroupStatus::Completed) {
                    tracing::info!(order_id = %order_id, group_id = %group, "waiting for the group");
                    return Ok(());
                }
            }
            OrderStatus::PendingPayment => {
                return Err(format!("order {order_id} is not paid yet; retrying later"));
            }
            // Shipped already: a redelivery after a crash between shipping and queueing the
            // upload queues it now (the upload does nothing when it is done).
            OrderStatus::Shipped => {
                tracing::info!(order_id = %order_id, "shipped already");
                return self.queue_upload_if_needed(&stored, 0).await;
            }
            status => {
                tracing::info!(order_id = %order_id, status = status.as_str(), "nothing to ship");
                return Ok(());
            }
        }
        let now = now_epoch_seconds();
        if self
            .shipments
            .claim_shipping(order_id, now)
            .await
            .map_err(|e| e.to_string())?
            == ShipClaim::NotOurs
        {
            // Another delivery of this message is creating the waybill; this one checks back.
            return Err(format!(
                "order {order_id} is being shipped by another worker"
            ));
        }
        if stored.order.provider == domain::payment::Provider::Wechat {
            // WeChat holds the funds until it has the shipping information: a day from now,
            // an order still without it raises an alert.
            let due_at = now + SHIPPING_CHECK_SECONDS;
            self.deadlines
                .send(
                    &DeadlineMessage::ShippingCheck {
                        order_id: order_id.clone(),
                        due_at,
                    },
                    store::queue::MAX_DELAY_SECONDS,
                )
                .await
                .map_err(|e| e.to_string())?;
        }
        let warehouses = self
            .shipments
            .warehouses()
            .await
            .map_err(|e| e.to_string())?;
        let address = &stored.order.address;
        let warehouse = choose_warehouse(&warehouses, &address.province).ok_or_else(|| {
            format!(
                "no warehouse serves {} and none is the default: add one with `shopctl warehouse set`",
                address.province
            )
        })?;
        let cargo = stored
            .order
            .lines
            .first()
            .map(|l| l.title.clone())
            .unwrap_or_else(|| "商品".into());
        let recipient_address = format!(
            "{}{}{}{}",
            address.province, address.city, address.district, address.detail
        );
        let waybill = self
            .courier
            .create_waybill(&WaybillRequest {
                order_id: order_id.as_str(),
                company: &warehouse.courier,
                sender_name: &warehouse.sender_name,
                sender_phone: &warehouse.sender_phone,
                sender_address: &warehouse.sender_address,
                recipient_name: &address.name,
                recipient_phone: &address.phone,
                recipient_address: &recipient_address,
                cargo: &clip(&cargo, 20),
            })
            .await
            .map_err(|e| format!("creating the waybill: {e}"))?;
        self.courier
            .subscribe(&waybill, &address.phone)
            .await
            .map_err(|e| format!("subscribing waybill {} to tracking: {e}", waybill.number))?;
        let shipment = Shipment::outgoing(
            &stored.order,
            &warehouse.id,
            &waybill.company,
            &waybill.number,
            now,
        );
        let transition = self
            .shipments
            .record_shipment(&shipment, now)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(order_id = %order_id, warehouse = %warehouse.id, company = %waybill.company, number = %waybill.number, ?transition, "order shipped");
        if transition == Transition::Done {
            self.announce_shipped(&stored, &shipment, now).await;
        }
        if stored.order.provider == domain::payment::Provider::Wechat {
            self.queue_upload(order_id, 0, 0).await?;
        }
        Ok(())
    }

    /// What follows a shipment staff made by hand, as it follows one of our own waybills:
    /// tracking, WeChat's day-long check and shipping information, then (once per waybill)
    /// the metric and the shopper's notice.
    async fn shipped_by_hand(&self, order_id: &OrderId, number: &str) -> Result<(), String> {
        let stored = self.order(order_id).await?;
        if stored
            .order
            .shipment
            .as_ref()
            .is_none_or(|s| s.number != number)
        {
            tracing::info!(order_id = %order_id, number, "no longer shipped under this waybill");
            return Ok(());
        }
        let shipment = self
            .shipments
            .shipment(number)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("poison message: waybill {number} is not recorded"))?;
        let waybill = Waybill {
            company: shipment.company.clone(),
            number: shipment.number.clone(),
        };
        // Best effort: a number Kuaidi100 does not know is for the staff member to check.
        if let Err(err) = self
            .courier
            .subscribe(&waybill, &stored.order.address.phone)
            .await
        {
            tracing::warn!(order_id = %order_id, number, problem = %err, "waybill shipped by hand is not tracked");
        }
        let now = now_epoch_seconds();
        if stored.order.provider == domain::payment::Provider::Wechat {
            self.deadlines
                .send(
                    &DeadlineMessage::ShippingCheck {
                        order_id: order_id.clone(),
                        due_at: now + SHIPPING_CHECK_SECONDS,
                    },
                    store::queue::MAX_DELAY_SECONDS,
                )
                .await
                .map_err(|e| e.to_string())?;
            self.queue_upload(order_id, 0, 0).await?;
        }
        if self
            .shipments
            .claim_shipped_notice(order_id, number)
            .await
            .map_err(|e| e.to_string())?
        {
            self.announce_shipped(&stored, &shipment, now).await;
        }
        Ok(())
    }

    /// Queues the upload of a shipped order whose shipping information WeChat lacks.
    /// A paid order placed from the cart takes its lines out of it (once, however often
    /// `order.paid` arrives); an unpaid or cancelled one leaves the cart as it was.
    async fn leave_cart(&self, stored: &StoredOrder) -> Result<(), String> {
        let order = &stored.order;
        if !order.from_cart || !order.status.is_paid_or_beyond() {
            return Ok(());
        }
        let bought: Vec<_> = order
            .lines
            .iter()
            .map(|l| (l.sku_id.clone(), l.quantity.get()))
            .collect();
        self.shopping
            .take_bought(&order.user_id, &order.id, order.created_at, &bought)
            .await
            .map_err(|e| e.to_string())
    }

    async fn queue_upload_if_needed(&self, stored: &StoredOrder, delay: u32) -> Result<(), String> {
        let Some(shipment) = &stored.order.shipment else {
            return Ok(());
        };
        match shipping_info::plan(&stored.order, &shipment.number, now_epoch_seconds()) {
            UploadPlan::Upload => self.queue_upload(&stored.order.id, 0, delay).await,
            _ => Ok(()),
        }
    }

    /// A paid group-buy seat: the order waits for its group, and the payment that fills the
    /// group completes it (`group.completed` ships everyone). The leader's payment opens the
    /// group, whose expiry is scheduled first. A payment too late for its group goes to the
    /// group's expiry, which refunds every paid member.
    async fn seat_paid(
        &self,
        order: &domain::order::Order,
        group_id: &GroupId,
    ) -> Result<(), String> {
        let now = now_epoch_seconds();
        if order.group_leader
            && let Some(group) = self
                .social
                .group(group_id)
                .await
                .map_err(|e| e.to_string())?
            && group.status == GroupStatus::AwaitingLeader
        {
            let due_at = now + i64::from(group.time_limit_hours) * 3600;
            let expiry = DeadlineMessage::GroupExpire {
                group_id: group_id.clone(),
                due_at,
            };
            self.deadlines
                .send(&expiry, due_at - now)
                .await
                .map_err(|e| e.to_string())?;
        }
        let step = self
            .social
            .seat_paid(&self.orders_table, order, now)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(order_id = %order.id, group_id = %group_id, ?step, "group seat paid");
        match step {
            GroupStep::Waiting => Ok(()),
            // A redelivery after the group filled finds the order waiting: `ship` sends it on.
            GroupStep::Completed | GroupStep::OrderMoved => self.group_completed(group_id).await,
            GroupStep::TooLate => {
                let expiry = DeadlineMessage::GroupExpire {
                    group_id: group_id.clone(),
                    due_at: now,
                };
                self.deadlines
                    .send(&expiry, 0)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Tells this queue the group is complete, if it is: its members' orders ship from there.
    async fn group_completed(&self, group_id: &GroupId) -> Result<(), String> {
        let complete = self
            .social
            .group(group_id)
            .await
            .map_err(|e| e.to_string())?
            .is_some_and(|g| g.status == GroupStatus::Completed);
        if complete {
            let message = FulfillmentMessage::GroupCompleted {
                group_id: group_id.clone(),
            };
            self.fulfillment
                .send(&message, 0)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Ships every paid member's order of a completed group; each order ships once (by status),
    /// so a redelivered message, or one racing a member's own `order.paid`, ships nothing twice.
    async fn ship_group(&self, group_id: &GroupId) -> Result<(), String> {
        let members = self
            .social
            .members(group_id)
            .await
            .map_err(|e| e.to_string())?;
        let mut failures = Vec::new();
        for member in members.iter().filter(|m| m.paid) {
            if let Err(e) = self.ship(&member.order_id).await {
                failures.push(e);
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }

    /// Tells the shopper the parcel is on its way. Never fails the order: a notice that does not
    /// go out is logged and left.
    /// An order's shipment counted (the funnel's shipped step) and told to its shopper: once
    /// per shipment, the callers' transitions and claims see to that.
    async fn announce_shipped(&self, stored: &StoredOrder, shipment: &Shipment, now: i64) {
        self.metrics.event(
            telemetry::metrics::BusinessEvent::Shipped,
            &telemetry::metrics::Facts {
                channel: stored.order.channel.as_deref(),
                ..Default::default()
            },
        );
        self.notify_shipped(stored, shipment, now).await;
    }

    async fn notify_shipped(&self, stored: &StoredOrder, shipment: &Shipment, now: i64) {
        let (Some(template), Some(openid)) = (&self.shipped_template, &stored.openid) else {
            return;
        };
        let title = stored
            .order
            .lines
            .first()
            .map_or("商品", |l| l.title.as_str());
        let data = json!({
            "character_string1": {"value": stored.order.id.as_str()},
            "thing2": {"value": clip(title, 20)},
            "thing3": {"value": clip(&shipment.company, 20)},
            "character_string4": {"value": shipment.number},
        });
        let page = format!("/pages/order/detail?id={}", stored.order.id);
        let sent = match access_token(&self.wechat, &self.users, now).await {
            Ok(token) => self
                .wechat
                .send_subscribe_message(&token, openid, template, &page, &data)
                .await
                .map_err(AccessTokenError::from),
            Err(e) => Err(e),
        };
        if let Err(err) = sent {
            tracing::warn!(order_id = %stored.order.id, problem = %err, "shipped notice not sent");
        }
    }
}

#[async_trait::async_trait]
impl QueueFunction for Fulfillment {
    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        each_message(&event, |m| self.process(m)).await
    }
}
