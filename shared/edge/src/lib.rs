//! Where a request meets the shop: the one request/answer/error mapping (`api`; the shared
//! use cases' refusals in `refusals`), shopper
//! tokens (`auth`), sealed page cursors (`cursor`), the channel a shopper arrived by
//! (`channel`), the shop secret read at cold start (`secrets`), and the Lambda runtime wiring
//! with each request's log span and route metrics (`runtime`).
//!
//! The top of `shared/`: it may use every crate below it, and no crate in `shared/` uses it.
//! Shop rules do not live here: a handler parses, calls the domain or a use case, and answers.

pub mod api;
pub mod auth;
pub mod channel;
pub mod cursor;
pub mod refusals;
pub mod runtime;
pub mod secrets;
