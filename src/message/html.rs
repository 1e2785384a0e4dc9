//! HTML mail read as a person reads it, and a department's HTML reply made safe to
//! pass on.
//!
//! Outlook and Foxmail often send HTML alone. mail-parser's `html_to_text` is a
//! tag stripper: it drops the line breaks of `<div>` and `<p>` (Outlook writes a
//! `<p class=MsoNormal>` per line), runs a list into one line and table cells into
//! each other, so commands ran together with the greeting and the quote trimmer saw
//! no quoted block. Here the HTML is parsed by html5ever (the browsers' algorithm;
//! already in the tree through ammonia) and walked: every block starts a line, `<br>`
//! ends one, list items keep a `- ` or `1. `, a table row is one line with its cells
//! separated by ` | `, and a `<blockquote>` is `>` lines. Reply blocks that are not
//! blockquotes — Outlook's `divRplyFwdMsg`, Gmail's `gmail_quote`, Thunderbird's
//! `moz-cite-prefix`, Foxmail's and QQ Mail's quote blocks — become a
//! "-----Original Message-----" line: the quote trimmer (reply/quote.rs) then works
//! on HTML as it does on text.
//!
//! For the relay, the same walk finds where the history starts and which lines at
//! the top are commands, and cuts both out of the tree itself, so that the HTML the
//! customer gets has the department's words and formatting only. What is left is
//! sanitised by ammonia: no script, no style sheets, no forms, no event handlers,
//! no remote content (an image is shown only from a part of the mail, `cid:`).

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use html5ever::serialize::{SerializeOpts, TraversalScope};
use html5ever::tendril::TendrilSink;
use markup5ever_rcdom::{Handle, NodeData, RcDom, SerializableHandle};

use crate::reply::{commands, quote};

/// Elements that start and end a line.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "center",
    "dd",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tbody",
    "tfoot",
    "thead",
    "tr",
    "ul",
];

/// Elements whose content no reader shows.
const HIDDEN: &[&str] = &[
    "head", "script", "style", "title", "template", "noscript", "object", "iframe",
];

/// `id` or `class` values (case-insensitive substrings) that mark a reply block:
/// Outlook (`divRplyFwdMsg`, and `appendonsend` before it), Gmail (`gmail_quote`),
/// Thunderbird (`moz-cite-prefix`), Yahoo (`yahoo_quoted`), Foxmail
/// (`foxmail_quote`, `origbody`), QQ Mail and Exmail (`QQMailQuote`, `ori_mail`),
/// NetEase (`ntes-` quote blocks, `isForwardContent`).
const QUOTE_MARKERS: &[&str] = &[
    "rplyfwdmsg",
    "appendonsend",
    "gmail_quote",
    "moz-cite-prefix",
    "yahoo_quoted",
    "foxmail_quote",
    "origbody",
    "qqmailquote",
    "ori_mail",
    "ntes-mailmaster-quote",
    "isforwardcontent",
];

/// The separator a reply block becomes in the text.
const SEPARATOR: &str = "-----Original Message-----";

fn parse(html: &str) -> RcDom {
    html5ever::parse_document(RcDom::default(), Default::default()).one(html)
}

/// The text of an HTML body, line by line as a reader sees it.
pub fn to_text(html: &str) -> String {
    let dom = parse(html);
    let mut w = Walk::default();
    w.node(&dom.document);
    w.finish()
}

fn element_name(node: &Handle) -> Option<String> {
    match &node.data {
        NodeData::Element { name, .. } => Some(name.local.to_string()),
        _ => None,
    }
}

fn attr(node: &Handle, wanted: &str) -> Option<String> {
    match &node.data {
        NodeData::Element { attrs, .. } => attrs
            .borrow()
            .iter()
            .find(|a| &*a.name.local == wanted)
            .map(|a| a.value.to_string()),
        _ => None,
    }
}

fn is_quote_marker(node: &Handle) -> bool {
    ["id", "class"].iter().any(|a| {
        attr(node, a).is_some_and(|v| {
            let v = v.to_lowercase();
            QUOTE_MARKERS.iter().any(|m| v.contains(m))
        })
    })
}

