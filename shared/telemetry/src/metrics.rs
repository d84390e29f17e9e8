//! Business and route metrics as CloudWatch Embedded Metric Format (EMF) lines: one JSON object
//! per line on the function's output, which CloudWatch Logs turns into metrics without a single
//! API call on the request path. Locally the same lines go to a file (`make funnel` reads it).
//!
//! Lines carry counts, amounts in fen and low-cardinality dimensions (the shopper's channel of
//! arrival, a category, the function and route) and never a user id, order id, openid, phone or
//! address.
//!
//! Business-event lines are also the shop's live reports' source: they are tagged
//! `"Report": "v1"`, a CloudWatch Logs subscription filter hands them to the reports consumer,
//! and [`tallied_from_line`] reads them back. For that they carry two properties that are not
//! dimensions (so not metrics): the product, and a visit's mark (a hash of the shopper's id and
//! the hour, which counts a visitor once an hour and names no one).

use domain::ids::{CategoryId, ProductId};
use domain::money::Fen;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Where the shop's metrics live in CloudWatch.
pub const NAMESPACE: &str = "WeChatShop";

/// What happened in the shop, as the funnel and the operations dashboard count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BusinessEvent {
    /// A shopper opening the shop: the mini-program signs in on each launch (`App.onLaunch`).
    Visit,
    ProductViewed,
    /// A SKU put in the cart (加购).
    CartAdd,
    Quote,
    OrderCreated,
    OrderPaid,
    Shipped,
    Delivered,
    Refunded,
    ShareOpened,
    InviteRewarded,
    /// A points task (积分任务) completed and paid, the daily check-in included.
    TaskCompleted,
    /// A points-mall item redeemed (积分商城).
    MallRedeemed,
    /// A lucky draw (抽奖) drawn.
    LotteryDrawn,
}

impl BusinessEvent {
    pub const ALL: [BusinessEvent; 14] = [
        BusinessEvent::Visit,
        BusinessEvent::ProductViewed,
        BusinessEvent::CartAdd,
        BusinessEvent::Quote,
        BusinessEvent::OrderCreated,
        BusinessEvent::OrderPaid,
        BusinessEvent::Shipped,
        BusinessEvent::Delivered,
        BusinessEvent::Refunded,
        BusinessEvent::ShareOpened,
        BusinessEvent::InviteRewarded,
        BusinessEvent::TaskCompleted,
        BusinessEvent::MallRedeemed,
        BusinessEvent::LotteryDrawn,
    ];

    /// The metric's name in CloudWatch (and on the dashboard).
    pub fn metric(self) -> &'static str {
        match self {
            BusinessEvent::Visit => "Visit",
            BusinessEvent::ProductViewed => "ProductViewed",
            BusinessEvent::CartAdd => "CartAdd",
            BusinessEvent::Quote => "Quote",
            BusinessEvent::OrderCreated => "OrderCreated",
            BusinessEvent::OrderPaid => "OrderPaid",
            BusinessEvent::Shipped => "Shipped",
            BusinessEvent::Delivered => "Delivered",
            BusinessEvent::Refunded => "Refunded",
            BusinessEvent::ShareOpened => "ShareOpened",
            BusinessEvent::InviteRewarded => "InviteRewarded",
            BusinessEvent::TaskCompleted => "TaskCompleted",
            BusinessEvent::MallRedeemed => "MallRedeemed",
            BusinessEvent::LotteryDrawn => "LotteryDrawn",
        }
    }

    /// The money metric that rides along, in fen.
    pub fn amount_metric(self) -> Option<&'static str> {
        match self {
            BusinessEvent::OrderCreated => Some("OrderValue"),
            BusinessEvent::OrderPaid => Some("Revenue"),
            BusinessEvent::Refunded => Some("RefundedAmount"),
            _ => None,
        }
    }
}

/// Something an operator must act on, counted so an alarm can page them; not part of the
/// funnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    /// WeChat reminded us that a paid order has no shipping information: its funds stay frozen.
    WeChatShippingReminder,
    /// WeChat reminded us that the shop has not used its shipping information API.
    WeChatAccessApiReminder,
    /// A WeChat Pay order paid a day ago still has no shipping information with WeChat.
    ShippingNotUploaded,
}

