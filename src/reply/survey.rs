//! A customer's answer to the satisfaction survey (客户满意度回访).
//!
//! The survey mail offers four answers, by number or by word: 1 非常满意 very
//! satisfied, 2 满意 satisfied, 3 一般 neutral, 4 不满意 dissatisfied. People answer
//! "2", "１", "1.", "4 - dissatisfied", "满意，谢谢", "我对处理结果非常满意",
//! "Satisfied, thanks", or write about something else entirely.
//!
//! The rule: look at the first [`LINES`] non-empty lines the customer wrote (quoted
//! history removed) and collect every answer they state. Exactly one distinct answer
//! is the answer; none, or two different ones ("1 满意", or the whole option list
//! pasted back), is `None`, and a person reads the mail. A wrong guess would close a
//! case as satisfied or escalate a happy customer, so anything unclear is `None`:
//! - a digit counts only at the start of a line, alone or followed by punctuation
//!   and an option word or thanks ("2 weeks late" is not an answer);
//! - the longest word wins where words nest (不满意 and 非常满意 contain 满意;
//!   dissatisfied contains satisfied), and "not satisfied" is dissatisfied;
//! - 满意 or "satisfied" after a degree word other than 非常/very ("很满意",
//!   "不太满意", "quite satisfied", "not very satisfied") is unclear, since it sits
//!   between two options; so is a negated dissatisfaction ("没有不满意");
//! - 一般 followed by more words is the adverb "generally" ("一般来说"), not neutral.
//!
//! So "I am not happy with the delivery, when will it arrive?" is `None`: it names
//! no option, and unhappiness with a delivery is not an answer to this survey.

use crate::case::Satisfaction;

use super::quote::trim_quoted;

/// How many non-empty lines to read: a greeting, a sentence of thanks, the answer.
pub const LINES: usize = 4;

/// The one answer the customer gave, if exactly one.
pub fn parse_answer(text: &str) -> Option<Satisfaction> {
    let written = trim_quoted(text);
    let mut found: Option<Satisfaction> = None;
    for line in written
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(LINES)
    {
        for answer in line_answers(line)? {
            match found {
                Some(earlier) if earlier != answer => return None,
                _ => found = Some(answer),
            }
        }
    }
    found
}

/// The answers stated on one line; `None` when the line makes the whole reply unclear.
fn line_answers(line: &str) -> Option<Vec<Satisfaction>> {
    let (digit, rest) = match leading_digit(line) {
        Some((digit, rest)) => (Some(digit), rest),
        None => (None, line),
    };
    let mut answers = word_answers(rest)?;
    if let Some(digit) = digit {
        // "1. 非常满意" and "1，谢谢" are answers; "1. The parts came late" is a list.
        if answers.is_empty() && !is_filler(rest) {
            return Some(Vec::new());
        }
        answers.push(digit);
    }
    Some(answers)
}

/// A 1–4 opening the line ("1", "１", "①", "(2)", "3.", "4 -"), and what follows it.
fn leading_digit(line: &str) -> Option<(Satisfaction, &str)> {
    let line = line.trim_start_matches(['(', '（', '[', '【']);
    let mut chars = line.char_indices();
    let (_, c) = chars.next()?;
    let digit = match c {
        '1' | '１' | '①' => 1,
        '2' | '２' | '②' => 2,
        '3' | '３' | '③' => 3,
        '4' | '４' | '④' => 4,
        _ => return None,
    };
    let rest = match chars.next() {
        None => "",
        Some((at, next)) => {
            let separator = next.is_whitespace() || ".、)）]】:：-–—,，。!！".contains(next);
            if !separator {
                return None;
            }
            line.get(at..).unwrap_or_default()
        }
    };
    let rest = rest
        .trim_start_matches(|c: char| c.is_whitespace() || ".、)）]】:：-–—,，。!！".contains(c));
    Some((Satisfaction::from_digit(digit)?, rest))
}

/// Punctuation and thanks only.
fn is_filler(rest: &str) -> bool {
    let mut rest = rest.to_lowercase();
    for word in ["thank you", "thanks", "谢谢", "感谢", "多谢", "谢谢您"] {
        rest = rest.replace(word, "");
    }
    rest.chars()
        .all(|c| c.is_whitespace() || c.is_ascii_punctuation() || "，。！、；：～".contains(c))
}