/// The walk that makes the text, and remembers which node began each line.
#[derive(Default)]
struct Walk {
    out: String,
    /// The node whose text began each line, by line number.
    starts: Vec<(usize, Handle)>,
    line: usize,
    quote_depth: usize,
    pre: usize,
}

impl Walk {
    fn at_line_start(&self) -> bool {
        self.out.is_empty() || self.out.ends_with('\n')
    }

    fn newline(&mut self) {
        if !self.at_line_start() {
            // No trailing spaces.
            while self.out.ends_with(' ') {
                self.out.pop();
            }
            self.out.push('\n');
            self.line += 1;
        }
    }

    fn hard_newline(&mut self) {
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        self.out.push('\n');
        self.line += 1;
    }

    fn push(&mut self, text: &str, node: &Handle) {
        if text.is_empty() {
            return;
        }
        if self.at_line_start() {
            self.starts.push((self.line, Rc::clone(node)));
            for _ in 0..self.quote_depth {
                self.out.push_str("> ");
            }
        }
        self.out.push_str(text);
    }

    fn text(&mut self, contents: &str, node: &Handle) {
        if self.pre > 0 {
            let mut first = true;
            for piece in contents.replace('\u{a0}', " ").split('\n') {
                if !first {
                    self.hard_newline();
                }
                first = false;
                self.push(piece, node);
            }
            return;
        }
        // Runs of white space are one space (CSS `white-space: normal`), none at
        // the start of a line.
        let mut collapsed = String::with_capacity(contents.len());
        for c in contents.chars() {
            if c.is_whitespace() || c == '\u{a0}' {
                if !collapsed.ends_with(' ') {
                    collapsed.push(' ');
                }
            } else {
                collapsed.push(c);
            }
        }
        if self.at_line_start() || self.out.ends_with(' ') {
            collapsed = collapsed.trim_start().to_string();
        }
        self.push(&collapsed, node);
    }

    fn node(&mut self, node: &Handle) {
        match &node.data {
            NodeData::Text { contents } => {
                let t = contents.borrow().to_string();
                self.text(&t, node);
            }
            NodeData::Document => self.children(node),
            NodeData::Element { .. } => self.element(node),
            _ => {}
        }
    }

    fn children(&mut self, node: &Handle) {
        let children: Vec<Handle> = node.children.borrow().iter().map(Rc::clone).collect();
        for c in &children {
            self.node(c);
        }
    }

    fn element(&mut self, node: &Handle) {
        let name = element_name(node).unwrap_or_default();
        let name = name.as_str();
        if HIDDEN.contains(&name) {
            return;
        }
        if name == "br" {
            // A line a <br> ends is a line, even an empty one.
            if self.at_line_start() {
                self.starts.push((self.line, Rc::clone(node)));
            }
            self.hard_newline();
            return;
        }
        let block = BLOCKS.contains(&name);
        if block {
            self.newline();
        }
        if is_quote_marker(node) && name != "blockquote" {
            self.newline();
            self.push(SEPARATOR, node);
            self.newline();
        }
        match name {
            "hr" => {
                self.push("________________________________", node);
                self.newline();
                return;
            }
            "li" => {
                let ordered = node
                    .parent
                    .take()
                    .map(|p| {
                        let parent = p.upgrade();
                        node.parent.set(Some(p));
                        parent
                    })
                    .and_then(|p| p)
                    .is_some_and(|p| element_name(&p).as_deref() == Some("ol"));
                if ordered {
                    let n = preceding(node, "li") + 1;
                    self.push(&format!("{n}. "), node);
                } else {
                    self.push("- ", node);
                }
            }
            "td" | "th" if preceding(node, "td") + preceding(node, "th") > 0 => {
                while self.out.ends_with(' ') {
                    self.out.pop();
                }
                self.push(" | ", node);
            }
            "img" => {
                if let Some(alt) = attr(node, "alt").filter(|a| !a.trim().is_empty()) {
                    self.text(&format!("[{}]", alt.trim()), node);
                }
            }
            _ => {}
        }
        let quote = name == "blockquote";
        if quote {
            self.quote_depth += 1;
        }
        if name == "pre" {
            self.pre += 1;
        }
        self.children(node);
        if name == "pre" {
            self.pre -= 1;
        }
        if quote {
            self.quote_depth -= 1;
        }
        if block {
            self.newline();
        }
    }

