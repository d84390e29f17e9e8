//! The price engine: what an order of these SKUs costs. Pure: the same inputs always give the
//! same breakdown, and checkout prices on the server with it rather than trusting the client.
//! The promotions work extends it; the order it applies things in is stated in [`quote`].

use crate::catalog::Sku;
use crate::money::Fen;
use crate::order::{Discount, Quantity};
use serde::{Deserialize, Serialize};

/// Shipping: free from `free_over` upward, else a flat fee. Kept in the catalog table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingRule {
    pub free_over: Fen,
    pub flat_fee: Fen,
}

impl Default for ShippingRule {
    /// 包邮 from 99 yuan, else 10 yuan: what a small shop starts with.
    fn default() -> Self {
        Self {
            free_over: Fen::new(9900),
            flat_fee: Fen::new(1000),
        }
    }
}

/// One line of a quote.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuoteLine {
    pub sku: Sku,
    pub quantity: Quantity,
    pub unit_price: Fen,
    pub line_total: Fen,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    pub lines: Vec<QuoteLine>,
    pub subtotal: Fen,
    pub discounts: Vec<Discount>,
    pub shipping: Fen,
    pub total: Fen,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the order total is too large")]
pub struct AmountOverflow;

/// Prices the lines: unit prices, then (in later work) discounts, then shipping last.
pub fn quote(lines: &[(Sku, Quantity)], shipping: ShippingRule) -> Result<Quote, AmountOverflow> {
    let mut priced = Vec::with_capacity(lines.len());
    let mut subtotal = Fen::ZERO;
    for (sku, quantity) in lines {
        let line_total = sku
            .price
            .checked_mul(u64::from(quantity.get()))
            .ok_or(AmountOverflow)?;
        subtotal = subtotal.checked_add(line_total).ok_or(AmountOverflow)?;
        priced.push(QuoteLine {
            sku: sku.clone(),
            quantity: *quantity,
            unit_price: sku.price,
            line_total,
        });
    }
    let discounts: Vec<Discount> = Vec::new();
    let discounted = discounts
        .iter()
        .fold(subtotal, |acc, d| acc.saturating_sub(d.amount));
    let shipping_fee = if discounted >= shipping.free_over {
        Fen::ZERO
    } else {
        shipping.flat_fee
    };
    let total = discounted.checked_add(shipping_fee).ok_or(AmountOverflow)?;
    Ok(Quote {
        lines: priced,
        subtotal,
        discounts,
        shipping: shipping_fee,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ProductId, SkuId};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn sku(id: &str, price: u64) -> Sku {
        Sku {
            id: SkuId::parse(id).unwrap(),
            product_id: ProductId::parse("p").unwrap(),
            specs: BTreeMap::new(),
            price: Fen::new(price),
            original_price: None,
            stock: 10,
            member_prices: BTreeMap::new(),
            flash_sale: None,
            group_buy: None,
        }
    }

    fn q(n: i64) -> Quantity {
        Quantity::new(n).unwrap()
    }

    #[test]
    fn small_orders_pay_the_flat_fee_and_large_ones_ship_free() {
        let rule = ShippingRule::default();
        let small = quote(&[(sku("a", 1990), q(2))], rule).unwrap();
        assert_eq!(
            (small.subtotal, small.shipping, small.total),
            (Fen::new(3980), Fen::new(1000), Fen::new(4980))
        );
        let large = quote(&[(sku("a", 1990), q(5))], rule).unwrap();
        assert_eq!(
            (large.subtotal, large.shipping, large.total),
            (Fen::new(9950), Fen::ZERO, Fen::new(9950))
        );
    }

    #[test]
    fn exactly_the_threshold_ships_free() {
        let exact = quote(&[(sku("a", 9900), q(1))], ShippingRule::default()).unwrap();
        assert_eq!(exact.shipping, Fen::ZERO);
    }

    #[test]
    fn absurd_amounts_are_refused_not_wrapped() {
        assert_eq!(
            quote(&[(sku("a", u64::MAX / 2), q(3))], ShippingRule::default()),
            Err(AmountOverflow)
        );
    }

    proptest! {
        #[test]
        fn the_total_is_the_sum_of_lines_plus_shipping(prices in proptest::collection::vec((1u64..1_000_000, 1i64..999), 1..50)) {
            let lines: Vec<_> = prices.iter().enumerate().map(|(i, (p, n))| (sku(&format!("s{i}"), *p), q(*n))).collect();
            let a = quote(&lines, ShippingRule::default()).unwrap();
            let b = quote(&lines, ShippingRule::default()).unwrap();
            prop_assert_eq!(&a, &b);
            let sum = a.lines.iter().map(|l| l.line_total.get()).sum::<u64>();
            prop_assert_eq!(sum, a.subtotal.get());
            prop_assert_eq!(a.total.get(), a.subtotal.get() + a.shipping.get());
        }
    }
}