fn word_answers(line: &str) -> Option<Vec<Satisfaction>> {
    let mut answers = chinese_answers(line)?;
    answers.extend(english_answers(line)?);
    Some(answers)
}

/// Degree words that put a 满意 between two options.
const ZH_HEDGES: &[&str] = &[
    "很",
    "太",
    "较",
    "挺",
    "算",
    "蛮",
    "十分",
    "特别",
    "比较",
    "还",
    "基本",
    "不是",
    "不大",
    "不太",
    "不怎么",
    "有点",
    "有些",
    "更",
];

fn chinese_answers(line: &str) -> Option<Vec<Satisfaction>> {
    let mut answers = Vec::new();
    let mut from = 0;
    while let Some(found) = line.get(from..).and_then(|s| s.find("满意")) {
        let at = from + found;
        from = at + "满意".len();
        let before = line.get(..at).unwrap_or_default();
        if let Some(before) = before.strip_suffix('不') {
            // "没有不满意" (nothing to complain about) is no answer; "很不满意" and
            // "非常不满意" are dissatisfied all the same.
            if before.ends_with('没') || before.ends_with("没有") || before.ends_with('无') {
                return None;
            }
            answers.push(Satisfaction::Dissatisfied);
        } else if before.ends_with("非常") {
            answers.push(Satisfaction::VerySatisfied);
        } else if ZH_HEDGES.iter().any(|h| before.ends_with(h)) {
            return None;
        } else {
            answers.push(Satisfaction::Satisfied);
        }
    }
    let mut from = 0;
    while let Some(found) = line.get(from..).and_then(|s| s.find("一般")) {
        let at = from + found;
        from = at + "一般".len();
        let after = line.get(from..).unwrap_or_default();
        // "一般般", "一般吧", "一般。" are neutral; "一般来说", "一般情况下" are prose.
        let next = after.trim_start_matches('般').chars().next();
        let neutral = match next {
            None => true,
            Some(c) => !is_cjk(c) || "吧啊呀了的吗".contains(c),
        };
        if neutral {
            answers.push(Satisfaction::Neutral);
        }
    }
    Some(answers)
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}')
}

/// English words before "satisfied" that make it unclear.
const EN_HEDGES: &[&str] = &[
    "quite",
    "pretty",
    "rather",
    "somewhat",
    "fairly",
    "mostly",
    "reasonably",
    "so",
    "too",
    "more",
    "less",
    "most",
    "least",
    "partly",
    "partially",
    "kind",
    "sort",
    "almost",
    "not",
    "extremely",
    "really",
    "highly",
    "completely",
    "fully",
    "totally",
    "entirely",
    "very",
];

