//! Percentiles and the Markdown report.

use std::fmt::Write as _;
use std::time::Duration;

pub const TARGET_COLD_START_MS: f64 = 20.0;
pub const TARGET_HANDLER_MS: f64 = 2.0;
pub const TARGET_RSS_MB: f64 = 40.0;
pub const TARGET_BINARY_MB: f64 = 8.0;

/// The nearest-rank percentile (`p` in 0..=100): always a value that was measured.
pub fn percentile(samples: &[Duration], p: u32) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = (sorted.len() * p as usize).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Per-function figures, shown on the function's first (main) row.
pub struct FunctionFigures {
    pub cold_p50: Duration,
    pub cold_p90: Duration,
    pub first_event_p50: Duration,
    pub peak_rss_mb: f64,
    pub binary_mb: f64,
    /// What `file` says about the binary.
    pub file: String,
}

pub struct RouteRow {
    pub function: &'static str,
    pub route: &'static str,
    pub warm_p50: Duration,
    pub warm_p90: Duration,
    /// Median of the same emulator calls made from the bench; `None` for routes without any.
    pub emulator_p50: Option<Duration>,
    pub figures: Option<FunctionFigures>,
}

/// A number, in bold when it misses its target.
fn judged(value: f64, target: f64, decimals: usize) -> String {
    if value < target {
        format!("{value:.decimals$}")
    } else {
        format!("**{value:.decimals$}**")
    }
}

/// The report; `command` is Markdown already (code spans), `runs` says what was measured.
pub fn render(rows: &[RouteRow], date: &str, command: &str, runs: &str) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# Function benchmark\n");
    let _ = writeln!(out, "- Date: {date}");
    let _ = writeln!(out, "- Command: {command}");
    let _ = writeln!(out, "- {runs}\n");
    let _ = writeln!(
        out,
        "| Function | Route | Cold start p50 / p90 (ms) | First event p50 (ms) | Warm p50 / p90 (ms) \
         | Emulator calls p50 (ms) | Handler p50 excl. emulator (ms) | Peak RSS (MB) | Binary (MB) |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let emulator = row.emulator_p50.unwrap_or_default();
        let handler = ms(row.warm_p50) - ms(emulator);
        let (cold, first, rss, binary) = match &row.figures {
            Some(f) => (
                format!(
                    "{} / {:.1}",
                    judged(ms(f.cold_p50), TARGET_COLD_START_MS, 1),
                    ms(f.cold_p90)
                ),
                format!("{:.2}", ms(f.first_event_p50)),
                judged(f.peak_rss_mb, TARGET_RSS_MB, 1),
                judged(f.binary_mb, TARGET_BINARY_MB, 2),
            ),
            None => ("″".into(), "″".into(), "″".into(), "″".into()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {cold} | {first} | {:.2} / {:.2} | {} | {} | {rss} | {binary} |",
            row.function,
            row.route,
            ms(row.warm_p50),
            ms(row.warm_p90),
            row.emulator_p50
                .map_or_else(|| "–".to_string(), |e| format!("{:.2}", ms(e))),
            judged(handler, TARGET_HANDLER_MS, 2),
        );
    }
    let _ = writeln!(
        out,
        "\nTargets: cold start < {TARGET_COLD_START_MS} ms median; warm handler < {TARGET_HANDLER_MS} ms \
         median excluding emulator time; peak RSS < {TARGET_RSS_MB} MB; binary < {TARGET_BINARY_MB} MB. \
         Misses are in **bold**. MB = 2^20 bytes.\n"
    );
    let _ = writeln!(
        out,
        "- Cold start: process spawn to its first `GET /runtime/invocation/next` (config read, clients built). \
         First event: the main route's first invocation after that."
    );
    let _ = writeln!(
        out,
        "- Warm: hand-out on `/next` to the posted `/response`, in one process after a warm-up. \
         Emulator calls: the same DynamoDB (moto) and WeChat sandbox calls the route makes, timed \
         from the bench; the handler column is the warm median minus that median."
    );
    let _ = writeln!(
        out,
        "- ″ = same process as the row above. Peak RSS: `VmHWM` after the warm run."
    );
    for row in rows {
        if let Some(f) = &row.figures {
            let _ = writeln!(out, "- `file` on {}: {}", row.function, f.file);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms_list(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn nearest_rank_percentiles_pick_measured_values() {
        let samples = ms_list(&[9, 1, 8, 2, 7, 3, 6, 4, 5, 10]);
        assert_eq!(percentile(&samples, 50), Duration::from_millis(5));
        assert_eq!(percentile(&samples, 90), Duration::from_millis(9));
        assert_eq!(percentile(&samples, 100), Duration::from_millis(10));
        assert_eq!(percentile(&ms_list(&[4]), 90), Duration::from_millis(4));
        assert_eq!(percentile(&[], 50), Duration::ZERO);
    }

    #[test]
    fn misses_are_bold() {
        assert_eq!(judged(1.5, 2.0, 1), "1.5");
        assert_eq!(judged(2.0, 2.0, 1), "**2.0**");
    }
}
