//! The pages: each gathers its figures on the read-only connection, keeps what the
//! viewer may see, and renders its template. The overview and the CSV are
//! `switchboard report`'s own figures (`commands::report::figures`); the case page
//! is `switchboard cases show`'s timeline (`commands::timeline::load`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::Result;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeDelta, Utc};
use minijinja::Environment;
use serde_json::{Value, json};

use super::{Args, Asker, Peer, View, template_error};
use crate::commands::{report, timeline};
use crate::outgoing::local_time;
use crate::store::{alerts, cases, deadlines, outbox};

/// The templates, compiled into the binary.
pub fn templates() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    for (name, text) in [
        ("layout.html", include_str!("pages/layout.html")),
        ("period.html", include_str!("pages/period.html")),
        ("overview.html", include_str!("pages/overview.html")),
        ("at_risk.html", include_str!("pages/at_risk.html")),
        ("cases.html", include_str!("pages/cases.html")),
        ("case.html", include_str!("pages/case.html")),
        ("satisfaction.html", include_str!("pages/satisfaction.html")),
        ("health.html", include_str!("pages/health.html")),
        ("error.html", include_str!("pages/error.html")),
    ] {
        env.add_template(name, text).map_err(template_error)?;
    }
    Ok(env)
}

/// The period a page shows: `?from=&to=` (company dates), by default from the
/// Monday of last week to today — on a Monday morning, last week and this one.
struct Period {
    from: String,
    to: String,
    start: i64,
    end: i64,
}

fn period(view: &View, args: &Args) -> Result<Period> {
    let tz = view.config.calendar.tz();
    let today = view.clock.now().with_timezone(&tz).date_naive();
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let default_from = (monday - Duration::days(7)).to_string();
    let from = args
        .get("from")
        .filter(|s| !s.is_empty())
        .cloned()
        .unwrap_or(default_from);
    let to = args
        .get("to")
        .filter(|s| !s.is_empty())
        .cloned()
        .unwrap_or(today.to_string());
    let (start, end) = report::period(tz, &from, &to, "")?;
    Ok(Period {
        from,
        to,
        start,
        end,
    })
}

fn presets(view: &View) -> Value {
    let tz = view.config.calendar.tz();
    let today = view.clock.now().with_timezone(&tz).date_naive();
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let day = |d: NaiveDate| d.to_string();
    json!([
        {"name": "this_week", "from": day(monday), "to": day(today)},
        {"name": "last_week", "from": day(monday - Duration::days(7)), "to": day(monday - Duration::days(1))},
        {"name": "last_30", "from": day(today - Duration::days(29)), "to": day(today)},
    ])
}

/// Percent-encoding for a query value (RFC 3986 §3.4): everything but unreserved.
fn query_value(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

macro_rules! ask {
    ($view:expr, $headers:expr, $peer:expr) => {
        match $view.asker(&$headers, ($peer.0).0).await {
            Ok(a) => a,
            Err(r) => return r,
        }
    };
}

fn bad_period(view: &View, asker: &Asker) -> Response {
    view.error(
        asker.lang,
        Some(&asker.user),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
}

pub async fn overview(
    State(view): State<Arc<View>>,
    headers: HeaderMap,
    peer: Peer,
    args: Args,
) -> Response {
    let asker = ask!(view, headers, peer);
    let Ok(p) = period(&view, &args) else {
        return bad_period(&view, &asker);
    };
    let user = asker.user.clone();
    let now = view.clock.unix();
    let (start, end) = (p.start, p.end);
    let lines = view
        .read(move |_, c| report::figures(c, start, end, now, |d| user.sees(std::iter::once(d))))
        .await;
    let lines = match lines {
        Ok(l) => l,
        Err(e) => return view.internal(&asker, e),
    };
    let rows: Vec<Value> = lines
        .iter()
        .map(|l| {
            let total = l.met + l.missed + l.pending;
            let judged = l.met + l.missed;
            let width = |n: usize| (n * 100).checked_div(total).unwrap_or(0);
            json!({
                "department_name": view.department_name(&l.department),
                "milestone": l.milestone,
                "met": l.met, "missed": l.missed, "pending": l.pending,
                "pct": (judged > 0).then(|| l.met * 100 / judged),
                "w_met": width(l.met), "w_missed": width(l.missed), "w_pending": width(l.pending),
                "median_minutes": l.median_minutes, "p90_minutes": l.p90_minutes,
                "link": format!("/cases?department={}&milestone={}&from={}&to={}",
                    query_value(&l.department), query_value(&l.milestone), p.from, p.to),
            })
        })
        .collect();
    view.render(
        "overview.html",
        &asker,
        "overview",
        json!({"lines": rows, "from": p.from, "to": p.to, "presets": presets(&view)}),
    )
}

pub async fn report_csv(
    State(view): State<Arc<View>>,
    headers: HeaderMap,
    peer: Peer,
    args: Args,
) -> Response {
    let asker = ask!(view, headers, peer);
    let Ok(p) = period(&view, &args) else {
        return bad_period(&view, &asker);
    };
    let user = asker.user.clone();
    let now = view.clock.unix();
    let (start, end) = (p.start, p.end);
    let csv = view
        .read(move |_, c| {
            let lines = report::figures(c, start, end, now, |d| user.sees(std::iter::once(d)))?;
            let mut out = Vec::new();
            report::write_csv(&lines, &mut out)?;
            Ok(out)
        })
        .await;
    match csv {
        Ok(bytes) => {
            let mut r = bytes.into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8; header=present"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!(
                "attachment; filename=\"switchboard-{}-{}.csv\"",
                p.from, p.to
            )) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            );
            r
        }
        Err(e) => view.internal(&asker, e),
    }
}

