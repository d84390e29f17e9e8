//! Favorites (收藏) and footprints (足迹): `PUT|DELETE /v1/favorites/{productId}`,
//! `GET /v1/favorites`, `GET /v1/footprints`, `DELETE /v1/footprints`. Both list newest first,
//! a page at a time, each product with today's price and stock state (or `onShelf: false`
//! once it is gone). A logged-in shopper's product views become footprints: the latest view
//! per product, at most 200, each forgotten 90 days after it.

use super::{Browse, store_failure};
use domain::catalog::ProductSummary;
use domain::clock::now_epoch_seconds;
use domain::ids::{ProductId, UserId};
use edge::api::{self, ApiError, ApiRequest, ApiResponse, RequestExt};
use serde::Serialize;
use store::ListPosition;
use store::shopping::Mark;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MarkView {
    product_id: ProductId,
    /// When favored, or last viewed (epoch seconds).
    at: i64,
    on_shelf: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    product: Option<ProductSummary>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MarksPage {
    items: Vec<MarkView>,
    next_cursor: Option<String>,
}

/// Which list a page is of: its cursor works only for it.
#[derive(Clone, Copy)]
enum List {
    Favorites,
    Footprints,
}

impl List {
    fn scope(self, user: &UserId) -> String {
        match self {
            List::Favorites => format!("favorites|{user}"),
            List::Footprints => format!("footprints|{user}"),
        }
    }
}

fn product_path(req: &ApiRequest) -> Result<ProductId, ApiError> {
    ProductId::parse(req.path_param("productId")?)
        .map_err(|e| ApiError::invalid_field("productId", e))
}

impl Browse {
    /// `PUT /v1/favorites/{productId}`: 204; favoring twice keeps the first time.
    pub(crate) async fn favor(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let product = product_path(req)?;
        if self
            .catalog
            .product(&product)
            .await
            .map_err(store_failure)?
            .is_none()
        {
            return Err(ApiError::new(
                404,
                "product_not_found",
                format!("no product {product}"),
            ));
        }
        self.shopping
            .favor(&user, &product, now_epoch_seconds())
            .await
            .map_err(store_failure)?;
        Ok(api::empty(204))
    }

    /// `DELETE /v1/favorites/{productId}`: 204 whether or not it was a favorite.
    pub(crate) async fn unfavor(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let product = product_path(req)?;
        self.shopping
            .unfavor(&user, &product)
            .await
            .map_err(store_failure)?;
        Ok(api::empty(204))
    }

    pub(crate) async fn favorites(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        self.marks(req, List::Favorites).await
    }

    pub(crate) async fn footprints(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        self.marks(req, List::Footprints).await
    }

    /// `DELETE /v1/footprints`: forgets every footprint.
    pub(crate) async fn clear_footprints(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let cleared = self
            .shopping
            .clear_footprints(&user)
            .await
            .map_err(store_failure)?;
        tracing::info!(cleared, "footprints cleared");
        Ok(api::empty(204))
    }

    async fn marks(&self, req: &ApiRequest, list: List) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let limit = edge::api::page_limit(req)?;
        let scope = list.scope(&user);
        let after: Option<ListPosition> = self.cursors.position(req, &scope)?;
        let page = match list {
            List::Favorites => self.shopping.favorites(&user, after, limit).await,
            List::Footprints => self.shopping.footprints(&user, after, limit).await,
        }
        .map_err(store_failure)?;
        let ids: Vec<ProductId> = page.items.iter().map(|m| m.product_id.clone()).collect();
        let summaries = self.catalog.summaries(&ids).await.map_err(store_failure)?;
        let items = page
            .items
            .into_iter()
            .map(|Mark { product_id, at, .. }| {
                let product = summaries.iter().find(|s| s.id == product_id).cloned();
                MarkView {
                    on_shelf: product.is_some(),
                    product_id,
                    at,
                    product,
                }
            })
            .collect();
        Ok(api::json(
            200,
            &MarksPage {
                items,
                next_cursor: page.next.map(|p| self.cursors.seal(&scope, &p)),
            },
        ))
    }
}
