//! From a word as a department head writes it to what the scanner looks for.
//!
//! The people who edit the rule files are not programmers, so a word means what it
//! looks like: `投诉` is found anywhere (Chinese has no spaces between words), `late`
//! only as a whole English word (not inside `translate`), `complain*` also as the start
//! of a longer word (`complained`, `complaints`), `late delivery` with any spacing or
//! line break between the two words, and case never matters. Only a word written
//! between slashes, `/订单号\s*\d+/`, is a regular expression.
//!
//! What a word means is defined as a regular expression over lower-cased text
//! (`Pattern::regex`), the form the rules had when every word was a regex; the
//! scanner finds a plain word as one literal instead (`Pattern::Literal`), in text
//! that is lower-cased and then normalized (`normalize`: one space for any run of
//! white space, `'` for `’`), and is tested to find exactly what the regex finds.
//!
//! Word boundaries are ASCII boundaries, `(?-u:\b)`: next to a Chinese character an
//! English word still counts as a whole word (`订单ASAP处理`), and the regex crate's
//! lazy DFA can run an ASCII boundary over non-ASCII text, where a Unicode `\b` would
//! make it give up and fall back to a much slower engine (for `/regex/` words, which
//! are still run by the regex crate).
//!
//! Case: plain words are lower-cased here and the text is lower-cased once per
//! message before matching (`scan`), instead of compiling words with `(?i)`.
//! `/regex/` words keep `(?i)`, so they behave the same on lower-cased text.

/// What a word stands for, in the form the scanner (`scan`) looks for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Pattern {
    /// A plain word: `text` is how it stands in lower-cased, normalized text
    /// (`lower`, then `normalize`: one space between the parts of a phrase, `'` for
    /// both apostrophes), with an ASCII word boundary required before it (`left`)
    /// and after it (`right`).
    Literal {
        text: String,
        left: bool,
        right: bool,
    },
    /// `*` alone: any character that is not a space.
    Anything,
    /// `/…/`.
    Regex(RegexWord),
}

/// A `/regex/` word.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RegexWord {
    /// The regular expression to run over lower-cased (not normalized) text.
    pub source: String,
    /// Literals one of which every match starts with, as they appear in normalized
    /// text; `None` if there are none to wait for.
    pub prefixes: Option<Vec<String>>,
    /// Literals one of which every match ends with, likewise. A regex with neither
    /// runs on every message.
    pub suffixes: Option<Vec<String>>,
}

impl Pattern {
    /// The word as a rule writes it: `complain*`, `/订单号\s*\d+/`, `*`.
    pub(crate) fn shown(&self) -> String {
        match self {
            Pattern::Literal { text, left, right } => {
                // A boundary is required unless the word was written with a `*` there;
                // Chinese words never need one, so no `*` is shown for them.
                let ascii_start = text
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric());
                let ascii_end = text
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric());
                let before = if ascii_start && !left { "*" } else { "" };
                let after = if ascii_end && !right { "*" } else { "" };
                format!("{before}{text}{after}")
            }
            Pattern::Anything => "*".to_string(),
            Pattern::Regex(r) => format!("/{}/", r.source),
        }
    }

    /// The regular expression this pattern is equivalent to, over lower-cased text:
    /// the definition of what a word means (`translate`), and what the scanner is
    /// tested against.
    #[cfg(test)]
    pub(crate) fn regex(&self) -> String {
        match self {
            Pattern::Literal { text, left, right } => {
                let body = text
                    .split(' ')
                    .map(|piece| regex::escape(piece).replace('\'', "(?:'|’)"))
                    .collect::<Vec<_>>()
                    .join(r"\s+");
                let left = if *left { r"(?-u:\b)" } else { "" };
                let right = if *right { r"(?-u:\b)" } else { "" };
                format!("{left}{body}{right}")
            }
            Pattern::Anything => r"\S".into(),
            Pattern::Regex(re) => re.source.clone(),
        }
    }
}

/// The regular expression for one word, or the reason it cannot be one. The pattern
/// is meant for lower-cased text (see `lower`).
///
/// The result is always a valid regex for a plain word; a `/regex/` word is checked
/// by the caller, who knows where in the file it came from.
#[cfg(test)]
pub(crate) fn translate(word: &str) -> Result<String, String> {
    parse(word).map(|p| p.regex())
}

