//! WeChat's shipping information (小程序发货信息管理服务): since 2023 WeChat holds a WeChat
//! Pay order's funds until the shop uploads how it shipped, and restricts mini-programs that
//! never do. What to upload for an order, by WeChat's rules, and where its upload stands.

use crate::order::{Order, UploadState};
use crate::payment::Provider;
use serde_json::{Value, json};

/// `item_desc` is at most 120 characters.
const ITEM_DESC_MAX: usize = 120;
/// WeChat allows one re-upload per payment.
pub const MAX_UPLOADS: u32 = 2;

/// WeChat's delivery-company code (`get_delivery_list`'s `delivery_id`) for our courier's
/// Kuaidi100 company code; `None` for a courier WeChat does not list.
pub fn wechat_delivery_id(kuaidi100_company: &str) -> Option<&'static str> {
    Some(match kuaidi100_company {
        "shunfeng" | "shunfengkuaiyun" => "SF",
        "zhongtong" => "ZTO",
        "yuantong" => "YTO",
        "yunda" => "YD",
        "shentong" => "STO",
        "ems" => "EMS",
        "jd" => "JD",
        _ => return None,
    })
}

/// What to do with an order's shipment, given its upload so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadPlan {
    /// Upload this waybill.
    Upload,
    /// Done already for this waybill, or not a WeChat Pay order.
    Nothing,
    /// Another waybill, but WeChat's one re-upload is used up.
    NoUploadsLeft,
    /// Another worker is uploading it right now.
    Claimed,
    /// WeChat refused it for good; the merchant has to look.
    Failed,
}

/// Whether the order's waybill `tracking_no` needs uploading at `now`.
pub fn plan(order: &Order, tracking_no: &str, now: i64) -> UploadPlan {
    if order.provider != Provider::Wechat || order.transaction_id.is_none() {
        return UploadPlan::Nothing;
    }
    let Some(upload) = &order.shipping_upload else {
        return UploadPlan::Upload;
    };
    if upload.claimed_until.is_some_and(|until| until > now) {
        return UploadPlan::Claimed;
    }
    let same_waybill = upload.tracking_no.as_deref() == Some(tracking_no);
    match upload.state {
        UploadState::Uploaded if same_waybill => UploadPlan::Nothing,
        UploadState::Failed if same_waybill => UploadPlan::Failed,
        UploadState::Uploaded if upload.uploads >= MAX_UPLOADS => UploadPlan::NoUploadsLeft,
        _ => UploadPlan::Upload,
    }
}

/// How long to wait before try `attempt` (1, 2, ...) of an upload WeChat could not take yet:
/// a minute, then doubling up to 8 minutes (inside SQS's 15-minute delay).
pub fn retry_delay_seconds(attempt: u32) -> u32 {
    60u32
        .saturating_mul(1 << attempt.min(4).saturating_sub(1))
        .min(900)
}

/// What WeChat puts in place of the order number in the order detail path.
pub const ORDER_NUMBER_PLACEHOLDER: &str = "${商品订单号}";

/// A page of the mini-program WeChat opens from its order and message screens
/// (`pages/order/detail?id=${商品订单号}`): a relative path of printable characters, at most
/// 1024 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiniProgramPath(String);

impl MiniProgramPath {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 1024 {
            return Err("must be a page path of 1 to 1024 bytes");
        }
        if raw.starts_with('/') || raw.contains("://") {
            return Err(
                "must be a page of the mini-program, like pages/order/detail?id=${商品订单号}",
            );
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces or control characters");
        }
        Ok(Self(raw.to_string()))
    }

    /// An order detail path: it must carry the order number placeholder.
    pub fn order_detail(raw: &str) -> Result<Self, &'static str> {
        let path = Self::parse(raw)?;
        if !path.0.contains(ORDER_NUMBER_PLACEHOLDER) {
            return Err("must contain ${商品订单号}, which WeChat replaces with the order number");
        }
        Ok(path)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether WeChat's `get_order` state means the shopper confirmed receipt: 3 confirmed,
/// 4 done, 6 awaiting settlement (which follows a confirmation).
pub fn receipt_confirmed(order_state: i64) -> bool {
    matches!(order_state, 3 | 4 | 6)
}

