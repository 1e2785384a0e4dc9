//! Finding the department a collaboration request names (`department = "named"`).
//!
//! The handbook (内部沟通 · 步骤2) has the initiating department copy the request form
//! to the heads of the cooperating departments, so a department address in To/Cc is
//! the strongest sign (of several, the one the text asks for — "请质量部派…" — else
//! the first). Failing that, the first department the subject names, then the first
//! the body names. The sender's own department is never the answer: it is
//! the one asking. It is known by the sender's address, by its name in the sender's
//! display name ("市场部 张三"), by the signature at the end of the body ("陈静 市场部",
//! "Emily Zhang / R&D"), or by how the mail speaks of it ("市场部发起…", "我们市场部…").

use aho_corasick::AhoCorasick;

use super::{Context, DepartmentRef};
use crate::message::Message;

/// Words after a department name that make it the initiator, not the one asked.
const INITIATOR_AFTER: &[&str] = &["发起", "牵头", "主导"];
/// Words before a department name that make it the sender's own.
const INITIATOR_BEFORE: &[&str] = &["我们", "我", "本"];
/// How many lines at the end of the body may be a signature.
const SIGNATURE_LINES: usize = 3;
/// A signature line is short and is not a sentence.
const SIGNATURE_MAX_CHARS: usize = 30;
const SENTENCE_MARKS: &[char] = &[
    '。', '，', ',', '.', '!', '?', '！', '？', '：', ':', '；', ';',
];
const REQUEST_MARKS: &[&str] = &["请", "請", "需要", "please", "need", "could", "can "];
/// Words just before a department name that make it the one asked.
const ASK_MARKS: &[&str] = &[
    "请",
    "請",
    "需要",
    "需",
    "麻烦",
    "麻煩",
    "烦请",
    "煩請",
    "希望",
    "please",
    "need",
    "ask",
    "could",
    "can ",
    "would",
    "'d like",
    "’d like",
];
/// Words that make a short first line a greeting: anywhere in it (Chinese), or at
/// its start (English).
const GREETING_WORDS: &[&str] = &["你好", "您好", "各位", "同事"];
const GREETING_OPENERS: &[&str] = &["hi ", "hello", "dear "];
/// How far before a name a request word may stand.
const ASK_WINDOW_CHARS: usize = 12;
/// Lines where a quoted earlier message starts; names below them are history.
const QUOTE_MARKERS: &[&str] = &[
    "-----original message-----",
    "-----原始邮件-----",
    "----- 原始邮件 -----",
    "-----邮件原件-----",
    "________________________________",
];

/// The names the rules' `[departments]` vocabulary adds, per department id, with one
/// automaton over all of them: a hundred and more names looked for one by one in
/// every request's body made classification three times slower (the benchmark,
/// 2 December 2026), so subject and body are read once for all of them.
#[derive(Debug, Default)]
pub(crate) struct Extra {
    finder: Option<AhoCorasick>,
    /// The department id and name of each pattern of `finder`.
    patterns: Vec<(String, String)>,
}

impl Extra {
    /// `names` are lower-case already (the loader lower-cases them).
    pub(crate) fn new(names: Vec<(String, Vec<String>)>) -> Result<Extra, String> {
        let patterns: Vec<(String, String)> = names
            .iter()
            .flat_map(|(id, list)| list.iter().map(move |n| (id.clone(), n.clone())))
            .collect();
        let finder = if patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::new(patterns.iter().map(|(_, n)| n.as_str()))
                    .map_err(|e| format!("department names: {e}"))?,
            )
        };
        Ok(Extra { finder, patterns })
    }

    /// Every place in `text` (lower-cased) where a vocabulary name stands as a name:
    /// (start, end, department id).
    fn hits<'a>(&'a self, text: &str) -> Vec<(usize, usize, &'a str)> {
        let Some(finder) = &self.finder else {
            return Vec::new();
        };
        finder
            .find_overlapping_iter(text)
            .filter_map(|m| {
                let (id, name) = self.patterns.get(m.pattern().as_usize())?;
                is_name_at(text, m.start(), name).then_some((m.start(), m.end(), id.as_str()))
            })
            .collect()
    }
}

