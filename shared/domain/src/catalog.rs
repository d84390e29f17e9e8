//! The catalog as shoppers see it: categories, products, SKUs and what each may show.

use crate::field::FieldError;
use crate::ids::{CategoryId, ProductId, SkuId};
use crate::media::PublicMedia;
use crate::money::Fen;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// At or below this many units a SKU shows as "low" rather than its exact count, and is on the
/// merchant's low-stock list unless the shop (`LOW_STOCK_THRESHOLD`) or the SKU says otherwise.
pub const LOW_STOCK_THRESHOLD: u32 = 10;

/// The most a low-stock threshold can be.
pub const MAX_LOW_STOCK_AT: u64 = 100_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Category {
    pub id: CategoryId,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<CategoryId>,
    pub sort: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
}

/// A category as staff write it: a name of 1 to 20 characters, a place in its list (`sort`,
/// smaller first) and an optional https icon.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryDraft {
    pub name: Option<String>,
    pub parent_id: Option<String>,
    pub sort: Option<i64>,
    pub icon: Option<String>,
}

impl CategoryDraft {
    /// The category `id` as this draft says, under `parent` (checked to exist by the caller).
    pub fn parse(
        &self,
        id: CategoryId,
        parent: Option<CategoryId>,
    ) -> Result<Category, FieldError> {
        let name = self.name.as_deref().map(str::trim).unwrap_or("");
        if !(1..=20).contains(&name.chars().count()) || name.chars().any(char::is_control) {
            return Err(FieldError::new("name", "must be 1 to 20 characters"));
        }
        let sort = match self.sort {
            None => 0,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| *n <= 9999)
                .ok_or_else(|| FieldError::new("sort", "must be 0 to 9999"))?,
        };
        let icon = match self.icon.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url)
                if url.starts_with("https://")
                    && url.len() <= 500
                    && !url.contains(char::is_whitespace) =>
            {
                Some(url.to_string())
            }
            Some(_) => {
                return Err(FieldError::new(
                    "icon",
                    "must be an https:// link of at most 500 characters",
                ));
            }
        };
        if parent.as_ref() == Some(&id) {
            return Err(FieldError::new("parentId", "cannot be the category itself"));
        }
        Ok(Category {
            id,
            name: name.to_string(),
            parent_id: parent,
            sort,
            icon,
        })
    }
}

/// How deep the tree goes: the categories above a product's are at most this many.
pub const MAX_CATEGORY_DEPTH: usize = 8;

/// The categories above `id`, nearest first (what a SKU carries, so checkout can apply a
/// category's promotion without the tree). Stops at a loop or at [`MAX_CATEGORY_DEPTH`].
pub fn categories_above(categories: &[Category], id: &CategoryId) -> Vec<CategoryId> {
    let parent_of = |c: &CategoryId| {
        categories
            .iter()
            .find(|k| &k.id == c)
            .and_then(|k| k.parent_id.clone())
    };
    let mut above: Vec<CategoryId> = Vec::new();
    let mut at = parent_of(id);
    while let Some(parent) = at {
        if &parent == id || above.contains(&parent) || above.len() >= MAX_CATEGORY_DEPTH {
            break;
        }
        at = parent_of(&parent);
        above.push(parent);
    }
    above
}

/// `id` and every category under it.
pub fn category_and_below(categories: &[Category], id: &CategoryId) -> Vec<CategoryId> {
    let mut found = vec![id.clone()];
    let mut i = 0;
    while i < found.len() {
        let children: Vec<CategoryId> = categories
            .iter()
            .filter(|c| c.parent_id.as_ref() == Some(&found[i]))
            .map(|c| c.id.clone())
            .collect();
        for child in children {
            if !found.contains(&child) {
                found.push(child);
            }
        }
        i += 1;
    }
    found
}

/// Moving `id` under `to` (`None`: to the top): refused when `to` is unknown, is the category
/// itself or lies under it (a loop), or when the tree would grow deeper than
/// [`MAX_CATEGORY_DEPTH`].
pub fn check_category_move(
    categories: &[Category],
    id: &CategoryId,
    to: Option<&CategoryId>,
) -> Result<(), FieldError> {
    let Some(to) = to else {
        return Ok(());
    };
    if !categories.iter().any(|c| &c.id == to) {
        return Err(FieldError::new(
            "parentId",
            "must be an existing category's id",
        ));
    }
    let below = category_and_below(categories, id);
    if below.contains(to) {
        return Err(FieldError::new(
            "parentId",
            "is this category or one under it: a category cannot move under itself",
        ));
    }
    // The deepest category moved: its depth under `id`, plus `to`'s own chain and `to` itself.
    let depth_below = below
        .iter()
        .map(|c| {
            categories_above(categories, c)
                .iter()
                .position(|a| a == id)
                .map_or(0, |p| p + 1)
        })
        .max()
        .unwrap_or(0);
    if categories_above(categories, to).len() + 1 + depth_below > MAX_CATEGORY_DEPTH {
        return Err(FieldError::new(
            "parentId",
            format!("would make the tree deeper than {MAX_CATEGORY_DEPTH} levels"),
        ));
    }
    Ok(())
}