/// WeChat's errcodes worth trying again: busy (-1), the payment not indexed yet (10060001),
/// and a stale access_token (40001, 42001).
pub fn retryable(errcode: i64) -> bool {
    matches!(errcode, -1 | 10060001 | 40001 | 42001)
}

/// The phone as WeChat wants it in `contact`: every digit but the last four masked.
pub fn masked_contact(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let keep = digits.len().saturating_sub(4);
    digits
        .iter()
        .enumerate()
        .map(|(i, d)| if i < keep { '*' } else { *d })
        .collect()
}

/// `item_desc`: the lines' titles and quantities, cut at 120 characters.
pub fn item_desc(order: &Order) -> String {
    let text = order
        .lines
        .iter()
        .map(|l| format!("{}×{}", l.title, l.quantity.get()))
        .collect::<Vec<_>>()
        .join("，");
    if text.chars().count() <= ITEM_DESC_MAX {
        return text;
    }
    let mut cut: String = text.chars().take(ITEM_DESC_MAX - 1).collect();
    cut.push('…');
    cut
}

/// Why an order cannot be uploaded as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadRefused {
    #[error("the order has no WeChat Pay transaction or payer")]
    NotWeChatPay,
    #[error("courier {0} has no WeChat delivery-company code")]
    UnknownCourier(String),
}

