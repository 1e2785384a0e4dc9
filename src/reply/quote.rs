//! Separating what a person wrote from the history their mail client appended.
//!
//! Clients mark history in a handful of ways, and a reply is judged by the first one
//! found:
//! - `>` at the start of a line (RFC 3676 §4.5 quoting), removed wherever it appears;
//! - an attribution line, "On <date>, <name> wrote:" or "在 2026年11月27日 …写道:"
//!   (Gmail, Thunderbird, Apple Mail; often wrapped onto a second line);
//! - a separator, "-----Original Message-----", "-----原始邮件-----", QQ Mail and
//!   Foxmail's "------------------ 原始邮件 ------------------";
//! - Outlook's header block, "From: … / Sent: …" or "发件人: … / 发送时间: …",
//!   sometimes under a "________________________________" rule.
//!
//! Separators and header blocks are followed by unmarked history, so everything from
//! them on is dropped. An attribution line followed by `>` lines is different: the
//! writer may have answered between the quoted lines (inline replies), so only the
//! attribution line itself and the `>` lines go. An attribution followed by unquoted
//! text (Outlook-style top posting) cuts everything after it.
//!
//! What remains loses a trailing signature (the "-- " line of RFC 3676 §4.3, and the
//! "Sent from my iPhone" kind of last line) and surrounding whitespace.

/// The text a person wrote in `body`, without quoted history or signature, trimmed;
/// lines end in `\n` whatever they ended in before.
pub fn trim_quoted(body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    let mut i = 0;
    while let Some(&line) = lines.get(i) {
        if let Some(span) = attribution(&lines, i) {
            if next_non_empty(&lines, i + span).is_some_and(is_quoted) {
                i += span;
                continue;
            }
            break;
        }
        if is_separator(line) || is_header_block(&lines, i) || is_rule_before_header(&lines, i) {
            break;
        }
        if !is_quoted(line) {
            kept.push(line);
        }
        i += 1;
    }
    if let Some(sig) = kept.iter().position(|l| is_signature_separator(l)) {
        kept.truncate(sig);
    }
    while kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
    if kept.last().is_some_and(|l| is_sent_from(l)) {
        kept.pop();
    }
    kept.join("\n").trim().to_string()
}

/// Where the history starts in `lines`, for a reply whose quoted blocks are marked
/// in its structure (an HTML reply turned into lines by message/html.rs, where a
/// `<blockquote>` is `>` lines and Outlook's and Foxmail's reply blocks are
/// separators): the first quoted line, attribution, separator, header block, rule
/// before one, or signature separator. An HTML reply is not answered inline, so
/// everything from there on is history.
pub fn history_start(lines: &[&str]) -> Option<usize> {
    (0..lines.len()).find(|&i| {
        lines.get(i).is_some_and(|&line| {
            is_quoted(line)
                || attribution(lines, i).is_some()
                || is_separator(line)
                || is_header_block(lines, i)
                || is_rule_before_header(lines, i)
                || is_signature_separator(line)
        })
    })
}

/// `>` quoting; the full-width `＞` comes from some Chinese input methods.
fn is_quoted(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with('>') || line.starts_with('＞')
}

fn next_non_empty<'a>(lines: &[&'a str], from: usize) -> Option<&'a str> {
    lines
        .iter()
        .skip(from)
        .copied()
        .find(|l| !l.trim().is_empty())
}

/// How many lines (1 or 2) the attribution starting at `i` spans, if one does.
fn attribution(lines: &[&str], i: usize) -> Option<usize> {
    let first = lines.get(i)?.trim();
    if first.is_empty() || is_quoted(first) {
        return None;
    }
    if is_attribution(first) {
        return Some(1);
    }
    // Gmail wraps long attributions at about 78 columns, leaving "wrote:" or "写道:"
    // alone or nearly alone on the next line.
    let second = lines.get(i + 1)?.trim();
    // A second line that is an attribution by itself is one: the line before it is
    // the writer's (an HTML reply's last line has no empty line after it).
    if second.is_empty() || is_quoted(second) || ends_attribution(first) || is_attribution(second) {
        return None;
    }
    is_attribution(&format!("{first} {second}")).then_some(2)
}

fn ends_attribution(line: &str) -> bool {
    ["wrote:", "写道:", "写道：", "寫道:", "寫道："]
        .iter()
        .any(|end| line.ends_with(end))
}

fn is_attribution(line: &str) -> bool {
    // An attribution names a date and a person; a long paragraph that happens to end
    // in "wrote:" is not one.
    if line.chars().count() > 300 {
        return false;
    }
    if line.starts_with("On ") && line.ends_with("wrote:") {
        return true;
    }
    // "在 2026年11月27日 10:02, 张三 <zhang@example.com> 写道:" (Thunderbird),
    // "张三 <zhang@example.com> 于2026年11月27日周四 10:02写道：" (Gmail),
    // "2026年11月27日 上午10:02，张三 写道：" (Apple Mail).
    ends_attribution(line) && !line.ends_with("wrote:") && line.chars().any(|c| c.is_ascii_digit())
}

