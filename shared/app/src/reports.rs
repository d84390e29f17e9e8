//! The live reports (数据看板) from the hourly counters: the funnel, the shop's hours, its top
//! products and its channels over a range of China days. Each is a bounded number of reads
//! whatever happened in the range: one query per series (the shop, or a channel: up to 2,160
//! hours for 90 days), one per day for the products, one per channel for the channels.

use domain::ids::ProductId;
use std::collections::BTreeMap;
use store::StoreError;
use store::catalog::CatalogStore;
use store::reports::{Counts, ReportStore, VISITORS, channel_series, shop_series};
use telemetry::metrics::{
    BusinessEvent, CHANNELS, Funnel, POINTS_ISSUED, POINTS_SPENT, SALES, UNITS_SOLD,
};

/// China days, `from` to `to` inclusive, as `domain::clock::days_back` gives them.
pub struct DayRange {
    pub from: String,
    pub to: String,
    pub days: Vec<String>,
}

/// The funnel of a range, with how many distinct visitors it had (summed hour by hour).
#[derive(Debug, Default, PartialEq)]
pub struct FunnelReport {
    pub funnel: Funnel,
    pub visitors: u64,
}

impl FunnelReport {
    fn of_hours<'a>(channel: &str, hours: impl IntoIterator<Item = &'a Counts>) -> Self {
        let mut report = FunnelReport::default();
        for counts in hours {
            for (metric, n) in counts {
                report.funnel.add(channel, metric, *n);
            }
            report.visitors += counts.get(VISITORS).copied().unwrap_or(0);
        }
        report
    }
}

/// One China hour of the shop.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HourRow {
    /// `2026-12-01T21`, or the hour of the day (`21`) in the by-hour-of-day summary.
    pub hour: String,
    pub visits: u64,
    pub visitors: u64,
    pub orders: u64,
    pub paid_orders: u64,
    /// Paid, in fen.
    pub revenue: u64,
    /// Points tasks completed (check-ins included), points-mall redemptions, lucky draws.
    pub tasks_completed: u64,
    pub mall_redemptions: u64,
    pub lottery_draws: u64,
    /// Points given to shoppers, and points they spent.
    pub points_issued: u64,
    pub points_spent: u64,
}

impl HourRow {
    fn add(&mut self, counts: &Counts) {
        let of = |name: &str| counts.get(name).copied().unwrap_or(0);
        self.visits += of(BusinessEvent::Visit.metric());
        self.visitors += of(VISITORS);
        self.orders += of(BusinessEvent::OrderCreated.metric());
        self.paid_orders += of(BusinessEvent::OrderPaid.metric());
        self.revenue += of("Revenue");
        self.tasks_completed += of(BusinessEvent::TaskCompleted.metric());
        self.mall_redemptions += of(BusinessEvent::MallRedeemed.metric());
        self.lottery_draws += of(BusinessEvent::LotteryDrawn.metric());
        self.points_issued += of(POINTS_ISSUED);
        self.points_spent += of(POINTS_SPENT);
    }
}

/// The shop's hours, every hour of the range in order (quiet ones as zeros, so a chart has no
/// gaps), the same summed by hour of the day (the evening peak at a glance), and by day (the
/// points issued and spent a day among them; `hour` is then the day).
#[derive(Debug, PartialEq)]
pub struct HourlyReport {
    pub hours: Vec<HourRow>,
    pub by_hour_of_day: Vec<HourRow>,
    pub by_day: Vec<HourRow>,
}

/// A product's range.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductRow {
    pub product_id: String,
    /// The product's title now; empty for a product no longer in the catalog.
    pub title: String,
    pub views: u64,
    pub cart_adds: u64,
    pub units_sold: u64,
    /// Paid, in fen, after each line's share of the discounts.
    pub sales: u64,
}

/// What a top-products list is ranked by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rank {
    Sales,
    Units,
    Views,
}

impl Rank {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "sales" => Some(Rank::Sales),
            "units" => Some(Rank::Units),
            "views" => Some(Rank::Views),
            _ => None,
        }
    }
}

pub struct Reports {
    counters: ReportStore,
    catalog: CatalogStore,
}

impl Reports {
    pub fn new(counters: ReportStore, catalog: CatalogStore) -> Self {
        Self { counters, catalog }
    }

