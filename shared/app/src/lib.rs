//! The use cases that combine a store with a provider: the payment desk that settles payments
//! and refunds exactly once whichever way their news arrives (`payment`), the port every use
//! case pays and refunds through, whatever the provider (`provider`), a shopper's rights over
//! their data (`privacy`), refunds asked for and decided by
//! staff (`after_sales`), promotions and warehouses as staff set them (`promotion_desk`), orders exported as CSV (`exports`), a receipt confirmed on WeChat (`receipt`), the live reports from the
//! hourly counters (`reports`), and WeChat's shared access_token (`wechat`).
//!
//! Depends on the domain, the stores, the providers, the settings and telemetry: never on the
//! HTTP edge (requests, responses, auth) or the Lambda runtime, so the API functions, the queue
//! consumers and shopctl call the same use case.

pub mod after_sales;
pub mod catalog_desk;
pub mod credentials;
pub mod exports;
pub mod lottery_desk;
pub mod order_desk;
pub mod payment;
pub mod points_mall;
pub mod privacy;
pub mod promotion_desk;
pub mod provider;
pub mod receipt;
pub mod reports;
pub mod reviews;
pub mod staff;
pub mod task_desk;
pub mod wechat;
