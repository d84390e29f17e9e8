//! The shop's rules, with no I/O: money in fen, ids, phone numbers, the catalog model, the order
//! and its state machine, the price engine, promotions, social selling (groups, bargains,
//! invites, check-in), refund plans, logistics rules and search terms.
//!
//! Depends on serde, thiserror, time and small pure crates only: never on the AWS SDK, HTTP,
//! tokio or a crypto provider. Stores, providers, use cases and the HTTP edge depend on it.

pub mod address_book;
pub mod audit;
pub mod cart;
pub mod catalog;
pub mod clock;
pub mod export;
pub mod field;
pub mod ids;
pub mod logistics;
pub mod lottery;
pub mod media;
pub mod money;
pub mod order;
pub mod payment;
pub mod phone;
pub mod platform;
pub mod points_mall;
pub mod pricing;
pub mod promotions;
pub mod refund;
pub mod report;
pub mod review;
pub mod search;
pub mod shipping_info;
pub mod social;
pub mod staff;
pub mod tasks;
