//! The shopper's address book (收货地址): addresses kept for the next order, one of them the
//! default. Each address is checked exactly as an order's address is.

use crate::field::FieldError;
use crate::ids::AddressId;
use crate::order::Address;
use serde::{Deserialize, Serialize};

/// A shopper keeps at most this many addresses.
pub const MAX_ADDRESSES: u32 = 20;
/// A label such as 家 or 公司: at most this many characters.
const MAX_LABEL_CHARS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedAddress {
    pub id: AddressId,
    #[serde(flatten)]
    pub address: Address,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An optional label: trimmed, 1 to 8 characters of text, or absent.
pub fn parse_label(raw: Option<&str>) -> Result<Option<String>, FieldError> {
    let Some(label) = raw.map(str::trim).filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    if label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
        return Err(FieldError::new(
            "label",
            format!("must be at most {MAX_LABEL_CHARS} characters of text"),
        ));
    }
    Ok(Some(label.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_short_text_or_nothing() {
        assert_eq!(parse_label(None).unwrap(), None);
        assert_eq!(parse_label(Some("  ")).unwrap(), None);
        assert_eq!(
            parse_label(Some(" 公司 ")).unwrap().as_deref(),
            Some("公司")
        );
        for bad in ["一二三四五六七八九", "a\u{7}b"] {
            assert_eq!(
                parse_label(Some(bad)).unwrap_err().field,
                "label",
                "{bad:?}"
            );
        }
    }
}