/// "-----Original Message-----" and its Chinese and forwarding relatives.
fn is_separator(line: &str) -> bool {
    let line = line.trim();
    if !line.starts_with("--") {
        return false;
    }
    let inner = line
        .trim_matches(|c: char| c == '-' || c.is_whitespace())
        .to_lowercase();
    [
        "original message",
        "原始邮件",
        "原始郵件",
        "forwarded message",
        "转发邮件",
        "转发的邮件",
    ]
    .contains(&inner.as_str())
}

/// The header name of a line like "From: x", "*From:* x" (Outlook's plain-text
/// rendering of bold) or "发件人：x", lower-cased.
fn header_name(line: &str) -> Option<String> {
    let line = line.trim().trim_start_matches('*');
    let end = line.find([':', '：'])?;
    let name = line.get(..end)?.trim_end_matches('*').trim();
    if name.is_empty() || name.chars().count() > 20 {
        return None;
    }
    Some(name.to_lowercase())
}

fn is_from_header(line: &str) -> bool {
    header_name(line).is_some_and(|n| ["from", "发件人", "寄件者", "寄件人"].contains(&n.as_str()))
}

fn is_date_header(line: &str) -> bool {
    header_name(line).is_some_and(|n| {
        [
            "sent",
            "date",
            "发送时间",
            "时间",
            "日期",
            "寄件日期",
            "发送日期",
        ]
        .contains(&n.as_str())
    })
}

/// Outlook's "From: / Sent: / To: / Subject:" block. A lone "From:" line could be
/// the writer's own prose ("From: our side, the parts ship today"), so a date header
/// within the next three lines is required.
fn is_header_block(lines: &[&str], i: usize) -> bool {
    lines.get(i).is_some_and(|l| is_from_header(l))
        && lines.iter().skip(i + 1).take(3).any(|l| is_date_header(l))
}

/// Outlook's "________________________________" rule, when a header block follows.
fn is_rule_before_header(lines: &[&str], i: usize) -> bool {
    let Some(line) = lines.get(i).map(|l| l.trim()) else {
        return false;
    };
    if line.chars().count() < 10 || !line.chars().all(|c| c == '_') {
        return false;
    }
    let next = lines
        .iter()
        .enumerate()
        .skip(i + 1)
        .find(|(_, l)| !l.trim().is_empty());
    next.is_some_and(|(j, l)| is_from_header(l) && is_header_block(lines, j))
}

/// RFC 3676 §4.3 says "-- "; many clients strip the trailing space.
fn is_signature_separator(line: &str) -> bool {
    line.trim_end() == "--"
}