fn english_answers(line: &str) -> Option<Vec<Satisfaction>> {
    let lower = line.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .collect();
    let mut answers = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let before = |n: usize| i.checked_sub(n).and_then(|j| words.get(j)).copied();
        match *word {
            "dissatisfied" | "unsatisfied" => {
                if matches!(before(1), Some("not" | "never")) {
                    return None;
                }
                answers.push(Satisfaction::Dissatisfied);
            }
            "satisfied" => match (before(2), before(1)) {
                (Some("not"), Some("very" | "really" | "fully" | "completely" | "entirely")) => {
                    return None;
                }
                (_, Some("not")) => answers.push(Satisfaction::Dissatisfied),
                (_, Some("very")) => answers.push(Satisfaction::VerySatisfied),
                (_, Some(w)) if EN_HEDGES.contains(&w) => return None,
                _ => answers.push(Satisfaction::Satisfied),
            },
            "neutral" => answers.push(Satisfaction::Neutral),
            _ => {}
        }
    }
    Some(answers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Satisfaction::*;

    const ANSWERS: &[(&str, Option<Satisfaction>)] = &[
        ("1", Some(VerySatisfied)),
        ("2\n", Some(Satisfied)),
        ("  3  ", Some(Neutral)),
        ("4", Some(Dissatisfied)),
        ("１", Some(VerySatisfied)),
        ("④", Some(Dissatisfied)),
        ("1.", Some(VerySatisfied)),
        ("2 -", Some(Satisfied)),
        ("(3)", Some(Neutral)),
        ("【4】", Some(Dissatisfied)),
        ("1. 非常满意", Some(VerySatisfied)),
        ("4 - dissatisfied", Some(Dissatisfied)),
        ("2，谢谢", Some(Satisfied)),
        ("1 thanks!", Some(VerySatisfied)),
        ("5", None),
        ("0", None),
        ("12", None),
        ("2 weeks late", None),
        ("1. The parts came late.", None),
        ("2026-12-01", None),
        ("1 满意", None),
        ("非常满意", Some(VerySatisfied)),
        ("满意", Some(Satisfied)),
        ("一般", Some(Neutral)),
        ("不满意", Some(Dissatisfied)),
        ("满意，谢谢！", Some(Satisfied)),
        ("我对这次的处理结果非常满意。", Some(VerySatisfied)),
        ("对处理结果不满意，货还没到。", Some(Dissatisfied)),
        ("非常不满意", Some(Dissatisfied)),
        ("很不满意！", Some(Dissatisfied)),
        ("一般般吧", Some(Neutral)),
        ("服务一般。", Some(Neutral)),
        ("很满意", None),
        ("不太满意", None),
        ("比较满意", None),
        ("没有不满意", None),
        ("一般来说我们周五收货。", None),
        ("Very satisfied", Some(VerySatisfied)),
        ("very satisfied, thank you", Some(VerySatisfied)),
        ("Satisfied.", Some(Satisfied)),
        ("I am satisfied with the fix.", Some(Satisfied)),
        ("Neutral", Some(Neutral)),
        ("Dissatisfied", Some(Dissatisfied)),
        ("unsatisfied", Some(Dissatisfied)),
        ("Not satisfied.", Some(Dissatisfied)),
        ("I'm not satisfied at all", Some(Dissatisfied)),
        ("not very satisfied", None),
        ("quite satisfied", None),
        ("not dissatisfied", None),
        (
            "I am not happy with the delivery, when will it arrive?",
            None,
        ),
        ("Thanks!", None),
        ("", None),
        ("满意 / 不满意", None),
        ("请选择：1 非常满意 2 满意 3 一般 4 不满意", None),
    ];

    #[test]
    fn answers_table() {
        assert!(!ANSWERS.is_empty());
        for (text, want) in ANSWERS {
            assert_eq!(parse_answer(text), *want, "{text:?}");
        }
    }

    #[test]
    fn answers_in_real_replies() {
        let gmail = "2\n\nOn Mon, Dec 1, 2026 at 9:00 AM Service <service@example.com> wrote:\n> How satisfied are you? Reply 1 very satisfied, 2 satisfied, 3 neutral, 4 dissatisfied.\n";
        assert_eq!(parse_answer(gmail), Some(Satisfied));

        let qq = "您好！\n\n满意，谢谢你们的帮助。\n\n张三\n\n------------------ 原始邮件 ------------------\n发件人: \"客服中心\"<service@example.com>;\n发送时间: 2026年12月1日(星期一) 上午9:00\n\n请回复 1 非常满意 / 2 满意 / 3 一般 / 4 不满意\n";
        assert_eq!(parse_answer(qq), Some(Satisfied));

        let later_lines = "Hi,\nThanks for following up.\n4\nThe second box is still missing.\n";
        assert_eq!(parse_answer(later_lines), Some(Dissatisfied));

        // Beyond the first lines an option word is prose, not an answer.
        let late = "Hi,\nThanks.\nThe box came.\nWe opened it.\nI was satisfied.\n";
        assert_eq!(parse_answer(late), None);

        // The survey pasted back without quote marks below a top-posted answer.
        let unquoted = "1\n\n-----Original Message-----\nFrom: Service\nSent: Monday\n\n1 非常满意 2 满意 3 一般 4 不满意\n";
        assert_eq!(parse_answer(unquoted), Some(VerySatisfied));
    }
}