/// What one word stands for, or the reason it cannot stand for anything.
pub(crate) fn parse(written: &str) -> Result<Pattern, String> {
    let word = written.trim();
    if word.is_empty() {
        return Err("empty word: remove it or write the word between the quotes".into());
    }
    if let Some(inner) = regex_body(word) {
        if inner.trim().is_empty() {
            return Err(format!("empty regular expression `{word}`"));
        }
        let source = format!("(?i:{})", ascii_boundaries(inner));
        return regex_word(source)
            .map(Pattern::Regex)
            .map_err(|reason| format!("bad regular expression {written}: {reason}"));
    }
    if word == "*" {
        // "Anything at all": used on a header to say that the header is present.
        return Ok(Pattern::Anything);
    }
    let (suffix, rest) = match word.strip_prefix('*') {
        Some(rest) => (true, rest),
        None => (false, word),
    };
    let (prefix, core) = match rest.strip_suffix('*') {
        Some(core) => (true, core),
        None => (false, rest),
    };
    let core = core.trim();
    if core.is_empty() {
        return Err(format!("`{word}` has no letters besides the `*`"));
    }
    if core.contains('*') {
        return Err(format!(
            "`{word}`: a `*` may only stand at the start or the end of a word \
             (for anything more, write a regular expression between slashes)"
        ));
    }
    // An apostrophe also matches the typographic one (’) that mail programs put in
    // "haven’t"; a space any run of spaces and line breaks. `normalize` does that to
    // the text as well, so the word is one literal. (`core` is trimmed, so the
    // literal neither starts nor ends with a space.)
    let text = normalize(&lower(core));
    let first_is_word = text.chars().next().is_some_and(is_ascii_word);
    let last_is_word = text.chars().next_back().is_some_and(is_ascii_word);
    Ok(Pattern::Literal {
        text,
        left: first_is_word && !suffix,
        right: last_is_word && !prefix,
    })
}

/// The largest a user's regular expression may compile to (its NFA, as the regex
/// crate's `size_limit` counts it): far more than any word needs, but it refuses a
/// regex like `/\w{1000}/` that would make every message slow.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A `/regex/` word's regex checked, with the literals its matches start with, or
/// the reason it cannot be used, in the regex crate's words.
///
/// The regex itself is only compiled when a message first needs it (`scan`):
/// compiling costs 0.2–1 ms a regex (the regex crate builds several engines and
/// looks for literals in every case variant), too much for a thousand rules at
/// startup. Parsing finds the same syntax errors, and the forward NFA, on which the
/// size limit is measured, is a fraction of the work.
fn regex_word(source: String) -> Result<RegexWord, String> {
    use regex_automata::nfa::thompson::{Compiler, Config};
    thread_local! {
        // One compiler for every check: a new one sets up a 10,000-entry cache for
        // UTF-8 classes, which was most of the work for a short regex.
        static NFA: std::cell::RefCell<Compiler> = std::cell::RefCell::new({
            let mut c = Compiler::new();
            c.configure(Config::new().nfa_size_limit(Some(REGEX_SIZE_LIMIT)));
            c
        });
    }
    let hir = regex_syntax::Parser::new()
        .parse(&source)
        .map_err(|e| last_line(&e.to_string()))?;
    NFA.with(|c| match c.borrow().build_from_hir(&hir) {
        Ok(_) => Ok(()),
        // The regex crate's own message for this (`regex::Error::CompiledTooBig`).
        Err(e) if e.size_limit().is_some() => Err(format!(
            "Compiled regex exceeds size limit of {REGEX_SIZE_LIMIT} bytes."
        )),
        Err(e) => Err(last_line(&e.to_string())),
    })?;
    let seen = as_lower_case_text_has_it(&hir);
    Ok(RegexWord {
        prefixes: literals(&seen, End::Start),
        suffixes: literals(&seen, End::End),
        source,
    })
}

#[derive(Debug, Clone, Copy)]
enum End {
    Start,
    End,
}

