//! Orders as a spreadsheet for the shop's books: one CSV row per order, as Excel on a Chinese
//! Windows desktop opens it. UTF-8 with a byte-order mark (without one Excel reads the file as
//! GBK and the titles turn to mojibake), amounts in yuan with two decimals, times in China time,
//! the receiver masked unless the export was made to reveal it.
//!
//! A cell that starts like a formula (`=`, `+`, `-`, `@`) is written with a leading `'`: a
//! shopper's name or a product title must never run as a formula on the merchant's desktop.

pub use crate::ids::ExportId;
use crate::money::Fen;
use crate::order::{Order, OrderStatus, masked_receiver};
use serde::{Deserialize, Serialize};

/// The byte-order mark the file starts with.
pub const BOM: &str = "\u{feff}";

/// Where an export is: asked for, being written, ready to fetch, or given up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExportState {
    Queued,
    Running,
    Ready,
    Failed,
}

impl ExportState {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportState::Queued => "QUEUED",
            ExportState::Running => "RUNNING",
            ExportState::Ready => "READY",
            ExportState::Failed => "FAILED",
        }
    }
}

/// An export of orders as a staff member asked for it, and how far it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderExport {
    pub id: ExportId,
    /// Who asked: only they fetch the file.
    pub requested_by: String,
    /// The China days placed, `from` to `to` (both counted).
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<OrderStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<crate::payment::Provider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Whole phones and streets (the exporter holds the reveal permission and stepped up).
    pub reveal: bool,
    pub state: ExportState,
    pub requested_at: i64,
    /// When its message was last put on the queue.
    pub queued_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totals: Option<ExportTotals>,
    /// Why it failed, for the staff member (never an internal message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl OrderExport {
    /// Where its file is kept in the media bucket.
    pub fn object_key(&self) -> String {
        format!("exports/{}.csv", self.id)
    }
}

/// The header row, in the shop's language.
pub const HEADER: [&str; 21] = [
    "订单号",
    "下单时间",
    "状态",
    "支付方式",
    "渠道",
    "商品",
    "件数",
    "商品金额(元)",
    "优惠(元)",
    "运费(元)",
    "实付(元)",
    "已退款(元)",
    "收货人",
    "手机",
    "省份",
    "城市",
    "区县",
    "详细地址",
    "快递公司",
    "运单号",
    "支付单号",
];

fn status_label(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::PendingPayment => "待付款",
        OrderStatus::Paid => "待发货",
        OrderStatus::WaitingGroup => "拼团中",
        OrderStatus::Shipped => "已发货",
        OrderStatus::Delivered => "已签收",
        OrderStatus::Completed => "已完成",
        OrderStatus::Cancelled => "已取消",
        OrderStatus::Refunding => "退款中",
        OrderStatus::Refunded => "已退款",
    }
}

fn provider_label(provider: crate::payment::Provider) -> &'static str {
    match provider {
        crate::payment::Provider::Wechat => "微信支付",
        crate::payment::Provider::Alipay => "支付宝",
    }
}

/// `2026-12-01 20:15:09`, China time: how a spreadsheet shows a moment.
fn china_time(epoch_seconds: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(epoch_seconds + 8 * 3600)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// One cell as CSV writes it (RFC 4180: quoted when it holds a comma, a quote or a line
/// break), never as a formula.
fn push_cell(line: &mut String, raw: &str) {
    let guarded;
    let text = if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        guarded = format!("'{raw}");
        guarded.as_str()
    } else {
        raw
    };
    if !line.is_empty() {
        line.push(',');
    }
    if text.contains([',', '"', '\n', '\r']) {
        line.push('"');
        line.push_str(&text.replace('"', "\"\""));
        line.push('"');
    } else {
        line.push_str(text);
    }
}

fn row(cells: &[&str]) -> String {
    let mut line = String::new();
    for cell in cells {
        push_cell(&mut line, cell);
    }
    line.push_str("\r\n");
    line
}

/// The file's first line: the mark and the header.
pub fn header_line() -> String {
    format!("{BOM}{}", row(&HEADER))
}

/// One order's row; its receiver masked unless `reveal`.
pub fn order_line(order: &Order, reveal: bool) -> String {
    let receiver = if reveal {
        order.address.clone()
    } else {
        masked_receiver(&order.address)
    };
    let goods: Vec<String> = order
        .lines
        .iter()
        .map(|line| {
            let specs: Vec<&str> = line.specs.values().map(String::as_str).collect();
            if specs.is_empty() {
                format!("{} ×{}", line.title, line.quantity.get())
            } else {
                format!(
                    "{}({}) ×{}",
                    line.title,
                    specs.join("/"),
                    line.quantity.get()
                )
            }
        })
        .collect();
    let units: u64 = order
        .lines
        .iter()
        .map(|l| u64::from(l.quantity.get()))
        .sum();
    let discount = Fen::new(order.discounts.iter().map(|d| d.amount.get()).sum());
    let (company, waybill) = order
        .shipment
        .as_ref()
        .map(|s| (s.company.as_str(), s.number.as_str()))
        .unwrap_or_default();
    row(&[
        order.id.as_str(),
        &china_time(order.created_at),
        status_label(order.status),
        provider_label(order.provider),
        order.channel.as_deref().unwrap_or(""),
        &goods.join("; "),
        &units.to_string(),
        &order.subtotal.yuan_text(),
        &discount.yuan_text(),
        &order.shipping.yuan_text(),
        &order.total.yuan_text(),
        &order.refunded_amount.yuan_text(),
        &receiver.name,
        &receiver.phone,
        &receiver.province,
        &receiver.city,
        &receiver.district,
        &receiver.detail,
        company,
        waybill,
        order.transaction_id.as_deref().unwrap_or(""),
    ])
}

