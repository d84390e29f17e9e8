//! The access_token every function that calls WeChat's server API shares (the client is
//! `providers::wechat`), cached in the users table.

use providers::wechat::{WeChatApi, WeChatError};
use secrecy::SecretString;
use store::StoreError;
use store::users::UserStore;

/// Refresh the cached access_token this long before WeChat expires it (old and new overlap then).
const REFRESH_EARLY_SECONDS: i64 = 300;

/// Getting the access_token failed at WeChat or at the cache.
#[derive(Debug, thiserror::Error)]
pub enum AccessTokenError {
    #[error(transparent)]
    WeChat(#[from] WeChatError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The access_token, cached in the users table across cold starts and refreshed five minutes
/// before it expires, so a fleet of cold starts does not exhaust WeChat's daily quota.
pub async fn access_token(
    api: &WeChatApi,
    users: &UserStore,
    now: i64,
) -> Result<SecretString, AccessTokenError> {
    if let Some((token, expires_at)) = users.cached_access_token().await?
        && now < expires_at - REFRESH_EARLY_SECONDS
    {
        return Ok(token);
    }
    let (token, expires_in) = api.stable_token().await?;
    users.store_access_token(&token, now + expires_in).await?;
    Ok(token)
}