/// The regex `hir` as it can match lower-cased text: every small class (what
/// `(?i)` makes of a letter: `[Kk\u{212A}]`) without the characters that text
/// cannot contain, so that a word's case variants do not multiply into hundreds of
/// literals, cut short by the extractor's limits (`unfortunately` would be 8,192).
/// Lower-cased text only contains characters that are their own lower case (tested
/// below), so the regex matches that text where it did. Only for finding literals.
fn as_lower_case_text_has_it(hir: &regex_syntax::hir::Hir) -> regex_syntax::hir::Hir {
    use regex_syntax::hir::{
        Capture, Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Repetition,
    };
    /// Larger classes give no literals anyway (the extractor's limit is 10).
    const SMALL: u32 = 64;
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => {
            let size: u32 = class
                .ranges()
                .iter()
                .map(|r| u32::from(r.end()) - u32::from(r.start()) + 1)
                .sum();
            if size > SMALL {
                return hir.clone();
            }
            let kept = class
                .ranges()
                .iter()
                .flat_map(|r| r.start()..=r.end())
                .filter(|&c| is_own_lower_case(c))
                .map(|c| ClassUnicodeRange::new(c, c));
            Hir::class(Class::Unicode(ClassUnicode::new(kept)))
        }
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(as_lower_case_text_has_it(&r.sub)),
            ..r.clone()
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            sub: Box::new(as_lower_case_text_has_it(&c.sub)),
            ..c.clone()
        }),
        HirKind::Concat(subs) => Hir::concat(subs.iter().map(as_lower_case_text_has_it).collect()),
        HirKind::Alternation(subs) => {
            Hir::alternation(subs.iter().map(as_lower_case_text_has_it).collect())
        }
        _ => hir.clone(),
    }
}

/// Whether `lower` leaves the character as it is, i.e. it can be in lower-cased text.
fn is_own_lower_case(c: char) -> bool {
    let mut folded = c.to_lowercase();
    folded.next() == Some(c)
        && folded.next().is_none()
        && !matches!(c, '\u{3000}' | '\u{ff10}'..='\u{ff19}' | '\u{ff21}'..='\u{ff3a}' | '\u{ff41}'..='\u{ff5a}')
}

/// Literals one of which every match of `hir` starts (or ends) with, as they
/// appear in normalized text; `None` if there is no such set (or it would contain
/// the empty string).
///
/// The text a regex runs on is lower-cased, and a literal found there is its own
/// lower case (`lower` changes nothing in lower-cased text; tested below), so
/// literals are lower-cased (and normalized, as the text is for the automaton). A
/// literal cut off inside a character by the extractor's length limit is shortened
/// to whole characters: a prefix of a prefix still starts every match, a suffix of
/// a suffix still ends it.
fn literals(hir: &regex_syntax::hir::Hir, end: End) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let kind = match end {
        End::Start => ExtractKind::Prefix,
        End::End => ExtractKind::Suffix,
    };
    let seq = Extractor::new().kind(kind).extract(hir);
    let mut out = Vec::new();
    for literal in seq.literals()? {
        let bytes = literal.as_bytes();
        let whole = match (std::str::from_utf8(bytes), end) {
            (Ok(s), _) => s,
            (Err(e), End::Start) => std::str::from_utf8(bytes.get(..e.valid_up_to())?).ok()?,
            (Err(_), End::End) => {
                // Drop the continuation bytes of a character whose start was cut off.
                let first = bytes.iter().position(|&b| !(0x80..0xc0).contains(&b))?;
                std::str::from_utf8(bytes.get(first..)?).ok()?
            }
        };
        let normal = normalize(&lower(whole));
        if normal.is_empty() {
            return None;
        }
        out.push(normal);
    }
    out.sort_unstable();
    out.dedup();
    if out.is_empty() { None } else { Some(out) }
}

/// The one line of a regex error that says what is wrong (the rest draws a caret
/// under a pattern the user never wrote, since ours wraps theirs).
fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().trim_start_matches("error:").trim().to_string())
        .unwrap_or_else(|| text.to_string())
}

fn regex_body(word: &str) -> Option<&str> {
    if word.len() >= 2 {
        word.strip_prefix('/')?.strip_suffix('/')
    } else {
        None
    }
}

