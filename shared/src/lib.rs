//! The shop's domain and the plumbing every function shares: money, ids, the catalog model,
//! JWT auth, DynamoDB storage, the WeChat client and the one way errors become HTTP answers.

// The domain's modules, where they have always been: `shared::money::Fen` and the like.
pub use domain::{
    catalog, clock, ids, logistics, money, order, phone, pricing, promotions, refund, search,
    social,
};

// The stores and queues, where they have always been: `shared::store::orders`, `shared::queue`.
pub use store::{self, queue};

// The settings and the provider clients, where they have always been: `shared::config`,
// `shared::wechatpay`; `shared::wechat` adds the cached access_token to the client.
pub use providers::{alipay, crypto, kuaidi100, wechatpay};
pub use settings as config;

pub mod api;
pub mod auth;
pub mod cursor;
pub mod metrics;
pub mod payment;
pub mod provider;
pub mod runtime;
pub mod secrets;
pub mod telemetry;
pub mod wechat;
