//! The shop's own session token: an HS256 JWT whose subject is our user id. WeChat's
//! session_key never leaves the backend; the mini-program only ever holds this token.
//!
//! `TokenService` signs and checks tokens; `Sessions` is what a route asks for its caller: a
//! good token whose account has not been deleted since (one read of the account per request,
//! so a deletion refuses its tokens at once, on every warm instance).

use crate::api::{ApiError, ApiRequest, RequestExt};
use domain::ids::UserId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use settings::ConfigError;

pub const ISSUER: &str = "wechat-shop";
pub const AUDIENCE: &str = "wechat-shop-miniprogram";
/// Two hours, like WeChat's own session: the mini-program logs in again with wx.login().
pub const TOKEN_TTL_SECONDS: i64 = 2 * 60 * 60;
/// HS256 needs a key at least as long as its hash to be worth anything.
const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

pub struct IssuedToken {
    pub token: String,
    pub expires_in: i64,
}

/// Issues and checks tokens. Built once per cold start from `JWT_SECRET`.
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the Authorization header must be 'Bearer <token>'")]
    MissingBearer,
    #[error("the token is invalid or expired; log in again")]
    InvalidToken,
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        ApiError::unauthorized(err.to_string())
    }
}

/// The keys and checks of an HS256 token kind: `secret` (the setting `setting`, at least 32
/// bytes), our issuer, `audience`, `leeway` seconds of clock skew.
fn hs256(
    secret: &SecretString,
    setting: &str,
    audience: &str,
    leeway: u64,
) -> Result<(EncodingKey, DecodingKey, Validation), ConfigError> {
    let key = secret.expose_secret().as_bytes();
    if key.len() < MIN_SECRET_BYTES {
        return Err(ConfigError::new(
            setting,
            format!("must be at least {MIN_SECRET_BYTES} bytes"),
        ));
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = leeway;
    Ok((
        EncodingKey::from_secret(key),
        DecodingKey::from_secret(key),
        validation,
    ))
}

/// The request's bearer token: none without an Authorization header, 401 for a malformed one.
fn bearer(req: &ApiRequest) -> Result<Option<&str>, AuthError> {
    let Some(value) = req.header_str("authorization") else {
        return Ok(None);
    };
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(Some)
        .ok_or(AuthError::MissingBearer)
}

impl TokenService {
    pub fn new(secret: &SecretString) -> Result<Self, ConfigError> {
        let (encoding, decoding, validation) = hs256(secret, "JWT_SECRET", AUDIENCE, 30)?;
        Ok(Self {
            encoding,
            decoding,
            validation,
        })
    }

    pub fn issue(&self, user: &UserId, now: i64) -> IssuedToken {
        let claims = Claims {
            sub: user.as_str().to_string(),
            iss: ISSUER.to_string(),
            aud: AUDIENCE.to_string(),
            iat: now,
            exp: now + TOKEN_TTL_SECONDS,
        };
        // HS256 over a serializable struct with a valid key does not fail.
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with a valid key");
        IssuedToken {
            token,
            expires_in: TOKEN_TTL_SECONDS,
        }
    }

    pub fn verify(&self, token: &str) -> Result<UserId, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| AuthError::InvalidToken)?;
        UserId::parse(&data.claims.sub).map_err(|_| AuthError::InvalidToken)
    }

    /// The caller of a route that requires a login.
    pub fn require_user(&self, req: &ApiRequest) -> Result<UserId, ApiError> {
        self.optional_user(req)?
            .ok_or_else(|| AuthError::MissingBearer.into())
    }

    /// The caller of a route that also serves guests. A token that is present but bad is still
    /// 401, so the mini-program knows to log in again instead of silently losing personalisation.
    pub fn optional_user(&self, req: &ApiRequest) -> Result<Option<UserId>, ApiError> {
        let Some(token) = bearer(req)? else {
            return Ok(None);
        };
        let user = self.verify(token)?;
        // Our own id (never the openid) joins the request's log span.
        tracing::Span::current().record("user_id", user.as_str());
        Ok(Some(user))
    }
}