    fn finish(self) -> String {
        tidy(&self.out)
    }
}

/// How many element siblings named `name` come before `node`.
fn preceding(node: &Handle, name: &str) -> usize {
    let Some(parent) = parent(node) else {
        return 0;
    };
    parent
        .children
        .borrow()
        .iter()
        .take_while(|c| !Rc::ptr_eq(c, node))
        .filter(|c| element_name(c).as_deref() == Some(name))
        .count()
}

fn parent(node: &Handle) -> Option<Handle> {
    let weak = node.parent.take()?;
    let parent = weak.upgrade();
    node.parent.set(Some(weak));
    parent
}

/// No trailing spaces, at most one empty line in a row, none at either end.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank > 0 {
                out.push('\n');
            }
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

/// A department's HTML reply cut down to its own words.
pub struct Trimmed {
    /// The reply without the commands at its top and the history below, not yet
    /// sanitised (see [`sanitise`]).
    pub html: String,
    /// The `cid:` references of what was kept.
    pub kept_cids: HashSet<String>,
    /// The `cid:` references of the whole reply, history included.
    pub all_cids: HashSet<String>,
}

/// Cuts the commands at the top and the quoted history from an HTML reply.
pub fn trim(html: &str) -> Trimmed {
    let dom = parse(html);
    let mut all_cids = HashSet::new();
    cids(&dom.document, &mut all_cids);
    let mut w = Walk::default();
    w.node(&dom.document);
    let text = w.out.clone();
    let lines: Vec<&str> = text.lines().collect();
    let node_of = |line: usize| {
        w.starts
            .iter()
            .find(|(l, _)| *l >= line)
            .map(|(_, n)| Rc::clone(n))
    };
    // The history first: the line numbers of the commands are those before it.
    if let Some(at) = quote::history_start(&lines).and_then(node_of) {
        cut_from(&at);
    }
    let commands = commands::command_lines(&text);
    if commands > 0 {
        match node_of(commands) {
            Some(first_text) => cut_before(&first_text),
            // Nothing but commands: nothing to relay.
            None => clear_body(&dom.document),
        }
    }
    let mut kept_cids = HashSet::new();
    cids(&dom.document, &mut kept_cids);
    let mut bytes = Vec::new();
    let handle: SerializableHandle = Rc::clone(&dom.document).into();
    let opts = SerializeOpts {
        traversal_scope: TraversalScope::ChildrenOnly(None),
        ..Default::default()
    };
    let html = match html5ever::serialize(&mut bytes, &handle, opts) {
        Ok(()) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    };
    Trimmed {
        html,
        kept_cids,
        all_cids,
    }
}

/// The `cid:` values of `<img src>` under `node`.
fn cids(node: &Handle, out: &mut HashSet<String>) {
    if element_name(node).as_deref() == Some("img")
        && let Some(src) = attr(node, "src")
        && let Some(id) = cid_of(&src)
    {
        out.insert(id);
    }
    for c in node.children.borrow().iter() {
        cids(c, out);
    }
}

/// `cid:abc@x` → `abc@x` (RFC 2392; percent-encoding undone for the common `%40`).
fn cid_of(src: &str) -> Option<String> {
    let src = src.trim();
    let rest = src
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("cid:"))
        .and_then(|_| src.get(4..))?;
    Some(
        rest.replace("%40", "@")
            .trim_matches(['<', '>'])
            .to_string(),
    )
}

