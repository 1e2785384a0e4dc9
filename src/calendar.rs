//! The company's business calendar: when the office is open, and how deadlines are
//! counted on it.
//!
//! Every business rule works in the calendar's time zone, on local wall times: "09:00"
//! is nine o'clock on the office clock, also on the days a DST zone such as
//! Europe/Berlin has 23 or 25 hours. A local day's opening hours become UTC intervals
//! (`Calendar::day_openings`), and everything else walks those intervals day by day,
//! never minute by minute, so "200 business hours" costs a few dozen days of work.
//!
//! Local times that do not exist or exist twice (DST changes) are resolved one way
//! everywhere (`Calendar::resolve`): a time that is skipped when the clocks jump forward
//! becomes the moment of the jump (an office opening at 02:30 on that day opens at
//! 03:00 new time), and a time that happens twice is the first of the two.
//!
//! Searches are bounded: a calendar with no working time at all (no working days, or a
//! year of holidays) gives up after `SEARCH_DAYS` days without an opening and answers
//! that far-future moment, and spans are clamped to about 100 years (`Span::clamped`).

pub mod holidays;
#[cfg(test)]
mod properties;
mod settings;
pub mod shipped;
mod span;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta,
    TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

pub use holidays::HolidayFile;
pub use settings::read_config;
pub use span::Span;

/// How long a search goes on without finding any working time before it gives up:
/// three years of days. No real calendar is closed that long; one with no working days
/// at all must still answer.
pub const SEARCH_DAYS: i64 = 3 * 366;

/// Which clock a span is counted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClockKind {
    /// Only the office's opening hours on working days count.
    Business,
    /// Every minute counts (24/7).
    Calendar,
}

impl ClockKind {
    pub fn parse(text: &str) -> Option<ClockKind> {
        match text.trim().to_ascii_lowercase().as_str() {
            "business" => Some(ClockKind::Business),
            "calendar" => Some(ClockKind::Calendar),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ClockKind::Business => "business",
            ClockKind::Calendar => "calendar",
        }
    }
}

/// A minute of the local day, 0 to 1440 (24:00, the end of the day).
type DayMinute = u32;
const END_OF_DAY: DayMinute = 24 * 60;

#[derive(Debug, Clone)]
pub struct Calendar {
    tz: Tz,
    /// Bit `n` set: the weekday `n` days from Monday is a working day.
    workdays: u8,
    /// Opening hours of a working day, sorted, not overlapping, each start < end.
    hours: Vec<(DayMinute, DayMinute)>,
    days_off: BTreeSet<NaiveDate>,
    extra_workdays: BTreeSet<NaiveDate>,
    years_covered: BTreeSet<i32>,
    /// The holiday schedules in force, for `check` and the advice in
    /// `coverage_warnings`.
    schedules: Vec<Schedule>,
}

/// One year of public holidays in force, and where it came from.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The file read, or `built in/calendars/…` for a schedule compiled in
    /// (`shipped::is_built_in`).
    pub path: PathBuf,
    pub year: i32,
    /// The notice the dates come from.
    pub source: String,
}

impl Calendar {
    /// `hours` are local wall times; an end of 00:00 means 24:00, the end of the day.
    /// `years_covered` are the years whose public holidays `days_off` holds in full.
    pub fn new(
        tz: Tz,
        workdays: &[Weekday],
        hours: &[(NaiveTime, NaiveTime)],
        days_off: impl IntoIterator<Item = NaiveDate>,
        extra_workdays: impl IntoIterator<Item = NaiveDate>,
        years_covered: impl IntoIterator<Item = i32>,
    ) -> Result<Calendar, String> {
        let mut spans = Vec::with_capacity(hours.len());
        for &(start, end) in hours {
            let start_minute = day_minute(start);
            let end_minute = match day_minute(end) {
                0 => END_OF_DAY,
                m => m,
            };
            if start_minute >= end_minute {
                return Err(format!(
                    "opening hours {}-{} end before they start",
                    start.format("%H:%M"),
                    end.format("%H:%M")
                ));
            }
            spans.push((start_minute, end_minute));
        }
        if spans.windows(2).any(|w| match w {
            [a, b] => a.1 > b.0,
            _ => false,
        }) {
            return Err("opening hours must be in order and must not overlap".to_string());
        }
        let days_off: BTreeSet<NaiveDate> = days_off.into_iter().collect();
        let extra_workdays: BTreeSet<NaiveDate> = extra_workdays.into_iter().collect();
        if let Some(day) = days_off.intersection(&extra_workdays).next() {
            return Err(format!(
                "{day} cannot be both a day off and a make-up working day"
            ));
        }
        Ok(Calendar {
            tz,
            workdays: workdays
                .iter()
                .fold(0, |bits, d| bits | 1 << d.num_days_from_monday()),
            hours: spans,
            days_off,
            extra_workdays,
            years_covered: years_covered.into_iter().collect(),
            schedules: Vec::new(),
        })
    }