/// A category with its children, as `GET /v1/categories` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryNode {
    #[serde(flatten)]
    pub category: Category,
    pub children: Vec<CategoryNode>,
}

/// Builds the tree from a flat list; an orphan (parent missing) shows at the top level.
pub fn category_tree(mut all: Vec<Category>) -> Vec<CategoryNode> {
    all.sort_by(|a, b| (a.sort, &a.id).cmp(&(b.sort, &b.id)));
    let known: std::collections::BTreeSet<CategoryId> = all.iter().map(|c| c.id.clone()).collect();
    fn children_of(
        parent: Option<&CategoryId>,
        all: &[Category],
        known: &std::collections::BTreeSet<CategoryId>,
        depth: u8,
    ) -> Vec<CategoryNode> {
        if depth > 8 {
            return Vec::new();
        }
        all.iter()
            .filter(|c| match (parent, &c.parent_id) {
                (None, None) => true,
                (None, Some(p)) => !known.contains(p),
                (Some(p), Some(q)) => p == q,
                (Some(_), None) => false,
            })
            .map(|c| CategoryNode {
                category: c.clone(),
                children: children_of(Some(&c.id), all, known, depth + 1),
            })
            .collect()
    }
    children_of(None, &all, &known, 0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StockState {
    InStock,
    Low,
    SoldOut,
}

impl StockState {
    pub fn of(stock: u64) -> Self {
        match stock {
            0 => StockState::SoldOut,
            n if n <= u64::from(LOW_STOCK_THRESHOLD) => StockState::Low,
            _ => StockState::InStock,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: ProductId,
    pub title: String,
    #[serde(default)]
    pub subtitle: String,
    pub category_id: CategoryId,
    pub images: Vec<String>,
    #[serde(default)]
    pub description: String,
    pub on_shelf: bool,
    /// Units sold; drives "popular" ordering.
    #[serde(default)]
    pub sales: u64,
}

/// A flash sale (秒杀) on one SKU: its own price and quota inside a time window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlashSale {
    pub starts_at: i64,
    pub ends_at: i64,
    pub price: Fen,
    pub quota: u64,
    #[serde(default)]
    pub sold: u64,
    pub per_user_limit: u32,
}

impl FlashSale {
    /// Sane against the SKU's price: a window ending after it starts (`endsAt`), a `price`
    /// above 0 and below the regular one, at least one unit (`quota`) and one per shopper
    /// (`perUser`).
    pub fn check(&self, regular: Fen) -> Result<(), FieldError> {
        if self.ends_at <= self.starts_at {
            return refuse("endsAt", "the sale must end after it starts");
        }
        if self.price.get() == 0 || self.price >= regular {
            return refuse(
                "price",
                "the flash-sale price must be above 0 and below the regular price",
            );
        }
        if self.quota == 0 {
            return refuse("quota", "the quota must be at least 1");
        }
        if self.per_user_limit == 0 {
            return refuse("perUser", "the limit per shopper must be at least 1");
        }
        Ok(())
    }
}

/// A group-buy (拼团) offer on one SKU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupBuyOffer {
    pub group_size: u8,
    pub price: Fen,
    pub time_limit_hours: u32,
}

fn refuse(field: &str, problem: &str) -> Result<(), FieldError> {
    Err(FieldError::new(field, problem))
}

impl GroupBuyOffer {
    /// Sane against the SKU's price: 2 to 10 people (`size`), a `price` above 0 and below the
    /// regular one, 1 hour to 7 days (`hours`).
    pub fn check(&self, regular: Fen) -> Result<(), FieldError> {
        if !(2..=10).contains(&self.group_size) {
            return refuse("size", "group size must be 2 to 10");
        }
        if self.price.get() == 0 || self.price >= regular {
            return refuse(
                "price",
                "the group price must be above 0 and below the regular price",
            );
        }
        if !(1..=168).contains(&self.time_limit_hours) {
            return refuse("hours", "the time limit must be 1 to 168 hours");
        }
        Ok(())
    }
}

/// A bargain (砍价) offer on one SKU: friends cut the price down to `floor_price`, the last of
/// `max_helpers` landing on it exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BargainOffer {
    pub floor_price: Fen,
    pub max_helpers: u32,
    pub time_limit_hours: u32,
}

impl BargainOffer {
    /// Sane against the SKU's price: 1 to 50 `helpers`, each able to cut at least a fen above
    /// the `floor`, 1 hour to 7 days (`hours`).
    pub fn check(&self, regular: Fen) -> Result<(), FieldError> {
        if !(1..=50).contains(&self.max_helpers) {
            return refuse("helpers", "helpers must be 1 to 50");
        }
        if self.floor_price >= regular
            || regular.get() - self.floor_price.get() < u64::from(self.max_helpers)
        {
            return refuse(
                "floor",
                "the floor must be below the price by at least a fen per helper",
            );
        }
        if !(1..=168).contains(&self.time_limit_hours) {
            return refuse("hours", "the time limit must be 1 to 168 hours");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sku {
    pub id: SkuId,
    pub product_id: ProductId,
    /// Spec name to value, for example 颜色 -> 红色.
    pub specs: BTreeMap<String, String>,
    pub price: Fen,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_price: Option<Fen>,
    pub stock: u64,
    /// Price per member level, where the shop set one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub member_prices: BTreeMap<String, Fen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flash_sale: Option<FlashSale>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_buy: Option<GroupBuyOffer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bargain: Option<BargainOffer>,
    /// At or under this stock the SKU is on the low-stock list; `None`: the shop's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_stock_at: Option<u64>,
}

impl Sku {
    /// Whether the SKU is at or under its low-stock threshold (the shop's `default` unless set).
    pub fn is_low(&self, default: u64) -> bool {
        self.stock <= self.low_stock_at.unwrap_or(default)
    }
}

/// One line of a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductSummary {
    pub id: ProductId,
    pub title: String,
    pub subtitle: String,
    pub category_id: CategoryId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The lowest SKU price.
    pub price_from: Fen,
    pub stock_state: StockState,
    pub sales: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FlashSaleView {
    pub starts_at: String,
    pub ends_at: String,
    pub price: Fen,
    pub quota_left: bool,
    pub per_user_limit: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SkuView {
    pub id: SkuId,
    pub specs: BTreeMap<String, String>,
    pub price: Fen,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_price: Option<Fen>,
    pub stock_state: StockState,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub member_prices: BTreeMap<String, Fen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flash_sale: Option<FlashSaleView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_buy: Option<GroupBuyOffer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bargain: Option<BargainOffer>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductDetail {
    pub id: ProductId,
    pub title: String,
    pub subtitle: String,
    pub category_id: CategoryId,
    pub images: Vec<String>,
    pub description: String,
    pub price_from: Fen,
    pub stock_state: StockState,
    pub sales: u64,
    pub skus: Vec<SkuView>,
}

impl Sku {
    pub fn view(&self, now: i64) -> SkuView {
        // An ended sale is history, not an offer; an upcoming one is shown so the page can count down.
        let flash_sale = self
            .flash_sale
            .as_ref()
            .filter(|f| f.ends_at > now)
            .map(|f| FlashSaleView {
                starts_at: crate::clock::rfc3339(f.starts_at),
                ends_at: crate::clock::rfc3339(f.ends_at),
                price: f.price,
                quota_left: f.sold < f.quota,
                per_user_limit: f.per_user_limit,
            });
        SkuView {
            id: self.id.clone(),
            specs: self.specs.clone(),
            price: self.price,
            original_price: self.original_price,
            stock_state: StockState::of(self.stock),
            member_prices: self.member_prices.clone(),
            flash_sale,
            group_buy: self.group_buy.clone(),
            bargain: self.bargain.clone(),
        }
    }
}

/// What a product's listing line shows, from its SKUs.
pub fn summarize(product: &Product, skus: &[Sku]) -> ProductSummary {
    ProductSummary {
        id: product.id.clone(),
        title: product.title.clone(),
        subtitle: product.subtitle.clone(),
        category_id: product.category_id.clone(),
        image: product.images.first().cloned(),
        price_from: skus.iter().map(|s| s.price).min().unwrap_or(Fen::ZERO),
        stock_state: StockState::of(skus.iter().map(|s| s.stock).sum()),
        sales: product.sales,
    }
}

pub fn detail(product: &Product, skus: &[Sku], now: i64) -> ProductDetail {
    let summary = summarize(product, skus);
    ProductDetail {
        id: product.id.clone(),
        title: product.title.clone(),
        subtitle: product.subtitle.clone(),
        category_id: product.category_id.clone(),
        images: product.images.clone(),
        description: product.description.clone(),
        price_from: summary.price_from,
        stock_state: summary.stock_state,
        sales: product.sales,
        skus: skus.iter().map(|s| s.view(now)).collect(),
    }
}

/// How staff change a SKU's stock: to a number, or by a number of units (a delivery in, a
/// breakage out), always with a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockChange {
    Set(u64),
    By(i64),
}

impl StockChange {
    /// Exactly one of `set` (a count) and `delta` (units in or out, not zero).
    pub fn parse(set: Option<i64>, delta: Option<i64>) -> Result<Self, FieldError> {
        match (set, delta) {
            (Some(n), None) if (0..=MAX_STOCK).contains(&n) => Ok(StockChange::Set(n as u64)),
            (Some(_), None) => Err(FieldError::new(
                "set",
                format!("must be a count from 0 to {MAX_STOCK}"),
            )),
            (None, Some(d)) if d != 0 && d.abs() <= MAX_STOCK => Ok(StockChange::By(d)),
            (None, Some(_)) => Err(FieldError::new(
                "delta",
                format!("must be units in (+) or out (-), not zero, at most {MAX_STOCK}"),
            )),
            _ => Err(FieldError::new("set", "give either set or delta")),
        }
    }

    /// The stock after the change from `seen`; `None` when it would go below zero or past the
    /// most a SKU holds.
    pub fn applied_to(self, seen: u64) -> Option<u64> {
        let to = match self {
            StockChange::Set(n) => n as i64,
            StockChange::By(d) => (seen as i64).checked_add(d)?,
        };
        (0..=MAX_STOCK).contains(&to).then_some(to as u64)
    }
}

/// The most units one SKU's stock holds.
pub const MAX_STOCK: i64 = 10_000_000;

/// Why a SKU's stock or price changed: 1 to 80 characters, for the audit log.
pub fn change_reason(raw: Option<&str>) -> Result<String, FieldError> {
    let reason = raw.map(str::trim).unwrap_or("");
    if reason.is_empty() || reason.chars().count() > 80 || reason.chars().any(char::is_control) {
        return Err(FieldError::new("reason", "is required: 1 to 80 characters"));
    }
    Ok(reason.to_string())
}

/// A promotion on one SKU: a flash sale (秒杀), a group-buy (拼团) or a bargain (砍价) offer.
#[derive(Debug, Clone, PartialEq)]
pub enum SkuOffer {
    FlashSale(FlashSale),
    GroupBuy(GroupBuyOffer),
    Bargain(BargainOffer),
}

/// Which promotion on a SKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferKind {
    FlashSale,
    GroupBuy,
    Bargain,
}

impl OfferKind {
    pub const ALL: [OfferKind; 3] = [
        OfferKind::FlashSale,
        OfferKind::GroupBuy,
        OfferKind::Bargain,
    ];

    /// As a path or a command names it: `flash-sale`, `group-buy`, `bargain`.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OfferKind::FlashSale => "flash-sale",
            OfferKind::GroupBuy => "group-buy",
            OfferKind::Bargain => "bargain",
        }
    }

    /// The SKU's field holding it.
    pub fn attribute(self) -> &'static str {
        match self {
            OfferKind::FlashSale => "flashSale",
            OfferKind::GroupBuy => "groupBuy",
            OfferKind::Bargain => "bargain",
        }
    }

    /// The offer of this kind `sku` has now, as stored.
    pub fn on(self, sku: &Sku) -> serde_json::Value {
        match self {
            OfferKind::FlashSale => serde_json::to_value(&sku.flash_sale),
            OfferKind::GroupBuy => serde_json::to_value(&sku.group_buy),
            OfferKind::Bargain => serde_json::to_value(&sku.bargain),
        }
        .unwrap_or_default()
    }
}

impl SkuOffer {
    pub fn kind(&self) -> OfferKind {
        match self {
            SkuOffer::FlashSale(_) => OfferKind::FlashSale,
            SkuOffer::GroupBuy(_) => OfferKind::GroupBuy,
            SkuOffer::Bargain(_) => OfferKind::Bargain,
        }
    }

    /// Sane against the SKU's regular price, each kind by its own rules.
    pub fn check(&self, regular: Fen) -> Result<(), FieldError> {
        match self {
            SkuOffer::FlashSale(sale) => sale.check(regular),
            SkuOffer::GroupBuy(offer) => offer.check(regular),
            SkuOffer::Bargain(offer) => offer.check(regular),
        }
    }

    /// As stored on the SKU; a flash sale's `sold` is kept by the SKU's own counter.
    pub fn stored(&self) -> serde_json::Value {
        match self {
            SkuOffer::FlashSale(sale) => serde_json::to_value(FlashSale {
                sold: 0,
                ..sale.clone()
            }),
            SkuOffer::GroupBuy(offer) => serde_json::to_value(offer),
            SkuOffer::Bargain(offer) => serde_json::to_value(offer),
        }
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    fn tree(edges: &[(&str, Option<&str>)]) -> Vec<Category> {
        edges
            .iter()
            .map(|(id, parent)| Category {
                id: CategoryId::parse(id).unwrap(),
                name: id.to_string(),
                parent_id: parent.map(|p| CategoryId::parse(p).unwrap()),
                sort: 0,
                icon: None,
            })
            .collect()
    }

    fn cat(id: &str) -> CategoryId {
        CategoryId::parse(id).unwrap()
    }

    #[test]
    fn a_category_is_moved_anywhere_but_under_itself() {
        // given 茶 > 绿茶 > 龙井, and 零食
        let shop = tree(&[
            ("tea", None),
            ("green", Some("tea")),
            ("longjing", Some("green")),
            ("snacks", None),
        ]);
        // then 绿茶 moves under 零食 or to the top, never under itself or 龙井
        assert!(check_category_move(&shop, &cat("green"), Some(&cat("snacks"))).is_ok());
        assert!(check_category_move(&shop, &cat("green"), None).is_ok());
        for to in ["green", "longjing", "nowhere"] {
            let refused = check_category_move(&shop, &cat("green"), Some(&cat(to)));
            assert_eq!(refused.unwrap_err().field, "parentId", "{to}");
        }
        assert_eq!(
            categories_above(&shop, &cat("longjing")),
            vec![cat("green"), cat("tea")]
        );
        assert_eq!(
            category_and_below(&shop, &cat("tea")),
            vec![cat("tea"), cat("green"), cat("longjing")]
        );
    }

    #[test]
    fn a_move_that_would_make_the_tree_too_deep_is_refused() {
        // given a chain c0 > c1 > ... > c7 (eight deep) and a category with one child
        let mut edges: Vec<(String, Option<String>)> = (0..8)
            .map(|i| (format!("c{i}"), (i > 0).then(|| format!("c{}", i - 1))))
            .collect();
        edges.push(("box".into(), None));
        edges.push(("inner".into(), Some("box".into())));
        let borrowed: Vec<(&str, Option<&str>)> = edges
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_deref()))
            .collect();
        let shop = tree(&borrowed);
        // then it fits under c6 (inner ends eight below the top) but not under c7
        assert!(check_category_move(&shop, &cat("box"), Some(&cat("c6"))).is_ok());
        assert!(check_category_move(&shop, &cat("box"), Some(&cat("c7"))).is_err());
    }

    use super::*;

    #[test]
    fn a_stock_change_is_a_count_or_units_in_or_out_and_never_below_zero() {
        assert_eq!(
            StockChange::parse(Some(5), None).unwrap(),
            StockChange::Set(5)
        );
        assert_eq!(
            StockChange::parse(None, Some(-2)).unwrap(),
            StockChange::By(-2)
        );
        assert_eq!(StockChange::parse(None, None).unwrap_err().field, "set");
        assert_eq!(
            StockChange::parse(Some(1), Some(1)).unwrap_err().field,
            "set"
        );
        assert_eq!(StockChange::parse(Some(-1), None).unwrap_err().field, "set");
        assert_eq!(
            StockChange::parse(None, Some(0)).unwrap_err().field,
            "delta"
        );
        assert_eq!(StockChange::By(-2).applied_to(5), Some(3));
        assert_eq!(StockChange::By(-6).applied_to(5), None);
        assert_eq!(StockChange::Set(0).applied_to(5), Some(0));
        assert!(change_reason(Some("  ")).is_err());
        assert_eq!(change_reason(Some(" 到货 ")).unwrap(), "到货");
    }

    #[test]
    fn group_offers_must_make_sense() {
        let offer = |group_size, price, time_limit_hours| GroupBuyOffer {
            group_size,
            price: Fen::new(price),
            time_limit_hours,
        };
        let regular = Fen::new(8800);
        assert!(offer(3, 5900, 24).check(regular).is_ok());
        for (bad, field) in [
            (offer(1, 5900, 24), "size"),
            (offer(11, 5900, 24), "size"),
            (offer(3, 8800, 24), "price"),
            (offer(3, 5900, 0), "hours"),
        ] {
            assert_eq!(bad.check(regular).unwrap_err().field, field);
        }
    }

    #[test]
    fn a_bargain_needs_a_fen_per_helper() {
        let offer = BargainOffer {
            floor_price: Fen::new(95),
            max_helpers: 10,
            time_limit_hours: 24,
        };
        assert!(offer.check(Fen::new(105)).is_ok());
        assert_eq!(offer.check(Fen::new(104)).unwrap_err().field, "floor");
    }

    fn sku(id: &str, price: u64, stock: u64) -> Sku {
        Sku {
            id: SkuId::parse(id).unwrap(),
            product_id: ProductId::parse("p1").unwrap(),
            specs: BTreeMap::new(),
            price: Fen::new(price),
            original_price: None,
            stock,
            member_prices: BTreeMap::new(),
            flash_sale: None,
            group_buy: None,
            bargain: None,
            low_stock_at: None,
        }
    }

    fn product() -> Product {
        Product {
            id: ProductId::parse("p1").unwrap(),
            title: "普洱".into(),
            subtitle: String::new(),
            category_id: CategoryId::parse("tea").unwrap(),
            images: vec!["https://img.example/1.jpg".into()],
            description: String::new(),
            on_shelf: true,
            sales: 3,
        }
    }

    #[test]
    fn stock_state_hides_exact_counts() {
        assert_eq!(StockState::of(0), StockState::SoldOut);
        assert_eq!(StockState::of(1), StockState::Low);
        assert_eq!(StockState::of(10), StockState::Low);
        assert_eq!(StockState::of(11), StockState::InStock);
    }

    #[test]
    fn summary_shows_lowest_price_and_total_stock_state() {
        let s = summarize(&product(), &[sku("a", 1990, 0), sku("b", 990, 0)]);
        assert_eq!(s.price_from, Fen::new(990));
        assert_eq!(s.stock_state, StockState::SoldOut);
    }

    #[test]
    fn unset_promotions_are_absent_from_the_detail_json() {
        let d = detail(&product(), &[sku("a", 100, 50)], 0);
        let v = serde_json::to_value(&d).unwrap();
        let sku = &v["skus"][0];
        assert_eq!(sku["stockState"], "in_stock");
        for absent in [
            "memberPrices",
            "flashSale",
            "groupBuy",
            "originalPrice",
            "stock",
        ] {
            assert!(sku.get(absent).is_none(), "{absent} should be absent");
        }
    }

    #[test]
    fn a_flash_sale_must_fit_its_window_price_and_numbers() {
        let sale = FlashSale {
            starts_at: 100,
            ends_at: 200,
            price: Fen::new(50),
            quota: 10,
            sold: 3,
            per_user_limit: 1,
        };
        assert!(sale.check(Fen::new(100)).is_ok());
        let field = |s: FlashSale, regular: u64| s.check(Fen::new(regular)).unwrap_err().field;
        assert_eq!(
            field(
                FlashSale {
                    ends_at: 100,
                    ..sale.clone()
                },
                100
            ),
            "endsAt"
        );
        assert_eq!(field(sale.clone(), 50), "price");
        assert_eq!(
            field(
                FlashSale {
                    quota: 0,
                    ..sale.clone()
                },
                100
            ),
            "quota"
        );
        assert_eq!(
            field(
                FlashSale {
                    per_user_limit: 0,
                    ..sale.clone()
                },
                100
            ),
            "perUser"
        );
        let offer = SkuOffer::FlashSale(sale);
        assert_eq!(
            offer.stored()["sold"],
            0,
            "the SKU's own counter keeps what is sold"
        );
        assert_eq!(
            OfferKind::parse(offer.kind().as_str()),
            Some(OfferKind::FlashSale)
        );
        assert_eq!(OfferKind::parse("lottery"), None);
    }

    #[test]
    fn ended_flash_sale_is_not_shown() {
        let mut s = sku("a", 100, 5);
        s.flash_sale = Some(FlashSale {
            starts_at: 0,
            ends_at: 100,
            price: Fen::new(50),
            quota: 10,
            sold: 10,
            per_user_limit: 1,
        });
        assert!(s.view(50).flash_sale.is_some_and(|f| !f.quota_left));
        assert!(s.view(100).flash_sale.is_none());
    }

    #[test]
    fn category_tree_nests_children_and_keeps_orphans() {
        let c = |id: &str, parent: Option<&str>, sort| Category {
            id: CategoryId::parse(id).unwrap(),
            name: id.into(),
            parent_id: parent.map(|p| CategoryId::parse(p).unwrap()),
            sort,
            icon: None,
        };
        let tree = category_tree(vec![
            c("b", None, 2),
            c("a", None, 1),
            c("a1", Some("a"), 1),
            c("x", Some("gone"), 3),
        ]);
        let top: Vec<_> = tree.iter().map(|n| n.category.id.as_str()).collect();
        assert_eq!(top, ["a", "b", "x"]);
        assert_eq!(tree[0].children[0].category.id.as_str(), "a1");
    }
}

