//! Black-box tests of the whole stack: each test gets its own tables (a unique prefix) in the
//! moto emulator, its own WeChat sandbox and gateway, and talks HTTP to it like a mini-program.
//! Run through `make test`, which starts the emulator.

mod admin;
mod after_sales;
mod alipay;
mod browse;
mod checkout;
mod deploy;
mod events;
mod exports;
mod funnel;
mod login;
mod logistics;
mod lottery;
mod openapi;
mod payments;
mod personal_data;
mod points;
mod points_mall;
mod privacy;
mod promotions;
mod provisioning;
mod refunds;
mod reviews;
mod shipping_info;
mod shopping;
mod social;
mod staff_catalog;
mod staff_orders;
mod staff_promotions;
mod support;
mod tasks;
mod template_shape;
mod wechat_push;
