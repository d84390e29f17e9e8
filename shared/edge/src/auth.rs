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

impl TokenService {
    pub fn new(secret: &SecretString) -> Result<Self, ConfigError> {
        let key = secret.expose_secret().as_bytes();
        if key.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::new(
                "JWT_SECRET",
                format!("must be at least {MIN_SECRET_BYTES} bytes"),
            ));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        Ok(Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
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
        let Some(value) = req.header_str("authorization") else {
            return Ok(None);
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::MissingBearer)?;
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
