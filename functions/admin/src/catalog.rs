//! The catalog for the shop's staff: products listed on and off the shelf, created, edited and
//! shelved against the version the staff member saw; stock and prices changed against the
//! number they saw (a stale page gets 409 `stale_edit`, never a lost update); a SKU's flash
//! sale, group-buy or bargain offer; each audited.

use super::{Admin, actor};
use domain::catalog::{
    BargainOffer, CategoryDraft, FlashSale, GroupBuyOffer, OfferKind, ProductDraft, SkuOffer,
};
use domain::ids::{CategoryId, ProductId, SkuId};
use domain::money::Fen;
use edge::api::{self, ApiError, ApiRequest, ApiResponse, RequestExt};
use edge::auth::StaffCaller;
use serde::Deserialize;
use serde_json::json;
use store::ListPosition;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
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

fn new_price(body: &NumberChange) -> Result<Fen, ApiError> {
    body.price
        .and_then(|p| u64::try_from(p).ok())
        .filter(|p| (1..=100_000_000).contains(p))
        .map(Fen::new)
        .ok_or_else(|| {
            ApiError::invalid_field("price", "must be the new price in fen, 1 to 100000000")
        })
}

fn sku_id(req: &ApiRequest) -> Result<SkuId, ApiError> {
    SkuId::parse(req.path_param("id")?)
        .map_err(|_| ApiError::new(404, "sku_not_found", "no such SKU"))
}

fn product_id(req: &ApiRequest) -> Result<ProductId, ApiError> {
    ProductId::parse(req.path_param("id")?)
        .map_err(|_| ApiError::new(404, "product_not_found", "no such product"))
}

