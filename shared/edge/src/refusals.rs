//! How the use cases the shopper's door (checkout) and the merchant's (admin) share answer
//! their refusals: one mapping for both.

use crate::api::ApiError;
use app::after_sales::AfterSalesError;
use app::catalog_desk::CatalogDeskError;
use app::exports::ExportError;
use app::lottery_desk::LotteryDeskError;
use app::order_desk::OrderDeskError;
use app::points_mall::MallError;
use app::promotion_desk::PromotionDeskError;
use app::task_desk::TaskError;
use domain::points_mall::RedeemRefusal;
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
            AfterSalesError::StepUpRequired => crate::auth::step_up_required(),
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

impl From<OrderDeskError> for ApiError {
    fn from(err: OrderDeskError) -> Self {
        match err {
            OrderDeskError::NotFound => ApiError::new(404, "order_not_found", err.to_string()),
            OrderDeskError::NotCancellable(status) => ApiError::new(
                409,
                "order_not_cancellable",
                format!(
                    "the order is {} and can no longer be cancelled",
                    status.as_str()
                ),
            ),
            OrderDeskError::NotShippable(status) => ApiError::new(
                409,
                "order_not_shippable",
                format!("the order is {} and cannot be shipped", status.as_str()),
            ),
            OrderDeskError::WaybillTaken(_) => {
                ApiError::new(409, "waybill_taken", err.to_string()).with_field("number")
            }
            OrderDeskError::Provider(ref source) => ApiError::new(
                502,
                "payment_unavailable",
                "the payment provider did not answer; please retry",
            )
            .with_cause(source),
            OrderDeskError::Store(_) | OrderDeskError::Recording(_) | OrderDeskError::Queue(_) => {
                ApiError::unexpected(&err)
            }
        }
    }
}

impl From<CatalogDeskError> for ApiError {
    fn from(err: CatalogDeskError) -> Self {
        match err {
            CatalogDeskError::NotFound => ApiError::new(404, "sku_not_found", err.to_string()),
            CatalogDeskError::Invalid(field) => ApiError::invalid_field(field.field, field.problem),
            CatalogDeskError::Stale { current } => {
                ApiError::new(409, "stale_edit", err.to_string())
                    .with_field("seen")
                    .with_detail("current", json!(current))
            }
            CatalogDeskError::Busy => ApiError::new(409, "sku_busy", err.to_string()),
            CatalogDeskError::StaleMany(stale) => {
                let field = stale
                    .first()
                    .map(|s| format!("changes[{}].seen", s.index))
                    .unwrap_or_else(|| "changes".into());
                ApiError::new(
                    409,
                    "stale_edit",
                    format!(
                        "{} of the SKUs changed since they were read: nothing was changed",
                        stale.len()
                    ),
                )
                .with_field(field)
                .with_detail("stale", json!(stale))
            }
            CatalogDeskError::BelowZero => {
                ApiError::new(422, "stock_below_zero", err.to_string()).with_field("delta")
            }
            CatalogDeskError::ProductNotFound => {
                ApiError::new(404, "product_not_found", err.to_string())
            }
            CatalogDeskError::ProductExists => {
                ApiError::new(409, "product_exists", err.to_string()).with_field("id")
            }
            CatalogDeskError::StaleProduct { current } => {
                ApiError::new(409, "stale_edit", err.to_string())
                    .with_field("version")
                    .with_detail("current", json!(current))
            }
            CatalogDeskError::SkuTaken { index } => {
                ApiError::new(409, "sku_taken", err.to_string())
                    .with_field(format!("skus[{index}].id"))
            }
            CatalogDeskError::CategoryExists => {
                ApiError::new(409, "category_exists", err.to_string()).with_field("id")
            }
            CatalogDeskError::NoSuchCategory => {
                ApiError::new(422, "no_such_category", err.to_string()).with_field("categoryId")
            }
            CatalogDeskError::CategoryMoving => {
                ApiError::new(409, "categories_changed", err.to_string()).with_field("parentId")
            }
            CatalogDeskError::Media(_) => ApiError::new(
                503,
                "media_unavailable",
                "the image store could not be reached; try again in a moment",
            ),
            CatalogDeskError::Store(_) | CatalogDeskError::Queue(_) => ApiError::unexpected(&err),
        }
    }
}

impl From<ExportError> for ApiError {
    fn from(err: ExportError) -> Self {
        match err {
            ExportError::NotFound => ApiError::new(404, "export_not_found", "no such export"),
            ExportError::Queue(_) | ExportError::Media(_) => ApiError::new(
                503,
                "export_unavailable",
                "the export could not be started or fetched; try again in a moment",
            ),
            ExportError::Store(e) => ApiError::unexpected(&e),
        }
    }
}

