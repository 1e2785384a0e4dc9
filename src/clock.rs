//! The one source of "now". Fixed with `--now` so that tests can put the daemon at any
//! moment (and, later, run days of deadlines in seconds).

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    Fixed(DateTime<Utc>),
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(t) => *t,
        }
    }

    pub fn unix(&self) -> i64 {
        self.now().timestamp()
    }
}
