//! Photos: `POST /v1/uploads {purpose, contentType, size}` answers a form that uploads one photo
//! straight to the media bucket (`wx.uploadFile` with its `fields` as `formData` and the file
//! as `file`), signed for exactly one key under the caller's own prefix; and the links that show
//! an order's after-sales photos to its shopper.

use super::Checkout;
use domain::clock::now_epoch_seconds;
use domain::ids::OrderId;
use domain::media::{ImageType, MediaKey, UploadPurpose, upload_size};
use domain::refund::Refund;
use edge::api::{self, ApiError, ApiRequest, ApiResponse, RequestExt};
use serde::Deserialize;
use serde_json::Value;
use store::media::Kept;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadBody {
    purpose: Option<String>,
    content_type: Option<String>,
    size: Option<i64>,
}

impl Checkout {
    /// `POST /v1/uploads`: 201 with the form; 400 naming `purpose`, `contentType` or `size`.
    pub(crate) async fn upload(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let body: UploadBody = req.json_body()?;
        let purpose = UploadPurpose::parse(body.purpose.as_deref().unwrap_or(""))?;
        let image = ImageType::parse(body.content_type.as_deref().unwrap_or(""))?;
        upload_size(body.size)?;
        let key = MediaKey::generate(purpose, &user, image);
        let form = self
            .media
            .upload_form(&key, image, now_epoch_seconds())
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        tracing::info!(key = key.as_str(), "upload form handed out");
        Ok(api::json(201, &form))
    }

    /// Marks the photos a review or a refund names as kept, so unused uploads can expire;
    /// a key nothing was uploaded under is a 400 naming it (`<field>[i]`).
    pub(crate) async fn keep_photos(
        &self,
        field: &str,
        keys: &[MediaKey],
        now: i64,
    ) -> Result<(), ApiError> {
        let kept = futures::future::try_join_all(keys.iter().map(|key| self.media.keep(key, now)))
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        match kept.iter().position(|k| *k == Kept::Missing) {
            Some(i) => Err(ApiError::invalid_field(
                format!("{field}[{i}]"),
                "was never uploaded: upload the photo with the form POST /v1/uploads gave",
            )),
            None => Ok(()),
        }
    }

    /// An order's refunds as its shopper sees them: state, amount, and what they said and
    /// showed, each photo with a link that works for an hour.
    pub(crate) async fn after_sales(&self, order: &OrderId) -> Result<Value, ApiError> {
        let refunds: Vec<Refund> = self
            .payments
            .orders
            .refunds_of(order)
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        let now = now_epoch_seconds();
        let mut shown = Vec::with_capacity(refunds.len());
        for refund in &refunds {
            shown.push(
                app::after_sales::shown(&self.media, refund, now)
                    .await
                    .map_err(|e| ApiError::unexpected(&e))?,
            );
        }
        Ok(Value::Array(shown))
    }
}