/// The version an edit is made against: what `GET /admin/v1/products/{id}` said.
fn version(value: Option<i64>) -> Result<u64, ApiError> {
    value.and_then(|v| u64::try_from(v).ok()).ok_or_else(|| {
        ApiError::invalid_field(
            "version",
            "is required: the product's version you were shown, to change from",
        )
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewProduct {
    id: Option<String>,
    #[serde(flatten)]
    draft: ProductDraft,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductEdit {
    version: Option<i64>,
    #[serde(flatten)]
    draft: ProductDraft,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShelfChange {
    version: Option<i64>,
    on_shelf: Option<bool>,
}

impl Admin {
    /// `POST /admin/v1/categories {id, name, parentId, sort, icon}`.
    pub(crate) async fn create_category(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        #[derive(Deserialize)]
        struct NewCategory {
            id: Option<String>,
            #[serde(flatten)]
            draft: CategoryDraft,
        }
        let body: NewCategory = req.json_body()?;
        let id = body
            .id
            .as_deref()
            .and_then(|raw| CategoryId::parse(raw).ok())
            .ok_or_else(|| {
                ApiError::invalid_field("id", "must be a category id (letters, digits, - and _)")
            })?;
        let category = self
            .catalog
            .create_category(id, &body.draft, &actor(req, caller), now)
            .await?;
        Ok(api::json(201, &category))
    }

    /// `POST /admin/v1/categories/{id} {name, sort, icon}`: its parent changes only by a move.
    pub(crate) async fn edit_category(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let not_found = || ApiError::new(404, "category_not_found", "no such category");
        let id = CategoryId::parse(req.path_param("id")?).map_err(|_| not_found())?;
        let draft: CategoryDraft = req.json_body()?;
        match self
            .catalog
            .edit_category(id, &draft, &actor(req, caller), now)
            .await
        {
            Ok(category) => Ok(api::json(200, &category)),
            Err(app::catalog_desk::CatalogDeskError::NoSuchCategory) => Err(not_found()),
            Err(err) => Err(err.into()),
        }
    }

    /// `POST /admin/v1/uploads {contentType, size}`: 201 with the form that uploads one product
    /// image to the media bucket (POST `fields` then `file` to `url`) and the `imageUrl` a
    /// product names it by; 400 naming `contentType` or `size`.
    pub(crate) async fn upload_image(
        &self,
        req: &ApiRequest,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Upload {
            content_type: Option<String>,
            size: Option<i64>,
        }
        let body: Upload = req.json_body()?;
        let upload = self
            .images
            .upload(body.content_type.as_deref(), body.size, now)
            .await?;
        tracing::info!(
            key = upload.form.key.as_str(),
            "product image upload form handed out"
        );
        Ok(api::json(201, &upload))
    }

    /// `POST /admin/v1/categories/{id}/move {parentId | null}`: the category, with everything
    /// under it, under another parent (or to the top).
    pub(crate) async fn move_category(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Move {
            parent_id: Option<String>,
        }
        let not_found = || ApiError::new(404, "category_not_found", "no such category");
        let id = CategoryId::parse(req.path_param("id")?).map_err(|_| not_found())?;
        let body: Move = req.json_body()?;
        match self
            .catalog
            .move_category(id, body.parent_id.as_deref(), &actor(req, caller), now)
            .await
        {
            Ok(category) => Ok(api::json(200, &category)),
            Err(app::catalog_desk::CatalogDeskError::NoSuchCategory) => Err(not_found()),
            Err(err) => Err(err.into()),
        }
    }

    /// `GET /admin/v1/products?shelf=on|off&q&limit&cursor`: the shop's products on the shelf
    /// or off it with their SKUs and versions, best sellers first; with `q`, those whose title
    /// has the words (off-shelf products are indexed for staff, never shown to shoppers).
    pub(crate) async fn products(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let on_shelf = match req.query_param("shelf").unwrap_or("on") {
            "on" => true,
            "off" => false,
            _ => return Err(ApiError::invalid_field("shelf", "must be on or off")),
        };
        let shelf = if on_shelf { "on" } else { "off" };
        let limit = api::page_limit(req)?;
        let store = &self.catalog.catalog;
        let unexpected = |e: store::StoreError| ApiError::unexpected(&e);
        let (items, next_cursor) = match api::search_keywords(req)? {
            Some(keywords) => {
                let scope = format!("products-{shelf}-q:{keywords}");
                let terms = domain::search::staff_query_terms(&keywords, on_shelf);
                let hits = if terms.is_empty() {
                    Vec::new()
                } else {
                    store.search(&terms, None).await.map_err(unexpected)?
                };
                let cursor = req.query_param("cursor");
                let (page, next) = self.cursors.page_of(&scope, cursor, &hits, limit)?;
                (store.staff_products(page).await.map_err(unexpected)?, next)
            }
            None => {
                let scope = format!("products-{shelf}");
                let after: Option<ListPosition> = self.cursors.position(req, &scope)?;
                let page = store
                    .staff_page(on_shelf, after, limit)
                    .await
                    .map_err(unexpected)?;
                let next = page.next.map(|next| self.cursors.seal(&scope, &next));
                (page.items, next)
            }
        };
        let mut answer = json!({ "items": items });
        if let Some(next) = next_cursor {
            answer["nextCursor"] = json!(next);
        }
        Ok(api::json(200, &answer))
    }

    /// `GET /admin/v1/products/{id}`: the product, its SKUs with stock and prices, on the
    /// shelf or off it, and its version (edits name it).
    pub(crate) async fn product(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let id = product_id(req)?;
        let product = self
            .catalog
            .catalog
            .staff_product(&id)
            .await
            .map_err(|e| ApiError::unexpected(&e))?
            .ok_or_else(|| ApiError::new(404, "product_not_found", "no such product"))?;
        Ok(api::json(200, &product))
    }

    /// `POST /admin/v1/products {id, title, subtitle, categoryId, images, description, onShelf,
    /// skus: [{id, specs, price, originalPrice, stock}]}`: off the shelf unless `onShelf`.
    pub(crate) async fn create_product(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let body: NewProduct = req.json_body()?;
        let id = body
            .id
            .as_deref()
            .and_then(|raw| ProductId::parse(raw).ok())
            .ok_or_else(|| {
                ApiError::invalid_field("id", "must be a product id (letters, digits, - and _)")
            })?;
        let product = self
            .catalog
            .create_product(&id, &body.draft, &actor(req, caller), now)
            .await?;
        Ok(api::json(201, &product))
    }

    /// `POST /admin/v1/products/{id} {version, ...the same fields}`: the whole product again,
    /// against the version read; SKUs already stored keep their stock and price.
    pub(crate) async fn edit_product(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let id = product_id(req)?;
        let body: ProductEdit = req.json_body()?;
        let seen = version(body.version)?;
        let product = self
            .catalog
            .edit_product(&id, seen, &body.draft, &actor(req, caller), now)
            .await?;
        Ok(api::json(200, &product))
    }

    /// `POST /admin/v1/products/{id}/shelf {version, onShelf}`.
    pub(crate) async fn set_shelf(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let id = product_id(req)?;
        let body: ShelfChange = req.json_body()?;
        let seen = version(body.version)?;
        let on_shelf = body
            .on_shelf
            .ok_or_else(|| ApiError::invalid_field("onShelf", "must be true or false"))?;
        let product = self
            .catalog
            .set_shelf(&id, seen, on_shelf, &actor(req, caller), now)
            .await?;
        Ok(api::json(200, &product))
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
        let price = new_price(&body)?;
        let reason = domain::catalog::change_reason(body.reason.as_deref())?;
        let sku = self
            .catalog
            .change_price(&id, seen, price, &reason, &actor(req, caller), now)
            .await?;
        Ok(api::json(200, &sku))
    }

    /// `POST /admin/v1/stock/bulk {reason, changes: [{skuId, seen, set | delta}]}` and
    /// `POST /admin/v1/prices/bulk {reason, changes: [{skuId, seen, price}]}`: up to 50 SKUs
    /// at once, all or none, each from what the staff member saw. High-risk: step-up.
    pub(crate) async fn change_many(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        number: store::catalog::SkuNumber,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Change {
            sku_id: SkuId,
            #[serde(flatten)]
            number: NumberChange,
        }
        #[derive(Deserialize)]
        struct Bulk {
            reason: Option<String>,
            changes: Vec<Change>,
        }
        caller.require_step_up(now)?;
        let body: Bulk = req.json_body()?;
        if body.changes.is_empty() || body.changes.len() > app::catalog_desk::MAX_BULK {
            return Err(ApiError::invalid_field(
                "changes",
                format!("must list 1 to {} SKUs", app::catalog_desk::MAX_BULK),
            ));
        }
        let reason = domain::catalog::change_reason(body.reason.as_deref())?;
        let mut changes = Vec::with_capacity(body.changes.len());
        for (i, change) in body.changes.iter().enumerate() {
            let at = |field: &str| format!("changes[{i}].{field}");
            if body.changes[..i].iter().any(|c| c.sku_id == change.sku_id) {
                return Err(ApiError::invalid_field(at("skuId"), "is listed twice"));
            }
            let seen = seen(&change.number).map_err(|_| {
                ApiError::invalid_field(at("seen"), "is required: the value you were shown")
            })?;
            let to = match number {
                store::catalog::SkuNumber::Stock => {
                    domain::catalog::StockChange::parse(change.number.set, change.number.delta)
                        .map_err(|e| ApiError::invalid_field(at(&e.field), e.problem))?
                        .applied_to(seen)
                        .ok_or_else(|| {
                            ApiError::new(422, "stock_below_zero", "stock cannot go below zero")
                                .with_field(at("delta"))
                        })?
                }
                store::catalog::SkuNumber::Price => new_price(&change.number)
                    .map_err(|_| {
                        ApiError::invalid_field(
                            at("price"),
                            "must be the new price in fen, 1 to 100000000",
                        )
                    })?
                    .get(),
            };
            changes.push(app::catalog_desk::BulkChange {
                sku: change.sku_id.clone(),
                seen,
                to,
            });
        }
        self.catalog
            .change_many(number, &changes, &reason, &actor(req, caller), now)
            .await?;
        let attribute = match number {
            store::catalog::SkuNumber::Stock => "stock",
            store::catalog::SkuNumber::Price => "price",
        };
        let items: Vec<serde_json::Value> = changes
            .iter()
            .map(|c| json!({"skuId": c.sku, attribute: c.to}))
            .collect();
        Ok(api::json(200, &json!({ "items": items })))
    }

    /// `POST /admin/v1/skus/{id}/member-prices/{level} {price | null}`: what members of the
    /// level pay (fen, below the list price), or no member price for them.
    pub(crate) async fn set_member_price(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let id = sku_id(req)?;
        let level = domain::catalog::member_level(req.path_param("level")?)?;
        let body: serde_json::Value = req.json_body()?;
        let price = match body.get("price") {
            Some(serde_json::Value::Null) => None,
            Some(v) => Some(v.as_u64().map(Fen::new).ok_or_else(|| {
                ApiError::invalid_field("price", "must be the member price in fen, or null")
            })?),
            None => {
                return Err(ApiError::invalid_field(
                    "price",
                    "is required: the member price in fen, or null to remove it",
                ));
            }
        };
        let sku = self
            .catalog
            .set_member_price(&id, &level, price, &actor(req, caller), now)
            .await?;
        Ok(api::json(200, &sku))
    }

    /// `GET /admin/v1/stock/low`: every on-shelf SKU at or under its threshold, lowest first.
    pub(crate) async fn low_stock(&self) -> Result<ApiResponse, ApiError> {
        let low = self
            .catalog
            .catalog
            .low_stock(self.low_stock_default)
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        Ok(api::json(
            200,
            &json!({"items": low.items, "truncated": low.truncated, "defaultThreshold": self.low_stock_default}),
        ))
    }

    /// `POST /admin/v1/skus/{id}/low-stock {threshold}`: units, or `null` for the shop's
    /// default.
    pub(crate) async fn set_low_stock_at(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let id = sku_id(req)?;
        let body: serde_json::Value = req.json_body()?;
        let threshold = match body.get("threshold") {
            Some(serde_json::Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|t| *t <= domain::catalog::MAX_LOW_STOCK_AT)
                    .ok_or_else(|| {
                        ApiError::invalid_field(
                            "threshold",
                            format!(
                                "must be units from 0 to {}, or null for the shop's default",
                                domain::catalog::MAX_LOW_STOCK_AT
                            ),
                        )
                    })?,
            ),
            None => {
                return Err(ApiError::invalid_field(
                    "threshold",
                    "is required: units, or null for the shop's default",
                ));
            }
        };
        let sku = self
            .catalog
            .set_low_stock_at(&id, threshold, &actor(req, caller), now)
            .await?;
        Ok(api::json(200, &sku))
    }

    /// `POST /admin/v1/skus/{id}/offers/{kind}`: a flash sale `{price, quota, perUser,
    /// startsAt, endsAt}` (fen, RFC 3339), a group-buy `{size, price, hours}` or a bargain
    /// `{floor, helpers, hours}`, checked against the SKU's price.
    pub(crate) async fn set_offer(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let id = sku_id(req)?;
        let kind = offer_kind(req)?;
        let body: OfferBody = req.json_body()?;
        let offer = body.offer(kind)?;
        let sku = self
            .catalog
            .set_offer(&id, &offer, &actor(req, caller), now)
            .await?;
        Ok(api::json(200, &sku))
    }

    /// `DELETE /admin/v1/skus/{id}/offers/{kind}`: groups and bargains already started run
    /// their course.
    pub(crate) async fn end_offer(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let id = sku_id(req)?;
        let kind = offer_kind(req)?;
        let sku = self
            .catalog
            .end_offer(&id, kind, &actor(req, caller), now)
            .await?;
        Ok(api::json(200, &sku))
    }
}

fn offer_kind(req: &ApiRequest) -> Result<OfferKind, ApiError> {
    OfferKind::parse(req.path_param("kind")?).ok_or_else(|| {
        ApiError::new(
            404,
            "offer_kind_not_found",
            "offers are flash-sale, group-buy or bargain",
        )
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OfferBody {
    price: Option<i64>,
    quota: Option<i64>,
    per_user: Option<i64>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    size: Option<i64>,
    hours: Option<i64>,
    floor: Option<i64>,
    helpers: Option<i64>,
}

/// A whole number in `range`, or 400 naming `field`.
fn number<T: TryFrom<i64>>(
    value: Option<i64>,
    field: &'static str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<T, ApiError> {
    value
        .filter(|v| range.contains(v))
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| {
            ApiError::invalid_field(
                field,
                format!(
                    "must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )
        })
}

fn moment(value: Option<&str>, field: &'static str) -> Result<i64, ApiError> {
    value.and_then(domain::clock::parse_rfc3339).ok_or_else(|| {
        ApiError::invalid_field(field, "must be a time such as 2026-12-12T20:00:00+08:00")
    })
}

impl OfferBody {
    fn offer(&self, kind: OfferKind) -> Result<SkuOffer, ApiError> {
        let fen = |v: Option<i64>, field| number::<u64>(v, field, 1..=100_000_000).map(Fen::new);
        Ok(match kind {
            OfferKind::FlashSale => SkuOffer::FlashSale(FlashSale {
                price: fen(self.price, "price")?,
                quota: number(self.quota, "quota", 1..=1_000_000)?,
                sold: 0,
                per_user_limit: number(self.per_user, "perUser", 1..=100)?,
                starts_at: moment(self.starts_at.as_deref(), "startsAt")?,
                ends_at: moment(self.ends_at.as_deref(), "endsAt")?,
            }),
            OfferKind::GroupBuy => SkuOffer::GroupBuy(GroupBuyOffer {
                group_size: number(self.size, "size", 2..=10)?,
                price: fen(self.price, "price")?,
                time_limit_hours: number(self.hours, "hours", 1..=168)?,
            }),
            OfferKind::Bargain => SkuOffer::Bargain(BargainOffer {
                floor_price: fen(self.floor, "floor")?,
                max_helpers: number(self.helpers, "helpers", 1..=50)?,
                time_limit_hours: number(self.hours, "hours", 1..=168)?,
            }),
        })
    }
}