/// Every department the message asks, but the sender's own, the one
/// `department = "named"` picks first: the one the text asks outright of those it
/// copies in To/Cc (or of all, when it asks none of those), then the others it
/// copies, then those it names, in order. A collaboration request usually asks
/// several ("需设计部完成海报，销售部提供渠道清单").
pub(crate) fn asked(msg: &Message, ctx: &Context<'_>, extra: &Extra) -> Vec<String> {
    let deps = ctx.departments;
    let sender_name = msg.from.name.as_deref().unwrap_or("").to_lowercase();
    let by_address: Vec<bool> = deps
        .iter()
        .map(|d| !d.address.is_empty() && d.address.eq_ignore_ascii_case(&msg.from.email))
        .collect();
    let mut own: Vec<bool> = deps
        .iter()
        .zip(&by_address)
        .map(|(d, &address)| address || names(&sender_name, d, extra))
        .collect();

    let subject = msg.subject.to_lowercase();
    let body = unquoted(&msg.body).to_lowercase();
    for line in signature(&body) {
        for (d, o) in deps.iter().zip(own.iter_mut()) {
            if names(line, d, extra) {
                *o = true;
            }
        }
    }
    // A display name or a signature only suggests the sender's department, and one
    // id covers several real ones (人力资源部 and 行政部 are both admin; a branch's
    // 行銷企劃 asks headquarters' 品牌部, both marketing): a department the mail greets
    // on its first line or asks outright is the one asked all the same. Only the
    // department's own address makes it the sender beyond doubt.
    let greeting = greeting_line(&body);
    for ((d, o), &address) in deps.iter().zip(own.iter_mut()).zip(&by_address) {
        if *o
            && !address
            && (greeting.is_some_and(|line| names(line, d, extra))
                || asked_at(&subject, d, extra).is_some()
                || asked_at(&body, d, extra).is_some())
        {
            *o = false;
        }
    }

    // Departments addressed in To/Cc, in that order. When there are several (the
    // sender often copies its own department too), the one the text asks for.
    let mut addressed: Vec<usize> = Vec::new();
    for addr in msg.to.iter().chain(&msg.cc) {
        let found = deps
            .iter()
            .position(|d| !d.address.is_empty() && d.address.eq_ignore_ascii_case(&addr.email));
        if let Some(i) = found
            && !own.get(i).copied().unwrap_or(true)
            && !addressed.contains(&i)
        {
            addressed.push(i);
        }
    }
    // Where the text asks a department outright: the subject first, then the body.
    let asked_where = |i: usize| {
        let d = deps.get(i)?;
        [subject.as_str(), body.as_str()]
            .iter()
            .enumerate()
            .find_map(|(t, text)| asked_at(text, d, extra).map(|at| (t, at)))
    };
    let first_asked = |candidates: &mut dyn Iterator<Item = usize>| {
        candidates
            .filter_map(|i| asked_where(i).map(|at| (at, i)))
            .min()
            .map(|(_, i)| i)
    };
    // Of the departments copied, the one the text asks leads. When the text asks none
    // of them, they are copied out of courtesy, and a department the text asks
    // outright leads instead ("麻烦品管部帮忙分析" with production in Cc).
    // Before all of them, a department the mail greets on its first line: it is the
    // one the mail is written to ("储运部各位同事好：", "Hi Accounts team,"), whoever
    // else it copies or mentions on the way.
    let greeted = greeting.and_then(|line| {
        (0..deps.len())
            .filter(|&i| !own.get(i).copied().unwrap_or(true))
            .filter_map(|i| Some((named_at(line, deps.get(i)?, extra)?, i)))
            .min()
            .map(|(_, i)| i)
    });
    let lead = greeted
        .or_else(|| first_asked(&mut addressed.iter().copied()))
        .or_else(|| {
            let not_own = |&i: &usize| !own.get(i).copied().unwrap_or(true);
            (!addressed.is_empty())
                .then(|| first_asked(&mut (0..deps.len()).filter(not_own)))
                .flatten()
        });
    let mut asked: Vec<usize> = lead.into_iter().collect();
    asked.extend(addressed);
    for text in [subject.as_str(), body.as_str()] {
        asked.extend(mentions(text, deps, extra, &mut own));
    }
    let mut ids: Vec<String> = Vec::new();
    for i in asked {
        if let Some(d) = deps.get(i)
            && !ids.contains(&d.id)
        {
            ids.push(d.id.clone());
        }
    }
    ids
}