/// A product as staff write it (create or edit): every field checked, naming the one that is
/// wrong. SKU numbers given here are for new SKUs only; a SKU already stored keeps its stock
/// and price, which change through their own routes against what staff saw.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductDraft {
    pub title: Option<String>,
    pub subtitle: Option<String>,
    pub category_id: Option<String>,
    pub images: Option<Vec<String>>,
    pub description: Option<String>,
    pub on_shelf: Option<bool>,
    pub skus: Option<Vec<SkuDraft>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkuDraft {
    pub id: Option<String>,
    pub specs: Option<BTreeMap<String, String>>,
    pub price: Option<i64>,
    pub original_price: Option<i64>,
    pub stock: Option<i64>,
}

/// The most SKUs a product has: one transaction writes them all with the product.
pub const MAX_SKUS: usize = 40;
const MAX_PRICE_FEN: i64 = 100_000_000;

fn text(
    raw: Option<&str>,
    field: &str,
    chars: std::ops::RangeInclusive<usize>,
) -> Result<String, FieldError> {
    let value = raw.map(str::trim).unwrap_or("");
    let count = value.chars().count();
    if !chars.contains(&count) || value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(FieldError::new(
            field,
            format!("must be {} to {} characters", chars.start(), chars.end()),
        ));
    }
    Ok(value.to_string())
}

