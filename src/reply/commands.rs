//! Commands a department writes at the top of its reply to a case:
//!
//! ```text
//! Status: resolved
//! 优先级：紧急
//!
//! The customer gets a replacement on Monday.
//! ```
//!
//! A command is a `Key: value` line; keys are case-insensitive, English or Chinese
//! (状态, 优先级, 部门, 内部, 延期), and the full-width colon `：` counts. Blank lines
//! may come before the first command; the block ends at the first line that is not a
//! command, and everything from there on is the reply's text.
//!
//! The hard part is the first line of an ordinary reply: "Dear customer: …",
//! "您好:", "Hi John,", "Re: your question". Such a line must end the block quietly,
//! while a mistyped command ("Priorty: urgent", "Status: done") must be reported,
//! not relayed to the customer as text. So a line is an *attempted* command only if
//! its key is one word of ASCII letters or CJK ideographs, at most 20 characters,
//! and then:
//! - a known key is a command; a bad value is an error that lists what is valid;
//! - an unknown key is an error only if it is a near miss: an English key within
//!   edit distance 1 of a known key of up to 5 letters, or 2 of a longer one
//!   ("Priorty", "Stauts", "State"), or one of a fixed list of words people use for
//!   the same thing (`NEAR_MISSES`: "Prio", "Deadline", "优先", "推迟", …). Edit
//!   distance is not used on Chinese keys, where two characters differ from any
//!   other two-character word by at most 2 ("您好" from "部门");
//! - any other key ends the block: the line is text.
//!
//! Errors do not remove the commands that parsed; see [`Parsed`].

use crate::case::{Category, Priority, Status};

use super::quote::trim_quoted;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Never `Status::New`: a reply cannot put a case back to the start.
    Status(Status),
    Priority(Priority),
    /// The value as written, trimmed (an id like "logistics" or a name like
    /// "物流部"); the caller matches it against the configured departments.
    Department(String),
    /// `true`: the reply is internal and is not relayed to the customer.
    Internal(bool),
    /// The value as written, trimmed and not empty (a date, a reason, or both).
    Delay(String),
    /// `Hold: yes` / `Hold: no` (保全：是/否): a legal hold keeps the case from
    /// retention (src/records/hold.rs); only managers may give it.
    Hold(bool),
    /// `Category: supplier_dispute` (类别：供应商争议): the department corrects what
    /// the case is; recorded as a correction (src/intake/correction.rs).
    Category(Category),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    /// In the order written; at most one of each kind (a repeat with another value
    /// is an error and only the first counts).
    pub commands: Vec<Command>,
    /// One sentence per bad line, saying what was expected. The commands that did
    /// parse are still in `commands`: whether to apply them when there are errors is
    /// the caller's choice (the safe one is to apply none and answer with the errors).
    pub errors: Vec<String>,
    /// The rest of the body, without quoted history and signature, trimmed; lines
    /// end in `\n`.
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Status,
    Priority,
    Department,
    Internal,
    Delay,
    Hold,
    Category,
}

impl Key {
    const ALL: [Key; 7] = [
        Key::Status,
        Key::Priority,
        Key::Department,
        Key::Internal,
        Key::Delay,
        Key::Hold,
        Key::Category,
    ];

