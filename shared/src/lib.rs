//! The shop's domain and the plumbing every function shares: money, ids, the catalog model,
//! JWT auth, DynamoDB storage, the WeChat client and the one way errors become HTTP answers.

pub mod alipay;
pub mod api;
pub mod auth;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod cursor;
pub mod ids;
pub mod kuaidi100;
pub mod logistics;
pub mod metrics;
pub mod money;
pub mod order;
pub mod payment;
pub mod phone;
pub mod pricing;
pub mod promotions;
pub mod provider;
pub mod queue;
pub mod refund;
pub mod runtime;
pub mod search;
pub mod secrets;
pub mod social;
pub mod store;
pub mod telemetry;
pub mod wechat;
pub mod wechatpay;