/// What an export adds up, for its record and for checking the file against the orders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportTotals {
    pub rows: u64,
    /// The sum of 实付 over the rows.
    pub paid: Fen,
    /// The sum of 已退款.
    pub refunded: Fen,
}

impl ExportTotals {
    pub fn add(&mut self, order: &Order) {
        self.rows += 1;
        self.paid = Fen::new(self.paid.get() + order.total.get());
        self.refunded = Fen::new(self.refunded.get() + order.refunded_amount.get());
    }
}

/// The file's name as the merchant's browser saves it.
pub fn file_name(from: &str, to: &str) -> String {
    format!("orders-{from}-to-{to}.csv")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Order {
        serde_json::from_value(serde_json::json!({
            "id": "20261201abcdefgh",
            "userId": "u1",
            "status": "SHIPPED",
            "lines": [{
                "skuId": "tea-1", "productId": "tea", "title": "龙井, \"明前\"",
                "specs": {"size": "250g"}, "unitPrice": 9900, "quantity": 2, "lineTotal": 17800
            }, {
                "skuId": "cup", "productId": "cup", "title": "=HYPERLINK(\"x\")",
                "specs": {}, "unitPrice": 1000, "quantity": 1, "lineTotal": 1000
            }],
            "subtotal": 20800,
            "discounts": [{"kind": "coupon", "label": "满200减20", "amount": 2000}],
            "shipping": 0,
            "total": 18800,
            "refundedAmount": 1000,
            "provider": "wechat",
            "channel": "share",
            "address": {"name": "张三丰", "phone": "13812345678", "province": "浙江省",
                        "city": "杭州市", "district": "西湖区", "detail": "龙井路 1 号"},
            "createdAt": 1_764_590_400,
            "payDeadline": 1_764_592_200,
            "transactionId": "4200001",
            "shipment": {"company": "zhongtong", "number": "ZT123", "warehouseId": "hz"}
        }))
        .unwrap()
    }

    /// The cells of one CSV line, read back as a spreadsheet would.
    fn cells(line: &str) -> Vec<String> {
        let mut out = vec![String::new()];
        let mut quoted = false;
        let mut chars = line.trim_end_matches("\r\n").chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    chars.next();
                    out.last_mut().unwrap().push('"');
                }
                ('"', _) => quoted = !quoted,
                (',', false) => out.push(String::new()),
                (c, _) => out.last_mut().unwrap().push(c),
            }
        }
        out
    }

    #[test]
    fn the_file_starts_with_the_mark_and_a_header_excel_reads_as_utf8() {
        let header = header_line();
        assert!(header.starts_with('\u{feff}'));
        assert!(header.as_bytes().starts_with(&[0xEF, 0xBB, 0xBF]));
        assert_eq!(cells(&header[BOM.len()..]).len(), HEADER.len());
    }

    #[test]
    fn a_row_has_yuan_with_two_decimals_china_time_and_a_masked_receiver() {
        let row = cells(&order_line(&order(), false));
        assert_eq!(row.len(), HEADER.len());
        assert_eq!(row[0], "20261201abcdefgh");
        assert_eq!(row[1], "2025-12-01 20:00:00");
        assert_eq!(row[2], "已发货");
        // Only a cell's start can make a formula.
        assert_eq!(row[5], "龙井, \"明前\"(250g) ×2; =HYPERLINK(\"x\") ×1");
        assert_eq!(row[6], "3");
        assert_eq!(&row[7..12], ["208.00", "20.00", "0.00", "188.00", "10.00"]);
        assert_eq!(row[12], "张*");
        assert_eq!(row[13], "138****5678");
        assert_eq!(row[17], "****");
        assert_eq!(&row[18..], ["zhongtong", "ZT123", "4200001"]);
    }

    #[test]
    fn revealing_writes_the_whole_receiver() {
        let row = cells(&order_line(&order(), true));
        assert_eq!(row[12], "张三丰");
        assert_eq!(row[13], "13812345678");
        assert_eq!(row[17], "龙井路 1 号");
    }

    #[test]
    fn a_cell_that_looks_like_a_formula_is_text() {
        for raw in ["=1+1", "+86", "-2", "@SUM(A1)"] {
            let mut line = String::new();
            push_cell(&mut line, raw);
            assert_eq!(line, format!("'{raw}"));
        }
    }

    #[test]
    fn totals_add_each_row_once() {
        let mut totals = ExportTotals::default();
        totals.add(&order());
        totals.add(&order());
        assert_eq!(totals.rows, 2);
        assert_eq!(totals.paid, Fen::new(37_600));
        assert_eq!(totals.refunded, Fen::new(2000));
    }

    #[test]
    fn export_ids_are_parsed_not_trusted() {
        let id = ExportId::generate();
        assert_eq!(ExportId::parse(id.as_str()).unwrap(), id);
        assert!(ExportId::parse("x../../etc/passwd000").is_err());
        assert!(ExportId::parse("short").is_err());
    }
}