impl Alert {
    pub const ALL: [Alert; 3] = [
        Alert::WeChatShippingReminder,
        Alert::WeChatAccessApiReminder,
        Alert::ShippingNotUploaded,
    ];

    /// The metric's name in CloudWatch (and in the template's alarms).
    pub fn metric(self) -> &'static str {
        match self {
            Alert::WeChatShippingReminder => "WeChatShippingReminder",
            Alert::WeChatAccessApiReminder => "WeChatAccessApiReminder",
            Alert::ShippingNotUploaded => "WeChatShippingNotUploaded",
        }
    }
}

/// WeChat launch scenes (场景值) by the channel they belong to.
pub fn scene_channel(scene: u32) -> &'static str {
    match scene {
        1007 | 1008 | 1036 | 1044 | 1073 | 1074 | 1096 => "share",
        1011 | 1012 | 1013 | 1047 | 1048 | 1049 => "qrcode",
        1005 | 1006 | 1027 | 1042 | 1053 => "search",
        1020 | 1035 | 1043 | 1058 | 1067 | 1082 => "official_account",
        1045 | 1046 | 1084 => "ads",
        1001 | 1089 | 1103 | 1104 => "discover",
        1037 | 1038 => "mini_program",
        _ => "other",
    }
}

/// Where the lines go: the function's output on Lambda, a file and memory locally.
pub trait MetricSink: Send + Sync {
    fn write_line(&self, line: &str);
}

/// Lambda's stdout, which CloudWatch Logs reads for EMF.
pub struct StdoutSink;

impl MetricSink for StdoutSink {
    fn write_line(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        // A metric line that cannot be written is not worth failing a request over.
        let _ = out.write_all(line.as_bytes());
        let _ = out.write_all(b"\n");
    }
}

/// The local stack's metric log: every line in memory (tests read them), or appended to a file
/// instead (`make dev`, for `make funnel`).
#[derive(Default)]
pub struct MetricLog {
    lines: Mutex<Vec<String>>,
    file: Option<Mutex<std::fs::File>>,
    /// Report lines not yet handed to the reports consumer, as a subscription filter would.
    unshipped: Mutex<Vec<String>>,
}

impl MetricLog {
    pub fn appending_to(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            lines: Mutex::default(),
            file: Some(Mutex::new(file)),
            unshipped: Mutex::default(),
        })
    }

    /// The report lines written since the last call (the subscription filter's matches).
    pub fn take_unshipped(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .unshipped
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl MetricSink for MetricLog {
    fn write_line(&self, line: &str) {
        if is_report_line(line) {
            self.unshipped
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(line.to_string());
        }
        if let Some(file) = &self.file {
            let mut file = file
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = writeln!(file, "{line}");
            // A long-running local shop keeps its lines in the file only.
            return;
        }
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(line.to_string());
    }
}

/// What a business event is about, beyond its name. `product` and `visitor` are properties of
/// the line for the shop's own hourly counters, never dimensions; the visitor only as a mark.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    pub channel: Option<&'a str>,
    pub category: Option<&'a CategoryId>,
    pub amount: Option<Fen>,
    pub product: Option<&'a ProductId>,
    /// Who visited, so an hour counts each visitor once.
    pub visitor: Option<&'a str>,
    /// Points the event gave the shopper, and points it took (a draw can do both).
    pub points_issued: u64,
    pub points_spent: u64,
}

/// The channels [`scene_channel`] and a share code sort arrivals into, and `direct`.
pub const CHANNELS: [&str; 9] = [
    "direct",
    "share",
    "qrcode",
    "search",
    "official_account",
    "ads",
    "discover",
    "mini_program",
    "other",
];

pub use domain::report::Tallied;

/// The points an event gave and took, riding along its line (the dashboard's points a day).
pub const POINTS_ISSUED: &str = "PointsIssued";
pub const POINTS_SPENT: &str = "PointsSpent";

/// The metric a product's paid units are counted under, and its paid fen.
pub const UNITS_SOLD: &str = "UnitsSold";
pub const SALES: &str = "Sales";

