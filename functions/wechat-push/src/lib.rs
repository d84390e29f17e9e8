//! `wechat-push`: WeChat's message push (消息推送) in safe mode, JSON format.
//!
//! Routes: `GET /v1/wechat/events` (the URL check WeChat's console makes: `echostr` back when
//! `signature` matches) and `POST /v1/wechat/events` (an encrypted message). A message's
//! `msg_signature` is checked before anything in it is read, a `timestamp` far from our clock
//! is refused, and a message naming another AppID is refused; each message acts once however
//! often WeChat pushes it (claimed, handled, then marked done). Acted on: order settlement and
//! confirmation (`SHIPPED -> DELIVERED`, forward only), WeChat's shipping reminders (an alert
//! metric and a log line naming the order), the shopper revoking their phone, addresses or
//! nickname and avatar (forgotten wherever we keep them), the shopper deleting their WeChat
//! account (their shop account goes too, as `DELETE /v1/me` does), and WeChat's verdict on a
//! review's photo (`wxa_media_check`, matched to the photo by its trace id).

use app::privacy::Privacy;
use app::receipt::Receipts;
use domain::clock::now_epoch_seconds;
use domain::platform::{PaymentRef, PlatformEvent, PushedMessage, fresh};
use edge::api::{self, ApiError, ApiRequest, ApiResponse, RequestExt};
use edge::runtime::{Clients, HttpFunction, respond};
use providers::wechat_push::{PushError, PushKeys};
use serde::Deserialize;
use settings::{ConfigError, Settings};
use store::pushes::{Claim, PushLog};
use store::queue::Queue;
use store::reviews::ReviewStore;
use store::shipments::{Settled, ShipmentStore};
use telemetry::metrics::Alert;

pub struct WeChatPush {
    metrics: telemetry::metrics::Metrics,
    keys: PushKeys,
    pushes: PushLog,
    receipts: Receipts,
    privacy: Privacy,
    reviews: ReviewStore,
}

/// A safe-mode message as WeChat posts it.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Encrypt")]
    encrypt: String,
}

/// What WeChat reads: exactly `success` stops its retries.
fn success() -> ApiResponse {
    api::text(200, "text/plain; charset=utf-8", "success")
}

fn required<'a>(req: &'a ApiRequest, name: &str) -> Result<&'a str, ApiError> {
    req.query_param(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::invalid_field(name, "is required in the query"))
}

