//! Money is integer fen (1/100 CNY). There is no floating point anywhere near an amount.

use serde::{Deserialize, Serialize};

/// A non-negative amount in fen.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Fen(u64);

impl Fen {
    pub const ZERO: Fen = Fen(0);

    pub const fn new(fen: u64) -> Self {
        Fen(fen)
    }

    pub const fn get(self) -> u64 {
        self.0
    }

    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }

    pub fn checked_mul(self, times: u64) -> Option<Fen> {
        self.0.checked_mul(times).map(Fen)
    }

    pub fn saturating_sub(self, other: Fen) -> Fen {
        Fen(self.0.saturating_sub(other.0))
    }

    /// `12.34` style, for human-facing text only (labels, logs). Never parsed back.
    pub fn yuan_text(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl std::fmt::Display for Fen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} fen", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_text_pads_fen() {
        assert_eq!(Fen::new(1205).yuan_text(), "12.05");
        assert_eq!(Fen::new(7).yuan_text(), "0.07");
    }

    #[test]
    fn arithmetic_never_wraps() {
        assert_eq!(Fen::new(u64::MAX).checked_add(Fen::new(1)), None);
        assert_eq!(Fen::new(5).saturating_sub(Fen::new(9)), Fen::ZERO);
        assert_eq!(Fen::new(u64::MAX / 2 + 1).checked_mul(2), None);
    }

    #[test]
    fn serializes_as_a_plain_integer() {
        assert_eq!(serde_json::to_string(&Fen::new(990)).unwrap(), "990");
    }
}