impl ProductDraft {
    /// The product `id` and its SKUs as this draft says; `sales` is the shop's, not the draft's.
    /// An image is an `https://` link elsewhere or, under the shop's `media` address, a catalog
    /// image's link (what `POST /admin/v1/uploads` answered as `imageUrl`).
    pub fn parse(
        &self,
        id: &ProductId,
        media: Option<&PublicMedia>,
    ) -> Result<(Product, Vec<Sku>), FieldError> {
        let title = text(self.title.as_deref(), "title", 1..=60)?;
        let subtitle = text(self.subtitle.as_deref(), "subtitle", 0..=120)?;
        let description = text(self.description.as_deref(), "description", 0..=5000)?;
        let category_id = self
            .category_id
            .as_deref()
            .and_then(|c| CategoryId::parse(c).ok())
            .ok_or_else(|| FieldError::new("categoryId", "must be a category's id"))?;
        let images = self.images.clone().unwrap_or_default();
        if images.len() > 9 {
            return Err(FieldError::new("images", "at most 9"));
        }
        for (i, image) in images.iter().enumerate() {
            let field = || format!("images[{i}]");
            match media.and_then(|m| m.catalog_key(image)) {
                Some(Ok(_)) => continue,
                Some(Err(())) => {
                    return Err(FieldError::new(
                        field(),
                        "is not an image uploaded through POST /admin/v1/uploads",
                    ));
                }
                None => {}
            }
            let ok = image.len() <= 500
                && image.starts_with("https://")
                && !image.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok {
                return Err(FieldError::new(
                    field(),
                    "must be an https:// link of at most 500 characters, or an uploaded image",
                ));
            }
        }
        let drafts = self.skus.as_deref().unwrap_or_default();
        if drafts.is_empty() || drafts.len() > MAX_SKUS {
            return Err(FieldError::new(
                "skus",
                format!("must list 1 to {MAX_SKUS} SKUs"),
            ));
        }
        let mut skus: Vec<Sku> = Vec::with_capacity(drafts.len());
        for (i, draft) in drafts.iter().enumerate() {
            let field = |name: &str| format!("skus[{i}].{name}");
            let sku_id = draft
                .id
                .as_deref()
                .and_then(|s| SkuId::parse(s).ok())
                .ok_or_else(|| {
                    FieldError::new(field("id"), "must be a SKU id (letters, digits, - and _)")
                })?;
            if skus.iter().any(|k| k.id == sku_id) {
                return Err(FieldError::new(field("id"), "is listed twice"));
            }
            let specs = draft.specs.clone().unwrap_or_default();
            let spec_ok = specs.len() <= 5
                && specs.iter().all(|(k, v)| {
                    (1..=20).contains(&k.trim().chars().count())
                        && (1..=20).contains(&v.trim().chars().count())
                });
            if !spec_ok {
                return Err(FieldError::new(
                    field("specs"),
                    "at most 5 specs, each name and value 1 to 20 characters",
                ));
            }
            let price = draft
                .price
                .filter(|p| (1..=MAX_PRICE_FEN).contains(p))
                .ok_or_else(|| {
                    FieldError::new(field("price"), format!("must be fen, 1 to {MAX_PRICE_FEN}"))
                })?;
            let original_price = match draft.original_price {
                None => None,
                Some(o) if (price..=MAX_PRICE_FEN).contains(&o) => Some(Fen::new(o as u64)),
                Some(_) => {
                    return Err(FieldError::new(
                        field("originalPrice"),
                        "must be fen, at least the price",
                    ));
                }
            };
            let stock = draft.stock.unwrap_or(0);
            if !(0..=MAX_STOCK).contains(&stock) {
                return Err(FieldError::new(
                    field("stock"),
                    format!("must be 0 to {MAX_STOCK}"),
                ));
            }
            skus.push(Sku {
                id: sku_id,
                product_id: id.clone(),
                specs: specs
                    .into_iter()
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect(),
                price: Fen::new(price as u64),
                original_price,
                stock: stock as u64,
                member_prices: BTreeMap::new(),
                flash_sale: None,
                group_buy: None,
                bargain: None,
                low_stock_at: None,
            });
        }
        let product = Product {
            id: id.clone(),
            title,
            subtitle,
            category_id,
            images,
            description,
            on_shelf: self.on_shelf.unwrap_or(false),
            sales: 0,
        };
        Ok((product, skus))
    }
}