/// The caller of a route: a token that checks out, of an account that still exists.
pub struct Sessions {
    tokens: TokenService,
    accounts: store::users::UserStore,
}

impl Sessions {
    pub fn new(
        secret: &SecretString,
        accounts: store::users::UserStore,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            tokens: TokenService::new(secret)?,
            accounts,
        })
    }

    pub fn issue(&self, user: &UserId, now: i64) -> IssuedToken {
        self.tokens.issue(user, now)
    }

    /// The caller of a route that requires a login.
    pub async fn require_user(&self, req: &ApiRequest) -> Result<UserId, ApiError> {
        let user = self.tokens.require_user(req)?;
        self.still_open(user).await
    }

    /// The caller of a route that also serves guests; a deleted account's token is 401 here
    /// too, so the mini-program logs in again.
    pub async fn optional_user(&self, req: &ApiRequest) -> Result<Option<UserId>, ApiError> {
        match self.tokens.optional_user(req)? {
            Some(user) => self.still_open(user).await.map(Some),
            None => Ok(None),
        }
    }

    async fn still_open(&self, user: UserId) -> Result<UserId, ApiError> {
        if self
            .accounts
            .is_deleted(&user)
            .await
            .map_err(|e| ApiError::unexpected(&e))?
        {
            return Err(ApiError::unauthorized(
                "this account was deleted; log in again to start a new one",
            ));
        }
        Ok(user)
    }
}

/// Staff tokens: their own secret (`ADMIN_JWT_SECRET`) and audience, so a shopper's token is
/// never a staff token nor the other way round; each names its session, which every request
/// reads (one GetItem), so signing out or disabling a member refuses it at once.
pub const STAFF_AUDIENCE: &str = "wechat-shop-admin";

#[derive(Debug, Serialize, Deserialize)]
struct StaffClaims {
    sub: String,
    sid: String,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// Who is calling an admin route, as their session says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffCaller {
    pub staff_id: String,
    pub sid: String,
    pub role: domain::staff::Role,
    pub stepped_up_at: Option<i64>,
    pub expires_at: i64,
}

impl StaffCaller {
    /// A high-risk action: a TOTP code within the last five minutes, else 403
    /// `step_up_required`.
    pub fn require_step_up(&self, now: i64) -> Result<(), ApiError> {
        if self.stepped_up(now) {
            Ok(())
        } else {
            Err(step_up_required())
        }
    }

    /// Whether the caller entered a code within the last five minutes.
    pub fn stepped_up(&self, now: i64) -> bool {
        self.stepped_up_at
            .is_some_and(|at| now - at <= domain::staff::STEP_UP_SECONDS)
    }
}

/// The answer to a high-risk action without a recent code.
pub fn step_up_required() -> ApiError {
    ApiError::new(
        403,
        "step_up_required",
        "this needs a fresh code from your authenticator app: POST /admin/v1/auth/step-up",
    )
}

pub struct StaffSessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub store: store::staff::StaffStore,
}

impl StaffSessions {
    pub fn new(
        secret: &SecretString,
        store: store::staff::StaffStore,
    ) -> Result<Self, ConfigError> {
        let (encoding, decoding, validation) =
            hs256(secret, "ADMIN_JWT_SECRET", STAFF_AUDIENCE, 5)?;
        Ok(Self {
            encoding,
            decoding,
            validation,
            store,
        })
    }

