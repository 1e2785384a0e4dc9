//! From a word as a department head writes it to the regular expression it stands for.
//!
//! The people who edit the rule files are not programmers, so a word means what it
//! looks like: `投诉` is found anywhere (Chinese has no spaces between words), `late`
//! only as a whole English word (not inside `translate`), `complain*` also as the start
//! of a longer word (`complained`, `complaints`), `late delivery` with any spacing or
//! line break between the two words, and case never matters. Only a word written
//! between slashes, `/订单号\s*\d+/`, is a regular expression.
//!
//! Word boundaries are ASCII boundaries, `(?-u:\b)`: next to a Chinese character an
//! English word still counts as a whole word (`订单ASAP处理`), and the regex crate's
//! lazy DFA can run an ASCII boundary over non-ASCII text, where a Unicode `\b` would
//! make it give up and fall back to a much slower engine for the whole field.
//!
//! Case: plain words are lower-cased here and the text is lower-cased once per
//! message before matching (`compile`), instead of compiling words with `(?i)`.
//! Measured with regex 1.13: a set of 3,000 English words takes about 6 s to build
//! with `(?i-u)` and under 0.1 s as lower-case literals, at the same matching speed.
//! `/regex/` words keep `(?i)`, so they behave the same on lower-cased text.

/// The pattern for one word, or the reason it cannot be one. The pattern is meant
/// for lower-cased text (see `lower`).
///
/// The result is always a valid regex for a plain word; a `/regex/` word is checked
/// by the caller, who knows where in the file it came from.
pub(crate) fn translate(word: &str) -> Result<String, String> {
    let word = word.trim();
    if word.is_empty() {
        return Err("empty word: remove it or write the word between the quotes".into());
    }
    if let Some(inner) = regex_body(word) {
        if inner.trim().is_empty() {
            return Err(format!("empty regular expression `{word}`"));
        }
        return Ok(format!("(?i:{})", ascii_boundaries(inner)));
    }
    if word == "*" {
        // "Anything at all": used on a header to say that the header is present.
        return Ok(r"\S".into());
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
    let folded = lower(core);
    // An apostrophe also matches the typographic one (’) that mail programs put in
    // "haven’t"; a space any run of spaces and line breaks.
    let body = folded
        .split_whitespace()
        .map(|piece| regex::escape(piece).replace(['\'', '’'], "(?:'|’)"))
        .collect::<Vec<_>>()
        .join(r"\s+");
    let first_is_word = folded.chars().next().is_some_and(is_ascii_word);
    let last_is_word = folded.chars().next_back().is_some_and(is_ascii_word);
    let left = if first_is_word && !suffix {
        r"(?-u:\b)"
    } else {
        ""
    };
    let right = if last_is_word && !prefix {
        r"(?-u:\b)"
    } else {
        ""
    };
    Ok(format!("{left}{body}{right}"))
}

/// Whether this word is written as a regular expression, `/like this/`.
pub(crate) fn is_regex(word: &str) -> bool {
    regex_body(word.trim()).is_some()
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
pub(crate) fn lower(text: &str) -> String {
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
        assert!(is_regex("/x/"));
        assert!(!is_regex("/"));
        assert!(translate("//").is_err());
    }

    #[test]
    fn empty_words_are_refused() {
        assert!(translate("  ").is_err());
    }
}