#[cfg(test)]
mod draft_tests {
    use super::*;
    use serde_json::json;

    fn draft(value: serde_json::Value) -> ProductDraft {
        serde_json::from_value(value).unwrap()
    }

    fn good() -> serde_json::Value {
        json!({
            "title": " 西湖龙井 明前特级 ",
            "categoryId": "green-tea",
            "images": ["https://img.example.com/longjing.jpg"],
            "skus": [
                {"id": "lj-250", "specs": {"规格": "250g"}, "price": 12800, "originalPrice": 15800, "stock": 40},
                {"id": "lj-500", "specs": {"规格": "500g"}, "price": 23800}
            ]
        })
    }

    #[test]
    fn a_good_draft_makes_the_product_and_its_skus_off_the_shelf_unless_said() {
        let id = ProductId::parse("longjing").unwrap();
        let (product, skus) = draft(good()).parse(&id, None).unwrap();
        assert_eq!(product.title, "西湖龙井 明前特级");
        assert!(!product.on_shelf);
        assert_eq!(skus.len(), 2);
        assert_eq!((skus[0].price, skus[0].stock), (Fen::new(12_800), 40));
        assert_eq!((skus[1].stock, skus[1].original_price), (0, None));
        assert!(skus.iter().all(|k| k.product_id == id));
    }