/// The line mobile clients add by themselves.
fn is_sent_from(line: &str) -> bool {
    let line = line.trim();
    let lower = line.to_lowercase();
    (lower.starts_with("sent from my ") || lower.starts_with("get outlook for "))
        || ((line.starts_with("发自我的") || line.starts_with("从我的"))
            && line.chars().count() <= 30)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, body, what the person wrote)
    const CASES: &[(&str, &str, &str)] = &[
        (
            "plain text stays",
            "Thanks, done.\n\nZhang",
            "Thanks, done.\n\nZhang",
        ),
        (
            "gmail english, one line",
            "Fixed the label printer.\n\nOn Thu, Nov 27, 2026 at 10:02 AM Li Wei <li@example.com> wrote:\n> The printer is broken.\n> Please help.\n",
            "Fixed the label printer.",
        ),
        (
            "gmail english, wrapped",
            "Sent the replacement today.\n\nOn Thu, Nov 27, 2026 at 10:02 AM Customer Service Desk <service@example.com>\nwrote:\n\n> [SB-2026-000042] Printer broken\n",
            "Sent the replacement today.",
        ),
        (
            "thunderbird english",
            "We called the customer.\r\n\r\nOn 27/11/2026 10:02, Li Wei wrote:\r\n> Please call the customer.\r\n",
            "We called the customer.",
        ),
        (
            "thunderbird chinese",
            "已联系客户，明天上门。\n\n在 2026/11/27 10:02, 客服中心 写道:\n> 请尽快联系客户。\n",
            "已联系客户，明天上门。",
        ),
        (
            "thunderbird chinese 年月日, wrapped",
            "已安排补发。\n\n在 2026年11月27日 星期四 10:02, 客服中心 <service@example.com>\n写道:\n> 客户反映少发一箱。\n",
            "已安排补发。",
        ),
        (
            "gmail chinese",
            "收到，今天处理。\n\n张三 <zhang@example.com> 于2026年11月27日周四 10:02写道：\n\n> 请处理此投诉。\n",
            "收到，今天处理。",
        ),
        (
            "apple mail chinese",
            "好的\n\n2026年11月27日 上午10:02，客服中心 <service@example.com> 写道：\n\n> 请确认。\n",
            "好的",
        ),
        (
            "outlook original message",
            "The credit note is attached.\n\n-----Original Message-----\nFrom: Customer Service <service@example.com>\nSent: Thursday, November 27, 2026 10:02 AM\nTo: Billing <billing@example.com>\nSubject: [SB-2026-000042] Wrong invoice\n\nPlease check the invoice.\n",
            "The credit note is attached.",
        ),
        (
            "outlook chinese original message",
            "已开具红字发票。\n\n-----原始邮件-----\n发件人: 客服中心 <service@example.com>\n发送时间: 2026年11月27日 10:02\n收件人: 财务部\n主题: [SB-2026-000042] 发票错误\n\n请核对发票。\n",
            "已开具红字发票。",
        ),
        (
            "qq mail / foxmail",
            "已处理完毕。\n\n\n------------------ 原始邮件 ------------------\n发件人: \"客服中心\"<service@example.com>;\n发送时间: 2026年11月27日(星期四) 上午10:02\n收件人: \"物流部\"<logistics@example.com>;\n主题: [SB-2026-000042] 少发货\n\n客户反映少发一箱。\n",
            "已处理完毕。",
        ),
        (
            "outlook header block with rule",
            "Analysis attached.\n\n________________________________\nFrom: Customer Service <service@example.com>\nSent: Thursday, November 27, 2026 10:02\nTo: Quality <quality@example.com>\nSubject: RE: [SB-2026-000042] Scratched panels\n\nPlease analyse.\n",
            "Analysis attached.",
        ),
        (
            "outlook bold header block without rule",
            "Done.\n\n*From:* Customer Service <service@example.com>\n*Sent:* Thursday, November 27, 2026 10:02\n*To:* Quality\n*Subject:* RE: case\n\nPlease analyse.\n",
            "Done.",
        ),
        (
            "outlook chinese header block",
            "已分析原因：包装破损。\n\n发件人: 客服中心 <service@example.com>\n发送时间: 2026年11月27日 10:02\n收件人: 质量部 <quality@example.com>\n主题: 答复: [SB-2026-000042] 货物破损\n\n请分析原因。\n",
            "已分析原因：包装破损。",
        ),
        (
            "outlook chinese full-width colons",
            "好的。\n\n发件人：客服中心\n时间：2026年11月27日 10:02\n收件人：质量部\n\n请分析。\n",
            "好的。",
        ),
        (
            "gmail forwarded",
            "FYI\n\n---------- Forwarded message ---------\nFrom: Li Wei <li@example.com>\nDate: Thu, Nov 27, 2026 at 10:02 AM\n",
            "FYI",
        ),
        (
            "signature",
            "Replacement ships Monday.\n\n-- \nLi Wei\nLogistics, ext. 204\n",
            "Replacement ships Monday.",
        ),
        (
            "signature without the space, then history",
            "已解决。\n--\n王五 物流部\n\n-----原始邮件-----\n发件人: a\n",
            "已解决。",
        ),
        (
            "sent from my iphone",
            "OK, on it.\n\nSent from my iPhone\n\nOn Nov 27, 2026, at 10:02, Service <s@example.com> wrote:\n\n> Please look.\n",
            "OK, on it.",
        ),
        (
            "sent from chinese phone",
            "好的\n\n发自我的iPhone\n",
            "好的",
        ),
        (
            "inline replies keep the answers",
            "On Thu, Nov 27, 2026 at 10:02 AM Service <s@example.com> wrote:\n> Cause?\nA loose cable.\n> Plan?\nReplace it on Monday.\n",
            "A loose cable.\nReplace it on Monday.",
        ),
        (
            "attribution then unquoted history cuts",
            "Fine.\n\nOn Thu, Nov 27, 2026 at 10:02 AM Service <s@example.com> wrote:\nPlease look at this.\n",
            "Fine.",
        ),
        (
            "prose with From: is kept",
            "From: our side, the parts ship today.\nRegards",
            "From: our side, the parts ship today.\nRegards",
        ),
        (
            "a sentence ending in wrote: is kept",
            "Thanks for what you wrote:\nit helped.",
            "Thanks for what you wrote:\nit helped.",
        ),
        ("only history", "> old\n> older\n", ""),
        ("empty", "", ""),
    ];

    #[test]
    fn every_style_of_history_is_trimmed() {
        assert!(!CASES.is_empty());
        for (name, body, want) in CASES {
            assert_eq!(trim_quoted(body), *want, "{name}");
        }
    }
}
