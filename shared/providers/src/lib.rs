//! The providers the shop talks to: WeChat (login, phone numbers, subscribe messages), WeChat
//! Pay v3, Alipay and Kuaidi100, each a client with its own signing and verification, built
//! from the settings once per cold start.
//!
//! Depends on the domain and settings only: never on the stores, the Lambda runtime or the HTTP
//! edge. What combines a provider with a store (the cached access_token, settling a payment)
//! lives above, in `app`.

// The domain's modules and the settings under the crate root, as the clients name them.
use domain::{clock, ids, money};
use settings as config;

pub mod alipay;
pub mod crypto;
pub mod kuaidi100;
pub mod wechat;
pub mod wechat_push;
pub mod wechatpay;