    #[test]
    fn a_bad_field_is_named() {
        let id = ProductId::parse("longjing").unwrap();
        let cases = [
            ("title", json!("")),
            ("categoryId", json!("no spaces allowed")),
            ("images", json!(["http://plain.example.com/a.jpg"])),
            ("skus", json!([])),
        ];
        for (name, value) in cases {
            let mut body = good();
            body[name] = value;
            let err = draft(body).parse(&id, None).unwrap_err();
            assert!(err.field.starts_with(name), "{name}: {err:?}");
        }
        let mut body = good();
        body["skus"][1]["id"] = json!("lj-250");
        assert_eq!(
            draft(body).parse(&id, None).unwrap_err().field,
            "skus[1].id"
        );
        let mut body = good();
        body["skus"][0]["originalPrice"] = json!(100);
        assert_eq!(
            draft(body).parse(&id, None).unwrap_err().field,
            "skus[0].originalPrice"
        );
        let mut body = good();
        body["skus"][0]["price"] = json!(0);
        assert_eq!(
            draft(body).parse(&id, None).unwrap_err().field,
            "skus[0].price"
        );
    }

    #[test]
    fn an_uploaded_image_is_taken_from_the_shops_address_even_over_plain_http() {
        // given the local stack's address and an image uploaded there
        let id = ProductId::parse("longjing").unwrap();
        let local = PublicMedia::parse("http://127.0.0.1:3000").unwrap();
        let uploaded = local.link(&crate::media::MediaKey::catalog_image(
            crate::media::ImageType::Png,
        ));
        let mut body = good();
        body["images"] = json!([uploaded, "https://img.example.com/b.jpg"]);

        // when staff name it, or a shopper's photo, or any other path there
        let taken = draft(body.clone()).parse(&id, Some(&local));
        let mut photo = body.clone();
        photo["images"][1] = json!("http://127.0.0.1:3000/uploads/review/u1abc/abcdefgh12.jpg");
        let mut elsewhere = body.clone();
        elsewhere["images"][0] = json!("http://127.0.0.1:3000/console/index.html");

        // then only the catalog image (and the https link) is taken
        assert_eq!(taken.unwrap().0.images[0], uploaded);
        assert_eq!(
            draft(photo).parse(&id, Some(&local)).unwrap_err().field,
            "images[1]"
        );
        assert_eq!(
            draft(elsewhere).parse(&id, Some(&local)).unwrap_err().field,
            "images[0]"
        );
        // and without the address, a plain-http link is never an image
        assert_eq!(draft(body).parse(&id, None).unwrap_err().field, "images[0]");
    }
}

