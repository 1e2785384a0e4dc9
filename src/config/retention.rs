//! The `[retention]` table: how long closed cases, ignored mail and quarantined mail
//! are kept, and where cases are archived before they go. Every key is optional and
//! nothing is deleted unless its key is set (the handbook asks for three years of
//! collaboration records; PIPL Art. 19 for no longer than the purpose needs).

use std::path::PathBuf;

use chrono::{DateTime, Months, Utc};

use super::fields::{Fields, Report};

/// A length of time in whole years and days: "3y", "30d", "1y180d". Years are
/// calendar years (three years after 29 February is 28 February), not 365 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub years: u32,
    pub days: u32,
}

impl Period {
    pub fn parse(text: &str) -> Option<Period> {
        let text = text.trim();
        let mut p = Period { years: 0, days: 0 };
        let mut number = String::new();
        let mut any = false;
        for c in text.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let n: u32 = number.parse().ok()?;
            number.clear();
            match c {
                'y' => p.years = p.years.checked_add(n)?,
                'w' => p.days = p.days.checked_add(n.checked_mul(7)?)?,
                'd' => p.days = p.days.checked_add(n)?,
                _ => return None,
            }
            any = true;
        }
        (any && number.is_empty() && p.years <= 100).then_some(p)
    }

    /// The instant this period before `now`: what was closed (or received) before it
    /// has been kept long enough.
    pub fn before(&self, now: i64) -> i64 {
        let Some(t) = DateTime::<Utc>::from_timestamp(now, 0) else {
            return i64::MIN;
        };
        t.checked_sub_months(Months::new(self.years.saturating_mul(12)))
            .and_then(|t| t.checked_sub_days(chrono::Days::new(u64::from(self.days))))
            .map_or(i64::MIN, |t| t.timestamp())
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.years, self.days) {
            (y, 0) => write!(f, "{y}y"),
            (0, d) => write!(f, "{d}d"),
            (y, d) => write!(f, "{y}y{d}d"),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Retention {
    /// Closed cases, counted from when they were closed.
    pub closed_cases: Option<Period>,
    /// Messages that opened no case (auto-replies, bounces), from when received.
    pub ignored: Option<Period>,
    pub quarantine: Option<Period>,
    /// Each case is exported as a verified bag here before it is purged.
    pub archive_to: Option<PathBuf>,
}

impl Retention {
    pub fn is_on(&self) -> bool {
        self.closed_cases.is_some() || self.ignored.is_some() || self.quarantine.is_some()
    }
}

pub fn read_retention(t: Option<Fields<'_>>, report: &mut Report) -> Retention {
    let mut r = Retention::default();
    let Some(mut t) = t else {
        return r;
    };
    for key in ["closed_cases", "ignored", "quarantine"] {
        let Some(text) = t.string(report, key) else {
            continue;
        };
        match Period::parse(&text) {
            Some(p) if p.years > 0 || p.days > 0 => match key {
                "closed_cases" => r.closed_cases = Some(p),
                "ignored" => r.ignored = Some(p),
                _ => r.quarantine = Some(p),
            },
            _ => t.error(
                report,
                key,
                format!(
                    "expected a period of years, weeks or days such as \"3y\", \"30d\" or \"1y180d\", found \"{text}\""
                ),
            ),
        }
    }
    r.archive_to = t.path(report, "archive_to");
    if r.archive_to.is_some() && r.closed_cases.is_none() {
        report.warnings.push(
            "retention.archive_to: set, but closed_cases is not: no case is purged, so none is archived"
                .into(),
        );
    }
    t.finish(report);
    r
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_and_count_calendar_years() {
        assert_eq!(Period::parse("3y"), Some(Period { years: 3, days: 0 }));
        assert_eq!(Period::parse("30d"), Some(Period { years: 0, days: 30 }));
        assert_eq!(Period::parse("1y2w"), Some(Period { years: 1, days: 14 }));
        for bad in ["", "3", "3m", "y", "-1y", "3 y", "1000y"] {
            assert_eq!(Period::parse(bad), None, "{bad:?}");
        }
        // 2029-02-28 minus three calendar years is 2026-02-28, not 2026-03-01.
        let t = DateTime::parse_from_rfc3339("2029-02-28T00:00:00Z")
            .unwrap()
            .timestamp();
        let back = Period::parse("3y").unwrap().before(t);
        assert_eq!(
            DateTime::from_timestamp(back, 0).unwrap().to_rfc3339(),
            "2026-02-28T00:00:00+00:00"
        );
    }

    #[test]
    fn a_bad_period_names_the_file_and_key() {
        let path = std::path::Path::new("/etc/switchboard.toml");
        let table: toml::Table =
            "closed_cases = \"3 years\"\nquarantine = \"90d\"\narchiv_to = \"x\""
                .parse()
                .unwrap();
        let mut report = Report::default();
        let r = read_retention(Some(Fields::new(path, "retention", table)), &mut report);
        assert_eq!(r.quarantine, Some(Period { years: 0, days: 90 }));
        assert!(r.closed_cases.is_none());
        assert!(
            report.errors.iter().any(|e| e
                .starts_with("/etc/switchboard.toml: retention.closed_cases: expected a period")),
            "{:?}",
            report.errors
        );
        assert!(report.warnings.iter().any(|w| w.contains("archiv_to")));
    }
}
