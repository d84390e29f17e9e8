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

    /// A decimal yuan amount as people and providers write it ("19.9", "20", "0.05"), read
    /// exactly: at most two decimals, no sign, no exponent, nothing rounded.
    pub fn parse_yuan(raw: &str) -> Result<Fen, InvalidYuan> {
        let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || whole.len() > 15
            || !digits(whole)
            || frac.len() > 2
            || !digits(frac)
            || (raw.contains('.') && frac.is_empty())
        {
            return Err(InvalidYuan);
        }
        let whole: u64 = whole.parse().map_err(|_| InvalidYuan)?;
        let cents: u64 = format!("{frac:0<2}").parse().map_err(|_| InvalidYuan)?;
        whole
            .checked_mul(100)
            .and_then(|w| w.checked_add(cents))
            .map(Fen)
            .ok_or(InvalidYuan)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be an amount in yuan with at most two decimals, like 19.90")]
pub struct InvalidYuan;

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
    fn yuan_text_is_read_exactly_or_refused() {
        for (raw, fen) in [
            ("0.1", 10),
            ("19.9", 1990),
            ("20", 2000),
            ("0.05", 5),
            ("199.00", 19900),
        ] {
            assert_eq!(Fen::parse_yuan(raw), Ok(Fen::new(fen)), "{raw}");
        }
        for bad in [
            "1.005", "", ".5", "5.", "-1", "1e3", "1,000", " 1", "0x10", "1.2.3",
        ] {
            assert_eq!(Fen::parse_yuan(bad), Err(InvalidYuan), "{bad:?}");
        }
    }

    #[test]
    fn serializes_as_a_plain_integer() {
        assert_eq!(serde_json::to_string(&Fen::new(990)).unwrap(), "990");
    }
}