/// Removes `node` and everything after it in document order.
fn cut_from(node: &Handle) {
    let mut current = Rc::clone(node);
    let mut inclusive = true;
    while let Some(p) = parent(&current) {
        {
            let mut children = p.children.borrow_mut();
            if let Some(i) = children.iter().position(|c| Rc::ptr_eq(c, &current)) {
                children.truncate(if inclusive { i } else { i + 1 });
            }
        }
        inclusive = false;
        current = p;
    }
}

/// Removes everything before `node` in document order (its ancestors stay).
fn cut_before(node: &Handle) {
    let mut current = Rc::clone(node);
    while let Some(p) = parent(&current) {
        {
            let mut children = p.children.borrow_mut();
            if let Some(i) = children.iter().position(|c| Rc::ptr_eq(c, &current)) {
                // Keep <head>: nothing in it is shown, and sanitising drops it.
                let before: Vec<Handle> = children.drain(..i).collect();
                let keep: Vec<Handle> = before
                    .into_iter()
                    .filter(|c| element_name(c).as_deref() == Some("head"))
                    .collect();
                for (n, k) in keep.into_iter().enumerate() {
                    children.insert(n, k);
                }
            }
        }
        current = p;
    }
}

fn clear_body(node: &Handle) {
    if element_name(node).as_deref() == Some("body") {
        node.children.borrow_mut().clear();
        return;
    }
    for c in node.children.borrow().iter() {
        clear_body(c);
    }
}

/// CSS properties a reply keeps: how text and tables look, nothing that loads or
/// places anything (no `background-image`, `position`, `url()`).
const STYLES: &[&str] = &[
    "color",
    "background-color",
    "font",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "text-align",
    "text-decoration",
    "text-indent",
    "line-height",
    "vertical-align",
    "white-space",
    "border",
    "border-top",
    "border-bottom",
    "border-left",
    "border-right",
    "border-color",
    "border-style",
    "border-width",
    "border-collapse",
    "padding",
    "padding-top",
    "padding-bottom",
    "padding-left",
    "padding-right",
    "margin",
    "margin-top",
    "margin-bottom",
    "margin-left",
    "margin-right",
    "width",
    "height",
    "list-style-type",
];

