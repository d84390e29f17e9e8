//! Confirming receipt through WeChat's component (`wx.openBusinessView` with
//! `weappOrderConfirm`): the parameters it needs for the caller's own shipped order, and, once
//! it reports success, the order moved forward only if WeChat's `get_order` says the shopper
//! confirmed (never on the client's word).

use super::Checkout;
use app::receipt::ReceiptError;
use app::wechat::{AccessTokenError, access_token};
use domain::clock::now_epoch_seconds;
use domain::order::OrderStatus;
use domain::payment::Provider;
use domain::platform::Settlement;
use domain::shipping_info::receipt_confirmed;
use edge::api::{self, ApiError, ApiRequest, ApiResponse};
use providers::wechat::WeChatError;
use serde_json::json;

/// Why a receipt could not be confirmed.
#[derive(Debug, thiserror::Error)]
enum ConfirmError {
    #[error("the order is {0}, not shipped")]
    NotShipped(&'static str),
    #[error("only a WeChat Pay order is confirmed on WeChat")]
    NotWeChatPay,
    #[error("WeChat has no confirmation of receipt for this order yet")]
    NotConfirmed,
    #[error("WeChat could not be asked")]
    WeChat(#[source] WeChatError),
    #[error(transparent)]
    AccessToken(#[from] AccessTokenError),
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
}

impl From<ConfirmError> for ApiError {
    fn from(err: ConfirmError) -> Self {
        match &err {
            ConfirmError::NotShipped(_) => ApiError::new(409, "not_shipped", err.to_string()),
            ConfirmError::NotWeChatPay => ApiError::new(409, "not_wechat_pay", err.to_string()),
            ConfirmError::NotConfirmed => ApiError::new(409, "not_confirmed", err.to_string()),
            ConfirmError::WeChat(_) | ConfirmError::AccessToken(AccessTokenError::WeChat(_)) => {
                ApiError::new(
                    502,
                    "wechat_unavailable",
                    "WeChat could not be asked; retry",
                )
                .with_cause(&err)
            }
            ConfirmError::AccessToken(AccessTokenError::Store(_)) | ConfirmError::Receipt(_) => {
                ApiError::unexpected(&err)
            }
        }
    }
}

impl Checkout {
    /// `GET /v1/orders/{id}/confirm-receipt`: what `wx.openBusinessView` takes for the caller's
    /// own shipped WeChat Pay order.
    pub(crate) async fn confirm_receipt_params(
        &self,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let stored = self.own_order(req, &user).await?;
        let order = &stored.order;
        if order.provider != Provider::Wechat {
            return Err(ConfirmError::NotWeChatPay.into());
        }
        if order.status != OrderStatus::Shipped {
            return Err(ConfirmError::NotShipped(order.status.as_str()).into());
        }
        let extra = match &order.transaction_id {
            Some(transaction_id) => json!({"transaction_id": transaction_id}),
            None => json!({
                "merchant_id": self.payments.merchant.mchid,
                "merchant_trade_no": order.id.as_str(),
            }),
        };
        Ok(api::json(
            200,
            &json!({"businessType": "weappOrderConfirm", "extraData": extra}),
        ))
    }

    /// `POST /v1/orders/{id}/confirm-receipt`: after the component reports success, asks WeChat
    /// and moves the order to DELIVERED only if WeChat saw the confirmation. A delivered order
    /// answers as it is.
    pub(crate) async fn confirm_receipt(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let stored = self.own_order(req, &user).await?;
        let order = &stored.order;
        if order.provider != Provider::Wechat {
            return Err(ConfirmError::NotWeChatPay.into());
        }
        match order.status {
            OrderStatus::Delivered | OrderStatus::Completed => {
                return Ok(api::json(200, &json!({"order": order})));
            }
            OrderStatus::Shipped => {}
            other => return Err(ConfirmError::NotShipped(other.as_str()).into()),
        }
        let Some(transaction_id) = &order.transaction_id else {
            return Err(ConfirmError::NotConfirmed.into());
        };
        let now = now_epoch_seconds();
        let token = access_token(&self.wechat, &self.users, now)
            .await
            .map_err(ConfirmError::from)?;
        let state = self
            .wechat
            .order_state(&token, transaction_id)
            .await
            .map_err(ConfirmError::WeChat)?;
        if !receipt_confirmed(state) {
            tracing::info!(order_id = %order.id, state, "the component reported success but WeChat has no confirmation");
            return Err(ConfirmError::NotConfirmed.into());
        }
        let settlement = Settlement {
            confirm_receive_time: Some(now),
            ..Settlement::default()
        };
        self.receipts
            .record(&order.id, &settlement, now)
            .await
            .map_err(ConfirmError::from)?;
        let moved = self
            .payments
            .orders
            .get(&order.id)
            .await
            .map_err(|e| ApiError::unexpected(&e))?
            .map(|s| s.order);
        Ok(api::json(200, &json!({"order": moved})))
    }
}