impl WeChatPush {
    pub fn new(settings: &Settings, clients: &Clients) -> Result<Self, ConfigError> {
        let orders = settings.required("ORDERS_TABLE")?;
        Ok(Self {
            metrics: clients.metrics("wechat-push"),
            keys: PushKeys::from_settings(settings)?,
            pushes: PushLog::new(
                clients.dynamodb.clone(),
                settings.required("IDEMPOTENCY_TABLE")?,
            ),
            receipts: Receipts::new(
                ShipmentStore::new(clients.dynamodb.clone(), orders, String::new()),
                Queue::new(
                    clients.sqs.clone(),
                    settings.required("DEADLINES_QUEUE_URL")?,
                ),
                clients.metrics("wechat-push"),
            ),
            reviews: ReviewStore::new(
                clients.dynamodb.clone(),
                settings.required("REVIEWS_TABLE")?,
            )
            .showing(settings.required("CATALOG_TABLE")?),
            privacy: Privacy::new(
                clients.dynamodb.clone(),
                &settings.required("USERS_TABLE")?,
                &settings.required("ORDERS_TABLE")?,
                &settings.required("MARKETING_TABLE")?,
                &settings.required("SHOPPING_TABLE")?,
                &settings.required("REVIEWS_TABLE")?,
                domain::phone::PhoneHashKey::derive(&settings.secret("JWT_SECRET")?),
            )
            .with_personal_data(clients.personal_data(settings)?),
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        let (settings, clients) = edge::runtime::from_env().await?;
        Self::new(&settings, &clients)
    }

    async fn verify_url(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let signature = required(req, "signature")?;
        let timestamp = required(req, "timestamp")?;
        let nonce = required(req, "nonce")?;
        let echostr = required(req, "echostr")?;
        if !self.keys.url_signature_matches(timestamp, nonce, signature) {
            tracing::warn!("message push URL check with a wrong signature refused");
            return Err(ApiError::unauthorized("signature does not match"));
        }
        Ok(api::text(200, "text/plain; charset=utf-8", echostr))
    }

    async fn receive(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let msg_signature = required(req, "msg_signature")?;
        let timestamp = required(req, "timestamp")?;
        let nonce = required(req, "nonce")?;
        if req.query_param("encrypt_type").is_some_and(|t| t != "aes") {
            return Err(ApiError::invalid_field(
                "encrypt_type",
                "must be aes: set the message push to safe mode",
            ));
        }
        let now = now_epoch_seconds();
        if !fresh(timestamp, now) {
            tracing::warn!(timestamp, "message push with a stale timestamp refused");
            return Err(ApiError::unauthorized("timestamp is too far from now"));
        }
        let envelope: Envelope = req.json_body()?;
        let json = self
            .keys
            .open(timestamp, nonce, msg_signature, &envelope.encrypt)
            .map_err(|err| {
                tracing::warn!(error = %err, "message push refused");
                match err {
                    PushError::Signature | PushError::OtherApp => {
                        ApiError::unauthorized(err.to_string())
                    }
                    PushError::Encoding | PushError::Malformed => {
                        ApiError::invalid_field("Encrypt", err)
                    }
                }
            })?;
        let message =
            PushedMessage::parse(&json).map_err(|err| ApiError::invalid_field("Encrypt", err))?;
        let key = &message.dedupe_key;
        match self
            .pushes
            .claim(key, now)
            .await
            .map_err(|e| ApiError::unexpected(&e))?
        {
            Claim::Done => return Ok(success()),
            // The push being handled answers for both; if it fails, WeChat pushes again.
            Claim::Busy => return Ok(success()),
            Claim::Mine => {}
        }
        self.act(&message.event, now).await?;
        self.pushes
            .done(key, now)
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        Ok(success())
    }

    async fn act(&self, event: &PlatformEvent, now: i64) -> Result<(), ApiError> {
        match event {
            PlatformEvent::OrderSettlement {
                payment,
                settlement,
            } => {
                let Some(order_id) = &payment.order_id else {
                    tracing::warn!(transaction_id = ?payment.transaction_id, "settlement for an order number that is not ours");
                    return Ok(());
                };
                let settled = self
                    .receipts
                    .record(order_id, settlement, now)
                    .await
                    .map_err(|e| ApiError::unexpected(&e))?;
                match settled {
                    Settled::UnknownOrder => {
                        tracing::warn!(%order_id, "settlement for an order we do not have");
                    }
                    Settled::Recorded {
                        delivered_at: Some(_),
                        moved,
                        ..
                    } => {
                        tracing::info!(%order_id, moved, "confirmed received on WeChat");
                    }
                    Settled::Recorded { .. } => {
                        tracing::info!(%order_id, "settlement recorded");
                    }
                }
            }
            PlatformEvent::RemindShipping { payment } => {
                self.metrics.alert(Alert::WeChatShippingReminder);
                let PaymentRef {
                    transaction_id,
                    order_id,
                } = payment;
                tracing::warn!(order_id = ?order_id.as_ref().map(|o| o.to_string()), transaction_id = ?transaction_id, "WeChat reminds: this paid order has no shipping information yet");
            }
            PlatformEvent::RemindAccessApi => {
                self.metrics.alert(Alert::WeChatAccessApiReminder);
                tracing::warn!(
                    "WeChat reminds: the mini-program has not uploaded shipping information through the API"
                );
            }
            PlatformEvent::AuthorizationRevoke { openid, revoked } => {
                let forgotten = self
                    .privacy
                    .revoke(openid, revoked, now)
                    .await
                    .map_err(|e| ApiError::unexpected(&e))?;
                tracing::info!(
                    phone = forgotten.phone,
                    receivers = forgotten.receivers,
                    addresses = forgotten.addresses,
                    address_phones = forgotten.address_phones,
                    faces = forgotten.faces,
                    not_kept = ?forgotten.not_kept,
                    "authorization revoked on WeChat: forgotten"
                );
            }
            PlatformEvent::AuthorizationCancellation { openid } => {
                match self
                    .privacy
                    .wechat_account_gone(openid, now)
                    .await
                    .map_err(|e| ApiError::unexpected(&e))?
                {
                    Some(deleted) => tracing::info!(
                        orders_erased = deleted.orders_erased,
                        orders_kept = ?deleted.orders_kept.iter().map(|o| o.to_string()).collect::<Vec<_>>(),
                        own_records = deleted.marketing.own_records,
                        "WeChat account deleted: the shop account is deleted too"
                    ),
                    None => tracing::info!("WeChat account deleted: no shop account"),
                }
            }
            PlatformEvent::MediaCheck { trace_id, verdict } => {
                let review =
                    app::reviews::record_photo_verdict(&self.reviews, trace_id, verdict, now)
                        .await
                        .map_err(|e| ApiError::unexpected(&e))?;
                match review {
                    Some(review) => tracing::info!(
                        trace_id,
                        suggest = ?verdict.suggest,
                        label = verdict.label,
                        product_id = %review.product_id,
                        state = review.state.as_str(),
                        "photo verdict given to its review"
                    ),
                    // The checker finds it with the trace when it records the trace.
                    None => {
                        tracing::info!(trace_id, "photo verdict kept for a trace not yet recorded")
                    }
                }
            }
            PlatformEvent::Other { kind } => {
                tracing::info!(kind, "pushed message not acted on");
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl HttpFunction for WeChatPush {
    async fn handle(&self, req: ApiRequest) -> ApiResponse {
        respond(&self.metrics, &req, async {
            match req.route() {
                "GET /v1/wechat/events" => self.verify_url(&req).await,
                "POST /v1/wechat/events" => self.receive(&req).await,
                other => Err(ApiError::route_not_found(other)),
            }
        })
        .await
    }
}
