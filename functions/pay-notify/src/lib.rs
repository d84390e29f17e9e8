//! `pay-notify`: WeChat Pay's and Alipay's payment notifications.
//!
//! Routes: `POST /v1/pay/wechat/notify`, `POST /v1/pay/alipay/notify`. Idempotency key: the order
//! id (see [`app::payment::PaymentDesk::settle`], the same for both providers); a repeated
//! notification changes nothing. No provider is called on this path, so it answers well inside
//! WeChat's 5 seconds.

use app::payment::PaymentDesk;
use domain::clock::now_epoch_seconds;
use domain::ids::OrderId;
use domain::refund::RefundStatus;
use edge::api::{self, ApiError, ApiRequest, ApiResponse, RequestExt};
use edge::runtime::{Clients, HttpFunction, respond};
use providers::wechatpay::{
    ApiV3Key, NotificationError, PlatformKeys, Transaction, open_notification,
};
use serde_json::json;
use settings::{ConfigError, Settings};

pub struct PayNotify {
    metrics: telemetry::metrics::Metrics,
    payments: PaymentDesk,
    keys: PlatformKeys,
    apiv3: ApiV3Key,
    /// None for a shop without Alipay: its webhook then refuses everything.
    alipay: Option<providers::alipay::AlipayApp>,
}

/// Alipay reads the body: exactly `success` stops its retries, anything else asks for them.
fn alipay_answer(status: u16, body: &str) -> ApiResponse {
    api::text(status, "text/plain; charset=utf-8", body)
}

/// WeChat Pay reads only the status; the body is for people reading its logs.
fn fail(status: u16, message: &str) -> ApiResponse {
    api::json(status, &json!({"code": "FAIL", "message": message}))
}

fn accepted() -> ApiResponse {
    api::empty(204)
}