    /// The spellings accepted, lower-case; the first is the English name.
    fn names(self) -> &'static [&'static str] {
        match self {
            Key::Status => &["status", "状态"],
            Key::Priority => &["priority", "优先级"],
            Key::Department => &["department", "dept", "部门"],
            Key::Internal => &["internal", "内部"],
            Key::Delay => &["delay", "延期"],
            Key::Hold => &["hold", "保全"],
            Key::Category => &["category", "类别", "分类"],
        }
    }

    fn title(self) -> &'static str {
        match self {
            Key::Status => "Status",
            Key::Priority => "Priority",
            Key::Department => "Department",
            Key::Internal => "Internal",
            Key::Delay => "Delay",
            Key::Hold => "Hold",
            Key::Category => "Category",
        }
    }

    fn title_zh(self) -> &'static str {
        match self {
            Key::Status => "状态",
            Key::Priority => "优先级",
            Key::Department => "部门",
            Key::Internal => "内部",
            Key::Delay => "延期",
            Key::Hold => "保全",
            Key::Category => "类别",
        }
    }

    fn find(lower: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.names().contains(&lower))
    }

    fn expected(self) -> &'static str {
        match self {
            Key::Status => {
                "expected one of analysed, contacted, resolved, closed (已分析, 已联系, 已解决, 已关闭)"
            }
            Key::Priority => "expected one of urgent, important, normal (紧急, 重要, 一般)",
            Key::Department => "expected a department",
            Key::Internal => "expected one of yes, no, true, false (是, 否)",
            Key::Delay => "expected the new date or a reason",
            Key::Hold => "expected one of yes, no (是, 否)",
            Key::Category => {
                "expected one of complaint, supplier_dispute, collaboration_request, unclassified (客户投诉, 供应商争议, 跨部门协作申请, 待分类)"
            }
        }
    }

    fn parse_value(self, value: &str) -> Option<Command> {
        match self {
            Key::Status => Status::parse(value)
                .filter(|s| *s != Status::New)
                .map(Command::Status),
            Key::Priority => Priority::parse_command(value).map(Command::Priority),
            Key::Department => (!value.is_empty()).then(|| Command::Department(value.into())),
            Key::Internal => match value.to_lowercase().as_str() {
                "yes" | "true" | "是" => Some(Command::Internal(true)),
                "no" | "false" | "否" => Some(Command::Internal(false)),
                _ => None,
            },
            Key::Delay => (!value.is_empty()).then(|| Command::Delay(value.into())),
            Key::Hold => match value.to_lowercase().as_str() {
                "yes" | "true" | "是" => Some(Command::Hold(true)),
                "no" | "false" | "否" => Some(Command::Hold(false)),
                _ => None,
            },
            Key::Category => Category::parse_command(value).map(Command::Category),
        }
    }
}

/// Words that are not keys but are plainly meant as one.
const NEAR_MISSES: &[(&str, Key)] = &[
    ("state", Key::Status),
    ("状况", Key::Status),
    ("状態", Key::Status),
    ("prio", Key::Priority),
    ("urgency", Key::Priority),
    ("优先", Key::Priority),
    ("级别", Key::Priority),
    ("紧急程度", Key::Priority),
    ("assign", Key::Department),
    ("assignee", Key::Department),
    ("transfer", Key::Department),
    ("转交", Key::Department),
    ("转部门", Key::Department),
    ("private", Key::Internal),
    ("内部回复", Key::Internal),
    ("postpone", Key::Delay),
    ("deadline", Key::Delay),
    ("延迟", Key::Delay),
    ("推迟", Key::Delay),
];

enum Line {
    Command(Key, Command),
    Error(String),
    Text,
}

/// How many lines at the top of `body` are commands (or attempted ones, or blank
/// lines among them): the lines [`parse`] does not pass on as text.
pub fn command_lines(body: &str) -> usize {
    let mut n = 0;
    let mut started = false;
    for line in body.split_inclusive('\n') {
        let trimmed = line.trim().trim_start_matches('\u{feff}');
        if (started || !trimmed.is_empty()) && matches!(classify(trimmed), Line::Text) {
            break;
        }
        started |= !trimmed.is_empty();
        n += 1;
    }
    n
}

/// Commands at the top of `body`, and the text after them.
pub fn parse(body: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut rest = body.len();
    let mut offset = 0;
    let mut started = false;
    for line in body.split_inclusive('\n') {
        let here = offset;
        offset += line.len();
        let trimmed = line.trim().trim_start_matches('\u{feff}');
        if trimmed.is_empty() && !started {
            continue;
        }
        match classify(trimmed) {
            Line::Command(key, command) => add(&mut parsed, key, command, trimmed),
            Line::Error(error) => parsed.errors.push(error),
            Line::Text => {
                rest = here;
                break;
            }
        }
        started = true;
    }
    parsed.text = trim_quoted(body.get(rest..).unwrap_or_default());
    parsed
}

fn add(parsed: &mut Parsed, key: Key, command: Command, line: &str) {
    let earlier = parsed
        .commands
        .iter()
        .find(|c| std::mem::discriminant(*c) == std::mem::discriminant(&command));
    match earlier {
        None => parsed.commands.push(command),
        Some(same) if *same == command => {}
        Some(_) => parsed.errors.push(format!(
            "{}: given more than once; only the first counts, not \"{line}\"",
            key.title()
        )),
    }
}