/// The tag of the lines the reports consumer reads (and the subscription filter matches).
pub const REPORT_TAG: (&str, &str) = ("Report", "v1");

/// What the template's subscription filter (`{ $.Report = "v1" }`) matches.
pub fn is_report_line(line: &str) -> bool {
    matches!(
        serde_json::from_str::<Value>(line),
        Ok(Value::Object(doc)) if doc.get(REPORT_TAG.0).and_then(Value::as_str) == Some(REPORT_TAG.1)
    )
}

/// The metric names a report line may count, as the `'static` names [`Tallied`] holds.
fn report_metric(name: &str) -> Option<&'static str> {
    BusinessEvent::ALL
        .into_iter()
        .flat_map(|e| [Some(e.metric()), e.amount_metric()])
        .flatten()
        .chain([UNITS_SOLD, SALES, POINTS_ISSUED, POINTS_SPENT])
        .find(|known| *known == name)
}

/// A report line read back as the hourly counters take it; `None` for any other line (route
/// metrics, alerts, logs, garbage, or a tag this version does not know).
pub fn tallied_from_line(line: &str) -> Option<Tallied> {
    let Value::Object(doc) = serde_json::from_str::<Value>(line).ok()? else {
        return None;
    };
    if doc.get(REPORT_TAG.0).and_then(Value::as_str) != Some(REPORT_TAG.1) {
        return None;
    }
    let at_ms = doc.get("_aws")?.get("Timestamp")?.as_i64()?;
    let directive = doc.get("_aws")?.get("CloudWatchMetrics")?.get(0)?;
    let counts: Vec<(&'static str, u64)> = directive
        .get("Metrics")?
        .as_array()?
        .iter()
        .filter_map(|m| {
            let name = report_metric(m.get("Name")?.as_str()?)?;
            Some((name, doc.get(name)?.as_u64()?))
        })
        .collect();
    let first = counts.first()?.0;
    let text = |key: &str| doc.get(key).and_then(Value::as_str).map(str::to_string);
    Some(Tallied {
        at_seconds: at_ms.div_euclid(1000),
        channel: text("Channel").unwrap_or_else(|| "direct".to_string()),
        category: text("Category"),
        product: text("Product"),
        visitor: text("Visitor"),
        // A product's sales are counted on the product only: the order was counted once.
        hourly: BusinessEvent::ALL.iter().any(|e| e.metric() == first)
            || [POINTS_ISSUED, POINTS_SPENT].contains(&first),
        counts,
    })
}

/// A function's metrics: built once per cold start with the function's name.
#[derive(Clone)]
pub struct Metrics {
    sink: Arc<dyn MetricSink>,
    function: &'static str,
}

fn now_ms() -> i64 {
    domain::clock::now_epoch_seconds() * 1000
}

impl Metrics {
    pub fn new(sink: Arc<dyn MetricSink>, function: &'static str) -> Self {
        Self { sink, function }
    }

    /// The EMF line for a business event at `timestamp_ms`.
    pub fn event_line(event: BusinessEvent, facts: &Facts<'_>, timestamp_ms: i64) -> String {
        let channel = facts.channel.unwrap_or("direct");
        let mut dimension_sets = vec![json!([]), json!(["Channel"])];
        let mut values = Map::new();
        values.insert("Channel".into(), json!(channel));
        if let Some(category) = facts.category {
            dimension_sets.push(json!(["Category"]));
            values.insert("Category".into(), json!(category.as_str()));
        }
        let mut metrics = vec![json!({"Name": event.metric(), "Unit": "Count"})];
        values.insert(event.metric().into(), json!(1));
        if let (Some(name), Some(amount)) = (event.amount_metric(), facts.amount) {
            metrics.push(json!({"Name": name, "Unit": "None"}));
            values.insert(name.into(), json!(amount.get()));
        }
        for (name, points) in [
            (POINTS_ISSUED, facts.points_issued),
            (POINTS_SPENT, facts.points_spent),
        ] {
            if points > 0 {
                metrics.push(json!({"Name": name, "Unit": "None"}));
                values.insert(name.into(), json!(points));
            }
        }
        if let Some(product) = facts.product {
            values.insert("Product".into(), json!(product.as_str()));
        }
        if let Some(visitor) = facts.visitor {
            let hour = domain::clock::china_hour(timestamp_ms.div_euclid(1000));
            values.insert(
                "Visitor".into(),
                json!(domain::report::visitor_mark(&hour, visitor)),
            );
        }
        report_line(timestamp_ms, dimension_sets, metrics, values)
    }

    pub fn event(&self, event: BusinessEvent, facts: &Facts<'_>) {
        self.sink
            .write_line(&Self::event_line(event, facts, now_ms()));
    }

    /// The line of a paid order's line item, for the products report (units and fen by
    /// product): no dimension, and counted on the product only.
    pub fn sold_line(
        product: &ProductId,
        channel: Option<&str>,
        units: u64,
        paid: Fen,
        timestamp_ms: i64,
    ) -> String {
        let mut values = Map::new();
        values.insert("Channel".into(), json!(channel.unwrap_or("direct")));
        values.insert("Product".into(), json!(product.as_str()));
        values.insert(UNITS_SOLD.into(), json!(units));
        values.insert(SALES.into(), json!(paid.get()));
        let metrics = vec![
            json!({"Name": UNITS_SOLD, "Unit": "Count"}),
            json!({"Name": SALES, "Unit": "None"}),
        ];
        report_line(timestamp_ms, vec![json!([])], metrics, values)
    }

    /// The line of points given (or taken) by no event of their own, such as a delivered
    /// order's: counted in the shop's hours.
    pub fn points_line(issued: u64, spent: u64, timestamp_ms: i64) -> String {
        let mut values = Map::new();
        values.insert("Channel".into(), json!("direct"));
        let mut metrics = Vec::new();
        for (name, points) in [(POINTS_ISSUED, issued), (POINTS_SPENT, spent)] {
            if points > 0 {
                metrics.push(json!({"Name": name, "Unit": "None"}));
                values.insert(name.into(), json!(points));
            }
        }
        report_line(timestamp_ms, vec![json!([])], metrics, values)
    }

    pub fn points(&self, issued: u64, spent: u64) {
        if issued > 0 || spent > 0 {
            self.sink
                .write_line(&Self::points_line(issued, spent, now_ms()));
        }
    }

    pub fn sold(&self, product: &ProductId, channel: Option<&str>, units: u64, paid: Fen) {
        self.sink
            .write_line(&Self::sold_line(product, channel, units, paid, now_ms()));
    }

    /// The EMF line for an alert at `timestamp_ms`: a count with no dimension, which the
    /// template's alarm watches.
    pub fn alert_line(alert: Alert, timestamp_ms: i64) -> String {
        json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [[]],
                    "Metrics": [{"Name": alert.metric(), "Unit": "Count"}],
                }],
            },
            alert.metric(): 1,
        })
        .to_string()
    }

    pub fn alert(&self, alert: Alert) {
        self.sink.write_line(&Self::alert_line(alert, now_ms()));
    }

    /// A route's latency and whether it failed (4xx, 5xx), by function and route.
    pub fn route(&self, route: &str, status: u16, latency_ms: f64) {
        let line = json!({
            "_aws": {
                "Timestamp": now_ms(),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Function", "Route"], ["Function"]],
                    "Metrics": [
                        {"Name": "Latency", "Unit": "Milliseconds"},
                        {"Name": "Requests", "Unit": "Count"},
                        {"Name": "ClientErrors", "Unit": "Count"},
                        {"Name": "ServerErrors", "Unit": "Count"},
                    ],
                }],
            },
            "Function": self.function,
            "Route": route,
            "Latency": (latency_ms * 1000.0).round() / 1000.0,
            "Requests": 1,
            "ClientErrors": u8::from((400..500).contains(&status)),
            "ServerErrors": u8::from(status >= 500),
        });
        self.sink.write_line(&line.to_string());
    }
}