impl PayNotify {
    pub fn new(settings: &Settings, clients: &Clients) -> Result<Self, ConfigError> {
        let (dynamodb, sqs) = (clients.dynamodb.clone(), clients.sqs.clone());
        Ok(Self {
            metrics: clients.metrics("pay-notify"),
            payments: PaymentDesk::new(settings, dynamodb, sqs, clients.metrics("pay-notify"))?,
            keys: PlatformKeys::from_settings(settings)?,
            alipay: providers::alipay::AlipayApp::from_settings(settings)?,
            apiv3: ApiV3Key::from_settings(settings)?,
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        let (settings, clients) = edge::runtime::from_env().await?;
        Self::new(&settings, &clients)
    }

    async fn wechat(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        // The signature covers the body exactly as sent: body_bytes undoes API Gateway's base64.
        let raw = req.body_bytes()?;
        let now = now_epoch_seconds();
        let (envelope, plain) =
            match open_notification(&self.keys, &self.apiv3, req.headers(), raw, now) {
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
                match self.payments.settle_wechat(&tx, now).await {
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
            event if event.starts_with("REFUND.") => {
                self.refund_result(&envelope.id, event, &plain, now).await
            }
            other => {
                let details = json!({"eventType": other});
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

    /// An Alipay notification: verified RSA2 over the sorted parameters before anything is read,
    /// `total_amount` read exactly to fen, then settled by the same code as WeChat Pay's (app,
    /// order and amount checked there). `success` once the order is durably PAID (or the notice
    /// needed nothing); `failure` otherwise, so Alipay sends it again.
    async fn alipay(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let Some(app) = &self.alipay else {
            return Ok(alipay_answer(404, "failure"));
        };
        let raw = req.body_bytes()?;
        let Some(form) = api::form_fields(raw) else {
            return Ok(alipay_answer(400, "failure"));
        };
        let notice = match providers::alipay::read_notification(&form, &app.public_key) {
            Ok(notice) => notice,
            Err(err) => {
                tracing::warn!(problem = %err, "Alipay notification refused");
                let status = if err == providers::alipay::NoticeError::BadSignature {
                    401
                } else {
                    400
                };
                return Ok(alipay_answer(status, "failure"));
            }
        };
        let payment = app::payment::ProviderPayment::alipay(&notice, &app.app_id);
        match self
            .payments
            .settle(&payment, domain::clock::now_epoch_seconds())
            .await
        {
            Ok(settlement) => {
                tracing::info!(notify_id = %notice.notify_id, trade_status = %notice.trade_status, ?settlement, "Alipay notification handled");
                Ok(alipay_answer(200, "success"))
            }
            Err(err) => {
                tracing::error!(error = %err, "Alipay notification not stored");
                Ok(alipay_answer(500, "failure"))
            }
        }
    }

    /// A refund's end: SUCCESS puts back what the refund returns, ABNORMAL or CLOSED makes its
    /// lines refundable again (and ABNORMAL is kept for the merchant). Duplicates change nothing.
    async fn refund_result(
        &self,
        notification_id: &str,
        event: &str,
        plain: &[u8],
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let notice: RefundNotice = match serde_json::from_slice(plain) {
            Ok(notice) => notice,
            Err(_) => {
                self.review(
                    "unreadable_notification",
                    notification_id,
                    &json!({"eventType": event}),
                    now,
                )
                .await?;
                return Ok(accepted());
            }
        };
        let outcome = RefundStatus::from_provider(&notice.refund_status)
            .or_else(|| RefundStatus::from_provider(event));
        let order_id = OrderId::parse(&notice.out_trade_no).ok();
        let refund = match &order_id {
            Some(id) => self
                .payments
                .orders
                .refund(id, &notice.out_refund_no)
                .await
                .map_err(|e| ApiError::unexpected(&e))?,
            None => None,
        };
        let details = json!({"eventType": event, "outTradeNo": notice.out_trade_no, "outRefundNo": notice.out_refund_no, "refundStatus": notice.refund_status, "refund": notice.amount.refund});
        let (Some(order_id), Some(refund), Some(outcome)) = (order_id, refund, outcome) else {
            self.review("unknown_refund", &notice.out_refund_no, &details, now)
                .await?;
            return Ok(accepted());
        };
        if notice.mchid != self.payments.merchant.mchid
            || notice.amount.refund != refund.amount.get()
        {
            // Not what we asked for: never act on it.
            self.review("refund_mismatch", &notice.out_refund_no, &details, now)
                .await?;
            tracing::error!(alert = true, out_refund_no = %notice.out_refund_no, "refund notification does not match the refund we asked for");
            return Ok(accepted());
        }
        if outcome == RefundStatus::Abnormal {
            self.review("refund_abnormal", &notice.out_refund_no, &details, now)
                .await?;
        }
        match self
            .payments
            .refund_finished(
                &order_id,
                &notice.out_refund_no,
                outcome,
                refund.amount,
                now,
            )
            .await
        {
            Ok(finished) => {
                tracing::info!(order_id = %order_id, out_refund_no = %notice.out_refund_no, ?finished, "refund notification handled");
                Ok(accepted())
            }
            Err(err) => {
                tracing::error!(error = %err, "refund notification not stored");
                Ok(fail(500, "temporarily unable to record the refund"))
            }
        }
    }

    async fn review(
        &self,
        kind: &str,
        reference: &str,
        details: &serde_json::Value,
        now: i64,
    ) -> Result<(), ApiError> {
        self.payments
            .orders
            .record_review(kind, reference, details, now)
            .await
            .map_err(|e| ApiError::unexpected(&e))
    }
}

/// A refund notification's plain resource.
#[derive(serde::Deserialize)]
struct RefundNotice {
    mchid: String,
    out_trade_no: String,
    out_refund_no: String,
    refund_status: String,
    amount: RefundNoticeAmount,
}

#[derive(serde::Deserialize)]
struct RefundNoticeAmount {
    refund: u64,
}

#[async_trait::async_trait]
impl HttpFunction for PayNotify {
    async fn handle(&self, req: ApiRequest) -> ApiResponse {
        respond(&self.metrics, &req, async {
            match req.route() {
                "POST /v1/pay/wechat/notify" => self.wechat(&req).await,
                "POST /v1/pay/alipay/notify" => self.alipay(&req).await,
                other => Err(ApiError::route_not_found(other)),
            }
        })
        .await
    }
}
