//! Holiday files: one year of public holidays and make-up working days (调休), as a
//! government publishes them, in `calendars/<country>-<year>.toml`.
//!
//! A holiday file is data that an administrator edits once a year, so every problem in
//! it is reported at once, each as `file:line: key: what was expected`, and a file that
//! has any problem is not used at all: a half-read holiday schedule would put deadlines
//! on days off without anyone noticing.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use toml::{Spanned, Value};

/// One holiday file, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolidayFile {
    pub path: PathBuf,
    pub year: i32,
    /// The notice the dates come from, as the file names it.
    pub source: String,
    pub holidays: Vec<Holiday>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    pub name: String,
    /// Days off, ranges expanded, in the order written.
    pub off: Vec<NaiveDate>,
    /// Make-up working days.
    pub work: Vec<NaiveDate>,
}

impl HolidayFile {
    pub fn days_off(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.holidays.iter().flat_map(|h| h.off.iter().copied())
    }

    pub fn extra_workdays(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.holidays.iter().flat_map(|h| h.work.iter().copied())
    }
}

// The file as TOML gives it. Spans are kept so that errors can name the line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    year: Spanned<i64>,
    source: Spanned<String>,
    #[serde(default)]
    holiday: Vec<Spanned<RawHoliday>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    name: Spanned<String>,
    #[serde(default)]
    off: Vec<Spanned<Value>>,
    #[serde(default)]
    work: Vec<Spanned<Value>>,
}

/// Reads and checks a holiday file. `Err` holds every problem, each naming the file.
pub fn load(path: &Path) -> Result<HolidayFile, Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![format!(
            "{}: cannot read the holiday file: {e}",
            path.display()
        )]
    })?;
    parse(path, &text)
}

/// Checks the text of a holiday file; `path` is only for the messages.
pub fn parse(path: &Path, text: &str) -> Result<HolidayFile, Vec<String>> {
    let at = |span: Option<Range<usize>>| match span {
        Some(s) => format!("{}:{}", path.display(), line_of(text, s.start)),
        None => path.display().to_string(),
    };
    let raw: RawFile = toml::from_str(text)
        .map_err(|e| vec![format!("{}: {}", at(e.span()), e.message().trim_end())])?;

    let mut errors = Vec::new();
    let year = match i32::try_from(*raw.year.get_ref()) {
        Ok(y) if (1970..=2200).contains(&y) => Some(y),
        _ => {
            errors.push(format!(
                "{}: year: expected a year such as 2026, found {}",
                at(Some(raw.year.span())),
                raw.year.get_ref()
            ));
            None
        }
    };
    if raw.source.get_ref().trim().is_empty() {
        errors.push(format!(
            "{}: source: expected the notice the dates come from (title, number, date, URL)",
            at(Some(raw.source.span()))
        ));
    }
    if raw.holiday.is_empty() {
        errors.push(format!(
            "{}: holiday: expected at least one [[holiday]] table",
            at(None)
        ));
    }

    // Every date seen, with where, to report a date listed twice or both off and work.
    let mut seen: BTreeMap<NaiveDate, (bool, String)> = BTreeMap::new();
    let mut holidays = Vec::new();
    for (i, h) in raw.holiday.iter().enumerate() {
        let span = h.span();
        let h = h.get_ref();
        let name = h.name.get_ref().trim().to_string();
        if name.is_empty() {
            errors.push(format!(
                "{}: holiday[{i}].name: expected the holiday's name, such as \"春节 Spring Festival\"",
                at(Some(h.name.span()))
            ));
        }
        if h.off.is_empty() && h.work.is_empty() {
            errors.push(format!(
                "{}: holiday[{i}]: expected dates in off = [...] or work = [...]",
                at(Some(span))
            ));
        }
        let mut lists = [(true, "off", Vec::new()), (false, "work", Vec::new())];
        for (is_off, key, dates) in &mut lists {
            let items = if *is_off { &h.off } else { &h.work };
            for (j, item) in items.iter().enumerate() {
                let key = format!("holiday[{i}].{key}[{j}]");
                let here = at(Some(item.span()));
                match dates_of(item.get_ref(), year) {
                    Ok(days) => {
                        for day in days {
                            let what = if *is_off {
                                "a day off"
                            } else {
                                "a make-up working day"
                            };
                            if let Some((was_off, where_)) = seen.get(&day) {
                                let problem = if *was_off == *is_off {
                                    format!("{day} is listed twice (also at {where_})")
                                } else {
                                    format!(
                                        "{day} cannot be both a day off and a make-up working day (also at {where_})"
                                    )
                                };
                                errors.push(format!("{here}: {key}: {problem}"));
                            } else {
                                seen.insert(day, (*is_off, format!("{here} as {what}")));
                            }
                            dates.push(day);
                        }
                    }
                    Err(why) => errors.push(format!("{here}: {key}: {why}")),
                }
            }
        }
        let [(_, _, off), (_, _, work)] = lists;
        holidays.push(Holiday { name, off, work });
    }

    match year {
        Some(year) if errors.is_empty() => Ok(HolidayFile {
            path: path.to_path_buf(),
            year,
            source: raw.source.into_inner().trim().to_string(),
            holidays,
        }),
        _ => Err(errors),
    }
}

/// The days of one list item: "2026-02-15", "2026-02-15..2026-02-23" (inclusive), or a
/// bare TOML date `2026-02-15`. Every day must be in `year` (when the year is known).
fn dates_of(value: &Value, year: Option<i32>) -> Result<Vec<NaiveDate>, String> {
    let expected = "expected a date \"YYYY-MM-DD\" or a range \"YYYY-MM-DD..YYYY-MM-DD\"";
    let text = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Datetime(d) if d.time.is_none() && d.offset.is_none() => d.to_string(),
        other => return Err(format!("{expected}, found {}", other.type_str())),
    };
    let parse = |s: &str| {
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map_err(|_| format!("{expected}, found \"{text}\""))
    };
    let (first, last) = match text.split_once("..") {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let d = parse(&text)?;
            (d, d)
        }
    };
    if last < first {
        return Err(format!("the range \"{text}\" ends before it starts"));
    }
    // Checked here too because the year may be unknown (itself wrong).
    if (last - first).num_days() > 366 {
        return Err(format!("the range \"{text}\" is longer than a year"));
    }
    if let Some(year) = year
        && (first.year() != year || last.year() != year)
    {
        return Err(format!(
            "\"{text}\" is outside {year}, the year of this file"
        ));
    }
    Ok(first.iter_days().take_while(|d| *d <= last).collect())
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map(|t| t.matches('\n').count() + 1)
        .unwrap_or(0)
}
