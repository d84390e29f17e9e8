//! The shopper's cart (购物车): `GET /v1/cart`, `POST /v1/cart/items`,
//! `PATCH /v1/cart/items/{skuId}`, `DELETE /v1/cart/items/{skuId}`; and what an order placed
//! `fromCart` (or with an `addressId`) takes from the shopper's cart and address book.
//!
//! A cart is priced afresh on every read by the same engine as a quote, for its selected lines
//! still on the shelf: one query for the lines, one batched read for everything their price
//! depends on, one wallet query, whatever the cart holds.

use super::Checkout;
use crate::request::{CheckoutRequest, MAX_LINES};
use crate::views::{self, PointsView, QuoteAnswer};
use domain::cart::{CartItem, MAX_CART_LINES, MAX_LINE_QUANTITY, quantity_field};
use domain::catalog::StockState;
use domain::clock::now_epoch_seconds;
use domain::ids::{ProductId, SkuId, UserId};
use domain::money::Fen;
use domain::order::Quantity;
use domain::pricing::{self, CartLine, TierProgress};
use edge::api::{self, ApiError, ApiRequest, ApiResponse, RequestExt};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use store::shopping::Added;
use telemetry::metrics::{BusinessEvent, Facts};

/// Where a cart line stands today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum LineState {
    /// On the shelf with enough stock: priced when selected.
    Available,
    /// On the shelf but with fewer units than the line holds.
    NotEnoughStock,
    /// Taken off the shelf, or no longer sold.
    OffShelf,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CartLineView {
    sku_id: SkuId,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_id: Option<ProductId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    specs: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<String>,
    quantity: u32,
    selected: bool,
    added_at: i64,
    state: LineState,
    #[serde(skip_serializing_if = "Option::is_none")]
    stock: Option<StockState>,
    /// Today's list price; the priced line (in `quote`) has the shopper's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    price: Option<Fen>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TierView {
    threshold: Fen,
    off: Fen,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FullReductionView {
    rule_id: String,
    eligible: Fen,
    reached: Option<TierView>,
    next: Option<TierView>,
    /// How much more it takes for `next`.
    missing: Option<Fen>,
    /// "再买 ¥12.00 减 ¥40.00".
    hint: Option<String>,
}

impl From<&TierProgress> for FullReductionView {
    fn from(p: &TierProgress) -> Self {
        Self {
            rule_id: p.rule_id.clone(),
            eligible: p.eligible,
            reached: p.reached.map(|t| TierView {
                threshold: t.threshold,
                off: t.off,
            }),
            next: p.next.map(|n| TierView {
                threshold: n.tier.threshold,
                off: n.tier.off,
            }),
            missing: p.next.map(|n| n.missing),
            hint: p.hint(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CartAnswer {
    lines: Vec<CartLineView>,
    /// Lines selected and available: what an order `fromCart` buys.
    selected_count: usize,
    /// The selected available lines priced as a quote would; null when none is selected.
    quote: Option<QuoteAnswer>,
    /// Each 满减 rule: the tier reached by the selected lines and what the next one needs.
    full_reductions: Vec<FullReductionView>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddBody {
    sku_id: Option<String>,
    quantity: Option<Value>,
}

fn sku_path(req: &ApiRequest) -> Result<SkuId, ApiError> {
    SkuId::parse(req.path_param("skuId")?).map_err(|e| ApiError::invalid_field("skuId", e))
}

impl Checkout {
    /// `GET /v1/cart`.
    pub(crate) async fn cart(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        Ok(api::json(200, &self.priced_cart(&user).await?))
    }

    async fn priced_cart(&self, user: &UserId) -> Result<CartAnswer, ApiError> {
        let unexpected = |e: &(dyn std::error::Error + 'static)| ApiError::unexpected(e);
        let items = self.shopping.cart(user).await.map_err(|e| unexpected(&e))?;
        let ids: Vec<SkuId> = items.iter().map(|i| i.sku_id.clone()).collect();
        let (snapshot, wallet) = futures::join!(
            self.cart.read(user, &ids, None, None),
            self.marketing.wallet(user)
        );
        let snapshot = snapshot.map_err(|e| unexpected(&e))?;
        let mut views = Vec::with_capacity(items.len());
        let mut lines = Vec::new();
        for item in &items {
            let for_sale = snapshot
                .skus
                .iter()
                .find(|s| s.sku.id == item.sku_id && s.on_shelf);
            let state = match for_sale {
                None => LineState::OffShelf,
                Some(s) if s.sku.stock < u64::from(item.quantity.get()) => {
                    LineState::NotEnoughStock
                }
                Some(_) => LineState::Available,
            };
            if let (Some(s), true) = (for_sale, item.selected && state == LineState::Available) {
                lines.push(CartLine {
                    sku: s.sku.clone(),
                    category_id: s.category_id.clone(),
                    parent_categories: s.parent_categories.clone(),
                    quantity: Quantity::from(item.quantity),
                    flash_bought: s.flash_bought,
                });
            }
            views.push(CartLineView {
                sku_id: item.sku_id.clone(),
                product_id: for_sale.map(|s| s.sku.product_id.clone()),
                title: for_sale.map(|s| s.title.clone()),
                specs: for_sale.map(|s| s.sku.specs.clone()).unwrap_or_default(),
                image: for_sale.and_then(|s| s.image.clone()),
                quantity: item.quantity.get(),
                selected: item.selected,
                added_at: item.added_at,
                state,
                stock: for_sale.map(|s| StockState::of(s.sku.stock)),
                price: for_sale.map(|s| s.sku.price),
            });
        }
        if lines.is_empty() {
            return Ok(CartAnswer {
                lines: views,
                selected_count: 0,
                quote: None,
                full_reductions: Vec::new(),
            });
        }
        let request = Self::price_request(&lines, &snapshot, None, 0);
        let quote = pricing::price(&request)
            .map_err(|e| ApiError::new(422, crate::pricing_code(&e), e.to_string()))?;
        let now = now_epoch_seconds();
        let usable: Vec<pricing::Coupon> = wallet
            .map_err(|e| unexpected(&e))?
            .into_iter()
            .filter(|c| c.usable_at(now))
            .map(|c| c.coupon)
            .collect();
        let options = pricing::coupon_options(&request, &usable);
        let policy = snapshot.rules.points;
        let points = PointsView {
            balance: snapshot.points_balance,
            offered: quote.points_offered,
            used: 0,
            points_per_unit: policy.points_per_unit,
            fen_per_unit: policy.fen_per_unit,
        };
        Ok(CartAnswer {
            lines: views,
            selected_count: lines.len(),
            full_reductions: quote
                .full_reduction_progress
                .iter()
                .map(FullReductionView::from)
                .collect(),
            quote: Some(views::quote_answer(
                &quote,
                &snapshot.skus,
                points,
                &options,
            )),
        })
    }

    /// `POST /v1/cart/items {skuId, quantity}`: adds to the line of that SKU or starts one.
    pub(crate) async fn add_to_cart(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let body: AddBody = req.json_body()?;
        let sku = body
            .sku_id
            .as_deref()
            .ok_or_else(|| ApiError::invalid_field("skuId", "is required"))
            .and_then(|s| SkuId::parse(s).map_err(|e| ApiError::invalid_field("skuId", e)))?;
        let quantity = quantity_field("quantity", body.quantity.as_ref())?;
        let snapshot = self
            .cart
            .read(&user, std::slice::from_ref(&sku), None, None)
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        let Some(for_sale) = snapshot.skus.iter().find(|s| s.sku.id == sku) else {
            return Err(
                ApiError::new(404, "sku_not_found", format!("no SKU {sku}")).with_field("skuId")
            );
        };
        if !for_sale.on_shelf {
            return Err(
                ApiError::new(422, "sku_unavailable", "this product is off the shelf")
                    .with_field("skuId"),
            );
        }
        let now = now_epoch_seconds();
        match self
            .shopping
            .add_to_cart(&user, &sku, quantity, now)
            .await
            .map_err(|e| ApiError::unexpected(&e))?
        {
            Added::Added(held) => {
                self.metrics.event(
                    BusinessEvent::CartAdd,
                    &Facts {
                        channel: Some(edge::channel::channel_of(req)),
                        category: Some(&for_sale.category_id),
                        product: Some(&for_sale.sku.product_id),
                        ..Facts::default()
                    },
                );
                tracing::info!(sku_id = %sku, quantity = held, "added to cart");
                Ok(api::json(
                    201,
                    &serde_json::json!({"skuId": sku, "quantity": held}),
                ))
            }
            Added::LineFull(held) => Err(ApiError::new(
                422,
                "cart_line_full",
                format!(
                    "a cart line holds at most {MAX_LINE_QUANTITY}; this one holds {held} already"
                ),
            )
            .with_field("quantity")),
            Added::CartFull => Err(ApiError::new(
                422,
                "cart_full",
                format!("a cart holds at most {MAX_CART_LINES} lines; remove some first"),
            )
            .with_field("skuId")),
        }
    }

    /// `PATCH /v1/cart/items/{skuId} {quantity?, selected?}`.
    pub(crate) async fn change_cart_line(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let sku = sku_path(req)?;
        let body: Value = req.json_body()?;
        let quantity = match body.get("quantity") {
            None | Some(Value::Null) => None,
            raw => Some(quantity_field("quantity", raw)?),
        };
        let selected = match body.get("selected") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return Err(ApiError::invalid_field("selected", "must be true or false")),
        };
        let line: CartItem = self
            .shopping
            .change_line(&user, &sku, quantity, selected)
            .await
            .map_err(|e| ApiError::unexpected(&e))?
            .ok_or_else(|| {
                ApiError::new(404, "not_in_cart", format!("SKU {sku} is not in the cart"))
            })?;
        Ok(api::json(200, &line))
    }

    /// `DELETE /v1/cart/items/{skuId}`: 204 whether or not it was there.
    pub(crate) async fn remove_from_cart(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let sku = sku_path(req)?;
        self.shopping
            .remove_line(&user, &sku)
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        Ok(api::empty(204))
    }

    /// What an order `fromCart` buys (the selected lines) and where an order with an
    /// `addressId` goes, read into the request before it is priced.
    pub(crate) async fn fill_from_saved(
        &self,
        user: &UserId,
        request: &mut CheckoutRequest,
    ) -> Result<(), ApiError> {
        if request.from_cart {
            let selected: Vec<CartItem> = self
                .shopping
                .cart(user)
                .await
                .map_err(|e| ApiError::unexpected(&e))?
                .into_iter()
                .filter(|l| l.selected)
                .collect();
            if selected.is_empty() {
                return Err(ApiError::new(
                    422,
                    "cart_nothing_selected",
                    "no line of the cart is selected",
                )
                .with_field("fromCart"));
            }
            if selected.len() > MAX_LINES {
                return Err(ApiError::new(
                    422,
                    "cart_too_many_selected",
                    format!("an order has at most {MAX_LINES} lines: select fewer"),
                )
                .with_field("fromCart"));
            }
            request.items = selected
                .into_iter()
                .map(|l| (l.sku_id, Quantity::from(l.quantity)))
                .collect();
        }
        if let Some(id) = &request.address_id {
            request.address = Some(self.saved_address(user, id).await?);
        }
        Ok(())
    }

    /// An address of the shopper's book, complete enough to ship to.
    pub(crate) async fn saved_address(
        &self,
        user: &UserId,
        id: &domain::ids::AddressId,
    ) -> Result<domain::order::Address, ApiError> {
        let saved = self
            .shopping
            .address(user, id)
            .await
            .map_err(|e| ApiError::unexpected(&e))?
            .ok_or_else(|| {
                ApiError::new(404, "address_not_found", "no such address in your book")
                    .with_field("addressId")
            })?;
        if saved.address.phone.is_empty() {
            return Err(ApiError::new(
                422,
                "address_incomplete",
                "this address has no phone (it was revoked on WeChat): add one first",
            )
            .with_field("addressId"));
        }
        Ok(saved.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::pricing::{NextTier, Tier};

    #[test]
    fn a_rule_between_tiers_shows_the_gap_to_the_next() {
        let progress = TierProgress {
            rule_id: "r1".into(),
            eligible: Fen::new(28700),
            reached: Some(Tier {
                threshold: Fen::new(19900),
                off: Fen::new(2000),
            }),
            next: Some(NextTier {
                tier: Tier {
                    threshold: Fen::new(29900),
                    off: Fen::new(4000),
                },
                missing: Fen::new(1200),
            }),
        };
        let view = serde_json::to_value(FullReductionView::from(&progress)).unwrap();
        assert_eq!(view["missing"], 1200);
        assert_eq!(view["hint"], "再买 ¥12.00 减 ¥40.00");
        assert_eq!(view["reached"]["off"], 2000);
    }
}
