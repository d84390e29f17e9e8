//! Reviews (评价晒单): `POST /v1/orders/{id}/reviews` reviews one line of the caller's own
//! delivered or completed order, once; `GET /v1/me/reviews` lists the caller's reviews with
//! where each stands (pending WeChat's checks, shown, hidden and why, or with the merchant).
//! Nothing is shown to others until WeChat's checks pass: a new review goes to them through
//! the `deadlines` queue (`review.check`), and photo verdicts come back by WeChat's push.

use super::Checkout;
use domain::clock::now_epoch_seconds;
use domain::ids::{OrderId, SkuId, UserId};
use domain::media::{UploadPurpose, photo_keys};
use domain::review::{Draft, MAX_REVIEW_PHOTOS, Rating, Review, review_text};
use domain::social::Profile;
use edge::api::{self, ApiError, ApiRequest, ApiResponse, RequestExt};
use serde_json::{Value, json};
use store::ListPosition;
use store::queue::DeadlineMessage;
use store::reviews::Submitted;

fn draft(body: &Value, user: &UserId) -> Result<Draft, ApiError> {
    let sku_id = body
        .get("skuId")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid_field("skuId", "is required: the line's SKU id"))
        .and_then(|raw| SkuId::parse(raw).map_err(|e| ApiError::invalid_field("skuId", e)))?;
    let rating = Rating::parse(body.get("rating"))?;
    let text = review_text(body.get("text"))?;
    let photos = photo_keys(
        "photos",
        body.get("photos"),
        MAX_REVIEW_PHOTOS,
        user,
        UploadPurpose::Review,
    )?;
    let face = Profile::from_json(body, "")?;
    Ok(Draft {
        sku_id,
        rating,
        text,
        photos,
        nickname: face.nickname,
        avatar_url: face.avatar_url,
    })
}

impl Checkout {
    /// `POST /v1/orders/{id}/reviews {skuId, rating, text?, photos?, nickname?, avatarUrl?}`:
    /// 201 with the review (PENDING); the same review sent again answers 200 with it as it
    /// stands; 409 `already_reviewed` for a different one; 403 for someone else's order; 422
    /// when the order is not delivered or the line was refunded.
    pub(crate) async fn review(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let body: Value = req.json_body()?;
        let draft = draft(&body, &user)?;
        let id = OrderId::parse(req.path_param("id")?)
            .map_err(|_| ApiError::new(404, "order_not_found", "no such order"))?;
        let stored = self
            .payments
            .orders
            .get(&id)
            .await
            .map_err(|e| ApiError::unexpected(&e))?
            .ok_or_else(|| ApiError::new(404, "order_not_found", "no such order"))?;
        let order = &stored.order;
        if order.user_id != user {
            return Err(ApiError::new(
                403,
                "not_your_order",
                "only the shopper who placed an order can review it",
            ));
        }
        let line = domain::review::reviewable_line(order, &draft.sku_id).map_err(|refusal| {
            let code = match refusal {
                domain::review::NotReviewable::NotDelivered(_) => "not_delivered",
                domain::review::NotReviewable::UnknownLine(_) => "unknown_line",
                domain::review::NotReviewable::Refunded(_) => "line_refunded",
            };
            ApiError::new(422, code, refusal.to_string()).with_field("skuId")
        })?;
        let now = now_epoch_seconds();
        self.keep_photos("photos", &draft.photos, now).await?;
        let review = Review::new(order, line, &user, draft, now);
        let (status, review) = match self
            .reviews
            .submit(&review)
            .await
            .map_err(|e| ApiError::unexpected(&e))?
        {
            Submitted::Stored => (201, review),
            Submitted::Exists(existing)
                if existing.author.as_ref() == Some(&user) && existing.same_content(&review) =>
            {
                (200, *existing)
            }
            Submitted::Exists(_) => {
                return Err(ApiError::new(
                    409,
                    "already_reviewed",
                    format!("this order's SKU {} has a review already", review.sku_id),
                ));
            }
        };
        // Sent again with a repeated submission too: a check lost before it reached the
        // queue is sent then, and the checker skips what WeChat judged already.
        if review.state == domain::review::ReviewState::Pending {
            let check = DeadlineMessage::ReviewCheck {
                product_id: review.product_id.clone(),
                order_id: review.order_id.clone(),
                sku_id: review.sku_id.clone(),
                attempt: 0,
            };
            self.payments
                .deadlines
                .send(&check, 0)
                .await
                .map_err(|e| ApiError::unexpected(&e))?;
        }
        tracing::info!(order_id = %review.order_id, sku_id = %review.sku_id, photos = review.photos.len(), "review submitted");
        Ok(api::json(
            status,
            &self.own_review_view(&review, now).await?,
        ))
    }

    /// `GET /v1/me/reviews?limit&cursor`: the caller's reviews, newest first.
    pub(crate) async fn my_reviews(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let limit = api::page_limit(req)?;
        let scope = format!("my-reviews|{user}|{limit}");
        let after: Option<ListPosition> = self.cursors.position(req, &scope)?;
        let page = self
            .reviews
            .by_author(&user, after, limit)
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        let now = now_epoch_seconds();
        let mut items = Vec::with_capacity(page.items.len());
        for review in &page.items {
            items.push(self.own_review_view(review, now).await?);
        }
        Ok(api::json(
            200,
            &json!({
                "items": items,
                "nextCursor": page.next.map(|p| self.cursors.seal(&scope, &p)),
            }),
        ))
    }

    /// A review as its author sees it: where it stands and, when hidden, why.
    async fn own_review_view(&self, review: &Review, now: i64) -> Result<Value, ApiError> {
        let links = self
            .media
            .photo_links(&review.photos, now)
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        let photos: Vec<Value> = review
            .photos
            .iter()
            .zip(links)
            .map(|(key, url)| json!({"key": key, "url": url}))
            .collect();
        Ok(json!({
            "orderId": review.order_id,
            "skuId": review.sku_id,
            "productId": review.product_id,
            "rating": review.rating,
            "text": review.text,
            "photos": photos,
            "specs": review.specs,
            "state": review.state.as_str(),
            "hiddenReason": review.hidden_reason,
            "createdAt": review.created_at,
            "shownAt": review.shown_at,
        }))
    }
}