impl From<PromotionDeskError> for ApiError {
    fn from(err: PromotionDeskError) -> Self {
        match err {
            PromotionDeskError::Invalid(field) => {
                ApiError::invalid_field(field.field, field.problem)
            }
            PromotionDeskError::TotalBelowIssued { issued } => {
                ApiError::new(409, "total_below_claimed", err.to_string())
                    .with_field("totalLimit")
                    .with_detail("issued", json!(issued))
            }
            PromotionDeskError::NoSuchReduction(_) => {
                ApiError::new(404, "reduction_not_found", err.to_string())
            }
            PromotionDeskError::NoSuchShopper => {
                ApiError::new(404, "shopper_not_found", err.to_string())
            }
            PromotionDeskError::Busy => ApiError::new(409, "rules_busy", err.to_string()),
            PromotionDeskError::Store(e) => ApiError::unexpected(&e),
        }
    }
}

impl From<LotteryDeskError> for ApiError {
    fn from(err: LotteryDeskError) -> Self {
        match err {
            LotteryDeskError::Invalid(field) => ApiError::invalid_field(field.field, field.problem),
            LotteryDeskError::Exists => ApiError::new(409, "lottery_exists", err.to_string()),
            LotteryDeskError::NoSuchLottery => {
                ApiError::new(404, "lottery_not_found", err.to_string())
            }
            LotteryDeskError::NoSuchDraw => ApiError::new(404, "draw_not_found", err.to_string()),
            LotteryDeskError::NotAGift => ApiError::new(409, "not_a_gift", err.to_string()),
            LotteryDeskError::AddressNeeded => ApiError::invalid_field("address", err.to_string()),
            LotteryDeskError::GiftOutOfStock => {
                ApiError::new(409, "gift_out_of_stock", err.to_string())
            }
            LotteryDeskError::Unaudited | LotteryDeskError::NoGiftOrders => {
                ApiError::unexpected(&err)
            }
            LotteryDeskError::Store(e) => ApiError::unexpected(&e),
            LotteryDeskError::Queue(e) => ApiError::unexpected(&e),
        }
    }
}

impl From<domain::lottery::DrawRefusal> for ApiError {
    fn from(refusal: domain::lottery::DrawRefusal) -> Self {
        ApiError::new(409, refusal.code(), refusal.to_string())
    }
}

impl From<MallError> for ApiError {
    fn from(err: MallError) -> Self {
        match err {
            MallError::Invalid(field) => ApiError::invalid_field(field.field, field.problem),
            MallError::Exists => ApiError::new(409, "mall_item_exists", err.to_string()),
            MallError::NoSuchItem => ApiError::new(404, "mall_item_not_found", err.to_string()),
            MallError::Refused(refusal) => refusal.into(),
            MallError::AddressNeeded => ApiError::invalid_field(
                "address",
                "is required for a gift (or an addressId from the address book)",
            ),
            MallError::KeyReused => ApiError::new(409, "idempotency_key_reused", err.to_string())
                .with_field("Idempotency-Key"),
            MallError::NotHere(_) => ApiError::unexpected(&err),
            MallError::Store(e) => ApiError::unexpected(&e),
            MallError::Queue(e) => ApiError::unexpected(&e),
        }
    }
}

impl From<RedeemRefusal> for ApiError {
    fn from(refusal: RedeemRefusal) -> Self {
        match refusal {
            RedeemRefusal::NotStarted => ApiError::new(
                409,
                "mall_item_not_started",
                "this item is not on offer yet",
            ),
            RedeemRefusal::Ended => {
                ApiError::new(409, "mall_item_ended", "this item is no longer on offer")
            }
            RedeemRefusal::SoldOut => ApiError::new(
                409,
                "mall_item_sold_out",
                "every unit of this item is taken",
            ),
            RedeemRefusal::LimitReached { limit } => ApiError::new(
                409,
                "redeem_limit_reached",
                format!("each shopper redeems this item at most {limit} times"),
            ),
            RedeemRefusal::PointsShort { needed, balance } => ApiError::new(
                409,
                "points_short",
                format!("this item takes {needed} points; you have {balance}"),
            )
            .with_detail("needed", serde_json::json!(needed))
            .with_detail("balance", serde_json::json!(balance)),
        }
    }
}

impl From<TaskError> for ApiError {
    fn from(err: TaskError) -> Self {
        let message = err.to_string();
        match err {
            TaskError::Invalid(field) => ApiError::invalid_field(field.field, field.problem),
            TaskError::NoSuchTask => ApiError::new(404, "task_not_found", message),
            TaskError::NotDone(what) => ApiError::new(409, "task_not_done", what),
            TaskError::ViewTooEarly(wait) => ApiError::new(409, "view_too_short", message)
                .with_detail("waitSeconds", serde_json::json!(wait)),
            TaskError::ViewExpired => ApiError::new(409, "view_ticket_expired", message),
            TaskError::AlreadyDone => ApiError::new(409, "task_already_done", message),
            TaskError::CapReached => ApiError::new(409, "task_cap_reached", message),
            TaskError::Automatic => ApiError::new(409, "task_counts_itself", message),
            TaskError::Unaudited | TaskError::CannotCheck => ApiError::unexpected(&err),
            TaskError::Store(e) => ApiError::unexpected(&e),
        }
    }
}
