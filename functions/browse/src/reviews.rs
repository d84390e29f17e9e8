//! Product reviews as every shopper sees them: `GET /v1/products/{id}/reviews?sort&limit&cursor`
//! lists the product's shown reviews, newest first or those with photos first, each with its
//! photos as links that work for an hour. Reviews still with WeChat's checks, hidden or with
//! the merchant are never listed; a deleted account's reviews show no name or avatar.

use super::{Browse, store_failure};
use domain::clock::now_epoch_seconds;
use domain::ids::ProductId;
use domain::review::{Review, ReviewOrder};
use edge::api::{ApiError, ApiRequest, ApiResponse, Caching, RequestExt, cached_json, page_limit};
use serde_json::{Value, json};
use store::ListPosition;

/// What a review without its author's name shows.
const ANONYMOUS: &str = "匿名用户";

impl Browse {
    pub(crate) async fn reviews(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let product = ProductId::parse(req.path_param("id")?)
            .map_err(|e| ApiError::invalid_field("id", e))?;
        let order = ReviewOrder::parse(req.query_param("sort").filter(|s| !s.is_empty()))?;
        let limit = page_limit(req)?;
        let scope = format!("reviews|{product}|{}|{limit}", order.as_str());
        let after: Option<ListPosition> = self.cursors.position(req, &scope)?;
        let page = self
            .reviews
            .shown(&product, order, after, limit)
            .await
            .map_err(store_failure)?;
        let now = now_epoch_seconds();
        let mut items = Vec::with_capacity(page.items.len());
        for review in &page.items {
            items.push(self.public_view(review, now).await?);
        }
        Ok(cached_json(
            req,
            Caching::Public { max_age: 60 },
            &json!({
                "items": items,
                "nextCursor": page.next.map(|p| self.cursors.seal(&scope, &p)),
            }),
        ))
    }

    async fn public_view(&self, review: &Review, now: i64) -> Result<Value, ApiError> {
        let photos = self
            .media
            .photo_links(&review.photos, now)
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        let named = review.author.is_some() && !review.nickname.is_empty();
        Ok(json!({
            "nickname": if named { review.nickname.as_str() } else { ANONYMOUS },
            "avatarUrl": review.avatar_url.as_ref().filter(|_| named),
            "rating": review.rating,
            "text": review.text,
            "photos": photos,
            "specs": review.specs,
            "createdAt": review.created_at,
        }))
    }
}
