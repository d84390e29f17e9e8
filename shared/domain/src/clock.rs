//! Time as the shop sees it: whole seconds since the Unix epoch.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_epoch_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// RFC 3339 in UTC, as stored on records and shown to clients.
pub fn rfc3339(epoch_seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch_seconds)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// RFC 3339 in China Standard Time (+08:00), as WeChat Pay writes and expects times.
pub fn rfc3339_shanghai(epoch_seconds: i64) -> String {
    let offset = time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC);
    time::OffsetDateTime::from_unix_timestamp(epoch_seconds)
        .ok()
        .map(|t| t.to_offset(offset))
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn shanghai_time_is_eight_hours_ahead() {
        assert_eq!(super::rfc3339_shanghai(0), "1970-01-01T08:00:00+08:00");
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
