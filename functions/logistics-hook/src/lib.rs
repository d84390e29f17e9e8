//! `logistics-hook`: Kuaidi100's tracking pushes.
//!
//! Route: `POST /v1/logistics/kuaidi100/notify` (form fields `param`, `sign`). The sign is
//! checked before anything in the push is read; each push carries the whole history, merged into
//! the shipment's timeline once per event; the order only moves forward (`SHIPPED -> DELIVERED`
//! when signed for), and a delivered parcel sends `order.delivered` to the deadlines queue, which
//! awards the points and later completes the order. Two DynamoDB calls per push.

use domain::clock::now_epoch_seconds;
use domain::logistics::{Direction, PushError, read_push};
use edge::api::{self, ApiError, ApiRequest, ApiResponse, RequestExt, form_fields};
use edge::runtime::{Clients, HttpFunction, respond};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use settings::{ConfigError, Settings};
use store::queue::{DeadlineMessage, Queue};
use store::shipments::{Applied, ShipmentStore};

pub struct LogisticsHook {
    metrics: telemetry::metrics::Metrics,
    shipments: ShipmentStore,
    deadlines: Queue,
    salt: SecretString,
}

/// The answer Kuaidi100 reads: `result` true once the push is stored.
fn answer(status: u16, stored: bool, message: &str) -> ApiResponse {
    api::json(
        status,
        &json!({"result": stored, "returnCode": status.to_string(), "message": message}),
    )
}

impl LogisticsHook {
    pub fn new(settings: &Settings, clients: &Clients) -> Result<Self, ConfigError> {
        Ok(Self {
            metrics: clients.metrics("logistics-hook"),
            shipments: ShipmentStore::new(
                clients.dynamodb.clone(),
                settings.required("ORDERS_TABLE")?,
                settings.get("CATALOG_TABLE").unwrap_or_default(),
            ),
            deadlines: Queue::new(
                clients.sqs.clone(),
                settings.required("DEADLINES_QUEUE_URL")?,
            ),
            salt: settings.secret("KUAIDI100_SALT")?,
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        let (settings, clients) = edge::runtime::from_env().await?;
        Self::new(&settings, &clients)
    }

    async fn kuaidi100(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let raw = req.body_bytes()?;
        let Some(fields) = form_fields(raw) else {
            return Ok(answer(400, false, "the body is not a form"));
        };
        let field = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let (Some(param), Some(sign)) = (field("param"), field("sign")) else {
            return Ok(answer(400, false, "param and sign are required"));
        };
        let report = match read_push(param, sign, self.salt.expose_secret()) {
            Ok(report) => report,
            Err(PushError::BadSign) => {
                tracing::warn!("courier push with a wrong sign refused");
                return Ok(answer(401, false, "sign does not match"));
            }
            Err(err @ PushError::Invalid { .. }) => {
                return Ok(answer(400, false, &err.to_string()));
            }
        };
        let now = now_epoch_seconds();
        match self
            .shipments
            .apply_report(&report, now)
            .await
            .map_err(|e| ApiError::unexpected(&e))?
        {
            Applied::UnknownWaybill => {
                tracing::warn!(number = %report.number, "push for a waybill we never issued");
                Ok(answer(404, false, "unknown waybill"))
            }
            Applied::Applied {
                shipment,
                effect,
                order_delivered,
            } => {
                if effect.exception_raised {
                    tracing::warn!(order_id = %shipment.order_id, number = %shipment.number, state = ?shipment.exception, "parcel needs the merchant");
                }
                if let Some(delivered_at) = shipment.delivered_at
                    && shipment.direction == Direction::ToShopper
                {
                    // Sent on every push that finds it delivered: a crash after the write above
                    // loses nothing, and the consumer counts it once.
                    let message = DeadlineMessage::OrderDelivered {
                        order_id: shipment.order_id.clone(),
                        delivered_at,
                    };
                    self.deadlines
                        .send(&message, 0)
                        .await
                        .map_err(|e| ApiError::unexpected(&e))?;
                }
                if order_delivered {
                    self.metrics.event(
                        telemetry::metrics::BusinessEvent::Delivered,
                        &telemetry::metrics::Facts {
                            channel: shipment.channel.as_deref(),
                            ..Default::default()
                        },
                    );
                }
                tracing::info!(order_id = %shipment.order_id, events_added = effect.events_added, order_delivered, "tracking stored");
                Ok(answer(200, true, "成功"))
            }
        }
    }
}

#[async_trait::async_trait]
impl HttpFunction for LogisticsHook {
    async fn handle(&self, req: ApiRequest) -> ApiResponse {
        respond(&self.metrics, &req, async {
            match req.route() {
                "POST /v1/logistics/kuaidi100/notify" => self.kuaidi100(&req).await,
                other => Err(ApiError::route_not_found(other)),
            }
        })
        .await
    }
}