    /// Monday to Friday, 09:00-12:00 and 13:30-18:00, no holidays.
    pub fn default_for(tz: Tz) -> Calendar {
        let hm = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN);
        let weekdays = [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ];
        Calendar {
            tz,
            workdays: weekdays
                .iter()
                .fold(0, |bits, d| bits | 1 << d.num_days_from_monday()),
            hours: vec![
                (day_minute(hm(9, 0)), day_minute(hm(12, 0))),
                (day_minute(hm(13, 30)), day_minute(hm(18, 0))),
            ],
            days_off: BTreeSet::new(),
            extra_workdays: BTreeSet::new(),
            years_covered: BTreeSet::new(),
            schedules: Vec::new(),
        }
    }

    /// Adds one year of public holidays. Refuses a year already covered and a day that
    /// would be both off and worked.
    pub fn with_holidays(mut self, file: &HolidayFile) -> Result<Calendar, String> {
        if self.years_covered.contains(&file.year) {
            return Err(format!(
                "{}: {} is already covered by another holiday file",
                file.path.display(),
                file.year
            ));
        }
        for day in file.days_off() {
            if self.extra_workdays.contains(&day) {
                return Err(format!(
                    "{}: {day} is a day off here and a make-up working day elsewhere",
                    file.path.display()
                ));
            }
        }
        for day in file.extra_workdays() {
            if self.days_off.contains(&day) {
                return Err(format!(
                    "{}: {day} is a make-up working day here and a day off elsewhere",
                    file.path.display()
                ));
            }
        }
        self.days_off.extend(file.days_off());
        self.extra_workdays.extend(file.extra_workdays());
        self.years_covered.insert(file.year);
        self.schedules.push(Schedule {
            path: file.path.clone(),
            year: file.year,
            source: file.source.clone(),
        });
        Ok(self)
    }

    /// The holiday schedules in force, in the order they were added.
    pub fn schedules(&self) -> &[Schedule] {
        &self.schedules
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    pub fn years_covered(&self) -> impl Iterator<Item = i32> + '_ {
        self.years_covered.iter().copied()
    }

    /// The usual working weekdays, minus the days off, plus the make-up working days.
    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        if self.extra_workdays.contains(&day) {
            return true;
        }
        if self.days_off.contains(&day) {
            return false;
        }
        self.workdays & (1 << day.weekday().num_days_from_monday()) != 0
    }

    /// Inside opening hours on a working day. A closing time itself is not working time.
    pub fn is_working_time(&self, t: DateTime<Utc>) -> bool {
        let day = self.local_date(t);
        // The day before too: its last opening may end after local midnight (24:00
        // resolved into a DST gap at midnight, as some zones have).
        [day.pred_opt(), Some(day)]
            .into_iter()
            .flatten()
            .flat_map(|d| self.day_openings(d))
            .any(|(s, e)| s <= t && t < e)
    }

    /// `t` itself when it is working time, else the next opening.
    pub fn next_working_time(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        match self.openings_from(t).next() {
            Some((s, _)) => s,
            None => give_up(t),
        }
    }

    /// `span` after `start`, counted on `clock`:
    /// - Business, minutes: only working minutes count; a start outside opening hours
    ///   begins at the next opening, and a result that falls exactly on a closing time
    ///   stays there (18:00, not 09:00 the next morning).
    /// - Business, days: from the next working time, that many working days later at
    ///   the same local time of day.
    /// - Calendar, minutes: elapsed minutes.
    /// - Calendar, days: the same local time that many days later, also across a DST
    ///   change (see the module doc for skipped and repeated times).
    ///
    /// Negative spans count as zero; see `Span::clamped`.
    pub fn add(&self, start: DateTime<Utc>, span: Span, clock: ClockKind) -> DateTime<Utc> {
        match (clock, span.clamped()) {
            (ClockKind::Business, Span::Minutes(m)) => {
                self.add_working(start, TimeDelta::minutes(m))
            }
            (ClockKind::Business, Span::Days(d)) => self.add_working_days(start, d),
            (ClockKind::Calendar, Span::Minutes(m)) => later(start, TimeDelta::minutes(m)),
            (ClockKind::Calendar, Span::Days(d)) => {
                let local = start.with_timezone(&self.tz).naive_local();
                match local.checked_add_days(chrono::Days::new(d.unsigned_abs())) {
                    Some(target) => self.resolve(target),
                    None => DateTime::<Utc>::MAX_UTC,
                }
            }
        }
    }

    /// The moment `percent`% of the way from `start` to `due`, measured on `clock`: on
    /// the business clock in working time, so 50% of a deadline that spans a weekend is
    /// half of its working hours. 100% is `due` itself; 0% on the business clock is the
    /// next working time after `start`. Exact to the second, rounded down.
    pub fn fraction(
        &self,
        start: DateTime<Utc>,
        due: DateTime<Utc>,
        percent: u32,
        clock: ClockKind,
    ) -> DateTime<Utc> {
        if percent == 100 {
            return due;
        }
        let part = |total: TimeDelta| {
            let seconds = i128::from(total.num_seconds()) * i128::from(percent) / 100;
            TimeDelta::try_seconds(i64::try_from(seconds).unwrap_or(i64::MAX))
                .unwrap_or(TimeDelta::MAX)
        };
        match clock {
            ClockKind::Calendar => later(start, part(due - start)),
            ClockKind::Business => self.add_working(start, part(self.working_duration(start, due))),
        }
    }

    /// The working time between two moments (zero when `to` is not after `from`).
    pub fn working_duration(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> TimeDelta {
        let mut total = TimeDelta::zero();
        for (s, e) in self.openings_from(from) {
            if s >= to {
                break;
            }
            total += e.min(to) - s;
        }
        total
    }

    /// The first local `weekday` at local `time` strictly after `after` (a weekly
    /// report's next run).
    pub fn next_weekly(
        &self,
        after: DateTime<Utc>,
        weekday: Weekday,
        time: NaiveTime,
    ) -> DateTime<Utc> {
        let first = self.local_date(after);
        first
            .iter_days()
            .take(15)
            .filter(|d| d.weekday() == weekday)
            .map(|d| self.resolve(d.and_time(time)))
            .find(|t| *t > after)
            .unwrap_or_else(|| later(after, TimeDelta::days(7)))
    }

    /// Advice for the years whose public holidays no holiday file gives: this year
    /// always, and next year from October 1st, when governments have usually published
    /// it (China's State Council: early November).
    pub fn coverage_warnings(&self, today: NaiveDate) -> Vec<String> {
        let mut years = vec![today.year()];
        if today.month() >= 10 {
            years.push(today.year() + 1);
        }
        years
            .into_iter()
            .filter(|y| !self.years_covered.contains(y))
            .map(|year| {
                format!(
                    "no holiday file covers {year} (from calendar.holidays); add {} from the government's notice and list it in calendar.holidays, or deadlines in {year} count public holidays as working days",
                    self.suggested_file(year)
                )
            })
            .collect()
    }

    /// Where next year's file would go: beside the last file read, named like it;
    /// for the built-in schedules, in calendars/ (listed with the shipped files, since
    /// a list replaces them).
    fn suggested_file(&self, year: i32) -> String {
        let named_like = self.schedules.iter().rev().find_map(|s| {
            let stem = s.path.file_stem()?.to_str()?;
            let (prefix, old_year) = stem.rsplit_once('-')?;
            old_year.parse::<i32>().ok()?;
            let file = format!("{prefix}-{year}.toml");
            Some(if shipped::is_built_in(&s.path) {
                format!(
                    "calendars/{file} (then list it with the shipped files, which a list replaces: holidays = [\"/etc/switchboard/calendars/cn-{}.toml\", …, \"/etc/switchboard/calendars/{file}\"])",
                    s.year
                )
            } else {
                s.path.with_file_name(file).display().to_string()
            })
        });
        match named_like {
            Some(path) => path,
            None if self.tz == chrono_tz::Asia::Shanghai => format!("calendars/cn-{year}.toml"),
            None => format!("calendars/<country>-{year}.toml"),
        }
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// The UTC instant of a local wall time: a time skipped by a DST jump becomes the
    /// moment of the jump, a time that happens twice the first of the two.
    fn resolve(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
            LocalResult::None => self.end_of_gap(local),
        }
    }

    /// For a local time in a DST gap: the instant the clocks jumped. Between the gap's
    /// bounds the wall clock only moves forward, so the first instant whose wall time is
    /// not before `local` is found by halving, to the second.
    fn end_of_gap(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let wall = local.and_utc().timestamp();
        let offset_at = |secs: i64| {
            DateTime::from_timestamp(secs, 0)
                .map(|t| {
                    i64::from(
                        self.tz
                            .offset_from_utc_datetime(&t.naive_utc())
                            .fix()
                            .local_minus_utc(),
                    )
                })
                .unwrap_or(0)
        };
        // Two days either side are outside any one transition (offsets are under 15 h).
        let before = offset_at(wall - 2 * 86_400);
        let after = offset_at(wall + 2 * 86_400);
        // `lo` reads as `local` on the new offset but is before the jump; `hi` reads as
        // `local` on the old offset and is after it.
        let (mut lo, mut hi) = (wall - after, wall - before);
        let wall_at = |secs: i64| secs + offset_at(secs);
        if lo >= hi || wall_at(lo) >= wall || wall_at(hi) < wall {
            // Not a simple jump forward; the old offset's reading is a fair answer.
            return DateTime::from_timestamp(hi, 0).unwrap_or(DateTime::<Utc>::MAX_UTC);
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if wall_at(mid) >= wall {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        DateTime::from_timestamp(hi, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The opening hours of one local day as UTC intervals, in order; none on a day
    /// that is not a working day. An interval squeezed to nothing by a DST jump is left
    /// out.
    fn day_openings(
        &self,
        day: NaiveDate,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let working = self.is_working_day(day);
        let midnight = day.and_time(NaiveTime::MIN);
        let at = move |minute: DayMinute| {
            midnight
                .checked_add_signed(TimeDelta::minutes(i64::from(minute)))
                .map(|local| self.resolve(local))
        };
        self.hours
            .iter()
            .filter(move |_| working)
            .filter_map(move |&(s, e)| Some((at(s)?, at(e)?)))
            .filter(|(s, e)| s < e)
    }

    /// Every working interval that ends after `from`, the first one cut to start at
    /// `from`; it ends after `SEARCH_DAYS` days in a row without one.
    fn openings_from(&self, from: DateTime<Utc>) -> Openings<'_> {
        let day = self.local_date(from);
        Openings {
            calendar: self,
            from,
            day: day.pred_opt().or(Some(day)),
            idle_days: 0,
            queue: VecDeque::new(),
        }
    }

    /// `amount` of working time after `start`; exactly at a closing time when the
    /// amount runs out there.
    fn add_working(&self, start: DateTime<Utc>, amount: TimeDelta) -> DateTime<Utc> {
        let mut left = amount.max(TimeDelta::zero());
        let mut last = start;
        for (s, e) in self.openings_from(start) {
            let available = e - s;
            if left <= available {
                return s + left;
            }
            left -= available;
            last = e;
        }
        give_up(last)
    }

    fn add_working_days(&self, start: DateTime<Utc>, days: i64) -> DateTime<Utc> {
        let Some((first, _)) = self.openings_from(start).next() else {
            return give_up(start);
        };
        let local = first.with_timezone(&self.tz).naive_local();
        let mut day = local.date();
        let mut left = days;
        let mut idle = 0;
        while left > 0 {
            let Some(next) = day.succ_opt() else {
                return DateTime::<Utc>::MAX_UTC;
            };
            day = next;
            if self.is_working_day(day) {
                left -= 1;
                idle = 0;
            } else {
                idle += 1;
                if idle > SEARCH_DAYS {
                    return self.resolve(day.and_time(local.time()));
                }
            }
        }
        self.resolve(day.and_time(local.time()))
    }
}

/// Working intervals one local day at a time (see `Calendar::openings_from`).
struct Openings<'a> {
    calendar: &'a Calendar,
    from: DateTime<Utc>,
    day: Option<NaiveDate>,
    idle_days: i64,
    queue: VecDeque<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Iterator for Openings<'_> {
    type Item = (DateTime<Utc>, DateTime<Utc>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(interval) = self.queue.pop_front() {
                return Some(interval);
            }
            if self.idle_days > SEARCH_DAYS {
                return None;
            }
            let day = self.day?;
            self.day = day.succ_opt();
            let from = self.from;
            self.queue.extend(
                self.calendar
                    .day_openings(day)
                    .filter(|(_, e)| *e > from)
                    .map(|(s, e)| (s.max(from), e)),
            );
            if self.queue.is_empty() {
                self.idle_days += 1;
            } else {
                self.idle_days = 0;
            }
        }
    }
}

fn day_minute(t: NaiveTime) -> DayMinute {
    use chrono::Timelike;
    t.hour() * 60 + t.minute()
}

/// `t + d`, or the last representable moment.
fn later(t: DateTime<Utc>, d: TimeDelta) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(if d < TimeDelta::zero() {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// The answer of a search that found no working time: `SEARCH_DAYS` after where it
/// stopped looking, far enough to read as "never" and still a plain date.
fn give_up(from: DateTime<Utc>) -> DateTime<Utc> {
    later(from, TimeDelta::days(SEARCH_DAYS))
}