fn classify(line: &str) -> Line {
    let Some(colon) = line.find([':', '：']) else {
        return Line::Text;
    };
    let (Some(key), Some(value)) = (line.get(..colon), line.get(colon..)) else {
        return Line::Text;
    };
    let key = key.trim();
    // Drop the colon itself (one or three bytes) and tidy the value.
    let value = value
        .trim_start_matches([':', '：'])
        .trim()
        .trim_end_matches(['.', '。', '!', '！', ';', '；', ',', '，'])
        .trim();
    if !is_key_shaped(key) {
        return Line::Text;
    }
    let lower = key.to_lowercase();
    if let Some(k) = Key::find(&lower) {
        return match k.parse_value(value) {
            Some(command) => Line::Command(k, command),
            None => Line::Error(format!("{key}: {}; found \"{value}\"", k.expected())),
        };
    }
    match near_miss(&lower) {
        Some(k) => Line::Error(format!(
            "Unknown command \"{key}\": did you mean {} ({})? Commands are {}",
            k.title(),
            k.title_zh(),
            known_commands()
        )),
        None => Line::Text,
    }
}

fn known_commands() -> String {
    let en: Vec<&str> = Key::ALL.iter().map(|k| k.title()).collect();
    let zh: Vec<&str> = Key::ALL.iter().map(|k| k.title_zh()).collect();
    format!("{} ({})", en.join(", "), zh.join(", "))
}

/// One word of ASCII letters or CJK ideographs, at most 20 characters.
fn is_key_shaped(key: &str) -> bool {
    let count = key.chars().count();
    (1..=20).contains(&count) && key.chars().all(|c| c.is_ascii_alphabetic() || is_cjk(c))
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}' | '\u{f900}'..='\u{faff}')
}

fn near_miss(lower: &str) -> Option<Key> {
    if let Some((_, k)) = NEAR_MISSES.iter().find(|(word, _)| *word == lower) {
        return Some(*k);
    }
    if !lower.is_ascii() {
        return None;
    }
    Key::ALL.into_iter().find(|k| {
        k.names().iter().filter(|name| name.is_ascii()).any(|name| {
            let allowed = if name.len() <= 5 { 1 } else { 2 };
            edit_distance(lower, name) <= allowed
        })
    })
}