/// The trimmed reply made safe: ammonia's defaults (no script, no event handlers,
/// no forms, no style sheets, links `rel="noopener noreferrer"`), inline styles
/// limited to [`STYLES`], and an image only from a part of this mail: `cid:`
/// references in `cids` (the reply's Content-ID → ours) are rewritten, every other
/// image source is dropped.
pub fn sanitise(html: &str, cids: &HashMap<String, String>) -> String {
    let cids = cids.clone();
    ammonia::Builder::default()
        .add_generic_attributes(["style", "align", "valign", "bgcolor", "width", "height"])
        .add_tag_attributes("table", ["border", "cellpadding", "cellspacing"])
        .add_tag_attributes("font", ["color", "face", "size"])
        .add_tags(["font", "center"])
        .filter_style_properties(STYLES.iter().copied().collect())
        .add_url_schemes(["cid"])
        .attribute_filter(move |element, attribute, value| {
            if element == "img" && attribute == "src" {
                let ours = cid_of(value).and_then(|id| cids.get(&id).cloned())?;
                return Some(format!("cid:{ours}").into());
            }
            // Style values that could still fetch something: none pass.
            if attribute == "style" && value.to_ascii_lowercase().contains("url(") {
                return None;
            }
            Some(value.into())
        })
        .clean(html)
        .to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lines_lists_and_cells_survive() {
        let t = to_text(
            "<html><head><style>p{}</style></head><body><p class=MsoNormal>状态：已解决</p>\
             <p>您好，</p><div>第一行<br>第二行</div><ul><li>一</li><li>二</li></ul>\
             <ol><li>first</li><li>second</li></ol>\
             <table><tr><th>零件</th><th>数量</th></tr><tr><td>A-1</td><td>20</td></tr></table>\
             <script>alert(1)</script></body></html>",
        );
        assert_eq!(
            t,
            "状态：已解决\n您好，\n第一行\n第二行\n- 一\n- 二\n1. first\n2. second\n零件 | 数量\nA-1 | 20"
        );
    }

    #[test]
    fn quoted_blocks_become_what_the_quote_trimmer_knows() {
        let t = to_text("<div>Answer</div><blockquote><div>old</div></blockquote>");
        assert_eq!(t, "Answer\n> old");
        let t = to_text("<div>Answer</div><div id=divRplyFwdMsg><b>From:</b> x</div>");
        assert_eq!(t, "Answer\n-----Original Message-----\nFrom: x");
        assert_eq!(
            quote::history_start(&t.lines().collect::<Vec<_>>()),
            Some(1)
        );
    }

    #[test]
    fn a_reply_is_cut_to_its_own_words() {
        let t = trim(
            "<html><body><div>Status: contacted</div><div>优先级：紧急</div>\
             <div><b>您好</b>，原因已查明。<img src=\"cid:sig@x\"></div>\
             <hr><div id=\"divRplyFwdMsg\"><b>From:</b> 张三<br><b>Sent:</b> today</div>\
             <div>old text<img src=\"cid:logo@x\"></div></body></html>",
        );
        assert!(!t.html.contains("Status"), "{}", t.html);
        assert!(!t.html.contains("优先级"), "{}", t.html);
        assert!(t.html.contains("<b>您好</b>，原因已查明。"), "{}", t.html);
        assert!(!t.html.contains("old text"), "{}", t.html);
        assert!(t.kept_cids.contains("sig@x"));
        assert!(!t.kept_cids.contains("logo@x"));
        assert!(t.all_cids.contains("logo@x"));
    }

    /// Foxmail and QQ Mail mark the history with a dashed 原始邮件 line in a div of
    /// its own; Gmail and Apple Mail with a blockquote after an attribution.
    #[test]
    fn foxmail_qq_and_blockquote_histories_are_cut() {
        for html in [
            "<div>已处理，谢谢。</div><div><br></div><div style=\"font-size:12px;font-family:Arial Narrow;padding:2px 0 2px 0;\">------------------&nbsp;原始邮件&nbsp;------------------</div>\
             <div style=\"font-size:12px;background:#efefef;padding:8px;\"><div><b>发件人:</b>&nbsp;\"客服\"</div><div><b>发送时间:</b>&nbsp;2026年11月30日</div></div><div>旧的内容</div>",
            "<div>已处理，谢谢。</div><div class=\"gmail_quote\"><div dir=ltr>On Mon, 30 Nov 2026 at 10:00, 客服 wrote:</div><blockquote>旧的内容</blockquote></div>",
            "<div>已处理，谢谢。</div><div>在 2026年11月30日 10:00，客服 写道：</div><blockquote type=cite>旧的内容</blockquote>",
            "<div>已处理，谢谢。</div><div id=\"QQMailQuote\">旧的内容</div>",
        ] {
            let t = trim(html);
            assert!(t.html.contains("已处理，谢谢。"), "{}", t.html);
            assert!(!t.html.contains("旧的内容"), "{html}\n→ {}", t.html);
            let text = crate::reply::quote::trim_quoted(&to_text(html));
            assert_eq!(text, "已处理，谢谢。", "{html}");
        }
    }

    #[test]
    fn sanitising_drops_scripts_forms_and_remote_images() {
        let cids = HashMap::from([("sig@x".to_string(), "p1.ours@example.com".to_string())]);
        let s = sanitise(
            "<p style=\"color:red;background-image:url(http://t/x)\" onclick=\"x()\">hi</p>\
             <script>alert(1)</script><form><input name=a></form>\
             <img src=\"http://tracker.example/p.gif\"><img src=\"cid:sig@x\">\
             <a href=\"https://example.com\">link</a>",
            &cids,
        );
        assert!(!s.contains("script") && !s.contains("alert"), "{s}");
        assert!(!s.contains("form") && !s.contains("input"), "{s}");
        assert!(!s.contains("tracker") && !s.contains("onclick"), "{s}");
        assert!(!s.contains("url("), "{s}");
        assert!(s.contains("cid:p1.ours@example.com"), "{s}");
        assert!(s.contains("href=\"https://example.com\""), "{s}");
    }
}