/// An EMF line tagged for the reports consumer.
fn report_line(
    timestamp_ms: i64,
    dimension_sets: Vec<Value>,
    metrics: Vec<Value>,
    values: Map<String, Value>,
) -> String {
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": dimension_sets, "Metrics": metrics}],
        }),
    );
    line.insert(REPORT_TAG.0.into(), json!(REPORT_TAG.1));
    line.extend(values);
    Value::Object(line).to_string()
}

/// The funnel over a time window, counted from metric lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Funnel {
    pub counts: BTreeMap<BusinessEvent, u64>,
    pub by_channel: BTreeMap<String, BTreeMap<BusinessEvent, u64>>,
    /// Fen paid, and fen refunded, in the window.
    pub revenue: u64,
    pub refunded: u64,
    /// Points given to shoppers, and points they spent, in the window.
    pub points_issued: u64,
    pub points_spent: u64,
}

/// The steps a shopper goes through, in order: each is shown as a share of the one before.
pub const FUNNEL_STEPS: [BusinessEvent; 8] = [
    BusinessEvent::Visit,
    BusinessEvent::ProductViewed,
    BusinessEvent::CartAdd,
    BusinessEvent::Quote,
    BusinessEvent::OrderCreated,
    BusinessEvent::OrderPaid,
    BusinessEvent::Shipped,
    BusinessEvent::Delivered,
];

