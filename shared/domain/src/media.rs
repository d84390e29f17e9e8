//! Photos: shoppers' (reviews, after-sales evidence) and the catalog's (product images staff
//! upload): what may be uploaded and the keys it is uploaded under. A shopper's key names its
//! purpose and its shopper, so a review or a refund may only name photos its own shopper
//! uploaded for that purpose. A catalog image's key names no one: it is public once a product
//! shows it, served from the shop's public address ([`PublicMedia`]), never presigned.

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

/// Where product images are kept in the media bucket, and served from the public address.
const CATALOG_SEGMENT: &str = "catalog";

/// An object key in the media bucket: `uploads/<purpose>/<userId>/<random>.<ext>` for a
/// shopper's photo, `uploads/catalog/<random>.<ext>` for a product image.
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

    /// A fresh key for a product image staff upload: `uploads/catalog/<random>.<ext>`.
    pub fn catalog_image(image: ImageType) -> Self {
        Self(format!(
            "uploads/{CATALOG_SEGMENT}/{}.{}",
            random_token(16),
            image.extension()
        ))
    }

    /// True for a product image's key (which no shopper's purpose matches).
    pub fn is_catalog_image(&self) -> bool {
        self.0.starts_with(&format!("uploads/{CATALOG_SEGMENT}/"))
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        let file_name = |file: &str| {
            file.split_once('.').is_some_and(|(name, ext)| {
                (8..=32).contains(&name.len())
                    && name.bytes().all(|b| b.is_ascii_alphanumeric())
                    && ["jpg", "png", "webp"].contains(&ext)
            })
        };
        let parts: Vec<&str> = raw.split('/').collect();
        let well_formed = match parts.as_slice() {
            ["uploads", purpose, user, file] => {
                ["review", "after-sale"].contains(purpose)
                    && UserId::parse(user).is_ok()
                    && file_name(file)
            }
            ["uploads", CATALOG_SEGMENT, file] => file_name(file),
            _ => false,
        };
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

/// The shop's public address for product images: a CloudFront distribution serving the media
/// bucket's `uploads/catalog/` in AWS (`https://d1234.cloudfront.net`), the local gateway in
/// `make dev`. Only catalog images are reachable there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicMedia(String);

impl PublicMedia {
    /// An `https://` (or, for the local stack, `http://`) origin, with or without a trailing `/`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let base = raw.trim().trim_end_matches('/');
        let host = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"))
            .unwrap_or_default();
        if host.is_empty() || host.contains(['/', '?', '#', ' ']) {
            return Err(format!(
                "{raw:?} is not an origin such as https://d1234.cloudfront.net"
            ));
        }
        Ok(Self(base.to_string()))
    }

    /// The link a product shows for the catalog image at `key`.
    pub fn link(&self, key: &MediaKey) -> String {
        format!("{}/{}", self.0, key.as_str())
    }

    /// For a link under this address: `Some(Ok(key))` for a catalog image's link, `Some(Err)`
    /// for any other path here (nothing else is served); `None` for a link elsewhere.
    pub fn catalog_key(&self, link: &str) -> Option<Result<MediaKey, ()>> {
        let path = link.strip_prefix(&self.0)?.strip_prefix('/')?;
        Some(
            MediaKey::parse(path)
                .ok()
                .filter(MediaKey::is_catalog_image)
                .ok_or(()),
        )
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
    fn a_catalog_image_names_no_shopper_and_no_shopper_may_claim_it() {
        let key = MediaKey::catalog_image(ImageType::Webp);
        assert!(key.as_str().starts_with("uploads/catalog/"), "{key:?}");
        assert!(key.as_str().ends_with(".webp"));
        assert_eq!(MediaKey::parse(key.as_str()).unwrap(), key);
        assert!(key.is_catalog_image());
        assert!(!key.belongs_to(&user("catalog"), UploadPurpose::Review));
        let shoppers = MediaKey::generate(UploadPurpose::Review, &user("u1abc"), ImageType::Png);
        assert!(!shoppers.is_catalog_image());
        for bad in ["uploads/catalog/x.jpg", "uploads/catalog/u1/abcdefgh12.jpg"] {
            assert!(MediaKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_public_address_serves_catalog_images_only() {
        let public = PublicMedia::parse("https://d1234.cloudfront.net/").unwrap();
        let key = MediaKey::catalog_image(ImageType::Jpeg);
        let link = public.link(&key);
        assert_eq!(
            link,
            format!("https://d1234.cloudfront.net/{}", key.as_str())
        );
        assert_eq!(public.catalog_key(&link), Some(Ok(key)));
        let photo = MediaKey::generate(UploadPurpose::AfterSale, &user("u1abc"), ImageType::Png);
        assert_eq!(public.catalog_key(&public.link(&photo)), Some(Err(())));
        assert_eq!(
            public.catalog_key("https://d1234.cloudfront.net/console/index.html"),
            Some(Err(()))
        );
        assert_eq!(public.catalog_key("https://img.example.com/a.jpg"), None);
        assert!(PublicMedia::parse("http://127.0.0.1:3000").is_ok());
        for bad in ["", "d1234.cloudfront.net", "https://", "https://a.net/path"] {
            assert!(PublicMedia::parse(bad).is_err(), "{bad}");
        }
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