/// Optimal string alignment distance: Levenshtein plus adjacent transpositions, so
/// "Stauts" is one slip from "Status", as a person would count it.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for i in 0..=a.len() {
        if let Some(cell) = d.get_mut(at(i, 0)) {
            *cell = i;
        }
    }
    for j in 0..=b.len() {
        if let Some(cell) = d.get_mut(at(0, j)) {
            *cell = j;
        }
    }
    let get = |d: &[usize], i: usize, j: usize| d.get(at(i, j)).copied().unwrap_or(usize::MAX / 2);
    for (i, ca) in a.iter().enumerate().map(|(i, c)| (i + 1, c)) {
        for (j, cb) in b.iter().enumerate().map(|(j, c)| (j + 1, c)) {
            let cost = usize::from(ca != cb);
            let mut best = (get(&d, i - 1, j) + 1)
                .min(get(&d, i, j - 1) + 1)
                .min(get(&d, i - 1, j - 1) + cost);
            if i > 1 && j > 1 && a.get(i - 1) == b.get(j - 2) && a.get(i - 2) == b.get(j - 1) {
                best = best.min(get(&d, i - 2, j - 2) + 1);
            }
            if let Some(cell) = d.get_mut(at(i, j)) {
                *cell = best;
            }
        }
    }
    get(&d, a.len(), b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands(body: &str) -> Vec<Command> {
        let parsed = parse(body);
        assert!(parsed.errors.is_empty(), "{body:?}: {:?}", parsed.errors);
        parsed.commands
    }

    #[test]
    fn a_category_is_corrected_in_english_or_chinese() {
        for (line, want) in [
            ("Category: supplier_dispute", Category::SupplierDispute),
            ("category: Supplier Dispute", Category::SupplierDispute),
            ("类别：供应商争议", Category::SupplierDispute),
            ("分类: 客户投诉", Category::Complaint),
            (
                "Category: collaboration-request",
                Category::CollaborationRequest,
            ),
            ("Category: unclassified", Category::Unclassified),
        ] {
            assert_eq!(
                commands(&format!("{line}\n\nText.")),
                vec![Command::Category(want)],
                "{line}"
            );
        }
        let parsed = parse("Category: complain\n\nText.");
        assert_eq!(
            parsed.errors,
            vec!["Category: expected one of complaint, supplier_dispute, collaboration_request, unclassified (客户投诉, 供应商争议, 跨部门协作申请, 待分类); found \"complain\"".to_string()]
        );
        // A slip of the key is caught as the other keys' are.
        assert!(parse("Categroy: complaint\n").errors[0].contains("did you mean Category"));
    }

    #[test]
    fn each_command_in_english_and_chinese() {
        let table: &[(&str, Command)] = &[
            ("Status: resolved", Command::Status(Status::Resolved)),
            ("status:analysed", Command::Status(Status::Analysed)),
            ("STATUS: Analyzed", Command::Status(Status::Analysed)),
            ("状态：已解决", Command::Status(Status::Resolved)),
            ("状态: 已联系客户", Command::Status(Status::Contacted)),
            ("状态：关闭。", Command::Status(Status::Closed)),
            ("Priority: Urgent", Command::Priority(Priority::Urgent)),
            ("优先级：重要", Command::Priority(Priority::Important)),
            (
                "Department: logistics",
                Command::Department("logistics".into()),
            ),
            ("Dept: quality", Command::Department("quality".into())),
            ("部门：物流部", Command::Department("物流部".into())),
            ("Internal: yes", Command::Internal(true)),
            ("internal: FALSE", Command::Internal(false)),
            ("内部：是", Command::Internal(true)),
            ("内部: 否", Command::Internal(false)),
            (
                "Delay: 2026-12-15, waiting for parts",
                Command::Delay("2026-12-15, waiting for parts".into()),
            ),
            ("延期：12月15日", Command::Delay("12月15日".into())),
        ];
        for (line, want) in table {
            assert_eq!(commands(line), vec![want.clone()], "{line}");
        }
    }

    #[test]
    fn the_block_ends_at_the_first_other_line() {
        let body = "\n\r\nStatus: resolved\r\nPriority: normal\r\n\r\nThe cable was loose.\r\nStatus: closed\r\n";
        let parsed = parse(body);
        assert_eq!(
            parsed.commands,
            vec![
                Command::Status(Status::Resolved),
                Command::Priority(Priority::Normal)
            ]
        );
        assert!(parsed.errors.is_empty());
        assert_eq!(parsed.text, "The cable was loose.\nStatus: closed");
    }

    #[test]
    fn text_loses_quoted_history() {
        let body = "状态：已分析\n原因：包装破损，已安排补发。\n\n在 2026年11月27日 10:02, 客服中心 写道:\n> 请分析原因。\n";
        let parsed = parse(body);
        assert_eq!(parsed.commands, vec![Command::Status(Status::Analysed)]);
        assert!(parsed.errors.is_empty());
        assert_eq!(parsed.text, "原因：包装破损，已安排补发。");
    }

    #[test]
    fn ordinary_first_lines_are_text() {
        let lines = [
            "Dear customer: thank you for waiting.",
            "您好:",
            "您好：感谢您的耐心等待。",
            "Hi John,",
            "Re: the broken printer",
            "Note: the courier came at 5.",
            "Date: tomorrow",
            "Dear: see below",
            "Update: parts ordered",
            "原因：包装破损",
            "https://example.com/track?id=1",
            "Order 12345: shipped",
            "10:30 we called the customer",
        ];
        for line in lines {
            let parsed = parse(line);
            assert_eq!(parsed.commands, vec![], "{line}");
            assert_eq!(parsed.errors, Vec::<String>::new(), "{line}");
            assert_eq!(parsed.text, line, "{line}");
        }
    }

    #[test]
    fn bad_values_say_what_is_valid() {
        let table = [
            (
                "Status: done",
                "Status: expected one of analysed, contacted, resolved, closed (已分析, 已联系, 已解决, 已关闭); found \"done\"",
            ),
            (
                "Status: new",
                "Status: expected one of analysed, contacted, resolved, closed (已分析, 已联系, 已解决, 已关闭); found \"new\"",
            ),
            (
                "状态：完成",
                "状态: expected one of analysed, contacted, resolved, closed (已分析, 已联系, 已解决, 已关闭); found \"完成\"",
            ),
            (
                "Priority: high",
                "Priority: expected one of urgent, important, normal (紧急, 重要, 一般); found \"high\"",
            ),
            (
                "Internal: maybe",
                "Internal: expected one of yes, no, true, false (是, 否); found \"maybe\"",
            ),
            (
                "Department:",
                "Department: expected a department; found \"\"",
            ),
            (
                "延期：",
                "延期: expected the new date or a reason; found \"\"",
            ),
        ];
        for (line, want) in table {
            let parsed = parse(&format!("{line}\nSee above."));
            assert_eq!(parsed.errors, vec![want.to_string()], "{line}");
            assert!(parsed.commands.is_empty(), "{line}");
            assert_eq!(parsed.text, "See above.", "{line}");
        }
    }

    #[test]
    fn near_miss_keys_are_errors() {
        for (line, meant) in [
            ("Priorty: urgent", "Priority"),
            ("Stauts: resolved", "Status"),
            ("State: resolved", "Status"),
            ("Departmnet: logistics", "Department"),
            ("Intrenal: yes", "Internal"),
            ("Delya: next week", "Delay"),
            ("Prio: urgent", "Priority"),
            ("Deadline: 2026-12-15", "Delay"),
            ("优先：紧急", "Priority"),
            ("推迟：下周", "Delay"),
            ("状况：已解决", "Status"),
        ] {
            let parsed = parse(&format!("Status: contacted\n{line}\nText."));
            assert_eq!(
                parsed.commands,
                vec![Command::Status(Status::Contacted)],
                "{line}"
            );
            assert_eq!(parsed.errors.len(), 1, "{line}");
            let error = &parsed.errors[0];
            assert!(
                error.contains(&format!("did you mean {meant}")),
                "{line}: {error}"
            );
            assert!(
                error.contains("Status, Priority, Department, Internal, Delay"),
                "{error}"
            );
            assert_eq!(parsed.text, "Text.", "{line}");
        }
    }

    #[test]
    fn an_error_keeps_the_other_commands() {
        let parsed = parse("Status: resolved\nPriorty: urgent\nInternal: yes\n\nDone.");
        assert_eq!(
            parsed.commands,
            vec![Command::Status(Status::Resolved), Command::Internal(true)]
        );
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(parsed.text, "Done.");
    }

    #[test]
    fn a_repeated_command_counts_once() {
        let parsed = parse("Status: resolved\nStatus: resolved\nStatus: closed\nok");
        assert_eq!(parsed.commands, vec![Command::Status(Status::Resolved)]);
        assert_eq!(
            parsed.errors,
            vec!["Status: given more than once; only the first counts, not \"Status: closed\""]
        );
        assert_eq!(parsed.text, "ok");
    }

    #[test]
    fn only_commands_or_nothing() {
        let parsed = parse("\u{feff}Status: closed\n");
        assert_eq!(parsed.commands, vec![Command::Status(Status::Closed)]);
        assert_eq!(parsed.text, "");
        assert_eq!(parse(""), Parsed::default());
        assert_eq!(parse("\n\n  \n"), Parsed::default());
    }

    #[test]
    fn a_legal_hold_is_set_and_lifted_in_either_language() {
        assert_eq!(commands("Hold: yes\n"), vec![Command::Hold(true)]);
        assert_eq!(commands("保全：否。\n"), vec![Command::Hold(false)]);
        let parsed = parse("Hold: forever\n");
        assert_eq!(
            parsed.errors,
            vec!["Hold: expected one of yes, no (是, 否); found \"forever\""]
        );
        let parsed = parse("Hodl: yes\n");
        assert!(
            parsed.errors[0].contains("did you mean Hold (保全)"),
            "{:?}",
            parsed.errors
        );
    }

    #[test]
    fn edit_distances() {
        for (a, b, want) in [
            ("priorty", "priority", 1),
            ("stauts", "status", 1),
            ("state", "status", 2),
            ("dear", "delay", 2),
            ("date", "delay", 4),
            ("", "abc", 3),
            ("abc", "abc", 0),
        ] {
            assert_eq!(edit_distance(a, b), want, "{a} {b}");
        }
    }
}
