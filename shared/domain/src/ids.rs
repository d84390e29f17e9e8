//! Identifiers. Each is a type that can only hold a well-formed value, so handlers and stores
//! never see an empty, overlong or key-breaking id.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Lowercase letters and digits without look-alikes (no i, l, o, u), as in Crockford base32.
const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A random string over [`ALPHABET`]; 16 characters carry 80 bits, far beyond guessing.
pub fn random_token(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be {min} to {max} characters of letters, digits, '-' or '_'")]
pub struct InvalidId {
    pub min: usize,
    pub max: usize,
}

fn check_id(raw: &str, min: usize, max: usize) -> Result<(), InvalidId> {
    let ok = raw.len() >= min.max(1)
        && raw.len() <= max
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(InvalidId {
            min: min.max(1),
            max,
        })
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        id_type!($(#[$doc])* $name, 1, $max);
    };
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                check_id(raw, $min, $max).map(|()| Self(raw.to_string()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(raw: String) -> Result<Self, InvalidId> {
                check_id(&raw, $min, $max).map(|()| Self(raw))
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// Our own id for a shopper; the only user identifier that leaves the backend.
    UserId, 40
);
id_type!(ProductId, 40);
id_type!(
    /// A lucky draw (抽奖), as staff name it (`double12-wheel`).
    LotteryId, 40
);
id_type!(
    /// An item of the points mall (积分商城), as staff name it (`tea-cup-gift`).
    MallItemId, 40
);
id_type!(SkuId, 40);
id_type!(CategoryId, 40);

id_type!(
    /// A share link's code: 12 random characters (60 bits), so codes cannot be guessed or walked.
    ShareCode, 6, 32
);
id_type!(
    /// A group-buy group (拼团), as shared with friends.
    GroupId, 6, 32
);
id_type!(
    /// A bargain (砍价), as shared with friends.
    BargainId, 6, 32
);

id_type!(
    /// An address in a shopper's address book.
    AddressId, 6, 32
);

impl AddressId {
    pub fn generate() -> Self {
        Self(random_token(12))
    }
}

impl ShareCode {
    pub fn generate() -> Self {
        Self(random_token(12))
    }
}

impl GroupId {
    pub fn generate() -> Self {
        Self(random_token(16))
    }
}

impl BargainId {
    pub fn generate() -> Self {
        Self(random_token(16))
    }
}

id_type!(
    /// An orders export: 20 random characters, so one staff member's file cannot be guessed.
    ExportId, 20, 20
);

impl ExportId {
    pub fn generate() -> Self {
        Self(random_token(20))
    }
}

impl UserId {
    pub fn generate() -> Self {
        Self(format!("u{}", random_token(19)))
    }
}

/// A WeChat openid. It identifies the shopper to WeChat, so it never appears in a response or
/// a log line: `Debug` and `Display` are deliberately redacted.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OpenId(String);

impl OpenId {
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        let ok = !raw.is_empty() && raw.len() <= 128 && raw.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(InvalidId { min: 1, max: 128 })
        }
    }
    /// The raw value, for the store and the WeChat API only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for OpenId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenId(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_empty_overlong_and_key_breaking_values() {
        assert!(ProductId::parse("p-001").is_ok());
        for bad in ["", "a#b", "has space", "中文", &"x".repeat(41)] {
            assert!(ProductId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn generated_user_ids_are_valid_and_distinct() {
        let a = UserId::generate();
        let b = UserId::generate();
        assert_ne!(a, b);
        assert!(UserId::parse(a.as_str()).is_ok());
    }

    #[test]
    fn openid_never_prints() {
        let id = OpenId::parse("oAbc123").unwrap();
        assert!(!format!("{id:?}").contains("oAbc123"));
    }

    #[test]
    fn ids_deserialize_through_parse() {
        assert!(serde_json::from_str::<SkuId>("\"s-1\"").is_ok());
        assert!(serde_json::from_str::<SkuId>("\"s#1\"").is_err());
    }
}

/// An order number, also WeChat Pay's `out_trade_no`: the date, then 16 random characters, so
/// numbers sort by day but cannot be guessed from one another.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrderId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 6 to 32 characters of letters, digits, '_', '-', '|' or '*'")]
pub struct InvalidOrderId;

impl OrderId {
    pub fn generate(now: i64) -> Self {
        let day = time::OffsetDateTime::from_unix_timestamp(now)
            .map(|t| format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day()))
            .unwrap_or_else(|_| "00000000".into());
        Self(format!("{day}{}", random_token(16)))
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidOrderId> {
        let ok = (6..=32).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-|*".contains(&b));
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(InvalidOrderId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OrderId {
    type Error = InvalidOrderId;
    fn try_from(raw: String) -> Result<Self, InvalidOrderId> {
        Self::parse(&raw)
    }
}

impl From<OrderId> for String {
    fn from(id: OrderId) -> String {
        id.0
    }
}

impl std::fmt::Display for OrderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A merchant's name for a promotion (coupon template or full-reduction rule): 1 to 40 of
/// lowercase letters, digits, '-' and '_', so it reads well in URLs, keys and the admin tool.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PromotionId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 40 characters of lowercase letters, digits, '-' or '_'")]
pub struct InvalidPromotionId;

impl PromotionId {
    pub fn parse(raw: &str) -> Result<Self, InvalidPromotionId> {
        let ok = (1..=40).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(InvalidPromotionId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PromotionId {
    type Error = InvalidPromotionId;
    fn try_from(raw: String) -> Result<Self, InvalidPromotionId> {
        Self::parse(&raw)
    }
}

impl From<PromotionId> for String {
    fn from(id: PromotionId) -> String {
        id.0
    }
}

impl std::fmt::Display for PromotionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One coupon in one wallet: its template and the shopper's claim number (`new-user.1`), so a
/// shopper's n-th claim of a template has one possible key and a per-user limit cannot be raced.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CouponId {
    template: PromotionId,
    number: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a coupon id from the wallet, like new-user.1")]
pub struct InvalidCouponId;

impl CouponId {
    pub fn new(template: PromotionId, number: u32) -> Self {
        Self { template, number }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidCouponId> {
        let (template, number) = raw.rsplit_once('.').ok_or(InvalidCouponId)?;
        let number: u32 = number
            .parse()
            .ok()
            .filter(|n| *n >= 1 && !number.starts_with('0'))
            .ok_or(InvalidCouponId)?;
        Ok(Self {
            template: PromotionId::parse(template).map_err(|_| InvalidCouponId)?,
            number,
        })
    }

    pub fn template(&self) -> &PromotionId {
        &self.template
    }

    pub fn number(&self) -> u32 {
        self.number
    }
}

impl std::fmt::Display for CouponId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.template, self.number)
    }
}

impl TryFrom<String> for CouponId {
    type Error = InvalidCouponId;
    fn try_from(raw: String) -> Result<Self, InvalidCouponId> {
        Self::parse(&raw)
    }
}

impl From<CouponId> for String {
    fn from(id: CouponId) -> String {
        id.to_string()
    }
}
