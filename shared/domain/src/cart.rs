//! The shopper's cart (购物车): lines of SKUs kept between visits, each with how many and whether
//! it is selected for the next order. Prices are never kept here: a cart is priced afresh by
//! the price engine every time it is read.

use crate::field::FieldError;
use crate::ids::SkuId;
use serde::{Deserialize, Serialize};

/// A cart holds at most this many lines.
pub const MAX_CART_LINES: u32 = 100;
/// A line holds at most this many units.
pub const MAX_LINE_QUANTITY: u32 = 99;

/// How many units of a SKU a cart line holds: 1 to 99.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct CartQuantity(u32);

impl CartQuantity {
    pub fn new(raw: i64) -> Result<Self, String> {
        u32::try_from(raw)
            .ok()
            .filter(|q| (1..=MAX_LINE_QUANTITY).contains(q))
            .map(Self)
            .ok_or_else(|| format!("must be a whole number from 1 to {MAX_LINE_QUANTITY}"))
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// The room left on a line holding this many.
    pub fn room(self) -> u32 {
        MAX_LINE_QUANTITY - self.0
    }
}

impl TryFrom<i64> for CartQuantity {
    type Error = String;
    fn try_from(raw: i64) -> Result<Self, String> {
        Self::new(raw)
    }
}

impl From<CartQuantity> for u32 {
    fn from(q: CartQuantity) -> u32 {
        q.0
    }
}

/// One line of a shopper's cart as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CartItem {
    pub sku_id: SkuId,
    pub quantity: CartQuantity,
    pub selected: bool,
    pub added_at: i64,
}

/// Reads a cart quantity from a request field.
pub fn quantity_field(
    field: &str,
    raw: Option<&serde_json::Value>,
) -> Result<CartQuantity, FieldError> {
    raw.and_then(serde_json::Value::as_i64)
        .ok_or_else(|| format!("must be a whole number from 1 to {MAX_LINE_QUANTITY}"))
        .and_then(CartQuantity::new)
        .map_err(|problem| FieldError {
            field: field.to_string(),
            problem,
        })
}
