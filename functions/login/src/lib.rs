//! `login`: the shopper's account. Turns a wx.login code (or an Alipay my.getAuthCode code)
//! into the shop's own token, binds a phone number, exports everything the shop keeps about
//! the shopper and deletes the account.
//!
//! Routes: `POST /v1/auth/login`, `POST /v1/auth/login/alipay`, `POST /v1/auth/phone`,
//! `GET /v1/me/export`, `DELETE /v1/me`, and the address book (`/v1/addresses`).

mod addresses;

use app::privacy::{Privacy, PrivacyError};
use app::wechat;
use domain::clock::now_epoch_seconds;
use domain::ids::ShareCode;
use domain::phone::{PhoneHashKey, PhoneNumber};
use edge::api::{self, ApiError, ApiRequest, ApiResponse, RequestExt};
use edge::auth::Sessions;
use edge::runtime::{Clients, HttpFunction, respond};
use providers::wechat::{WeChatApi, WeChatError};
use serde::{Deserialize, Serialize};
use settings::{ConfigError, Settings};
use store::StoreError;
use store::social::SocialStore;
use store::users::{Identity, UserStore};

pub struct Login {
    metrics: telemetry::metrics::Metrics,
    users: UserStore,
    /// Share links, to attribute a new shopper to whoever invited them.
    invites: SocialStore,
    /// None for a shop without Alipay.
    alipay: Option<providers::alipay::AlipayClient>,
    wechat: WeChatApi,
    sessions: Sessions,
    phone_key: PhoneHashKey,
    privacy: Privacy,
    /// The address book.
    shopping: store::shopping::ShoppingStore,
}

/// A one-time code from wx.login() or the getPhoneNumber button.
struct WeChatCode(String);

impl WeChatCode {
    fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(ApiError::invalid_field(field, "must not be empty"));
        }
        if raw.len() > 128 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::invalid_field(
                field,
                "must be at most 128 printable ASCII characters",
            ));
        }
        Ok(Self(raw.to_string()))
    }
}

