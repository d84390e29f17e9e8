//! Who took the money: the payment provider an order is paid through.

use serde::{Deserialize, Serialize};

/// Who took the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Wechat,
    Alipay,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Wechat => "wechat",
            Provider::Alipay => "alipay",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "wechat" => Some(Provider::Wechat),
            "alipay" => Some(Provider::Alipay),
            _ => None,
        }
    }
}
