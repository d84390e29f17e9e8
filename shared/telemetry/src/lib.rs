//! What the shop tells its operators: JSON logs through `tracing` (`logs`), and business and
//! route metrics as CloudWatch Embedded Metric Format lines plus the funnel counted from them
//! (`metrics`).
//!
//! Depends on the domain only (a category, an amount): never on a store, a provider, the AWS
//! SDK or the HTTP edge. Reading a request for its channel is the edge's (`edge::channel`).

pub mod logs;
pub mod metrics;
