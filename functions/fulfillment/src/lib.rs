//! `fulfillment`: ships paid orders (SQS, at least once).
//!
//! For each `order.paid`: claim the order (so racing redeliveries ask the courier for one
//! waybill), pick the warehouse by the address's province, get the waybill and subscribe it to
//! tracking, then write the shipment and `PAID -> SHIPPED` in one transaction, and tell the
//! shopper with a subscribe message (a failed notice is logged, never fails the order). A
//! redelivered message finds the order SHIPPED and does nothing; a message that can never work
//! (not JSON, no such order) fails alone and reaches the DLQ after five receives.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use serde_json::json;
use shared::clock::now_epoch_seconds;
use shared::config::{ConfigError, Settings};
use shared::kuaidi100::{Courier, Kuaidi100, Waybill, WaybillRequest};
use shared::logistics::{Direction, Shipment, choose_warehouse};
use shared::order::{OrderId, OrderStatus};
use shared::queue::FulfillmentMessage;
use shared::runtime::{Clients, QueueFunction, each_message};
use shared::store::orders::{OrderStore, StoredOrder, Transition};
use shared::store::shipments::{ShipClaim, ShipmentStore};
use shared::store::users::UserStore;
use shared::wechat::{WeChatApi, access_token};
use std::sync::Arc;

pub struct Fulfillment {
    orders: OrderStore,
    shipments: ShipmentStore,
    courier: Arc<dyn Courier>,
    wechat: WeChatApi,
    users: UserStore,
    /// The subscribe-message template for "order shipped"; no notices without one.
    shipped_template: Option<String>,
}

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
            orders: OrderStore::new(dynamodb.clone(), &orders_table, &catalog_table, "", ""),
            shipments: ShipmentStore::new(dynamodb.clone(), &orders_table, &catalog_table),
            courier: Arc::new(Kuaidi100::new(settings, clients.http())?),
            wechat: WeChatApi::new(settings, clients.http())?,
            users: UserStore::new(dynamodb, settings.required("USERS_TABLE")?),
            shipped_template: settings
                .get("WECHAT_SHIPPED_TEMPLATE_ID")
                .filter(|t| !t.trim().is_empty()),
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::new(&Settings::from_process_env(), &Clients::from_env().await)
    }

    async fn process(&self, message: &SqsMessage) -> Result<(), String> {
        let body = message.body.as_deref().unwrap_or("");
        let parsed: FulfillmentMessage = serde_json::from_str(body)
            .map_err(|e| format!("poison message (not a fulfillment message): {e}"))?;
        match parsed {
            FulfillmentMessage::OrderPaid { order_id, .. } => self.ship(&order_id).await,
            FulfillmentMessage::ReturnRegistered {
                order_id,
                company,
                number,
            } => self.track_return(&order_id, company, number).await,
        }
    }

    /// A return parcel: its shipment (so the hook knows the number) and a tracking subscription.
    async fn track_return(
        &self,
        order_id: &OrderId,
        company: String,
        number: String,
    ) -> Result<(), String> {
        let stored = self
            .orders
            .get(order_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("poison message: order {order_id} does not exist"))?;
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
        let stored = self
            .orders
            .get(order_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("poison message: order {order_id} does not exist"))?;
        match stored.order.status {
            OrderStatus::Paid => {}
            OrderStatus::PendingPayment => {
                return Err(format!("order {order_id} is not paid yet; retrying later"));
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
        let shipment = Shipment {
            order_id: order_id.clone(),
            direction: Direction::ToShopper,
            user_id: stored.order.user_id.clone(),
            warehouse_id: warehouse.id.clone(),
            company: waybill.company.clone(),
            number: waybill.number.clone(),
            state_code: None,
            timeline: Vec::new(),
            exception: None,
            created_at: now,
            delivered_at: None,
        };
        let transition = self
            .shipments
            .record_shipment(&shipment, now)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(order_id = %order_id, warehouse = %warehouse.id, company = %waybill.company, number = %waybill.number, ?transition, "order shipped");
        if transition == Transition::Done {
            self.notify_shipped(&stored, &shipment, now).await;
        }
        Ok(())
    }

    /// Tells the shopper the parcel is on its way. Never fails the order: a notice that does not
    /// go out is logged and left.
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
            Ok(token) => {
                self.wechat
                    .send_subscribe_message(&token, openid, template, &page, &data)
                    .await
            }
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
