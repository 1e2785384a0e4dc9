//! A duration as the handbook writes it: "2 hours", "3 working days", "1h30m", "2小时".
//!
//! Minutes and days stay apart because they are counted differently: on the business
//! clock "1 day" is one working day at the same time of day, never 1,440 working
//! minutes. Whether a span is counted on the business or the calendar clock is the
//! `ClockKind` beside it, so "3 days" and "3 working days" are the same `Span`.

use std::fmt;
use std::str::FromStr;

/// The longest span accepted: about 100 years. Bounds every computation with a span,
/// whoever builds it (see `Span::clamped`).
pub const MAX_DAYS: i64 = 36_525;
pub const MAX_MINUTES: i64 = MAX_DAYS * 24 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Span {
    Minutes(i64),
    Days(i64),
}

impl Span {
    /// The span with a negative count taken as zero and a huge one cut to about 100
    /// years, so that a span built in code cannot make a calendar search run forever.
    pub fn clamped(self) -> Span {
        match self {
            Span::Minutes(m) => Span::Minutes(m.clamp(0, MAX_MINUTES)),
            Span::Days(d) => Span::Days(d.clamp(0, MAX_DAYS)),
        }
    }
}

impl fmt::Display for Span {
    /// Whole hours as hours, anything else as minutes ("90 minutes", as handbooks write
    /// it), so that the text parses back to the same span.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, unit) = match *self {
            Span::Days(d) => (d, "day"),
            Span::Minutes(m) if m != 0 && m % 60 == 0 => (m / 60, "hour"),
            Span::Minutes(m) => (m, "minute"),
        };
        let plural = if n == 1 { "" } else { "s" };
        write!(f, "{n} {unit}{plural}")
    }
}

/// What a unit word means.
#[derive(Clone, Copy)]
enum Unit {
    Minutes(i64),
    Days,
}

/// Unit words after whitespace is removed and letters are lower-cased. Longest first
/// is not needed: a unit runs up to the next digit and must match a word whole.
const UNITS: &[(&str, Unit)] = &[
    ("m", Unit::Minutes(1)),
    ("min", Unit::Minutes(1)),
    ("mins", Unit::Minutes(1)),
    ("minute", Unit::Minutes(1)),
    ("minutes", Unit::Minutes(1)),
    ("分", Unit::Minutes(1)),
    ("分钟", Unit::Minutes(1)),
    ("h", Unit::Minutes(60)),
    ("hr", Unit::Minutes(60)),
    ("hrs", Unit::Minutes(60)),
    ("hour", Unit::Minutes(60)),
    ("hours", Unit::Minutes(60)),
    ("小时", Unit::Minutes(60)),
    ("个小时", Unit::Minutes(60)),
    ("钟头", Unit::Minutes(60)),
    ("个钟头", Unit::Minutes(60)),
    ("d", Unit::Days),
    ("day", Unit::Days),
    ("days", Unit::Days),
    ("天", Unit::Days),
    ("日", Unit::Days),
    ("个工作日", Unit::Days),
    ("工作日", Unit::Days),
    ("个工作天", Unit::Days),
    ("工作天", Unit::Days),
    ("个自然日", Unit::Days),
    ("自然日", Unit::Days),
];

/// Words that say which clock counts; the clock itself is chosen by `ClockKind`.
const QUALIFIERS: &[&str] = &["working", "business", "work", "calendar"];

const EXPECTED: &str = "expected a duration such as \"2 hours\", \"90 minutes\", \"3 working days\", \"1h30m\", \"3d\" or \"2小时\"";

impl FromStr for Span {
    type Err = String;

    /// A sum of number-unit pairs, all in minutes/hours or all in days: "1 hour 30
    /// minutes", "1h30m", "3 working days", "3个工作日". Hours may have a decimal part
    /// when it makes whole minutes ("1.5 hours").
    fn from_str(text: &str) -> Result<Span, String> {
        let fail = |why: &str| {
            if why.is_empty() {
                format!("{EXPECTED}, found \"{text}\"")
            } else {
                format!("{EXPECTED}, found \"{text}\" ({why})")
            }
        };
        let lowered = text.to_lowercase().replace([',', '，'], " ");
        let squeezed: String = lowered
            .split_whitespace()
            .filter(|w| !QUALIFIERS.contains(w) && *w != "and")
            .collect();
        if squeezed.is_empty() {
            return Err(fail(""));
        }
        let mut minutes: Option<i64> = None;
        let mut days: Option<i64> = None;
        let mut rest = squeezed.as_str();
        while !rest.is_empty() {
            let number_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let (number, after) = rest.split_at(number_len);
            let unit_len = after
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(after.len());
            let (word, next) = after.split_at(unit_len);
            rest = next;
            if number.is_empty() {
                return Err(fail("a number must come first"));
            }
            let Some((_, unit)) = UNITS.iter().find(|(w, _)| *w == word) else {
                return Err(fail(if word.is_empty() {
                    "a unit is missing"
                } else {
                    "unknown unit"
                }));
            };
            match *unit {
                Unit::Minutes(per) => {
                    let m =
                        scaled(number, per).ok_or_else(|| fail("not a whole number of minutes"))?;
                    minutes = Some(minutes.unwrap_or(0).saturating_add(m));
                }
                Unit::Days => {
                    let d: i64 = number
                        .parse()
                        .map_err(|_| fail("days must be a whole number; write hours instead"))?;
                    days = Some(days.unwrap_or(0).saturating_add(d));
                }
            }
        }
        match (minutes, days) {
            (Some(_), Some(_)) => Err(fail(
                "days and hours cannot be mixed: a working day is not 24 hours",
            )),
            (Some(m), None) if m > MAX_MINUTES => Err(fail("longer than 100 years")),
            (None, Some(d)) if d > MAX_DAYS => Err(fail("longer than 100 years")),
            (Some(m), None) => Ok(Span::Minutes(m)),
            (None, Some(d)) => Ok(Span::Days(d)),
            (None, None) => Err(fail("")),
        }
    }
}

/// `number` (digits, at most one '.') times `per` minutes, when that is whole.
fn scaled(number: &str, per: i64) -> Option<i64> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') || fraction.len() > 6 {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut result = whole.checked_mul(per)?;
    if !fraction.is_empty() {
        let digits: i64 = fraction.parse().ok()?;
        let scale = 10_i64.checked_pow(u32::try_from(fraction.len()).ok()?)?;
        let part = digits.checked_mul(per)?;
        if part % scale != 0 {
            return None;
        }
        result = result.checked_add(part / scale)?;
    }
    Some(result)
}