/// Text as the patterns expect it: lower case, with full-width Latin letters and
/// digits (`ＡＳＡＰ`, `１２３１５`, typed with a Chinese input method) and the
/// ideographic space made ASCII. Full-width punctuation (，。) is left alone: Chinese
/// regexes name it.
///
/// Mail here is mostly Chinese, and `str::to_lowercase` looks every non-ASCII
/// character up in Unicode's tables: so ASCII and the blocks without case that
/// Chinese text is made of are done here, and anything else (Greek, with its final
/// sigma, Cyrillic, accented Latin…) by the standard library. Both give the same
/// for every character (tested below).
pub(crate) fn lower(text: &str) -> String {
    // ASCII, and U+3001–U+9FFF (three bytes led by E3–E9, but for U+3000, E3 80 80).
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        i += match b {
            0..0x80 => 1,
            0xe3 if bytes.get(i + 1..i + 3) == Some(&[0x80, 0x80]) => break,
            0xe3..=0xe9 => 3,
            _ => break,
        };
    }
    if i >= bytes.len() {
        let mut out = text.to_owned();
        out.make_ascii_lowercase();
        return out;
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let folded = match c {
            '\0'..='\x7f' => c.to_ascii_lowercase(),
            '\u{3000}' => ' ',
            '\u{3001}'..='\u{9fff}' => c,
            // Full-width capitals and small letters, and digits: ASCII.
            '\u{ff21}'..='\u{ff3a}' => ascii(c as u32 - 0xff21 + u32::from(b'a')),
            '\u{ff41}'..='\u{ff5a}' | '\u{ff10}'..='\u{ff19}' => ascii(c as u32 - 0xfee0),
            // The rest of the full-width and half-width forms has no case.
            '\u{ff00}'..='\u{ffef}' => c,
            _ => return lower_any(text),
        };
        out.push(folded);
    }
    out
}

fn ascii(code: u32) -> char {
    char::from_u32(code).unwrap_or('\u{fffd}')
}

/// `lower` for any text.
fn lower_any(text: &str) -> String {
    let lowered = text.to_lowercase();
    if !lowered.contains(is_fullwidth) {
        return lowered;
    }
    lowered
        .chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '\u{FF10}'..='\u{FF19}' | '\u{FF41}'..='\u{FF5A}' => {
                char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
            }
            _ => c,
        })
        .collect()
}

/// Full-width digits and lower-case letters (after lower-casing) and the ideographic space.
fn is_fullwidth(c: char) -> bool {
    matches!(c, '\u{3000}' | '\u{FF10}'..='\u{FF19}' | '\u{FF41}'..='\u{FF5A}')
}

/// Lower-cased text (`lower`) as plain words are looked for in it: every run of
/// white space (what a regex's `\s` matches) made one space, and the typographic
/// apostrophe (’) the ASCII one. Neither is an ASCII word character, so a word
/// boundary is found in the same places as before.
pub(crate) fn normalize(lowered: &str) -> String {
    let mut out = String::new();
    normalize_into(lowered, &mut out);
    out
}

/// `normalize` into a buffer the caller keeps from message to message.
///
/// Runs of bytes that stay as they are are copied whole; only ASCII white space and
/// characters led by C2, E1, E2 or E3 (where every other white space character and
/// `’` are) are looked at one by one. Tested against the plain definition below.
pub(crate) fn normalize_into(lowered: &str, out: &mut String) {
    out.clear();
    out.reserve(lowered.len());
    let bytes = lowered.as_bytes();
    let (mut copied, mut i, mut in_space) = (0, 0, false);
    while let Some(&b) = bytes.get(i) {
        let (instead, len) = match b {
            0..0x80 => (is_ascii_space(b).then_some(' '), 1),
            0xc2 | 0xe1 | 0xe2 | 0xe3 => {
                let c = lowered
                    .get(i..)
                    .and_then(|rest| rest.chars().next())
                    .unwrap_or('\0');
                let instead = match c {
                    '’' => Some('\''),
                    c if c.is_whitespace() => Some(' '),
                    _ => None,
                };
                (instead, c.len_utf8())
            }
            _ => (None, 1),
        };
        match instead {
            None => in_space = false,
            Some(c) => {
                out.push_str(lowered.get(copied..i).unwrap_or(""));
                if c != ' ' || !in_space {
                    out.push(c);
                }
                in_space = c == ' ';
                copied = i + len;
            }
        }
        i += len;
    }
    out.push_str(lowered.get(copied..).unwrap_or(""));
}