impl Funnel {
    /// Counts the business events among `lines` stamped in `[from_ms, to_ms)`; other lines
    /// (route metrics, logs, garbage) are skipped.
    pub fn count<'a>(lines: impl IntoIterator<Item = &'a str>, from_ms: i64, to_ms: i64) -> Self {
        let mut funnel = Funnel::default();
        for line in lines {
            let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let Some(at) = doc
                .get("_aws")
                .and_then(|a| a.get("Timestamp"))
                .and_then(Value::as_i64)
            else {
                continue;
            };
            if at < from_ms || at >= to_ms {
                continue;
            }
            let channel = doc
                .get("Channel")
                .and_then(Value::as_str)
                .unwrap_or("direct");
            for (name, value) in &doc {
                if let Some(n) = value.as_u64() {
                    funnel.add(channel, name, n);
                }
            }
        }
        funnel
    }

    /// Counts `n` of the metric called `name` (an event, or money in fen) for `channel`;
    /// anything else is not the funnel's.
    pub fn add(&mut self, channel: &str, name: &str, n: u64) {
        if n == 0 {
            return;
        }
        if let Some(event) = BusinessEvent::ALL.into_iter().find(|e| e.metric() == name) {
            *self.counts.entry(event).or_default() += n;
            *self
                .by_channel
                .entry(channel.to_string())
                .or_default()
                .entry(event)
                .or_default() += n;
        } else if name == "Revenue" {
            self.revenue += n;
        } else if name == "RefundedAmount" {
            self.refunded += n;
        } else if name == POINTS_ISSUED {
            self.points_issued += n;
        } else if name == POINTS_SPENT {
            self.points_spent += n;
        }
    }

    pub fn of(&self, event: BusinessEvent) -> u64 {
        self.counts.get(&event).copied().unwrap_or(0)
    }

    /// Each funnel step with its count and its share of the step before (none for the first,
    /// or when the step before counted nothing), in tenths of a percent.
    pub fn steps(&self) -> Vec<(BusinessEvent, u64, Option<u64>)> {
        let mut previous: Option<u64> = None;
        FUNNEL_STEPS
            .iter()
            .map(|step| {
                let n = self.of(*step);
                let share = previous.filter(|p| *p > 0).map(|p| n * 1000 / p);
                previous = Some(n);
                (*step, n, share)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What CloudWatch requires of an EMF line: `_aws` with a millisecond timestamp and metric
    /// directives whose every metric and dimension has a value at the top level.
    fn assert_valid_emf(line: &str) -> Value {
        let doc: Value = serde_json::from_str(line).expect("one JSON object");
        let aws = &doc["_aws"];
        assert!(aws["Timestamp"].as_i64().unwrap() > 1_000_000_000_000);
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1);
        let directive = &directives[0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        for set in directive["Dimensions"].as_array().unwrap() {
            let set = set.as_array().unwrap();
            assert!(set.len() <= 30);
            for dimension in set {
                assert!(doc[dimension.as_str().unwrap()].is_string(), "{dimension}");
            }
        }
        let metrics = directive["Metrics"].as_array().unwrap();
        assert!(!metrics.is_empty() && metrics.len() <= 100);
        for metric in metrics {
            let name = metric["Name"].as_str().unwrap();
            assert!(doc[name].is_number(), "{name} has no value");
            assert!(["Count", "None", "Milliseconds"].contains(&metric["Unit"].as_str().unwrap()));
        }
        doc
    }

    #[test]
    fn every_business_event_makes_a_valid_emf_line_without_personal_data() {
        let category = CategoryId::parse("green-tea").unwrap();
        for event in BusinessEvent::ALL {
            let facts = Facts {
                channel: Some("share"),
                category: Some(&category),
                amount: Some(Fen::new(12_800)),
                points_issued: 10,
                points_spent: 30,
                ..Facts::default()
            };
            let line = Metrics::event_line(event, &facts, 1_795_536_000_000);
            let doc = assert_valid_emf(&line);
            assert_eq!(doc[event.metric()], 1);
            assert_eq!(
                (&doc["PointsIssued"], &doc["PointsSpent"]),
                (&json!(10), &json!(30))
            );
            let read = tallied_from_line(&line).unwrap();
            assert!(
                read.counts.contains(&(POINTS_ISSUED, 10))
                    && read.counts.contains(&(POINTS_SPENT, 30))
            );
            assert_eq!(doc["Channel"], "share");
            let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
            for key in keys {
                assert!(
                    !["userId", "orderId", "openid", "phone", "address"].contains(&key.as_str()),
                    "{key}"
                );
            }
        }
        let paid = Metrics::event_line(
            BusinessEvent::OrderPaid,
            &Facts {
                amount: Some(Fen::new(990)),
                ..Facts::default()
            },
            1_795_536_000_000,
        );
        let doc = assert_valid_emf(&paid);
        assert_eq!(
            (doc["Revenue"].as_u64(), doc["Channel"].as_str()),
            (Some(990), Some("direct"))
        );
    }

    #[test]
    fn report_lines_read_back_with_the_product_and_a_visit_mark_that_names_no_one() {
        let log = Arc::new(MetricLog::default());
        let metrics = Metrics::new(log.clone(), "browse");
        let product = ProductId::parse("longjing").unwrap();

        metrics.event(
            BusinessEvent::Visit,
            &Facts {
                channel: Some("qrcode"),
                visitor: Some("u_123"),
                ..Facts::default()
            },
        );
        metrics.event(
            BusinessEvent::OrderPaid,
            &Facts {
                amount: Some(Fen::new(990)),
                product: Some(&product),
                ..Facts::default()
            },
        );
        metrics.sold(&product, Some("share"), 2, Fen::new(1_980));
        metrics.route("GET /v1/products", 200, 1.0);

        let lines = log.lines();
        for line in &lines[..3] {
            assert_valid_emf(line);
        }
        let read: Vec<Tallied> = lines.iter().filter_map(|l| tallied_from_line(l)).collect();
        assert_eq!(read.len(), 3, "the route line is not a report line");
        assert_eq!(
            (read[0].channel.as_str(), read[0].hourly, &read[0].counts),
            ("qrcode", true, &vec![("Visit", 1)])
        );
        let mark = read[0].visitor.clone().unwrap();
        assert_eq!(mark.len(), 32);
        assert!(lines.iter().all(|l| !l.contains("u_123")));
        assert_eq!(read[1].counts, vec![("OrderPaid", 1), ("Revenue", 990)]);
        assert_eq!(read[1].product.as_deref(), Some("longjing"));
        assert_eq!(read[2].counts, vec![(UNITS_SOLD, 2), (SALES, 1_980)]);
        assert!(
            !read[2].hourly,
            "a line sold is counted on its product only"
        );
        assert_eq!(
            Funnel::count(lines.iter().map(String::as_str), 0, i64::MAX)
                .of(BusinessEvent::OrderPaid),
            1,
            "the funnel does not count sold lines as events"
        );
    }

    #[test]
    fn lines_without_the_report_tag_are_not_report_lines() {
        let untagged = r#"{"_aws":{"Timestamp":1795536000000,"CloudWatchMetrics":[{"Namespace":"WeChatShop","Dimensions":[[]],"Metrics":[{"Name":"OrderPaid","Unit":"Count"}]}]},"OrderPaid":1}"#;
        assert_eq!(tallied_from_line(untagged), None);
        let other_version = untagged.replace(r#""OrderPaid":1"#, r#""OrderPaid":1,"Report":"v9""#);
        assert_eq!(tallied_from_line(&other_version), None);
        assert_eq!(tallied_from_line("not json"), None);
        assert_eq!(
            tallied_from_line(&Metrics::alert_line(Alert::ALL[0], 1)),
            None
        );
    }

    #[test]
    fn alert_lines_are_valid_emf_and_outside_the_funnel() {
        for alert in Alert::ALL {
            let line = Metrics::alert_line(alert, 1_795_536_000_000);
            let doc = assert_valid_emf(&line);
            assert_eq!(doc[alert.metric()], 1);
            let funnel = Funnel::count([line.as_str()], 0, i64::MAX);
            assert_eq!(funnel, Funnel::default());
        }
    }

    #[test]
    fn route_lines_are_valid_emf() {
        let log = Arc::new(MetricLog::default());
        Metrics::new(log.clone(), "checkout").route("POST /v1/orders", 502, 12.5);
        let lines = log.lines();
        let doc = assert_valid_emf(&lines[0]);
        assert_eq!(
            (doc["ServerErrors"].as_u64(), doc["ClientErrors"].as_u64()),
            (Some(1), Some(0))
        );
        assert_eq!(doc["Function"], "checkout");
    }

    #[test]
    fn the_funnel_counts_its_window_and_each_step_as_a_share_of_the_last() {
        let at = |event, channel, s: i64| {
            Metrics::event_line(
                event,
                &Facts {
                    channel: Some(channel),
                    amount: Some(Fen::new(100)),
                    ..Facts::default()
                },
                s * 1000,
            )
        };
        let mut lines = Vec::new();
        for _ in 0..4 {
            lines.push(at(BusinessEvent::ProductViewed, "share", 100));
        }
        lines.push(at(BusinessEvent::CartAdd, "share", 100));
        lines.push(at(BusinessEvent::CartAdd, "share", 100));
        lines.push(at(BusinessEvent::Quote, "share", 100));
        lines.push(at(BusinessEvent::Quote, "direct", 101));
        lines.push(at(BusinessEvent::OrderCreated, "direct", 102));
        lines.push(at(BusinessEvent::OrderPaid, "direct", 103));
        lines.push(at(BusinessEvent::OrderPaid, "direct", 500)); // outside the window
        lines.push("not json".into());
        lines.push(r#"{"level":"INFO","message":"answered"}"#.into());

        let funnel = Funnel::count(lines.iter().map(String::as_str), 100_000, 200_000);

        assert_eq!(funnel.of(BusinessEvent::ProductViewed), 4);
        assert_eq!(funnel.of(BusinessEvent::OrderPaid), 1);
        assert_eq!(funnel.revenue, 100);
        let steps = funnel.steps();
        assert_eq!(steps[0], (BusinessEvent::Visit, 0, None));
        assert_eq!(
            steps[1],
            (BusinessEvent::ProductViewed, 4, None),
            "no share of an empty step"
        );
        assert_eq!(steps[2], (BusinessEvent::CartAdd, 2, Some(500)));
        assert_eq!(steps[3], (BusinessEvent::Quote, 2, Some(1000)));
        assert_eq!(steps[5], (BusinessEvent::OrderPaid, 1, Some(1000)));
        assert_eq!(steps[6], (BusinessEvent::Shipped, 0, Some(0)));
        assert_eq!(steps[7].2, None, "no share of an empty step");
        assert_eq!(funnel.by_channel["share"][&BusinessEvent::ProductViewed], 4);
    }
}