/// The body's first line if it is a greeting to someone: short, and ending with a
/// colon or comma or holding a greeting word ("品牌部 各位好：", "Hi Planning team,").
fn greeting_line(body: &str) -> Option<&str> {
    let line = body.lines().map(str::trim).find(|l| !l.is_empty())?;
    (line.chars().count() <= SIGNATURE_MAX_CHARS
        && (line.ends_with(['：', ':', '，', ','])
            || GREETING_WORDS.iter().any(|w| line.contains(w))
            || GREETING_OPENERS.iter().any(|w| line.starts_with(w))))
    .then_some(line)
}

/// Whether `line` (lower-cased: a display name, a signature or a greeting line) names
/// the department, by the config's names or the rules' vocabulary.
fn names(line: &str, d: &DepartmentRef, extra: &Extra) -> bool {
    named_at(line, d, extra).is_some()
}

/// Where in `line` (lower-cased) the department is first named.
fn named_at(line: &str, d: &DepartmentRef, extra: &Extra) -> Option<usize> {
    let listed = extra
        .hits(line)
        .into_iter()
        .filter(|&(_, _, id)| id == d.id)
        .map(|(start, _, _)| start);
    let configured = d
        .names
        .iter()
        .filter_map(|n| find_name(line, &n.trim().to_lowercase(), 0));
    listed.chain(configured).min()
}

/// Where in `text` (lower-cased) the department is first named right after a request
/// word ("请质量部派…", "we need design to…").
fn asked_at(text: &str, d: &DepartmentRef, extra: &Extra) -> Option<usize> {
    let asked_here = |start: usize| -> bool {
        let Some(before) = text.get(..start) else {
            return false;
        };
        let window_start = before
            .char_indices()
            .rev()
            .nth(ASK_WINDOW_CHARS - 1)
            .map_or(0, |(i, _)| i);
        before
            .get(window_start..)
            .is_some_and(|b| ASK_MARKS.iter().any(|m| b.contains(m)))
    };
    let configured = d
        .names
        .iter()
        .filter_map(|n| {
            let name = n.trim().to_lowercase();
            let mut from = 0;
            while let Some(start) = find_name(text, &name, from) {
                if asked_here(start) {
                    return Some(start);
                }
                from = start + name.len();
            }
            None
        })
        .min();
    let listed = extra
        .hits(text)
        .into_iter()
        .filter(|&(start, _, id)| id == d.id && asked_here(start))
        .map(|(start, _, _)| start)
        .min();
    configured.into_iter().chain(listed).min()
}

/// The index of the earliest department mentioned in `text` (lower-cased) that is not
/// the sender's own; mentions that show a department to be the initiator mark it as
/// the sender's own from then on. Every such department, in order of first mention.
fn mentions(text: &str, deps: &[DepartmentRef], extra: &Extra, own: &mut [bool]) -> Vec<usize> {
    let mut mentions: Vec<(usize, usize, usize)> = Vec::new(); // (start, end, department)
    for (start, end, id) in extra.hits(text) {
        if let Some(i) = deps.iter().position(|d| d.id == id) {
            mentions.push((start, end, i));
        }
    }
    for (i, d) in deps.iter().enumerate() {
        for name in &d.names {
            let name = name.trim().to_lowercase();
            let mut from = 0;
            while let Some(start) = find_name(text, &name, from) {
                mentions.push((start, start + name.len(), i));
                from = start + name.len();
            }
        }
    }
    // Earliest first; at the same place the longer name (物流部 over 物流).
    mentions.sort_by_key(|&(start, end, _)| (start, usize::MAX - end));
    for &(start, end, i) in &mentions {
        let before = text.get(..start).unwrap_or("");
        let after = text.get(end..).unwrap_or("");
        if (INITIATOR_AFTER.iter().any(|w| after.starts_with(w))
            || INITIATOR_BEFORE.iter().any(|w| before.ends_with(w)))
            && let Some(o) = own.get_mut(i)
        {
            *o = true;
        }
    }
    mentions
        .iter()
        .map(|&(_, _, i)| i)
        .filter(|&i| !own.get(i).copied().unwrap_or(true))
        .collect()
}