    /// The funnel of the shop, or of the shoppers who arrived by `channel`.
    pub async fn funnel(
        &self,
        range: &DayRange,
        channel: Option<&str>,
    ) -> Result<FunnelReport, StoreError> {
        let series = channel.map(channel_series).unwrap_or_else(shop_series);
        let hours = self.counters.hours(&series, &range.from, &range.to).await?;
        Ok(FunnelReport::of_hours(
            channel.unwrap_or("all"),
            hours.iter().map(|(_, c)| c),
        ))
    }

    pub async fn hourly(&self, range: &DayRange) -> Result<HourlyReport, StoreError> {
        let counted: BTreeMap<String, Counts> = self
            .counters
            .hours(&shop_series(), &range.from, &range.to)
            .await?
            .into_iter()
            .collect();
        let mut by_hour_of_day: Vec<HourRow> = (0..24)
            .map(|h| HourRow {
                hour: format!("{h:02}"),
                ..HourRow::default()
            })
            .collect();
        let mut hours = Vec::with_capacity(range.days.len() * 24);
        let mut by_day = Vec::with_capacity(range.days.len());
        // `days` run newest first.
        for day in range.days.iter().rev() {
            let mut whole_day = HourRow {
                hour: day.clone(),
                ..HourRow::default()
            };
            for (h, of_day) in by_hour_of_day.iter_mut().enumerate() {
                let hour = format!("{day}T{h:02}");
                let mut row = HourRow {
                    hour,
                    ..HourRow::default()
                };
                if let Some(counts) = counted.get(&row.hour) {
                    row.add(counts);
                    of_day.add(counts);
                    whole_day.add(counts);
                }
                hours.push(row);
            }
            by_day.push(whole_day);
        }
        Ok(HourlyReport {
            hours,
            by_hour_of_day,
            by_day,
        })
    }

    /// The `limit` products ranked first by `rank` (ties by product id), with their titles.
    pub async fn top_products(
        &self,
        range: &DayRange,
        rank: Rank,
        limit: usize,
    ) -> Result<Vec<ProductRow>, StoreError> {
        let counted = self.counters.products(&range.days).await?;
        let of = |counts: &Counts, name: &str| counts.get(name).copied().unwrap_or(0);
        let mut rows: Vec<ProductRow> = counted
            .iter()
            .map(|(id, counts)| ProductRow {
                product_id: id.clone(),
                title: String::new(),
                views: of(counts, BusinessEvent::ProductViewed.metric()),
                cart_adds: of(counts, BusinessEvent::CartAdd.metric()),
                units_sold: of(counts, UNITS_SOLD),
                sales: of(counts, SALES),
            })
            .collect();
        let key = |row: &ProductRow| match rank {
            Rank::Sales => (row.sales, row.units_sold),
            Rank::Units => (row.units_sold, row.sales),
            Rank::Views => (row.views, row.sales),
        };
        rows.sort_by(|a, b| key(b).cmp(&key(a)).then(a.product_id.cmp(&b.product_id)));
        rows.truncate(limit);
        let ids: Vec<ProductId> = rows
            .iter()
            .filter_map(|r| ProductId::parse(&r.product_id).ok())
            .collect();
        let titles: BTreeMap<String, String> = self
            .catalog
            .titles(&ids)
            .await?
            .into_iter()
            .map(|(id, title)| (id.as_str().to_string(), title))
            .collect();
        for row in &mut rows {
            if let Some(title) = titles.get(&row.product_id) {
                row.title = title.clone();
            }
        }
        Ok(rows)
    }

    /// Each channel's funnel, busiest (most visits, then most paid) first; channels with
    /// nothing in the range are left out.
    pub async fn channels(
        &self,
        range: &DayRange,
    ) -> Result<Vec<(&'static str, FunnelReport)>, StoreError> {
        let read = CHANNELS.iter().map(|channel| async move {
            let hours = self
                .counters
                .hours(&channel_series(channel), &range.from, &range.to)
                .await?;
            Ok::<_, StoreError>((
                *channel,
                FunnelReport::of_hours(channel, hours.iter().map(|(_, c)| c)),
            ))
        });
        let mut channels: Vec<(&'static str, FunnelReport)> = futures::future::try_join_all(read)
            .await?
            .into_iter()
            .filter(|(_, r)| r.funnel.counts.values().any(|n| *n > 0))
            .collect();
        channels.sort_by_key(|(channel, r)| {
            (
                std::cmp::Reverse((
                    r.funnel.of(BusinessEvent::Visit),
                    r.funnel.of(BusinessEvent::OrderPaid),
                )),
                *channel,
            )
        });
        Ok(channels)
    }
}
