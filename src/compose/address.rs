//! Address headers (From, To, Reply-To) written by us, strictly to RFC 5322.
//!
//! lettre's header encoder writes a display name made only of letters, digits and
//! `-_.` as it is, so a sender named `.` got `To: . <user@example.com>`, which is no
//! phrase (RFC 5322 §3.2.5: a phrase is one or more atoms or quoted strings, and `.`
//! is a special, §3.2.3). Here a name is written as atoms only when every word is
//! atext; as a quoted string when it is printable ASCII with specials (§3.2.4,
//! backslash-escaping `"` and `\`); and as RFC 2047 encoded words (UTF-8, base64,
//! at most 75 characters each, §2) when it has anything else, folded so that no line
//! passes 78 characters (RFC 5322 §2.1.1).

use lettre::message::Mailbox;
use lettre::message::header::{HeaderName, HeaderValue};

/// The header `name: mailbox`, encoded here. lettre reads the raw value back only to
/// see that there is a From before it builds: the same text, unfolded, serves (and
/// unlike lettre's Display of a mailbox it cannot fail, so it cannot panic).
pub fn header(name: &'static str, mailbox: &Mailbox) -> HeaderValue {
    let encoded = encode(name.len() + 2, mailbox);
    HeaderValue::dangerous_new_pre_encoded(
        HeaderName::new_from_ascii_str(name),
        encoded.replace("\r\n", ""),
        encoded,
    )
}

/// `mailbox` as it goes after a header name and ": " that take `used` columns.
pub fn encode(used: usize, mailbox: &Mailbox) -> String {
    let address = mailbox.email.to_string();
    let name = mailbox.name.as_deref().map(str::trim).unwrap_or("");
    if name.is_empty() {
        return address;
    }
    let mut out = String::new();
    let mut column = used;
    // Text that looks like an encoded word is encoded itself, or readers would
    // decode it (RFC 2047 §5 leaves "=?" in atoms and quoted strings ambiguous).
    let looks_encoded = name.contains("=?");
    if is_atoms(name) && !looks_encoded {
        // Single spaces between the atoms: runs of white space say nothing more.
        let phrase = name.split_whitespace().collect::<Vec<_>>().join(" ");
        column += phrase.len();
        out.push_str(&phrase);
    } else if !looks_encoded && name.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        out.push('"');
        for c in name.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        column += out.len();
    } else {
        column = push_words(&mut out, column, &encoded_words(name));
    }
    if column + 2 + address.len() + 1 > 78 {
        out.push_str("\r\n");
    }
    out.push_str(" <");
    out.push_str(&address);
    out.push('>');
    out
}

/// Every word made of atext (RFC 5322 §3.2.3), separated by spaces.
fn is_atoms(name: &str) -> bool {
    name.split_whitespace().next().is_some()
        && name.split_whitespace().all(|w| w.bytes().all(is_atext))
        && name.bytes().all(|b| b == b' ' || is_atext(b))
}

fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// A Subject header's value: as it is when it is printable ASCII that cannot be
/// mistaken for encoded words, folded at spaces; else encoded words. (lettre wrote
/// ASCII runs of a subject as they were, so a subject containing "=?utf-8?q?x?=" was
/// decoded by every reader into something else.)
pub fn subject(text: &str) -> HeaderValue {
    let used = "Subject: ".len();
    let mut out = String::new();
    if !text.contains("=?") && text.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        let words: Vec<String> = text.split(' ').map(str::to_string).collect();
        // Unstructured text keeps its spaces: the fold goes before one of them.
        let mut column = used;
        for (i, w) in words.iter().enumerate() {
            if i > 0 {
                if column + 1 + w.len() > 78 && column > used {
                    out.push_str("\r\n");
                    column = 0;
                }
                out.push(' ');
                column += 1;
            }
            out.push_str(w);
            column += w.len();
        }
    } else {
        push_words(&mut out, used, &encoded_words(text));
    }
    HeaderValue::dangerous_new_pre_encoded(
        HeaderName::new_from_ascii_str("Subject"),
        text.to_string(),
        out,
    )
}

/// Writes encoded words separated by spaces, folding before a word that would pass
/// column 78; returns the column after the last.
fn push_words(out: &mut String, mut column: usize, words: &[String]) -> usize {
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            if column + 1 + word.len() > 78 {
                out.push_str("\r\n");
                column = 0;
            }
            out.push(' ');
            column += 1;
        }
        out.push_str(word);
        column += word.len();
    }
    column
}

/// `text` as `=?utf-8?b?…?=` words of at most 75 characters, each holding whole
/// characters (RFC 2047 §5: a multi-octet character is not split across words).
/// A word ends after a space where it can: the white space between encoded words is
/// not part of the text (RFC 2047 §6.2), but some readers (Python's email package)
/// keep it, and a break at a space reads right either way.
fn encoded_words(text: &str) -> Vec<String> {
    // 75 - len("=?utf-8?b?") - len("?=") = 63 characters of base64: 45 octets.
    encoded_words_of(text, 45)
}

/// [`encoded_words`] of at most `octets` octets each (a multiple of 3 fills the
/// base64 of each word).
pub(super) fn encoded_words_of(text: &str, octets: usize) -> Vec<String> {
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        // A control character cannot be in a header; clean_text removed those from
        // what reaches us, and any left become a space.
        let c = if c.is_control() { ' ' } else { c };
        if chunk.len() + c.len_utf8() > octets {
            let rest = match chunk.rfind(' ') {
                Some(at) if at + 1 < chunk.len() => chunk.split_off(at + 1),
                _ => String::new(),
            };
            words.push(word(&chunk));
            chunk = rest;
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(word(&chunk));
    }
    words
}

fn word(chunk: &str) -> String {
    format!("=?utf-8?b?{}?=", base64(chunk.as_bytes()))
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use lettre::message::Mailbox;

    fn to(name: &str) -> String {
        let m = Mailbox::new(Some(name.into()), "user@example.com".parse().unwrap());
        super::encode(4, &m)
    }

    #[test]
    fn a_name_of_specials_is_quoted_and_only_atoms_go_bare() {
        assert_eq!(to("."), "\".\" <user@example.com>");
        assert_eq!(to("John.Smith"), "\"John.Smith\" <user@example.com>");
        assert_eq!(to("Sarah  Jones"), "Sarah Jones <user@example.com>");
        assert_eq!(
            to("a \"b\" \\c"),
            "\"a \\\"b\\\" \\\\c\" <user@example.com>"
        );
        assert_eq!(
            to("=?utf-8?q?x?="),
            "=?utf-8?b?PT91dGYtOD9xP3g/PQ==?= <user@example.com>"
        );
        assert_eq!(to("客服"), "=?utf-8?b?5a6i5pyN?= <user@example.com>");
    }

    #[test]
    fn long_names_fold_and_no_encoded_word_passes_75_characters() {
        let encoded = to(&"客户服务部".repeat(12));
        for line in encoded.split("\r\n") {
            assert!(line.len() <= 78, "{line}");
            for word in line.split(' ').filter(|w| w.starts_with("=?")) {
                assert!(word.len() <= 75, "{word}");
            }
        }
    }
}