/// The first place at or after `from` where `name` occurs in `text` as a name: an
/// English name only as whole words, a Chinese one anywhere.
fn find_name(text: &str, name: &str, from: usize) -> Option<usize> {
    if name.is_empty() {
        return None;
    }
    let needs_left = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let needs_right = name
        .chars()
        .next_back()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let mut at = from;
    while let Some(rest) = text.get(at..) {
        let pos = at + rest.find(name)?;
        if bounded(text, pos, pos + name.len(), needs_left, needs_right) {
            return Some(pos);
        }
        // Step past the first character of this occurrence.
        at = pos + text.get(pos..)?.chars().next()?.len_utf8();
    }
    None
}

/// Whether `name`, found at `start` in `text`, stands there as a name: an English
/// name only as whole words.
fn is_name_at(text: &str, start: usize, name: &str) -> bool {
    let needs_left = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let needs_right = name
        .chars()
        .next_back()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    bounded(text, start, start + name.len(), needs_left, needs_right)
}

fn bounded(text: &str, start: usize, end: usize, left: bool, right: bool) -> bool {
    let left_ok = !left
        || !text
            .get(..start)
            .and_then(|b| b.chars().next_back())
            .is_some_and(|c| c.is_ascii_alphanumeric());
    let right_ok = !right
        || !text
            .get(end..)
            .and_then(|a| a.chars().next())
            .is_some_and(|c| c.is_ascii_alphanumeric());
    left_ok && right_ok
}

/// The last few lines of the body that look like a signature: short, not a
/// sentence, not a request ("陈静 市场部", "R&D", "Operations, BigClient" is not:
/// it has a comma).
fn signature(body: &str) -> impl Iterator<Item = &str> {
    body.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .rev()
        .take(SIGNATURE_LINES)
        .filter(|l| {
            l.chars().count() <= SIGNATURE_MAX_CHARS
                && !l.contains(SENTENCE_MARKS)
                && !REQUEST_MARKS.iter().any(|m| l.contains(m))
        })
}

