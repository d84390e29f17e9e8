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

/// A moment a draft names in `field`, refused with an example of the form when it is not one.
pub fn moment_field(raw: Option<&str>, field: &str) -> Result<i64, crate::field::FieldError> {
    raw.and_then(parse_rfc3339).ok_or_else(|| {
        crate::field::FieldError::new(field, "must be a time like 2026-12-12T00:00:00+08:00")
    })
}

/// A moment written in RFC 3339 (`2026-12-01T20:00:00+08:00`), as seconds since the epoch.
pub fn parse_rfc3339(raw: &str) -> Option<i64> {
    time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

/// The day a moment belongs to, in China time: `2026-12-01`.
pub fn china_day(epoch_seconds: i64) -> String {
    let shanghai = time::OffsetDateTime::from_unix_timestamp(epoch_seconds + 8 * 3600)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}",
        shanghai.year(),
        u8::from(shanghai.month()),
        shanghai.day()
    )
}

/// The hour a moment belongs to, in China time: `2026-12-01T21` (sorts as time does).
pub fn china_hour(epoch_seconds: i64) -> String {
    let hour = (epoch_seconds + 8 * 3600).rem_euclid(86_400) / 3600;
    format!("{}T{hour:02}", china_day(epoch_seconds))
}

/// A day as written in a request or on the command line.
pub fn parse_day(raw: &str) -> Result<String, crate::field::FieldError> {
    let ok = raw.len() == 10
        && time::Date::parse(
            raw,
            &time::macros::format_description!("[year]-[month]-[day]"),
        )
        .is_ok();
    if ok {
        Ok(raw.to_string())
    } else {
        Err(crate::field::FieldError::new(
            "day",
            "must be a date: YYYY-MM-DD",
        ))
    }
}

/// The China days from `to` back to `from` (both `YYYY-MM-DD`, inclusive), newest first: at
/// most `max` of them, or an error naming `from`.
pub fn days_back(
    from: &str,
    to: &str,
    max: usize,
) -> Result<Vec<String>, crate::field::FieldError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let parse = |raw: &str, field: &'static str| {
        time::Date::parse(raw, &format)
            .map_err(|_| crate::field::FieldError::new(field, "must be a date: YYYY-MM-DD"))
    };
    let (first, last) = (parse(from, "from")?, parse(to, "to")?);
    if first > last {
        return Err(crate::field::FieldError::new(
            "from",
            "must not be after to",
        ));
    }
    let mut days = Vec::new();
    let mut day = last;
    while day >= first {
        if days.len() == max {
            return Err(crate::field::FieldError::new(
                "from",
                format!("the range is at most {max} days"),
            ));
        }
        days.push(format!(
            "{:04}-{:02}-{:02}",
            day.year(),
            u8::from(day.month()),
            day.day()
        ));
        match day.previous_day() {
            Some(previous) => day = previous,
            None => break,
        }
    }
    Ok(days)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shanghai_time_is_eight_hours_ahead() {
        assert_eq!(super::rfc3339_shanghai(0), "1970-01-01T08:00:00+08:00");
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::parse_rfc3339("1970-01-01T08:00:00+08:00"), Some(0));
        assert_eq!(super::parse_rfc3339("tomorrow"), None);
    }

    #[test]
    fn days_are_china_days() {
        // 2026-11-30 16:00 UTC is already 2026-12-01 in China.
        assert_eq!(super::china_day(1_796_054_400), "2026-12-01");
        assert_eq!(super::china_day(1_796_054_399), "2026-11-30");
        assert_eq!(super::china_hour(1_796_054_399), "2026-11-30T23");
        assert_eq!(
            super::china_hour(1_796_054_400 + 21 * 3600),
            "2026-12-01T21"
        );
        assert!(super::parse_day("2026-12-01").is_ok());
        assert!(super::parse_day("2026-13-01").is_err());
        assert!(super::parse_day("yesterday").is_err());
    }

    #[test]
    fn a_range_of_days_runs_newest_first_and_is_bounded() {
        assert_eq!(
            super::days_back("2026-11-29", "2026-12-01", 90).unwrap(),
            ["2026-12-01", "2026-11-30", "2026-11-29"]
        );
        assert_eq!(
            super::days_back("2026-12-01", "2026-12-01", 90)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            super::days_back("2026-12-02", "2026-12-01", 90)
                .unwrap_err()
                .field,
            "from"
        );
        assert_eq!(
            super::days_back("2026-01-01", "2026-12-01", 90)
                .unwrap_err()
                .field,
            "from"
        );
        assert_eq!(
            super::days_back("2026-12-01", "soon", 90)
                .unwrap_err()
                .field,
            "to"
        );
    }
}
