//! What the shop counts for its live reports (数据看板): one business event with the numbers its
//! metric line carries, and what a metric line may not (the product, the visitor). Written by
//! telemetry as events happen, added up by the report store.

/// One business event as the shop's hourly counters (数据看板) take it: the numbers of its
/// metric line, and what a line may not carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Tallied {
    pub at_seconds: i64,
    pub channel: String,
    pub category: Option<String>,
    pub product: Option<String>,
    pub visitor: Option<String>,
    /// Each metric and how much: `OrderPaid` 1 and `Revenue` 990.
    pub counts: Vec<(&'static str, u64)>,
    /// Counted in the shop's hours (and its channel's, its category's); a product's sales are
    /// counted on the product only, the order itself having been counted once.
    pub hourly: bool,
}
