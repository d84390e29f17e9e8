//! The words after a command: positionals and `--option value` pairs, and the times merchants
//! write.

use crate::CliError;
use std::collections::BTreeMap;

pub struct Args {
    positionals: Vec<String>,
    options: BTreeMap<String, String>,
}

impl Args {
    pub fn parse(words: &[&str]) -> Result<Self, CliError> {
        let mut positionals = Vec::new();
        let mut options = BTreeMap::new();
        let mut words = words.iter();
        while let Some(word) = words.next() {
            if let Some(name) = word.strip_prefix("--") {
                let (name, value) = match name.split_once('=') {
                    Some((name, value)) => (name, value.to_string()),
                    None => (
                        name,
                        words
                            .next()
                            .filter(|v| !v.starts_with("--"))
                            .ok_or_else(|| CliError::invalid(name, "needs a value"))?
                            .to_string(),
                    ),
                };
                if options.insert(name.to_string(), value).is_some() {
                    return Err(CliError::invalid(name, "is given twice"));
                }
            } else {
                positionals.push((*word).to_string());
            }
        }
        Ok(Self {
            positionals,
            options,
        })
    }

    /// Refuses options the command does not know, so a typo is not silently ignored.
    pub fn only(&self, known: &[&str]) -> Result<(), CliError> {
        match self.options.keys().find(|k| !known.contains(&k.as_str())) {
            Some(unknown) if known.is_empty() => Err(CliError::Usage(format!(
                "unknown option --{unknown}: this command takes none"
            ))),
            Some(unknown) => Err(CliError::Usage(format!(
                "unknown option --{unknown}; this command takes --{}",
                known.join(", --")
            ))),
            None => Ok(()),
        }
    }

    pub fn optional(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str)
    }

    pub fn required(&self, name: &str) -> Result<&str, CliError> {
        self.optional(name)
            .ok_or_else(|| CliError::invalid(name, "is required"))
    }

    pub fn single_positional(&self, what: &str) -> Result<&str, CliError> {
        match self.positionals.as_slice() {
            [one] => Ok(one),
            [] => Err(CliError::Usage(format!("missing the <{what}>"))),
            [_, extra, ..] => Err(CliError::Usage(format!(
                "unexpected {extra:?} after the <{what}>"
            ))),
        }
    }

    pub fn no_positionals(&self) -> Result<(), CliError> {
        match self.positionals.first() {
            Some(extra) => Err(CliError::Usage(format!("unexpected {extra:?}"))),
            None => Ok(()),
        }
    }
}

const CHINA: time::UtcOffset = match time::UtcOffset::from_hms(8, 0, 0) {
    Ok(offset) => offset,
    Err(_) => time::UtcOffset::UTC,
};

/// A moment as a merchant writes it: `now`, `now+2h` / `now-30m` / `now+7d`, `2026-12-01`
/// (midnight China time), `2026-12-01T10:00` (China time), or RFC 3339 with its own offset.
pub fn parse_time(raw: &str, now: i64) -> Result<i64, String> {
    let problem = || {
        format!(
            "{raw:?} is not a time; write 2026-12-01, 2026-12-01T10:00 (China time), RFC 3339, or now+2h"
        )
    };
    if let Some(rest) = raw.strip_prefix("now") {
        if rest.is_empty() {
            return Ok(now);
        }
        let (sign, amount) = match rest.split_at(1) {
            ("+", amount) => (1, amount),
            ("-", amount) => (-1, amount),
            _ => return Err(problem()),
        };
        let unit = match amount.chars().last() {
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86_400,
            _ => return Err(problem()),
        };
        let count: i64 = amount[..amount.len() - 1].parse().map_err(|_| problem())?;
        return count
            .checked_mul(unit)
            .and_then(|s| now.checked_add(sign * s))
            .ok_or_else(problem);
    }
    if let Ok(t) = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
    {
        return Ok(t.unix_timestamp());
    }
    let date_time = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    if let Ok(t) = time::PrimitiveDateTime::parse(raw, &date_time) {
        return Ok(t.assume_offset(CHINA).unix_timestamp());
    }
    let date = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(raw, &date) {
        return Ok(d.midnight().assume_offset(CHINA).unix_timestamp());
    }
    Err(problem())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_in_china_time_unless_they_say_otherwise() {
        let now = 1_795_507_200; // 2026-11-24T08:00:00Z
        assert_eq!(parse_time("now", now), Ok(now));
        assert_eq!(parse_time("now+2h", now), Ok(now + 7200));
        assert_eq!(parse_time("now-30m", now), Ok(now - 1800));
        assert_eq!(parse_time("now+7d", now), Ok(now + 7 * 86_400));
        assert_eq!(parse_time("2026-11-24", now), Ok(now - 16 * 3600));
        assert_eq!(parse_time("2026-11-24T16:00", now), Ok(now));
        assert_eq!(parse_time("2026-11-24T08:00:00Z", now), Ok(now));
        for bad in ["tomorrow", "now+2", "now*2h", "2026-13-01", "24/11/2026"] {
            assert!(parse_time(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn options_take_values_and_typos_are_refused() {
        let args = Args::parse(&["new-user", "--title", "新人券", "--off=20"]).unwrap();
        assert_eq!(args.single_positional("id").unwrap(), "new-user");
        assert_eq!(args.optional("off"), Some("20"));
        assert!(args.only(&["title", "off"]).is_ok());
        assert!(matches!(args.only(&["title"]), Err(CliError::Usage(_))));
        assert!(matches!(
            Args::parse(&["--title"]),
            Err(CliError::Invalid { option, .. }) if option == "title"
        ));
        assert!(Args::parse(&["--off", "1", "--off", "2"]).is_err());
    }
}
