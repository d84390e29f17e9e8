//! The live reports (数据看板) for staff with `reports.read`: the funnel, the shop's hours,
//! top products and channels over China days (the last 7 up to today unless `from`/`to` say,
//! at most 90), answered from the hourly counters. Money is in fen.

use super::{Admin, day_range};
use app::reports::{FunnelReport, Rank};
use edge::api::{self, ApiError, ApiRequest, ApiResponse, RequestExt};
use serde_json::{Value, json};
use telemetry::metrics::CHANNELS;

/// The longest range a report covers, and the range without `from`.
pub const MAX_REPORT_DAYS: usize = 90;
const DEFAULT_REPORT_DAYS: i64 = 7;

/// A funnel as staff read it: each step with its count and its share of the step before, in
/// tenths of a percent (absent for the first step, or after an empty one).
fn funnel_view(report: &FunnelReport) -> Value {
    let steps: Vec<Value> = report
        .funnel
        .steps()
        .into_iter()
        .map(|(step, count, share)| {
            json!({"step": step.metric(), "count": count, "conversionPermille": share})
        })
        .collect();
    let of = |e: telemetry::metrics::BusinessEvent| report.funnel.of(e);
    use telemetry::metrics::BusinessEvent::*;
    json!({
        "steps": steps,
        "visitors": report.visitors,
        "revenue": report.funnel.revenue,
        "refunds": of(Refunded),
        "refunded": report.funnel.refunded,
        "sharesOpened": of(ShareOpened),
        "invitesRewarded": of(InviteRewarded),
        "tasksCompleted": of(TaskCompleted),
        "mallRedemptions": of(MallRedeemed),
        "lotteryDraws": of(LotteryDrawn),
        "pointsIssued": report.funnel.points_issued,
        "pointsSpent": report.funnel.points_spent,
    })
}

fn store_failure(err: store::StoreError) -> ApiError {
    ApiError::unexpected(&err)
}

impl Admin {
    fn report_range(&self, req: &ApiRequest, now: i64) -> Result<app::reports::DayRange, ApiError> {
        day_range(req, now, DEFAULT_REPORT_DAYS, MAX_REPORT_DAYS)
    }

    /// `GET /admin/v1/reports/funnel?from&to&channel`.
    pub(crate) async fn funnel_report(
        &self,
        req: &ApiRequest,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let range = self.report_range(req, now)?;
        let channel = match req.query_param("channel").filter(|c| !c.is_empty()) {
            Some(c) if CHANNELS.contains(&c) => Some(c),
            Some(_) => {
                return Err(ApiError::invalid_field(
                    "channel",
                    format!("must be one of {}", CHANNELS.join(", ")),
                ));
            }
            None => None,
        };
        let report = self
            .reports
            .funnel(&range, channel)
            .await
            .map_err(store_failure)?;
        let mut answer = funnel_view(&report);
        answer["from"] = json!(range.from);
        answer["to"] = json!(range.to);
        answer["channel"] = json!(channel);
        Ok(api::json(200, &answer))
    }

    /// `GET /admin/v1/reports/hourly?from&to`: every hour of the range, and the range summed by
    /// hour of the day.
    pub(crate) async fn hourly_report(
        &self,
        req: &ApiRequest,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let range = self.report_range(req, now)?;
        let report = self.reports.hourly(&range).await.map_err(store_failure)?;
        Ok(api::json(
            200,
            &json!({
                "from": range.from,
                "to": range.to,
                "hours": report.hours,
                "byHourOfDay": report.by_hour_of_day,
                "byDay": report.by_day,
            }),
        ))
    }

    /// `GET /admin/v1/reports/top-products?from&to&by=sales|units|views&limit`.
    pub(crate) async fn top_products_report(
        &self,
        req: &ApiRequest,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let range = self.report_range(req, now)?;
        let rank = match req.query_param("by").filter(|b| !b.is_empty()) {
            None => Rank::Sales,
            Some(raw) => Rank::parse(raw)
                .ok_or_else(|| ApiError::invalid_field("by", "must be sales, units or views"))?,
        };
        let products = self
            .reports
            .top_products(&range, rank, api::page_limit(req)?)
            .await
            .map_err(store_failure)?;
        Ok(api::json(
            200,
            &json!({"from": range.from, "to": range.to, "items": products}),
        ))
    }

    /// `GET /admin/v1/reports/channels?from&to`: each channel's funnel, busiest first.
    pub(crate) async fn channels_report(
        &self,
        req: &ApiRequest,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let range = self.report_range(req, now)?;
        let channels = self.reports.channels(&range).await.map_err(store_failure)?;
        let items: Vec<Value> = channels
            .iter()
            .map(|(channel, report)| {
                let mut view = funnel_view(report);
                view["channel"] = json!(channel);
                view
            })
            .collect();
        Ok(api::json(
            200,
            &json!({"from": range.from, "to": range.to, "items": items}),
        ))
    }
}