/// The body of `upload_shipping_info` for an express shipment of `order`, as WeChat takes it
/// (`shipping_list` an array of one in unified mode; SF needs the receiver's contact).
pub fn upload_body(
    order: &Order,
    payer_openid: &str,
    company: &str,
    tracking_no: &str,
    upload_time_rfc3339: &str,
) -> Result<Value, UploadRefused> {
    let transaction_id = order
        .transaction_id
        .as_deref()
        .filter(|_| !payer_openid.is_empty())
        .ok_or(UploadRefused::NotWeChatPay)?;
    let express_company =
        wechat_delivery_id(company).ok_or_else(|| UploadRefused::UnknownCourier(company.into()))?;
    Ok(json!({
        "order_key": {"order_number_type": 2, "transaction_id": transaction_id},
        "logistics_type": 1,
        "delivery_mode": 1,
        "shipping_list": [{
            "tracking_no": tracking_no,
            "express_company": express_company,
            "item_desc": item_desc(order),
            "contact": {"receiver_contact": masked_contact(&order.address.phone)},
        }],
        "upload_time": upload_time_rfc3339,
        "payer": {"openid": payer_openid},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ProductId, SkuId};
    use crate::money::Fen;
    use crate::order::{OrderLine, Quantity, ShippingUpload};

    fn order(provider: Provider, titles: &[&str]) -> Order {
        let line = |title: &str| OrderLine {
            sku_id: SkuId::parse("tea-1").unwrap(),
            product_id: ProductId::parse("tea").unwrap(),
            title: title.to_string(),
            specs: Default::default(),
            image: None,
            unit_price: Fen::new(100),
            quantity: Quantity::new(2).unwrap(),
            flash_quantity: 0,
            flash_price: None,
            line_total: Fen::new(200),
        };
        let mut order: Order = serde_json::from_value(json!({
            "id": "20261201abcdefgh", "userId": "u1", "status": "SHIPPED", "lines": [],
            "subtotal": 200, "shipping": 0, "total": 200, "provider": "wechat",
            "address": {"name": "张三", "phone": "13812345678", "province": "浙江省", "city": "杭州市", "district": "西湖区", "detail": "文三路1号"},
            "createdAt": 1, "payDeadline": 2, "transactionId": "4200000001", "history": [],
        }))
        .unwrap();
        order.provider = provider;
        order.lines = titles.iter().map(|t| line(t)).collect();
        order
    }

    fn uploaded(tracking_no: &str, uploads: u32) -> ShippingUpload {
        ShippingUpload {
            state: UploadState::Uploaded,
            tracking_no: Some(tracking_no.into()),
            uploads,
            attempts: 0,
            errcode: None,
            uploaded_at: Some(10),
            claimed_until: None,
            receipt_notified_at: None,
            version: 3,
        }
    }

    #[test]
    fn an_order_is_uploaded_once_per_waybill_and_re_uploaded_once_at_most() {
        let mut wechat = order(Provider::Wechat, &["龙井"]);
        assert_eq!(plan(&wechat, "ZT1", 100), UploadPlan::Upload);
        wechat.shipping_upload = Some(uploaded("ZT1", 1));
        assert_eq!(plan(&wechat, "ZT1", 100), UploadPlan::Nothing);
        assert_eq!(plan(&wechat, "ZT2", 100), UploadPlan::Upload);
        wechat.shipping_upload = Some(uploaded("ZT2", 2));
        assert_eq!(plan(&wechat, "ZT3", 100), UploadPlan::NoUploadsLeft);
        wechat.shipping_upload = Some(ShippingUpload {
            claimed_until: Some(130),
            ..uploaded("ZT2", 1)
        });
        assert_eq!(plan(&wechat, "ZT3", 100), UploadPlan::Claimed);
        assert_eq!(
            plan(&wechat, "ZT3", 131),
            UploadPlan::Upload,
            "a lapsed claim is taken over"
        );
        assert_eq!(
            plan(&order(Provider::Alipay, &["龙井"]), "ZT1", 100),
            UploadPlan::Nothing
        );
    }

    #[test]
    fn the_upload_names_the_payment_the_courier_and_a_masked_receiver() {
        let order = order(Provider::Wechat, &["西湖龙井"]);
        let body = upload_body(
            &order,
            "o_payer",
            "shunfeng",
            "SF100",
            "2026-12-01T20:00:00+08:00",
        )
        .unwrap();
        assert_eq!(
            body["order_key"],
            json!({"order_number_type": 2, "transaction_id": "4200000001"})
        );
        assert_eq!(body["logistics_type"], 1);
        assert_eq!(body["delivery_mode"], 1);
        let item = &body["shipping_list"][0];
        assert_eq!(item["express_company"], "SF");
        assert_eq!(item["tracking_no"], "SF100");
        assert_eq!(item["item_desc"], "西湖龙井×2");
        assert_eq!(item["contact"]["receiver_contact"], "*******5678");
        assert_eq!(body["payer"]["openid"], "o_payer");
        assert_eq!(
            upload_body(&order, "o_payer", "unknowncourier", "X1", "t"),
            Err(UploadRefused::UnknownCourier("unknowncourier".into()))
        );
        assert_eq!(
            upload_body(&order, "", "shunfeng", "X1", "t"),
            Err(UploadRefused::NotWeChatPay)
        );
    }

    #[test]
    fn item_descriptions_stop_at_120_characters() {
        let titles: Vec<String> = (0..30).map(|i| format!("商品{i}号")).collect();
        let titles: Vec<&str> = titles.iter().map(String::as_str).collect();
        let desc = item_desc(&order(Provider::Wechat, &titles));
        assert_eq!(desc.chars().count(), 120);
        assert!(desc.ends_with('…'));
    }

    #[test]
    fn contacts_keep_only_the_last_four_digits() {
        assert_eq!(masked_contact("13812345678"), "*******5678");
        assert_eq!(masked_contact("+86 138-1234-5678"), "*********5678");
        assert_eq!(masked_contact("123"), "123");
    }

    #[test]
    fn retries_back_off_from_one_minute_to_eight() {
        let delays: Vec<u32> = (1..=6).map(retry_delay_seconds).collect();
        assert_eq!(delays, vec![60, 120, 240, 480, 480, 480]);
        assert!(retryable(10060001) && retryable(-1) && !retryable(47001));
    }

    #[test]
    fn page_paths_are_relative_and_the_detail_path_carries_the_order_number() {
        assert!(MiniProgramPath::order_detail("pages/order/detail?id=${商品订单号}").is_ok());
        assert!(MiniProgramPath::order_detail("pages/order/detail").is_err());
        assert!(MiniProgramPath::parse("pages/order/list").is_ok());
        for bad in ["", "/pages/a", "https://x.com/a", "pages/a b"] {
            assert!(MiniProgramPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn couriers_map_to_wechats_codes() {
        assert_eq!(wechat_delivery_id("shunfeng"), Some("SF"));
        assert_eq!(wechat_delivery_id("zhongtong"), Some("ZTO"));
        assert_eq!(wechat_delivery_id("somelocalcourier"), None);
    }
}
