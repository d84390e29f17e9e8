//! How the after-sales use case's refusals answer, for the shopper's door (checkout) and the
//! merchant's (admin) alike.

use crate::api::ApiError;
use app::after_sales::AfterSalesError;
use domain::refund::RefundRefusal;
use serde_json::json;

impl From<AfterSalesError> for ApiError {
    fn from(err: AfterSalesError) -> Self {
        match err {
            AfterSalesError::Refused(refusal) => {
                let unknown_line = matches!(refusal, RefundRefusal::UnknownLine(_));
                let answer = ApiError::new(
                    if unknown_line { 422 } else { 409 },
                    refusal.code(),
                    refusal.to_string(),
                );
                if unknown_line {
                    answer.with_field("lines")
                } else {
                    answer
                }
            }
            AfterSalesError::OrderChanged => ApiError::new(409, "order_changed", err.to_string()),
            AfterSalesError::AlreadyRefunded => {
                ApiError::new(409, "already_refunded", err.to_string())
            }
            AfterSalesError::NotFound => ApiError::new(404, "refund_not_found", err.to_string()),
            AfterSalesError::Decided(status) => {
                ApiError::new(409, "refund_decided", err.to_string())
                    .with_detail("status", json!(status))
            }
            AfterSalesError::ReturnNotReceived => {
                ApiError::new(409, "return_not_received", err.to_string())
                    .with_field("overrideReturn")
            }
            AfterSalesError::ProviderUnavailable {
                ref out_refund_no,
                ref source,
            } => ApiError::new(502, "refund_unavailable", err.to_string())
                .with_detail("outRefundNo", json!(out_refund_no))
                .with_cause(source),
            AfterSalesError::Store(_) | AfterSalesError::Recording(_) => ApiError::unexpected(&err),
        }
    }
}
