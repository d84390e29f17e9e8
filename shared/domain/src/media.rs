//! Shoppers' photos (reviews, after-sales evidence): what may be uploaded and the keys it is
//! uploaded under. A key names its purpose and its shopper, so a review or a refund may only
//! name photos its own shopper uploaded for that purpose.

use crate::field::FieldError;
use crate::ids::{UserId, random_token};

/// The most an upload may weigh: 5 MB.
pub const MAX_UPLOAD_BYTES: u64 = 5 * 1024 * 1024;

/// What a photo is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadPurpose {
    Review,
    AfterSale,
}

impl UploadPurpose {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match raw {
            "review" => Ok(Self::Review),
            "after_sale" => Ok(Self::AfterSale),
            _ => Err(FieldError::new(
                "purpose",
                "must be \"review\" or \"after_sale\"",
            )),
        }
    }

    fn segment(self) -> &'static str {
        match self {
            Self::Review => "review",
            Self::AfterSale => "after-sale",
        }
    }
}

/// The image types a photo may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    Jpeg,
    Png,
    Webp,
}

impl ImageType {
    pub fn parse(content_type: &str) -> Result<Self, FieldError> {
        match content_type.trim().to_ascii_lowercase().as_str() {
            "image/jpeg" | "image/jpg" => Ok(Self::Jpeg),
            "image/png" => Ok(Self::Png),
            "image/webp" => Ok(Self::Webp),
            _ => Err(FieldError::new(
                "contentType",
                "must be image/jpeg, image/png or image/webp",
            )),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Webp => "webp",
        }
    }
}

/// A declared upload size: 1 byte to 5 MB.
pub fn upload_size(raw: Option<i64>) -> Result<u64, FieldError> {
    raw.and_then(|s| u64::try_from(s).ok())
        .filter(|s| (1..=MAX_UPLOAD_BYTES).contains(s))
        .ok_or_else(|| FieldError::new("size", "must be 1 to 5242880 bytes (5 MB)"))
}

/// An object key in the media bucket: `uploads/<purpose>/<userId>/<random>.<ext>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MediaKey(String);

impl MediaKey {
    /// A fresh key for `user`'s upload: 80 random bits, so keys cannot be guessed.
    pub fn generate(purpose: UploadPurpose, user: &UserId, image: ImageType) -> Self {
        Self(format!(
            "uploads/{}/{user}/{}.{}",
            purpose.segment(),
            random_token(16),
            image.extension()
        ))
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        let parts: Vec<&str> = raw.split('/').collect();
        let well_formed = parts.len() == 4
            && parts[0] == "uploads"
            && ["review", "after-sale"].contains(&parts[1])
            && UserId::parse(parts[2]).is_ok()
            && parts[3].split_once('.').is_some_and(|(name, ext)| {
                (8..=32).contains(&name.len())
                    && name.bytes().all(|b| b.is_ascii_alphanumeric())
                    && ["jpg", "png", "webp"].contains(&ext)
            });
        if well_formed {
            Ok(Self(raw.to_string()))
        } else {
            Err("is not a photo key that POST /v1/uploads gave out".into())
        }
    }

    /// True when `user` uploaded it for `purpose`.
    pub fn belongs_to(&self, user: &UserId, purpose: UploadPurpose) -> bool {
        self.0
            .starts_with(&format!("uploads/{}/{user}/", purpose.segment()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MediaKey {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw)
    }
}

impl From<MediaKey> for String {
    fn from(key: MediaKey) -> String {
        key.0
    }
}

/// Photo keys from a request field: at most `max`, each uploaded by `user` for `purpose`.
pub fn photo_keys(
    field: &str,
    raw: Option<&serde_json::Value>,
    max: usize,
    user: &UserId,
    purpose: UploadPurpose,
) -> Result<Vec<MediaKey>, FieldError> {
    let items = match raw {
        None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
        Some(serde_json::Value::Array(items)) if items.len() <= max => items,
        Some(_) => {
            return Err(FieldError::new(
                field,
                format!("must be a list of at most {max} photo keys"),
            ));
        }
    };
    let mut keys: Vec<MediaKey> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let key = item
            .as_str()
            .ok_or_else(|| "must be a photo key".to_string())
            .and_then(MediaKey::parse)
            .map_err(|problem| FieldError::new(format!("{field}[{i}]"), problem))?;
        if !key.belongs_to(user, purpose) {
            return Err(FieldError::new(
                format!("{field}[{i}]"),
                "is not a photo you uploaded for this",
            ));
        }
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    #[test]
    fn a_fresh_key_names_its_purpose_and_shopper_and_parses_back() {
        let key = MediaKey::generate(UploadPurpose::AfterSale, &user("u1abc"), ImageType::Png);
        assert!(key.as_str().starts_with("uploads/after-sale/u1abc/"));
        assert!(key.as_str().ends_with(".png"));
        assert_eq!(MediaKey::parse(key.as_str()).unwrap(), key);
        assert!(key.belongs_to(&user("u1abc"), UploadPurpose::AfterSale));
        assert!(!key.belongs_to(&user("u1abc"), UploadPurpose::Review));
        assert!(!key.belongs_to(&user("u1ab"), UploadPurpose::AfterSale));
    }

    #[test]
    fn only_keys_we_give_out_parse() {
        for bad in [
            "uploads/review/u1/../x.jpg",
            "uploads/review/u1/abc.jpg",
            "uploads/other/u1/abcdefgh12.jpg",
            "uploads/review/u1/abcdefgh12.exe",
            "/etc/passwd",
        ] {
            assert!(MediaKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn photos_must_be_the_shoppers_own_for_this_purpose() {
        let mine = MediaKey::generate(UploadPurpose::AfterSale, &user("u1abc"), ImageType::Jpeg);
        let theirs = MediaKey::generate(UploadPurpose::AfterSale, &user("u2xyz"), ImageType::Jpeg);
        let list = |keys: &[&MediaKey]| {
            serde_json::json!(keys.iter().map(|k| k.as_str()).collect::<Vec<_>>())
        };
        let ok = photo_keys(
            "photos",
            Some(&list(&[&mine])),
            6,
            &user("u1abc"),
            UploadPurpose::AfterSale,
        );
        assert_eq!(ok.unwrap(), vec![mine.clone()]);
        let err = photo_keys(
            "photos",
            Some(&list(&[&mine, &theirs])),
            6,
            &user("u1abc"),
            UploadPurpose::AfterSale,
        )
        .unwrap_err();
        assert_eq!(err.field, "photos[1]");
        let seven = serde_json::json!(vec![mine.as_str(); 7]);
        assert_eq!(
            photo_keys(
                "photos",
                Some(&seven),
                6,
                &user("u1abc"),
                UploadPurpose::AfterSale
            )
            .unwrap_err()
            .field,
            "photos"
        );
    }

    #[test]
    fn only_images_up_to_five_megabytes() {
        assert_eq!(ImageType::parse("image/JPEG").unwrap(), ImageType::Jpeg);
        assert!(ImageType::parse("application/pdf").is_err());
        assert_eq!(
            upload_size(Some(5 * 1024 * 1024)).unwrap(),
            MAX_UPLOAD_BYTES
        );
        for bad in [None, Some(0), Some(-1), Some(5 * 1024 * 1024 + 1)] {
            assert!(upload_size(bad).is_err(), "{bad:?}");
        }
    }
}