/// The ASCII characters that are white space to `char::is_whitespace` (and to a
/// regex's `\s`): tab, line feed, vertical tab, form feed, carriage return, space.
fn is_ascii_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

fn is_ascii_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Rewrites the word-boundary assertions of a user's regex (`\b`, `\B`, `\<`, `\>`)
/// to their ASCII forms, for the reason given in the module documentation.
/// Every other escape is copied as it is; `\\b` is an escaped backslash and a `b`.
fn ascii_boundaries(re: &str) -> String {
    let mut out = String::with_capacity(re.len() + 16);
    let mut chars = re.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(b @ ('b' | 'B' | '<' | '>')) if chars.peek() != Some(&'{') => {
                out.push_str("(?-u:\\");
                out.push(b);
                out.push(')');
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use regex::Regex;

    fn hits(word: &str, text: &str) -> bool {
        Regex::new(&translate(word).unwrap())
            .unwrap()
            .is_match(&lower(text))
    }

    #[test]
    fn english_words_match_whole_words_in_any_case() {
        assert!(hits("late", "Your delivery is LATE again"));
        assert!(!hits("late", "please translate this"));
        assert!(!hits("late", "latest news"));
        assert!(hits("late", "货物late了"));
        assert!(hits("ASAP", "订单ASAP处理"));
    }

    #[test]
    fn star_makes_a_prefix_or_a_suffix() {
        assert!(hits("complain*", "I complained twice"));
        assert!(hits("complain*", "complaint"));
        assert!(!hits("complain*", "uncomplaining"));
        assert!(hits("*ware", "software"));
        assert!(translate("com*plain").is_err());
        assert!(translate("*").is_ok());
        assert!(translate("**").is_err());
    }

    #[test]
    fn chinese_words_match_anywhere() {
        assert!(hits("投诉", "我要投诉你们"));
        assert!(hits("PO单", "附件是PO单"));
        assert!(!hits("PO单", "EXPO单"));
    }

    #[test]
    fn phrases_allow_any_spacing() {
        assert!(hits("late delivery", "late\r\n  delivery"));
        assert!(!hits("late delivery", "latedelivery"));
    }

    #[test]
    fn apostrophes_match_both_forms() {
        assert!(hits("haven't", "I haven’t got it"));
        assert!(hits("haven’t", "I HAVEN'T got it"));
        assert!(!hits("haven't", "havent"));
    }

    #[test]
    fn full_width_letters_and_digits_match_their_ascii_forms() {
        assert!(hits("ASAP", "请ＡＳＡＰ处理"));
        assert!(hits("12315", "我要打１２３１５"));
        assert!(hits("ＰＯ单", "附件是po单"));
        assert!(hits("late delivery", "late\u{3000}delivery"));
        assert!(hits("（广告）", "（广告）新品"));
    }

    #[test]
    fn punctuation_is_literal() {
        assert!(hits("a.b", "a.b"));
        assert!(!hits("a.b", "axb"));
        assert!(hits("(urgent)", "re: (URGENT) order"));
    }

    #[test]
    fn regex_words_are_case_insensitive_with_ascii_boundaries() {
        assert!(hits(r"/order\s*#?\d{5,}/", "ORDER #123456"));
        assert!(hits(r"/\bpo\b/", "请确认PO号"));
        assert!(!hits(r"/\bpo\b/", "report"));
        assert!(hits(r"/a\\b/", r"a\b"));
        assert!(matches!(parse("/x/"), Ok(Pattern::Regex(_))));
        assert!(matches!(parse("/"), Ok(Pattern::Literal { .. })));
        assert!(translate("//").is_err());
    }

    #[test]
    fn empty_words_are_refused() {
        assert!(translate("  ").is_err());
    }

    /// The regexes words stood for when the rules were one `RegexSet` per field;
    /// the scanner is tested against these (`scan`).
    #[test]
    fn words_stand_for_the_same_regexes_as_before() {
        let cases = [
            ("late", r"(?-u:\b)late(?-u:\b)"),
            ("Late  Delivery", r"(?-u:\b)late\s+delivery(?-u:\b)"),
            ("haven’t", r"(?-u:\b)haven(?:'|’)t(?-u:\b)"),
            ("complain*", r"(?-u:\b)complain"),
            ("*ware", r"ware(?-u:\b)"),
            ("投诉", "投诉"),
            ("PO单", r"(?-u:\b)po单"),
            ("ＰＯ单", r"(?-u:\b)po单"),
            ("a.b", r"(?-u:\b)a\.b(?-u:\b)"),
            ("(urgent)", r"\(urgent\)"),
            ("*", r"\S"),
            (r"/\bpo\b/", r"(?i:(?-u:\b)po(?-u:\b))"),
        ];
        for (word, regex) in cases {
            assert_eq!(translate(word).unwrap(), regex, "{word}");
        }
    }

    #[test]
    fn regex_words_are_checked_when_loaded() {
        let e = parse("/[unclosed/").unwrap_err();
        assert_eq!(
            e,
            "bad regular expression /[unclosed/: unclosed character class"
        );
        let e = parse(r"/\w{1000}/").unwrap_err();
        assert!(e.contains("exceeds size limit"), "{e}");
        let Ok(Pattern::Regex(re)) = parse(r"/(发票|Invoice)\s*no/") else {
            panic!("not a regex word");
        };
        assert_eq!(
            re.prefixes,
            Some(vec!["invoice".to_string(), "发票".to_string()])
        );
        assert_eq!(re.suffixes, Some(vec!["no".to_string()]));
        let Ok(Pattern::Regex(re)) = parse(r"/^\s*[12]\b/") else {
            panic!("not a regex word");
        };
        assert_eq!(re.prefixes, None, "nothing to wait for at the start");
        assert_eq!(re.suffixes, Some(vec!["1".to_string(), "2".to_string()]));
        let Ok(Pattern::Regex(re)) = parse(r"/^\s*\d/") else {
            panic!("not a regex word");
        };
        assert_eq!(
            (re.prefixes, re.suffixes),
            (None, None),
            "runs on every message"
        );
    }

    /// `prefixes` lower-cases the literals a regex starts with, which is only right
    /// if lower-casing changes nothing in text that is already lower case.
    #[test]
    fn lower_case_text_is_its_own_lower_case() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let once = lower(&c.to_string());
            assert_eq!(lower(&once), once, "{c:?} U+{:04X}", c as u32);
        }
        for text in ["ΣΑΣ Σ", "ὈΔΥΣΣΕΎΣ", "İstanbul"] {
            let once = lower(text);
            assert_eq!(lower(&once), once, "{text}");
        }
    }

    #[test]
    fn a_character_is_its_own_lower_case_when_lower_leaves_it() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let one = c.to_string();
            assert_eq!(
                is_own_lower_case(c),
                lower(&one) == one,
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn the_quick_lower_case_is_the_standard_one() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let text = c.to_string();
            assert_eq!(lower(&text), lower_any(&text), "U+{:04X}", c as u32);
        }
        for text in [
            "订单ＡＳＡＰ处理，Late！",
            "ΣΑΣ 订单",
            "Ａ\u{3000}b",
            "İ投诉",
        ] {
            assert_eq!(lower(text), lower_any(text), "{text}");
        }
    }

    /// `normalize` as defined, one character at a time.
    fn normalize_plainly(lowered: &str) -> String {
        let mut out = String::new();
        let mut in_space = false;
        for c in lowered.chars() {
            if c.is_whitespace() {
                if !in_space {
                    out.push(' ');
                }
                in_space = true;
            } else {
                out.push(if c == '’' { '\'' } else { c });
                in_space = false;
            }
        }
        out
    }

    #[test]
    fn the_quick_normalizing_is_the_plain_one() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            for text in [c.to_string(), format!("a{c} {c}{c}b"), format!(" {c}")] {
                assert_eq!(
                    normalize(&text),
                    normalize_plainly(&text),
                    "U+{:04X}",
                    c as u32
                );
            }
        }
    }

    #[test]
    fn normalizing_makes_every_space_one_and_apostrophes_plain() {
        assert_eq!(normalize("a \r\n\t\u{b}\u{c}b"), "a b");
        assert_eq!(normalize("\u{a0}a\u{85}\u{2028}b\u{3000}"), " a b ");
        assert_eq!(normalize("haven’t 投诉"), "haven't 投诉");
    }
}
