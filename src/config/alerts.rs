//! The `[alerts]` table: who hears when Switchboard needs a person, and after how long.

use std::time::Duration;

use super::fields::{Fields, Report};

#[derive(Debug, Clone)]
pub struct Alerts {
    /// The administrators; empty means alerts go to the log only.
    pub to: Vec<String>,
    /// The mailbox not read successfully for this long raises an alert.
    pub mailbox_silence: Duration,
    /// After a bounce of our automatic mail, none goes to that address for this long.
    pub bounce_pause: Duration,
}

impl Default for Alerts {
    fn default() -> Alerts {
        Alerts {
            to: Vec::new(),
            mailbox_silence: Duration::from_secs(15 * 60),
            bounce_pause: Duration::from_secs(7 * 86_400),
        }
    }
}

pub fn read_alerts(t: Option<Fields<'_>>, report: &mut Report) -> Alerts {
    let mut alerts = Alerts::default();
    let Some(mut t) = t else {
        return alerts;
    };
    alerts.to = super::addresses(&mut t, report, "to");
    if let Some(d) = t.duration(report, "mailbox_silence") {
        alerts.mailbox_silence = d;
    }
    if let Some(d) = t.duration(report, "bounce_pause") {
        alerts.bounce_pause = d;
    }
    t.finish(report);
    alerts
}