/// The share code a new shopper arrived through: it attributes them to the sharer.
fn parse_invite_code(raw: Option<&str>) -> Result<Option<ShareCode>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    ShareCode::parse(raw).map(Some).map_err(|_| {
        ApiError::invalid_field(
            "inviteCode",
            "must be a share code: 6 to 32 letters, digits, '-' or '_'",
        )
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginBody {
    code: String,
    invite_code: Option<String>,
}

#[derive(Deserialize)]
struct PhoneBody {
    code: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LoginAnswer {
    token: String,
    expires_in: i64,
    user: UserAnswer,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserAnswer {
    id: String,
    is_new: bool,
    phone_bound: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhoneAnswer {
    phone: String,
    phone_bound: bool,
}

/// Why a login or a phone binding did not succeed.
#[derive(Debug, thiserror::Error)]
enum LoginError {
    #[error(transparent)]
    WeChat(#[from] WeChatError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the account behind this token no longer exists")]
    UnknownUser,
    #[error("WeChat returned a phone number we cannot read")]
    UnreadablePhone,
}

impl From<wechat::AccessTokenError> for LoginError {
    fn from(err: wechat::AccessTokenError) -> Self {
        match err {
            wechat::AccessTokenError::WeChat(e) => LoginError::WeChat(e),
            wechat::AccessTokenError::Store(e) => LoginError::Store(e),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeletedAnswer {
    deleted: bool,
    orders_anonymised: usize,
    /// Reviews kept as anonymous words and stars.
    reviews_anonymised: usize,
}

/// The answers of the privacy routes, in one place.
fn privacy_error(err: PrivacyError) -> ApiError {
    match err {
        PrivacyError::InFlight(orders) => ApiError::new(
            409,
            "orders_in_flight",
            format!(
                "{} order(s) are still on their way: wait until they are delivered, or cancel or refund them, then delete the account",
                orders.len()
            ),
        )
        .with_detail(
            "orders",
            serde_json::Value::Array(
                orders
                    .iter()
                    .map(|(id, status)| serde_json::json!({"id": id, "status": status}))
                    .collect(),
            ),
        ),
        PrivacyError::UnknownAccount => LoginError::UnknownUser.into(),
        PrivacyError::Store(e) => ApiError::unexpected(&e),
    }
}

impl From<LoginError> for ApiError {
    fn from(err: LoginError) -> Self {
        match &err {
            LoginError::WeChat(WeChatError::InvalidCode(_)) => ApiError::new(
                401,
                "wechat_code_invalid",
                "the WeChat code is invalid, expired or already used; call wx.login() again",
            ),
            LoginError::WeChat(WeChatError::RateLimited) => ApiError::new(
                429,
                "rate_limited",
                "too many logins for this user; retry in a minute",
            ),
            LoginError::WeChat(WeChatError::HighRisk) => ApiError::new(
                403,
                "wechat_high_risk",
                "WeChat has restricted this account",
            ),
            LoginError::Store(_) => ApiError::unexpected(&err),
            LoginError::WeChat(_) | LoginError::UnreadablePhone => ApiError::new(
                502,
                "wechat_unavailable",
                "WeChat did not answer as expected; please retry",
            )
            .with_cause(&err),
            LoginError::UnknownUser => ApiError::unauthorized(
                "the account behind this token no longer exists; log in again",
            ),
        }
    }
}

impl Login {
    pub fn new(settings: &Settings, clients: &Clients) -> Result<Self, ConfigError> {
        let (dynamodb, http) = (clients.dynamodb.clone(), clients.http());
        let jwt_secret = settings.secret("JWT_SECRET")?;
        let personal = clients.personal_data(settings)?;
        Ok(Self {
            metrics: clients.metrics("login"),
            alipay: providers::alipay::AlipayClient::from_settings(settings, clients.http())?,
            invites: SocialStore::new(dynamodb.clone(), settings.required("MARKETING_TABLE")?),
            privacy: Privacy::new(
                dynamodb.clone(),
                &settings.required("USERS_TABLE")?,
                &settings.required("ORDERS_TABLE")?,
                &settings.required("MARKETING_TABLE")?,
                &settings.required("SHOPPING_TABLE")?,
                &settings.required("REVIEWS_TABLE")?,
                PhoneHashKey::derive(&jwt_secret),
            )
            .with_personal_data(personal.clone()),
            shopping: store::shopping::ShoppingStore::new(
                dynamodb.clone(),
                settings.required("SHOPPING_TABLE")?,
            )
            .with_personal_data(personal),
            sessions: Sessions::new(
                &jwt_secret,
                UserStore::new(dynamodb.clone(), settings.required("USERS_TABLE")?),
            )?,
            users: UserStore::new(dynamodb, settings.required("USERS_TABLE")?),
            wechat: WeChatApi::new(settings, http)?,
            phone_key: PhoneHashKey::derive(&jwt_secret),
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        let (settings, clients) = edge::runtime::from_env().await?;
        Self::new(&settings, &clients)
    }

    async fn login(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let body: LoginBody = req.json_body()?;
        let code = WeChatCode::parse("code", &body.code)?;
        let invite_code = parse_invite_code(body.invite_code.as_deref())?;
        // The share is looked up while WeChat answers: a login pays for it only in time it waits anyway.
        let (session, share) = futures::join!(self.wechat.code_to_session(&code.0), async {
            match &invite_code {
                Some(code) => self.invites.share(code).await,
                None => Ok(None),
            }
        });
        let session = session.map_err(LoginError::from)?;
        self.signed_in(
            req,
            &Identity::WeChat(session.openid),
            invite_code.as_ref(),
            share.map_err(LoginError::from)?,
        )
        .await
    }

    /// `my.getAuthCode` in the shop's Alipay mini-program -> the same kind of account and token.
    async fn login_alipay(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let Some(alipay) = &self.alipay else {
            return Err(ApiError::new(
                404,
                "alipay_not_enabled",
                "this shop does not take Alipay",
            ));
        };
        let body: LoginBody = req.json_body()?;
        let code = WeChatCode::parse("code", &body.code)?;
        let invite_code = parse_invite_code(body.invite_code.as_deref())?;
        let now = now_epoch_seconds();
        let (open_id, share) = futures::join!(alipay.login(&code.0, now), async {
            match &invite_code {
                Some(code) => self.invites.share(code).await,
                None => Ok(None),
            }
        });
        let open_id = open_id.map_err(|err| match err.sub_code() {
            Some(sub) if sub.contains("code") => ApiError::new(
                401,
                "alipay_code_invalid",
                "the Alipay code is invalid, expired or already used; call my.getAuthCode() again",
            ),
            _ => ApiError::new(
                502,
                "alipay_unavailable",
                "Alipay did not answer as expected; please retry",
            )
            .with_cause(&err),
        })?;
        self.signed_in(
            req,
            &Identity::Alipay(open_id),
            invite_code.as_ref(),
            share.map_err(LoginError::from)?,
        )
        .await
    }

    /// The account for this identity (created, and attributed to its sharer, on first sight) and
    /// its token; the launch it signs in for is the shop's visit.
    async fn signed_in(
        &self,
        req: &ApiRequest,
        identity: &Identity,
        invite_code: Option<&ShareCode>,
        share: Option<store::social::Share>,
    ) -> Result<ApiResponse, ApiError> {
        let now = now_epoch_seconds();
        let signed_in = self
            .users
            .sign_in(
                identity,
                invite_code.map(ShareCode::as_str),
                share.as_ref().map(|s| (&s.sharer_id, &self.invites)),
                now,
            )
            .await
            .map_err(LoginError::from)?;
        let issued = self.sessions.issue(&signed_in.user.id, now);
        tracing::info!(user_id = %signed_in.user.id, is_new = signed_in.is_new, "logged in");
        // Opened from a share link: the invite code is the share's, whatever the scene says.
        let channel = match invite_code {
            Some(_) => "share",
            None => edge::channel::channel_of(req),
        };
        self.metrics.event(
            telemetry::metrics::BusinessEvent::Visit,
            &telemetry::metrics::Facts {
                channel: Some(channel),
                visitor: Some(signed_in.user.id.as_str()),
                ..Default::default()
            },
        );
        Ok(api::json(
            200,
            &LoginAnswer {
                token: issued.token,
                expires_in: issued.expires_in,
                user: UserAnswer {
                    id: signed_in.user.id.to_string(),
                    is_new: signed_in.is_new,
                    phone_bound: signed_in.user.phone_bound(),
                },
            },
        ))
    }

    async fn bind_phone(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let body: PhoneBody = req.json_body()?;
        let code = WeChatCode::parse("code", &body.code)?;
        let openid = self
            .users
            .openid_of(&user)
            .await
            .map_err(LoginError::from)?
            .ok_or(LoginError::UnknownUser)?;
        let now = now_epoch_seconds();
        let token = wechat::access_token(&self.wechat, &self.users, now)
            .await
            .map_err(LoginError::from)?;
        let phone = match self.wechat.phone_number(&token, &code.0, &openid).await {
            // Another instance may have replaced the token WeChat knows: drop ours and take a fresh one, once.
            Err(WeChatError::InvalidAccessToken(_)) => {
                self.users
                    .forget_access_token()
                    .await
                    .map_err(LoginError::from)?;
                let token = wechat::access_token(&self.wechat, &self.users, now)
                    .await
                    .map_err(LoginError::from)?;
                self.wechat.phone_number(&token, &code.0, &openid).await
            }
            other => other,
        }
        .map_err(LoginError::from)?;
        let phone = PhoneNumber::from_wechat(phone.country_code, &phone.pure_phone_number)
            .map_err(|_| LoginError::UnreadablePhone)?;
        let masked = phone.masked();
        if !self
            .users
            .bind_phone(&user, &phone.keyed_hash(&self.phone_key), &masked, now)
            .await
            .map_err(LoginError::from)?
        {
            return Err(LoginError::UnknownUser.into());
        }
        tracing::info!(user_id = %user, "phone bound");
        Ok(api::json(
            200,
            &PhoneAnswer {
                phone: masked,
                phone_bound: true,
            },
        ))
    }
}

impl Login {
    /// Everything the shop keeps about the caller, as one JSON document.
    async fn export(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let export = self
            .privacy
            .export(&user, now_epoch_seconds())
            .await
            .map_err(privacy_error)?;
        tracing::info!(user_id = %user, orders = export.orders.len(), "personal data exported");
        Ok(api::json(200, &export))
    }

    /// Deletes the caller's account: personal data erased, orders anonymised, points and
    /// coupons forfeited, every token refused from now on.
    async fn delete_account(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let deleted = self
            .privacy
            .delete_account(&user, now_epoch_seconds())
            .await
            .map_err(privacy_error)?;
        tracing::info!(
            user_id = %user,
            orders_erased = deleted.orders_erased,
            own_records = deleted.marketing.own_records,
            shares = deleted.marketing.shares,
            faces = deleted.marketing.faces,
            reviews = deleted.reviews_anonymised,
            "account deleted"
        );
        Ok(api::json(
            200,
            &DeletedAnswer {
                deleted: true,
                orders_anonymised: deleted.orders_erased,
                reviews_anonymised: deleted.reviews_anonymised,
            },
        ))
    }
}

#[async_trait::async_trait]
impl HttpFunction for Login {
    async fn handle(&self, req: ApiRequest) -> ApiResponse {
        respond(&self.metrics, &req, async {
            match req.route() {
                "POST /v1/auth/login" => self.login(&req).await,
                "POST /v1/auth/login/alipay" => self.login_alipay(&req).await,
                "POST /v1/auth/phone" => self.bind_phone(&req).await,
                "GET /v1/me/export" => self.export(&req).await,
                "DELETE /v1/me" => self.delete_account(&req).await,
                "GET /v1/addresses" => self.addresses(&req).await,
                "POST /v1/addresses" => self.add_address(&req).await,
                "PUT /v1/addresses/{id}" => self.replace_address(&req).await,
                "DELETE /v1/addresses/{id}" => self.remove_address(&req).await,
                "POST /v1/addresses/{id}/default" => self.set_default_address(&req).await,
                other => Err(ApiError::route_not_found(other)),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_must_be_short_printable_and_present() {
        assert!(WeChatCode::parse("code", "0a1b2c").is_ok());
        for bad in ["", "   ", "有中文", &"x".repeat(129), "a b"] {
            let err = WeChatCode::parse("code", bad).err().unwrap();
            assert_eq!(err.field.as_deref(), Some("code"), "{bad:?}");
        }
    }

    #[test]
    fn invite_codes_are_optional_but_well_formed() {
        assert_eq!(parse_invite_code(None).unwrap(), None);
        assert_eq!(parse_invite_code(Some(" ")).unwrap(), None);
        assert_eq!(
            parse_invite_code(Some("s_AbC9")).unwrap().unwrap().as_str(),
            "s_AbC9"
        );
        assert_eq!(
            parse_invite_code(Some("a/b")).unwrap_err().field.as_deref(),
            Some("inviteCode")
        );
    }

    #[test]
    fn wechat_failures_map_to_the_documented_answers() {
        let status = |e: WeChatError| {
            let api: ApiError = LoginError::WeChat(e).into();
            (api.status, api.code)
        };
        assert_eq!(
            status(WeChatError::InvalidCode(40029)),
            (401, "wechat_code_invalid")
        );
        assert_eq!(
            status(WeChatError::InvalidCode(40163)),
            (401, "wechat_code_invalid")
        );
        assert_eq!(status(WeChatError::RateLimited), (429, "rate_limited"));
        assert_eq!(status(WeChatError::HighRisk), (403, "wechat_high_risk"));
        assert_eq!(
            status(WeChatError::Unavailable("down".into())),
            (502, "wechat_unavailable")
        );
    }
}
