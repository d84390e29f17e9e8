//! The points mall (积分商城) for shoppers: `GET /v1/points-mall` (what is on offer, how many
//! of each they hold, their points), `POST /v1/points-mall/{id}/redeem` (a coupon into the
//! wallet, or a gift that ships: free, or with its top-up paid like any order) and
//! `GET /v1/points-mall/redemptions` (theirs, newest first).

use super::Checkout;
use crate::request::{Destination, IdempotencyKey, parse_delivery};
use crate::views::OrderAnswer;
use app::points_mall::Delivery;
use domain::clock::now_epoch_seconds;
use domain::ids::UserId;
use edge::api::{self, ApiError, ApiRequest, ApiResponse, RequestExt};
use serde_json::{Value, json};

impl Checkout {
    pub(crate) async fn points_mall(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let view = self.mall.view(&user, now_epoch_seconds()).await?;
        Ok(api::json(200, &view))
    }

    pub(crate) async fn my_redemptions(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let redemptions = self.mall.redemptions(&user).await?;
        Ok(api::json(200, &json!({ "redemptions": redemptions })))
    }

    /// `POST /v1/points-mall/{id}/redeem` with an `Idempotency-Key` (and for a gift
    /// `{address | addressId}`): 201 with the redemption, a gift's order and, for a top-up,
    /// what the pay call needs; 200 with the same for a retry of the same key; 409 when it is
    /// sold out, over the shopper's limit, short of points or outside its window.
    pub(crate) async fn redeem(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let key = IdempotencyKey::from_request(req)?;
        let body: Value = req.json_body_or_default()?;
        let delivery = self.delivery(&user, &body).await?;
        let now = now_epoch_seconds();
        let redeemed = self
            .mall
            .redeem(&user, req.path_param("id")?, key.as_str(), delivery, now)
            .await?;
        let payment = match (&redeemed.order, &redeemed.payer) {
            (Some(order), Some(payer)) => self.payment_for(order, payer, now).await?,
            _ => None,
        };
        if !redeemed.repeated {
            self.metrics.event(
                telemetry::metrics::BusinessEvent::MallRedeemed,
                &telemetry::metrics::Facts {
                    channel: Some(edge::channel::channel_of(req)),
                    points_spent: redeemed.redemption.points,
                    ..Default::default()
                },
            );
        }
        tracing::info!(
            redemption_id = %redeemed.redemption.id,
            item_id = %redeemed.redemption.item_id,
            repeated = redeemed.repeated,
            "points mall redemption"
        );
        let mut answer = json!({ "redemption": redeemed.redemption });
        if let Some(order) = &redeemed.order {
            answer["order"] = json!(OrderAnswer { order, payment });
        }
        Ok(api::json(
            if redeemed.repeated { 200 } else { 201 },
            &answer,
        ))
    }

    /// `POST /v1/lotteries/{id}/draws/{drawId}/claim {address | addressId}`: the winner of a
    /// gift prize says where it goes; 201 with the draw and its order (paid, on its way to
    /// fulfillment), 200 with the same for a claim made before.
    pub(crate) async fn claim_lottery_gift(
        &self,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let body: Value = req.json_body_or_default()?;
        let delivery = self.delivery(&user, &body).await?;
        let sent = self
            .lotteries
            .claim_gift(
                req.path_param("id")?,
                req.path_param("drawId")?,
                &user,
                delivery,
                now_epoch_seconds(),
            )
            .await?;
        tracing::info!(
            draw_id = sent.draw.id.as_str(),
            order_id = %sent.order.id,
            repeated = sent.repeated,
            "lucky draw gift claimed"
        );
        Ok(api::json(
            if sent.repeated { 200 } else { 201 },
            &json!({
                "draw": sent.draw,
                "order": OrderAnswer { order: &sent.order, payment: None },
            }),
        ))
    }

    /// Where a gift goes, and the shopper's WeChat account that pays a top-up; `None` when the
    /// body names no address (a coupon needs none; a gift is refused without one).
    async fn delivery(&self, user: &UserId, body: &Value) -> Result<Option<Delivery>, ApiError> {
        let address = match parse_delivery(body)? {
            None => return Ok(None),
            Some(Destination::Inline(address)) => address,
            Some(Destination::Saved(id)) => self.saved_address(user, &id).await?,
        };
        let payer = self
            .users
            .openid_of(user)
            .await
            .map_err(|e| ApiError::unexpected(&e))?
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "the account behind this token no longer exists; log in again",
                )
            })?;
        Ok(Some(Delivery {
            address,
            payer: payer.expose().to_string(),
        }))
    }
}