/// The body down to the first quoted earlier message, without `>` lines.
fn unquoted(body: &str) -> String {
    let mut out = String::with_capacity(body.len().min(16 * 1024));
    for line in body.lines() {
        let t = line.trim();
        let lower = t.to_lowercase();
        if QUOTE_MARKERS.iter().any(|m| lower.starts_with(m))
            || (lower.starts_with("on ") && lower.ends_with("wrote:"))
            || (lower.starts_with("在 ") && lower.ends_with("写道："))
        {
            break;
        }
        if t.starts_with('>') {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn deps() -> Vec<DepartmentRef> {
        [
            ("marketing", "市场部", "Marketing"),
            ("design", "设计部", "Design"),
            ("sales", "销售部", "Sales"),
            ("logistics", "物流部", "Logistics"),
            ("admin", "行政部", "Admin"),
        ]
        .into_iter()
        .map(|(id, zh, en)| DepartmentRef {
            id: id.into(),
            address: format!("{id}@example.com"),
            names: vec![zh.into(), en.into()],
        })
        .collect()
    }

    fn named_in(raw: &str) -> Option<String> {
        let deps = deps();
        let internal = vec!["example.com".to_string()];
        let ctx = Context {
            departments: &deps,
            internal_domains: &internal,
            vip_customers: &[],
            suppliers: &[],
            parties: &crate::rules::NO_PARTIES,
            history: None,
            triage_department: "admin",
        };
        asked(
            &Message::parse(raw.as_bytes()).unwrap(),
            &ctx,
            &Extra::default(),
        )
        .into_iter()
        .next()
    }

    #[test]
    fn a_department_in_cc_comes_first() {
        let raw = "From: marketing@example.com\r\nTo: support@example.com\r\nCc: marketing@example.com, design@example.com\r\nSubject: 推广项目\r\n\r\n销售部和物流部也会参加";
        assert_eq!(named_in(raw).as_deref(), Some("design"));
    }

    #[test]
    fn a_department_asked_outright_comes_before_one_copied_out_of_courtesy() {
        let raw = "From: marketing@example.com\r\nTo: support@example.com\r\nCc: marketing@example.com, design@example.com\r\nSubject: 请销售部支持\r\n\r\n需要物流部配合";
        assert_eq!(named_in(raw).as_deref(), Some("sales"));
        let raw = "From: bob@example.com\r\nTo: support@example.com\r\nCc: sales@example.com\r\nSubject: returns\r\n\r\nCould you ask Logistics to collect the returns? Sales, for your information.";
        assert_eq!(named_in(raw).as_deref(), Some("logistics"));
        // A copied department the text asks too keeps the lead.
        let raw = "From: bob@example.com\r\nTo: support@example.com\r\nCc: design@example.com\r\nSubject: 请设计部出图\r\n\r\n另请销售部确认报价";
        assert_eq!(named_in(raw).as_deref(), Some("design"));
    }

    #[test]
    fn the_department_the_mail_greets_is_the_one_it_is_written_to() {
        // Marketing is copied and pays; the mail is to logistics.
        let raw = "From: bob@example.com\r\nTo: support@example.com\r\nCc: marketing@example.com\r\nSubject: 展会样机运输\r\n\r\n物流部各位同事好：\r\n\r\n请安排车辆，费用走市场部预算。";
        assert_eq!(named_in(raw).as_deref(), Some("logistics"));
        let raw = "From: bob@example.com\r\nTo: support@example.com\r\nCc: sales@example.com\r\nSubject: proforma today\r\n\r\nHi Design team,\r\n\r\nSales needs the artwork today; could you send it?";
        assert_eq!(named_in(raw).as_deref(), Some("design"));
        // A greeting to a person names no department: the rest decides.
        let raw = "From: bob@example.com\r\nTo: support@example.com\r\nCc: sales@example.com\r\nSubject: pilot\r\n\r\nHi Li Na,\r\n\r\nWe'd like Logistics to book the truck.";
        assert_eq!(named_in(raw).as_deref(), Some("logistics"));
    }

    #[test]
    fn of_several_addressed_departments_the_one_asked() {
        let raw = "From: bob@example.com\r\nTo: support@example.com\r\nCc: sales@example.com, logistics@example.com\r\nSubject: 验收\r\n\r\n销售部的项目已完成，请物流部安排运输。";
        assert_eq!(named_in(raw).as_deref(), Some("logistics"));
        let raw = "From: bob@example.com\r\nTo: support@example.com\r\nCc: sales@example.com, logistics@example.com\r\nSubject: x\r\n\r\nhello";
        assert_eq!(named_in(raw).as_deref(), Some("sales"));
    }

    #[test]
    fn the_subject_before_the_body_and_never_the_sender() {
        let raw =
            "From: marketing@example.com\r\nSubject: 市场部：请销售部支持\r\n\r\n需要物流部配合";
        assert_eq!(named_in(raw).as_deref(), Some("sales"));
    }

    #[test]
    fn the_earliest_mention_in_the_body() {
        let raw = "From: =?UTF-8?B?5byg5LiJ?= <zhangsan@example.com>\r\nSubject: 协作申请\r\n\r\n市场部发起季度推广项目，需设计部完成海报，销售部提供渠道清单。";
        assert_eq!(named_in(raw).as_deref(), Some("design"));
    }

    #[test]
    fn english_names_are_whole_words() {
        let raw =
            "From: bob@example.com\r\nSubject: help\r\n\r\nOur redesign needs the Sales team.";
        assert_eq!(named_in(raw).as_deref(), Some("sales"));
    }

    #[test]
    fn the_sender_display_name_marks_its_department() {
        let raw = "From: =?UTF-8?B?5biC5Zy66YOoIOeOi+S6lA==?= <wangwu@example.com>\r\nSubject: 市场部推广项目\r\n\r\n请物流部安排。";
        assert_eq!(named_in(raw).as_deref(), Some("logistics"));
    }

    #[test]
    fn the_signature_marks_the_sender_department() {
        let raw = "From: Emily <emily@example.com>\r\nSubject: kick-off\r\n\r\nMarketing is starting a project. We need Design to help.\r\n\r\nEmily\r\nMarketing\r\n";
        assert_eq!(named_in(raw).as_deref(), Some("design"));
        // A closing request is not a signature.
        let raw = "From: bob@example.com\r\nSubject: x\r\n\r\n项目计划见附件\r\n请设计部确认\r\n";
        assert_eq!(named_in(raw).as_deref(), Some("design"));
    }

    #[test]
    fn quoted_history_is_not_read() {
        let raw = "From: bob@example.com\r\nSubject: help\r\n\r\nCan someone help?\r\n> Design said no\r\n-----Original Message-----\r\nLogistics";
        assert_eq!(named_in(raw), None);
    }
}
