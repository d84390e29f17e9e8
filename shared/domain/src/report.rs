//! What the shop counts for its live reports (数据看板): one business event with the numbers its
//! metric line carries, and the properties that are not dimensions (the product, a visit's
//! mark). Read back from the lines by telemetry, added up by the report store.

/// One business event as the shop's hourly counters (数据看板) take it: the numbers of its
/// metric line, its channel and category, and its product and visit mark when it has them.
#[derive(Debug, Clone, PartialEq)]
pub struct Tallied {
    pub at_seconds: i64,
    pub channel: String,
    pub category: Option<String>,
    pub product: Option<String>,
    /// A visit's [`visitor_mark`], never the shopper's id.
    pub visitor: Option<String>,
    /// Each metric and how much: `OrderPaid` 1 and `Revenue` 990.
    pub counts: Vec<(&'static str, u64)>,
    /// Counted in the shop's hours (and its channel's, its category's); a product's sales are
    /// counted on the product only, the order itself having been counted once.
    pub hourly: bool,
}

/// A visit's mark for `hour`: the same shopper's visits in one hour share it, so the hour
/// counts them once; another hour's mark differs, and no mark gives back who it was.
pub fn visitor_mark(hour: &str, visitor: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(hour.as_bytes())
        .chain_update([0])
        .chain_update(visitor.as_bytes())
        .finalize();
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visitor_has_one_mark_an_hour_and_another_the_next() {
        let at_nine = visitor_mark("2026-12-01T21", "u_1");
        assert_eq!(at_nine, visitor_mark("2026-12-01T21", "u_1"));
        assert_ne!(at_nine, visitor_mark("2026-12-01T22", "u_1"));
        assert_ne!(at_nine, visitor_mark("2026-12-01T21", "u_2"));
        assert_eq!(at_nine.len(), 32);
        assert!(!at_nine.contains("u_1"));
    }
}
