//! `pay-notify`: WeChat Pay's payment notifications.
//!
//! Route: `POST /v1/pay/wechat/notify`. Idempotency key: the order id (see
//! [`shared::payment::Payments::settle`]); a repeated notification answers 204 and changes
//! nothing. No provider is called on this path, so it answers well inside WeChat's 5 seconds.

use serde_json::json;
use shared::api::{self, ApiError, ApiRequest, ApiResponse, RequestExt};
use shared::clock::now_epoch_seconds;
use shared::config::{ConfigError, Settings};
use shared::payment::PaymentDesk;
use shared::runtime::{Clients, HttpFunction, respond};
use shared::wechatpay::{
    ApiV3Key, NotificationError, PlatformKeys, Transaction, open_notification,
};

pub struct PayNotify {
    payments: PaymentDesk,
    keys: PlatformKeys,
    apiv3: ApiV3Key,
}

/// WeChat Pay reads only the status; the body is for people reading its logs.
fn fail(status: u16, message: &str) -> ApiResponse {
    api::json(status, &json!({"code": "FAIL", "message": message}))
}

fn accepted() -> ApiResponse {
    let mut response = ApiResponse::default();
    response.status_code = 204;
    response
}

impl PayNotify {
    pub fn new(settings: &Settings, clients: &Clients) -> Result<Self, ConfigError> {
        let (dynamodb, sqs) = (clients.dynamodb.clone(), clients.sqs.clone());
        Ok(Self {
            payments: PaymentDesk::new(settings, dynamodb, sqs)?,
            keys: PlatformKeys::from_settings(settings)?,
            apiv3: ApiV3Key::from_settings(settings)?,
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::new(&Settings::from_process_env(), &Clients::from_env().await)
    }

    async fn wechat(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        // The signature covers the body exactly as sent: body_bytes undoes API Gateway's base64.
        let raw = req.body_bytes()?;
        let now = now_epoch_seconds();
        let (envelope, plain) =
            match open_notification(&self.keys, &self.apiv3, &req.headers, &raw, now) {
                Ok(opened) => opened,
                Err(err) => {
                    tracing::warn!(problem = %err, "notification refused");
                    let status = if matches!(err, NotificationError::Malformed) {
                        400
                    } else {
                        401
                    };
                    return Ok(fail(status, &err.to_string()));
                }
            };
        match envelope.event_type.as_str() {
            "TRANSACTION.SUCCESS" => {
                let Ok(tx) = serde_json::from_slice::<Transaction>(&plain) else {
                    self.payments
                        .orders
                        .record_review(
                            "unreadable_notification",
                            &envelope.id,
                            &json!({"eventType": envelope.event_type}),
                            now,
                        )
                        .await
                        .map_err(|e| ApiError::unexpected(&e))?;
                    tracing::error!(alert = true, notification_id = %envelope.id, "authentic notification with an unreadable transaction");
                    return Ok(accepted());
                };
                match self.payments.settle(&tx, now).await {
                    Ok(settlement) => {
                        tracing::info!(notification_id = %envelope.id, ?settlement, "payment notification handled");
                        Ok(accepted())
                    }
                    Err(err) => {
                        // Not durable yet: fail so WeChat Pay delivers it again.
                        tracing::error!(error = %err, "payment notification not stored");
                        Ok(fail(500, "temporarily unable to record the payment"))
                    }
                }
            }
            other => {
                // Refund results: kept for the merchant until after-sales handles them in full.
                let summary: serde_json::Value = serde_json::from_slice(&plain).unwrap_or_default();
                let details = json!({"eventType": other, "outTradeNo": summary["out_trade_no"], "outRefundNo": summary["out_refund_no"], "refundStatus": summary["refund_status"]});
                self.payments
                    .orders
                    .record_review("provider_event", &envelope.id, &details, now)
                    .await
                    .map_err(|e| ApiError::unexpected(&e))?;
                tracing::info!(notification_id = %envelope.id, event_type = other, "notification recorded");
                Ok(accepted())
            }
        }
    }
}

#[async_trait::async_trait]
impl HttpFunction for PayNotify {
    async fn handle(&self, req: ApiRequest) -> ApiResponse {
        respond(&req, async {
            match req.route() {
                "POST /v1/pay/wechat/notify" => self.wechat(&req).await,
                other => Err(ApiError::route_not_found(other)),
            }
        })
        .await
    }
}