    /// A token for session `sid` of `staff_id`, good until `expires_at`.
    pub fn issue(&self, staff_id: &str, sid: &str, expires_at: i64, now: i64) -> IssuedToken {
        let claims = StaffClaims {
            sub: staff_id.to_string(),
            sid: sid.to_string(),
            iss: ISSUER.to_string(),
            aud: STAFF_AUDIENCE.to_string(),
            iat: now,
            exp: expires_at,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with a valid key");
        IssuedToken {
            token,
            expires_in: expires_at - now,
        }
    }

    /// The caller of an admin route, if their session is live and their role allows
    /// `permission` (403 `forbidden` otherwise).
    pub async fn require(
        &self,
        req: &ApiRequest,
        permission: domain::staff::Permission,
        now: i64,
    ) -> Result<StaffCaller, ApiError> {
        let token = bearer(req)?.ok_or(AuthError::MissingBearer)?;
        let claims = jsonwebtoken::decode::<StaffClaims>(token, &self.decoding, &self.validation)
            .map_err(|_| AuthError::InvalidToken)?
            .claims;
        let session = self
            .store
            .session(&claims.sub, &claims.sid, now)
            .await
            .map_err(|e| ApiError::unexpected(&e))?
            .ok_or_else(|| {
                ApiError::unauthorized("this session was signed out or has lapsed; sign in again")
            })?;
        tracing::Span::current().record("user_id", claims.sub.as_str());
        if !session.role.allows(permission) {
            return Err(ApiError::new(
                403,
                "forbidden",
                format!("the {} role may not do this", session.role.as_str()),
            ));
        }
        if session.must_change_password && permission != domain::staff::Permission::OwnAccount {
            return Err(ApiError::new(
                403,
                "password_change_required",
                "change the password you were given first: POST /admin/v1/me/password",
            ));
        }
        Ok(StaffCaller {
            staff_id: session.staff_id,
            sid: session.sid,
            role: session.role,
            stepped_up_at: session.stepped_up_at,
            expires_at: session.expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn service() -> TokenService {
        TokenService::new(&SecretString::from(
            "test-secret-that-is-long-enough-0123456789",
        ))
        .unwrap()
    }

    fn now() -> i64 {
        domain::clock::now_epoch_seconds()
    }

    #[test]
    fn issued_token_verifies_to_its_user() {
        let user = UserId::parse("u123").unwrap();
        let issued = service().issue(&user, now());
        assert_eq!(service().verify(&issued.token).unwrap(), user);
        assert_eq!(issued.expires_in, 7200);
    }

    #[test]
    fn short_secret_is_refused_at_cold_start() {
        let err = TokenService::new(&SecretString::from("short"))
            .err()
            .unwrap();
        assert_eq!(err.name, "JWT_SECRET");
    }

    #[test]
    fn expired_token_is_refused() {
        let user = UserId::parse("u123").unwrap();
        let issued = service().issue(&user, now() - TOKEN_TTL_SECONDS - 120);
        assert_eq!(
            service().verify(&issued.token),
            Err(AuthError::InvalidToken)
        );
    }

    #[test]
    fn token_from_another_secret_is_refused() {
        let other = TokenService::new(&SecretString::from(
            "another-secret-that-is-long-enough-xyz",
        ))
        .unwrap();
        let issued = other.issue(&UserId::parse("u1").unwrap(), now());
        assert_eq!(
            service().verify(&issued.token),
            Err(AuthError::InvalidToken)
        );
    }

    #[test]
    fn unsigned_alg_none_token_is_refused() {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let claims = b64.encode(format!(
            r#"{{"sub":"u1","iss":"{ISSUER}","aud":"{AUDIENCE}","iat":0,"exp":{}}}"#,
            now() + 600
        ));
        assert_eq!(
            service().verify(&format!("{header}.{claims}.")),
            Err(AuthError::InvalidToken)
        );
    }

    #[test]
    fn wrong_audience_is_refused() {
        let claims = Claims {
            sub: "u1".into(),
            iss: ISSUER.into(),
            aud: "someone-else".into(),
            iat: now(),
            exp: now() + 600,
        };
        let key = EncodingKey::from_secret(b"test-secret-that-is-long-enough-0123456789");
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
        assert_eq!(service().verify(&token), Err(AuthError::InvalidToken));
    }

    #[test]
    fn bearer_header_is_required_for_protected_routes() {
        let req = ApiRequest::default();
        assert_eq!(service().require_user(&req).unwrap_err().status, 401);
        let mut req = ApiRequest::default();
        req.headers_mut()
            .insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(service().optional_user(&req).unwrap_err().status, 401);
    }
}
