//! Orders exported as CSV (for the shop's books): asked for here, written by the exports
//! consumer, fetched by the one who asked through a short-lived link.

use super::{Admin, actor, orders::order_filter};
use app::exports::{ExportAsk, ExportError, ExportView, MAX_EXPORT_DAYS};
use domain::export::ExportId;
use domain::staff::Permission;
use edge::api::{self, ApiError, ApiRequest, ApiResponse, RequestExt};
use edge::auth::StaffCaller;
use serde::Deserialize;
use serde_json::{Value, json};

fn view(shown: &ExportView) -> Value {
    let e = &shown.export;
    let mut out = json!({
        "id": e.id,
        "state": e.state,
        "from": e.from,
        "to": e.to,
        "status": e.status,
        "provider": e.provider,
        "channel": e.channel,
        "revealPhones": e.reveal,
        "requestedAt": e.requested_at,
        "finishedAt": e.finished_at,
    });
    if let Some(totals) = &e.totals {
        out["rows"] = json!(totals.rows);
        out["paid"] = json!(totals.paid);
        out["refunded"] = json!(totals.refunded);
    }
    if let Some(problem) = &e.problem {
        out["problem"] = json!(problem);
    }
    if let Some((url, expires_at)) = &shown.link {
        out["url"] = json!(url);
        out["urlExpiresAt"] = json!(expires_at);
    }
    out
}

impl Admin {
    /// `POST /admin/v1/exports/orders {from, to, status?, provider?, channel?, revealPhones?}`:
    /// 202 with the queued export. Whole phones and streets need the reveal permission and a
    /// fresh code (step-up); without them the file masks them.
    pub(crate) async fn export_orders(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Ask {
            from: Option<String>,
            to: Option<String>,
            status: Option<String>,
            provider: Option<String>,
            channel: Option<String>,
            reveal_phones: Option<bool>,
        }
        let body: Ask = req.json_body()?;
        let day = |raw: Option<&str>, field: &'static str| {
            let raw = raw
                .filter(|d| !d.is_empty())
                .ok_or_else(|| ApiError::invalid_field(field, "is required: YYYY-MM-DD"))?;
            domain::clock::parse_day(raw).map_err(|e| ApiError::invalid_field(field, e.problem))
        };
        let from = day(body.from.as_deref(), "from")?;
        let to = day(body.to.as_deref(), "to")?;
        domain::clock::days_back(&from, &to, MAX_EXPORT_DAYS)?;
        let filter = order_filter(
            body.status.as_deref().filter(|s| !s.is_empty()),
            body.provider.as_deref().filter(|p| !p.is_empty()),
            body.channel.as_deref().filter(|c| !c.is_empty()),
        )?;
        let reveal = body.reveal_phones.unwrap_or(false);
        if reveal {
            if !caller.role.allows(Permission::PersonalDataReveal) {
                return Err(ApiError::new(
                    403,
                    "forbidden",
                    format!(
                        "the {} role may not export whole phones",
                        caller.role.as_str()
                    ),
                )
                .with_field("revealPhones"));
            }
            caller.require_step_up(now)?;
        }
        let export = self
            .exports
            .request(
                ExportAsk {
                    from,
                    to,
                    status: filter.status,
                    provider: filter.provider,
                    channel: filter.channel,
                    reveal,
                },
                &actor(req, caller),
                now,
            )
            .await
            .map_err(ApiError::from)?;
        Ok(api::json(
            202,
            &json!({ "export": view(&ExportView { export, link: None }) }),
        ))
    }

    /// `GET /admin/v1/exports/{id}`: the caller's export, with a five-minute link once ready.
    pub(crate) async fn export_status(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let id = ExportId::parse(req.path_param("id")?)
            .map_err(|_| ApiError::from(ExportError::NotFound))?;
        let shown = self
            .exports
            .look(&id, &caller.staff_id, now)
            .await
            .map_err(ApiError::from)?;
        Ok(api::json(200, &json!({ "export": view(&shown) })))
    }
}