/// "3 h 20 min" of business time.
fn span(d: TimeDelta) -> String {
    let minutes = d.num_minutes().abs();
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

fn at(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or_default()
}

pub async fn at_risk(State(view): State<Arc<View>>, headers: HeaderMap, peer: Peer) -> Response {
    let asker = ask!(view, headers, peer);
    let user = asker.user.clone();
    let now = view.clock.unix();
    let rows = view
        .read(move |v, c| {
            let mut open = deadlines::all_open(c)?;
            open.retain(|d| user.sees(std::iter::once(d.department.as_str())));
            open.sort_by_key(|d| d.due_at);
            let mut rows = Vec::new();
            for d in open.iter().take(500) {
                let Some(case) = cases::get(c, d.case_id)? else {
                    continue;
                };
                let missed = d.state(now) == "missed";
                let left = if missed {
                    v.config.calendar.working_duration(at(d.due_at), at(now))
                } else {
                    v.config.calendar.working_duration(at(now), at(d.due_at))
                };
                rows.push(json!({
                    "due": local_time(&v.config, d.due_at),
                    "missed": missed,
                    "left": span(left),
                    "case": case.case,
                    "milestone": d.label,
                    "department_name": v.department_name(&d.department),
                    "priority": case.priority,
                    "subject": case.subject,
                }));
            }
            Ok(rows)
        })
        .await;
    match rows {
        Ok(rows) => view.render("at_risk.html", &asker, "at_risk", json!({"rows": rows})),
        Err(e) => view.internal(&asker, e),
    }
}

/// The newest cases a list shows; the page says how many matched in all.
const SHOWN_CASES: usize = 300;

pub async fn cases(
    State(view): State<Arc<View>>,
    headers: HeaderMap,
    peer: Peer,
    args: Args,
) -> Response {
    let asker = ask!(view, headers, peer);
    let user = asker.user.clone();
    let q = args
        .get("q")
        .map(|s| s.trim().to_lowercase())
        .unwrap_or_default();
    // From the overview's figures: the cases behind one cell.
    let department = args.get("department").cloned();
    let milestone = args.get("milestone").cloned();
    let state = args.get("state").cloned();
    let deadline_filter = department.is_some() || milestone.is_some() || state.is_some();
    let p = if deadline_filter {
        match period(&view, &args) {
            Ok(p) => Some(p),
            Err(_) => return bad_period(&view, &asker),
        }
    } else {
        None
    };
    let filter = [
        department.as_deref().map(|d| view.department_name(d)),
        milestone.clone(),
        state.clone(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ");
    let now = view.clock.unix();
    let span = p.as_ref().map(|p| (p.start, p.end));
    let listed = view
        .read(move |v, c| {
            let wanted: Option<BTreeSet<i64>> = match span {
                Some((start, end)) => Some(
                    deadlines::started_between(c, start, end)?
                        .into_iter()
                        .filter(|d| d.cancelled_at.is_none())
                        .filter(|d| department.as_ref().is_none_or(|x| &d.department == x))
                        .filter(|d| milestone.as_ref().is_none_or(|x| &d.label == x))
                        .filter(|d| {
                            state.as_ref().is_none_or(|s| {
                                let st = d.state(now);
                                st == s || (s == "missed" && st == "met late")
                            })
                        })
                        .map(|d| d.case_id)
                        .collect(),
                ),
                None => None,
            };
            // Matched in SQL as light rows, filtered by who asks, and only the
            // shown ones loaded whole.
            let mut found = cases::search(c, &q)?;
            found.retain(|f| user.sees(f.departments.iter().map(String::as_str)));
            found.retain(|f| wanted.as_ref().is_none_or(|w| w.contains(&f.id)));
            let total = found.len();
            let mut shown = Vec::new();
            for f in found.iter().take(SHOWN_CASES) {
                shown.extend(cases::get(c, f.id)?);
            }
            let rows: Vec<Value> = shown
                .iter()
                .map(|case| {
                    json!({
                        "case": case.case, "subject": case.subject, "sender": case.sender,
                        "sender_name": case.sender_name,
                        "department_name": v.department_name(&case.department),
                        "status": case.status, "priority": case.priority,
                        "opened": local_time(&v.config, case.opened_at),
                    })
                })
                .collect();
            Ok((rows, total))
        })
        .await;
    match listed {
        Ok((rows, total)) => view.render(
            "cases.html",
            &asker,
            "cases",
            json!({"cases": rows, "total": total, "q": args.get("q").cloned().unwrap_or_default(), "filter": filter}),
        ),
        Err(e) => view.internal(&asker, e),
    }
}

/// The business calendar between a deadline's start and the later of its due time
/// and now, as shaded spans (working / off), in quarter hours: why it fell where it
/// did. At most 2,000 steps; a longer deadline is drawn coarser.
fn hours(view: &View, from: i64, to: i64) -> Vec<Value> {
    if to <= from {
        return Vec::new();
    }
    let step = ((to - from) / 2000).max(900);
    let mut spans: Vec<(bool, i64)> = Vec::new();
    let mut t = from;
    while t < to {
        let working = view.config.calendar.is_working_time(at(t));
        let len = step.min(to - t);
        match spans.last_mut() {
            Some((w, n)) if *w == working => *n += len,
            _ => spans.push((working, len)),
        }
        t += step;
    }
    let total = (to - from) as f64;
    spans
        .into_iter()
        .map(|(w, n)| json!({"kind": if w { "work" } else { "off" }, "width": format!("{:.2}", n as f64 * 100.0 / total)}))
        .collect()
}

pub async fn case(
    State(view): State<Arc<View>>,
    headers: HeaderMap,
    peer: Peer,
    Path(number): Path<String>,
) -> Response {
    let asker = ask!(view, headers, peer);
    let now = view.clock.unix();
    let db = view.db.clone();
    let loaded = tokio::task::spawn_blocking(move || timeline::load(&db, &number, now)).await;
    let t = match loaded {
        Ok(Ok(t)) => t,
        // `load` says "No case …" for a number nobody has.
        Ok(Err(_)) => {
            return view.error(
                asker.lang,
                Some(&asker.user),
                StatusCode::NOT_FOUND,
                "not_found",
            );
        }
        Err(e) => return view.internal(&asker, e.into()),
    };
    if !asker.user.sees(t.case.departments()) {
        tracing::warn!(user = %asker.user.name, case = %t.case.case, "Web view refused another department's case");
        return view.error(
            asker.lang,
            Some(&asker.user),
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
    let time = |s: i64| local_time(&view.config, s);
    let deadlines: Vec<Value> = t
        .deadlines
        .iter()
        .map(|d| {
            let r = &d.row;
            let end = r.met_at.unwrap_or(now).max(r.due_at);
            json!({
                "state": d.state, "label": r.label,
                "started": time(r.started_at), "due": time(r.due_at),
                "done": r.met_at.map(time).unwrap_or_default(),
                "delay_reason": r.delay_reason,
                "hours": hours(&view, r.started_at, end),
            })
        })
        .collect();
    let timers: Vec<Value> = t
        .timers
        .iter()
        .filter(|x| x.kind != "survey" || x.fired_at.is_some())
        .map(|x| {
            let state = match (x.fired_at, x.cancelled_at) {
                (Some(f), _) => format!("{} {}", time(f), x.outcome.as_deref().unwrap_or("")),
                (None, Some(_)) => "cancelled".into(),
                (None, None) => "pending".into(),
            };
            let milestone = x
                .deadline_id
                .and_then(|id| t.deadlines.iter().find(|d| d.row.id == id))
                .map(|d| d.row.label.clone())
                .unwrap_or_default();
            json!({"kind": x.kind, "at": time(x.fire_at), "milestone": milestone, "state": state})
        })
        .collect();
    let messages: Vec<Value> = t
        .messages
        .iter()
        .map(|m| json!({"at": time(m.received_at), "outcome": m.outcome, "sender": m.sender, "subject": m.subject, "reason": m.reason}))
        .collect();
    let outgoing: Vec<Value> = t
        .outgoing
        .iter()
        .map(|o| json!({"at": time(o.created_at), "kind": o.kind, "status": o.status, "recipients": o.recipients}))
        .collect();
    let events: Vec<Value> = t
        .events
        .iter()
        .map(|e| json!({"at": time(e.at), "kind": e.kind, "detail": e.detail}))
        .collect();
    view.render(
        "case.html",
        &asker,
        "cases",
        json!({
            "c": t.case, "department_name": view.department_name(&t.case.department),
            "opened": time(t.case.opened_at), "deadlines": deadlines, "timers": timers,
            "messages": messages, "outgoing": outgoing, "events": events,
        }),
    )
}

pub const ANSWERS: [&str; 5] = [
    "very_satisfied",
    "satisfied",
    "neutral",
    "dissatisfied",
    "no_answer",
];

pub async fn satisfaction(
    State(view): State<Arc<View>>,
    headers: HeaderMap,
    peer: Peer,
    args: Args,
) -> Response {
    let asker = ask!(view, headers, peer);
    let Ok(p) = period(&view, &args) else {
        return bad_period(&view, &asker);
    };
    let user = asker.user.clone();
    let (start, end) = (p.start, p.end);
    let rows = view
        .read(move |v, c| {
            let mut by: BTreeMap<String, [usize; 5]> = BTreeMap::new();
            for case in cases::list(c)? {
                if case.opened_at < start || case.opened_at >= end || !user.sees(case.departments()) {
                    continue;
                }
                let Some(answer) = &case.satisfaction else { continue };
                let Some(i) = ANSWERS.iter().position(|a| a == answer) else { continue };
                if let Some(n) = by.entry(case.department.clone()).or_default().get_mut(i) {
                    *n += 1;
                }
            }
            Ok(by
                .into_iter()
                .map(|(d, counts)| json!({"department_name": v.department_name(&d), "counts": counts, "total": counts.iter().sum::<usize>()}))
                .collect::<Vec<_>>())
        })
        .await;
    match rows {
        Ok(rows) => view.render(
            "satisfaction.html",
            &asker,
            "satisfaction",
            json!({"rows": rows, "answers": ANSWERS, "from": p.from, "to": p.to, "presets": presets(&view)}),
        ),
        Err(e) => view.internal(&asker, e),
    }
}

pub async fn health(State(view): State<Arc<View>>, headers: HeaderMap, peer: Peer) -> Response {
    let asker = ask!(view, headers, peer);
    if asker.user.role != super::users::Role::Admin {
        return view.error(
            asker.lang,
            Some(&asker.user),
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
    let figures = view
        .read(|v, c| {
            let stats = outbox::stats(c)?;
            let oldest = super::metrics::oldest_waiting(c)?;
            let quarantined: i64 = c.query_row(
                "SELECT count(*) FROM messages WHERE outcome = 'quarantined'",
                [],
                |r| r.get(0),
            )?;
            let mailbox_ok = super::metrics::mailbox_last_success(c)?;
            let mut list = alerts::list(c)?;
            list.reverse();
            let alerts: Vec<Value> = list
                .iter()
                .take(10)
                .map(|a| json!({"at": local_time(&v.config, a.raised_at), "title": a.title, "detail": a.detail}))
                .collect();
            Ok(json!({
                "waiting": stats.pending, "failed": stats.failed,
                "oldest": oldest.map(|t| local_time(&v.config, t)),
                "quarantined": quarantined,
                "mailbox_ok": mailbox_ok.map(|t| local_time(&v.config, t)),
                "alerts": alerts,
            }))
        })
        .await;
    match figures {
        Ok(ctx) => view.render("health.html", &asker, "health", ctx),
        Err(e) => view.internal(&asker, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_compile_and_query_values_are_encoded() {
        if let Err(e) = templates() {
            panic!("{e:#}");
        }
        assert_eq!(query_value("初步 a&b"), "%E5%88%9D%E6%AD%A5%20a%26b");
        assert_eq!(span(TimeDelta::minutes(200)), "3 h 20 min");
    }
}
