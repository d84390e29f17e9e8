//! Paging cursors the client cannot forge. A cursor is our own position (a DynamoDB key or an
//! offset) sealed with an HMAC and bound to the query it belongs to; anything else is a 400.

use crate::api::{ApiError, ApiRequest, RequestExt};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

const TAG_BYTES: usize = 16;
const MAX_CURSOR_CHARS: usize = 2048;

pub struct CursorSealer {
    key: [u8; 32],
}

/// A place in a list answered whole (search hits): how many were shown before it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Offset {
    offset: usize,
}

impl CursorSealer {
    /// The page of `hits` the request's `cursor` points at (the first without one), and the
    /// cursor of the page after it when there is one.
    pub fn page_of<'a, T>(
        &self,
        scope: &str,
        cursor: Option<&str>,
        hits: &'a [T],
        limit: usize,
    ) -> Result<(&'a [T], Option<String>), ApiError> {
        let from = match cursor.filter(|c| !c.is_empty()) {
            Some(c) => self.open::<Offset>(scope, c)?.offset.min(hits.len()),
            None => 0,
        };
        let to = from.saturating_add(limit).min(hits.len());
        let next = (to < hits.len()).then(|| self.seal(scope, &Offset { offset: to }));
        Ok((&hits[from..to], next))
    }

    pub fn derive(secret: &SecretString) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
            .expect("any key length");
        mac.update(b"wechat-shop cursor v1");
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn tag(&self, scope: &str, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac
    }

    /// `scope` names the query (route and filters), so a cursor from one listing is refused by another.
    pub fn seal<T: Serialize>(&self, scope: &str, position: &T) -> String {
        let payload = serde_json::to_vec(position).unwrap_or_default();
        let tag = self.tag(scope, &payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES])
        )
    }

    /// Where the request's page starts: its `cursor` opened for `scope`, or None on a first page.
    pub fn position<T: DeserializeOwned>(
        &self,
        req: &ApiRequest,
        scope: &str,
    ) -> Result<Option<T>, ApiError> {
        req.query_param("cursor")
            .filter(|c| !c.is_empty())
            .map(|c| self.open(scope, c))
            .transpose()
    }

    pub fn open<T: DeserializeOwned>(&self, scope: &str, cursor: &str) -> Result<T, ApiError> {
        let invalid = || ApiError::invalid_field("cursor", "is not a cursor this listing gave out");
        if cursor.len() > MAX_CURSOR_CHARS {
            return Err(invalid());
        }
        let (payload, tag) = cursor.split_once('.').ok_or_else(invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        if tag.len() != TAG_BYTES {
            return Err(invalid());
        }
        self.tag(scope, &payload)
            .verify_truncated_left(&tag)
            .map_err(|_| invalid())?;
        serde_json::from_slice(&payload).map_err(|_| invalid())
    }
}

/// What a product view ticket is sealed for: the shopper it was given to, so no one else
/// claims it.
pub fn view_ticket_scope(user: &domain::ids::UserId) -> String {
    format!("view-ticket:{user}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> CursorSealer {
        CursorSealer::derive(&SecretString::from("k"))
    }

    #[test]
    fn sealed_cursor_opens_in_its_own_scope() {
        let c = sealer().seal("products?category=tea", &("PRODUCT#1", 42));
        let back: (String, u32) = sealer().open("products?category=tea", &c).unwrap();
        assert_eq!(back, ("PRODUCT#1".to_string(), 42));
    }

    #[test]
    fn cursor_from_another_scope_or_key_is_refused() {
        let c = sealer().seal("a", &1);
        assert_eq!(sealer().open::<u32>("b", &c).unwrap_err().status, 400);
        let other = CursorSealer::derive(&SecretString::from("other"));
        assert!(other.open::<u32>("a", &c).is_err());
    }

    #[test]
    fn tampered_or_garbage_cursor_is_a_400() {
        let c = sealer().seal("a", &7u32);
        let (_, tag) = c.split_once('.').unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(b"8"));
        for bad in [
            forged.as_str(),
            "",
            ".",
            "abc",
            "!!!.???",
            &c[..c.len() - 2],
        ] {
            let err = sealer().open::<u32>("a", bad).unwrap_err();
            assert_eq!(
                (err.status, err.field.as_deref()),
                (400, Some("cursor")),
                "{bad:?}"
            );
        }
    }
}