/// A membership level's name as the shop writes it (`gold`, `vip-2`): 1 to 20 lowercase letters,
/// digits, '-' or '_', so it can key a SKU's member prices.
pub fn member_level(raw: &str) -> Result<String, FieldError> {
    let ok = (1..=20).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(raw.to_string())
    } else {
        Err(FieldError::new(
            "level",
            "must be 1 to 20 lowercase letters, digits, '-' or '_'",
        ))
    }
}

/// A member price must be more than nothing and less than the SKU's list price.
pub fn check_member_price(price: Fen, list_price: Fen) -> Result<(), FieldError> {
    if price.get() == 0 || price >= list_price {
        Err(FieldError::new(
            "price",
            format!(
                "must be more than 0 and below the list price {} yuan",
                list_price.yuan_text()
            ),
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod member_price_tests {
    use super::*;

    #[test]
    fn member_levels_and_prices_are_checked() {
        assert_eq!(member_level("vip-2").unwrap(), "vip-2");
        assert_eq!(member_level("Gold").unwrap_err().field, "level");
        assert!(member_level("").is_err());
        assert!(check_member_price(Fen::new(900), Fen::new(1000)).is_ok());
        assert!(check_member_price(Fen::new(1000), Fen::new(1000)).is_err());
        assert!(check_member_price(Fen::ZERO, Fen::new(1000)).is_err());
    }
}
