//! Phone numbers. A shopper's phone is personal data: the shop keeps a keyed hash (to recognise
//! the same phone on two accounts) and a masked form to show, never the number itself.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber {
    country_code: u16,
    national: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPhone {
    #[error("must be a mainland mobile number: 11 digits starting with 1")]
    NotMainlandMobile,
    #[error("must be 4 to 15 digits")]
    BadDigits,
}

impl PhoneNumber {
    /// A mainland China mobile number, as typed into an address form (`+86` / `86` prefix allowed).
    pub fn parse_mainland(raw: &str) -> Result<Self, InvalidPhone> {
        let compact: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let digits = compact
            .strip_prefix("+86")
            .or_else(|| compact.strip_prefix("86").filter(|d| d.len() == 11));
        let digits = digits.unwrap_or(&compact);
        let b = digits.as_bytes();
        let ok = b.len() == 11
            && b[0] == b'1'
            && (b'3'..=b'9').contains(&b[1])
            && b.iter().all(u8::is_ascii_digit);
        if !ok {
            return Err(InvalidPhone::NotMainlandMobile);
        }
        Ok(Self {
            country_code: 86,
            national: digits.to_string(),
        })
    }

    /// A number as WeChat reports it: country code plus the number without it.
    pub fn from_wechat(country_code: u16, pure: &str) -> Result<Self, InvalidPhone> {
        if country_code == 86 {
            return Self::parse_mainland(pure);
        }
        if !(4..=15).contains(&pure.len()) || !pure.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidPhone::BadDigits);
        }
        Ok(Self {
            country_code,
            national: pure.to_string(),
        })
    }

    /// `138****5678`: enough for the shopper to recognise their number, not to call it.
    pub fn masked(&self) -> String {
        let n = &self.national;
        let (keep_head, keep_tail) = if n.len() >= 11 { (3, 4) } else { (2, 2) };
        let hidden = n.len().saturating_sub(keep_head + keep_tail);
        let masked = format!(
            "{}{}{}",
            &n[..keep_head.min(n.len())],
            "*".repeat(hidden),
            &n[n.len() - keep_tail.min(n.len())..]
        );
        if self.country_code == 86 {
            masked
        } else {
            format!("+{} {masked}", self.country_code)
        }
    }

    /// Keyed hash of the full number: equal phones give equal hashes, and without the key the
    /// hash cannot be reversed by trying all 10^10 mobile numbers.
    pub fn keyed_hash(&self, key: &PhoneHashKey) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC takes any key length");
        mac.update(format!("+{}{}", self.country_code, self.national).as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The number itself, for the places that must use it (a courier label).
    pub fn expose(&self) -> &str {
        &self.national
    }
}

impl std::fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

/// The key for phone hashes, derived from the deployment's secret with its own label.
pub struct PhoneHashKey([u8; 32]);

impl PhoneHashKey {
    pub fn derive(secret: &SecretString) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
            .expect("any key length");
        mac.update(b"wechat-shop phone hash v1");
        Self(mac.finalize().into_bytes().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainland_numbers_parse_with_or_without_prefix() {
        for raw in [
            "13812345678",
            "+8613812345678",
            "8613812345678",
            "138-1234-5678",
        ] {
            assert_eq!(
                PhoneNumber::parse_mainland(raw).unwrap().expose(),
                "13812345678",
                "{raw}"
            );
        }
    }

    #[test]
    fn non_mobile_numbers_are_refused() {
        for raw in [
            "",
            "12812345678",
            "1381234567",
            "138123456789",
            "1381234567a",
            "02112345678",
        ] {
            assert!(PhoneNumber::parse_mainland(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn masking_hides_the_middle() {
        assert_eq!(
            PhoneNumber::parse_mainland("13812345678").unwrap().masked(),
            "138****5678"
        );
        assert_eq!(
            PhoneNumber::from_wechat(1, "4155550100").unwrap().masked(),
            "+1 41******00"
        );
    }

    #[test]
    fn keyed_hash_depends_on_key_and_number() {
        let k1 = PhoneHashKey::derive(&SecretString::from("one"));
        let k2 = PhoneHashKey::derive(&SecretString::from("two"));
        let p = PhoneNumber::parse_mainland("13812345678").unwrap();
        let q = PhoneNumber::parse_mainland("+8613812345678").unwrap();
        assert_eq!(p.keyed_hash(&k1), q.keyed_hash(&k1));
        assert_ne!(p.keyed_hash(&k1), p.keyed_hash(&k2));
        assert!(!format!("{p:?}").contains("12345678"));
    }
}
