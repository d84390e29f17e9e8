//! Stock and prices for the shop's staff: a product with its SKUs as they stand, and changes
//! made against what the staff member saw (a stale page gets 409 `stale_edit`, never a lost
//! update), each audited.

use super::{Admin, actor};
use domain::ids::{ProductId, SkuId};
use domain::money::Fen;
use edge::api::{self, ApiError, ApiRequest, ApiResponse, RequestExt};
use edge::auth::StaffCaller;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct NumberChange {
    /// The value the staff member was shown: stock in units, price in fen.
    seen: Option<i64>,
    set: Option<i64>,
    delta: Option<i64>,
    price: Option<i64>,
    reason: Option<String>,
}

fn seen(body: &NumberChange) -> Result<u64, ApiError> {
    body.seen
        .and_then(|s| u64::try_from(s).ok())
        .ok_or_else(|| {
            ApiError::invalid_field(
                "seen",
                "is required: the value you were shown, to change from",
            )
        })
}

fn sku_id(req: &ApiRequest) -> Result<SkuId, ApiError> {
    SkuId::parse(req.path_param("id")?)
        .map_err(|_| ApiError::new(404, "sku_not_found", "no such SKU"))
}

impl Admin {
    /// `GET /admin/v1/products/{id}`: the product and its SKUs with stock and prices, on the
    /// shelf or off it.
    pub(crate) async fn product(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let id = ProductId::parse(req.path_param("id")?)
            .map_err(|_| ApiError::new(404, "product_not_found", "no such product"))?;
        let (product, skus) = self
            .catalog
            .catalog
            .product(&id)
            .await
            .map_err(|e| ApiError::unexpected(&e))?
            .ok_or_else(|| ApiError::new(404, "product_not_found", "no such product"))?;
        Ok(api::json(200, &json!({"product": product, "skus": skus})))
    }

    /// `POST /admin/v1/skus/{id}/stock {seen, set | delta, reason}`.
    pub(crate) async fn change_stock(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let id = sku_id(req)?;
        let body: NumberChange = req.json_body()?;
        let seen = seen(&body)?;
        let change = domain::catalog::StockChange::parse(body.set, body.delta)?;
        let reason = domain::catalog::change_reason(body.reason.as_deref())?;
        let sku = self
            .catalog
            .change_stock(&id, seen, change, &reason, &actor(req, caller), now)
            .await?;
        Ok(api::json(200, &sku))
    }

    /// `POST /admin/v1/skus/{id}/price {seen, price, reason}`: prices in fen.
    pub(crate) async fn change_price(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let id = sku_id(req)?;
        let body: NumberChange = req.json_body()?;
        let seen = Fen::new(seen(&body)?);
        let price = body
            .price
            .and_then(|p| u64::try_from(p).ok())
            .filter(|p| (1..=100_000_000).contains(p))
            .map(Fen::new)
            .ok_or_else(|| {
                ApiError::invalid_field("price", "must be the new price in fen, 1 to 100000000")
            })?;
        let reason = domain::catalog::change_reason(body.reason.as_deref())?;
        let sku = self
            .catalog
            .change_price(&id, seen, price, &reason, &actor(req, caller), now)
            .await?;
        Ok(api::json(200, &sku))
    }
}
