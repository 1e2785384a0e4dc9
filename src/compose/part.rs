//! The parts a mail carries besides its text: a relayed reply's attachments and the
//! images its HTML shows, a customer's photos passed on to the department.
//!
//! A part's bytes are, where they can be, the encoded body as it stands in the
//! ledger's copy of the message they came from, sent with the same transfer encoding:
//! the same bytes decode to the same file, nothing is decoded or encoded again, and
//! the outbox row keeps only where they are (see `compose::pieces`), so a 20 MB
//! attachment is stored once, in the ledger.
//!
//! Its name is written twice, as Thunderbird writes it by default and as clients
//! read it: RFC 2231 `filename*` (UTF-8, percent-encoded, in continuations of at
//! most 78 columns) in Content-Disposition, which Outlook, Thunderbird, Apple Mail,
//! Gmail and Python read, and RFC 2047 encoded words in Content-Type's quoted
//! `name`, which older Outlook, Foxmail and the Exmail and 163 web clients read.
//! RFC 2047 §5 does not bless words in a quoted string, so a strict reader notes
//! them there (tests/headers/strict.py allows exactly that one defect, on `name`,
//! and checks the name decodes back); the Content-Disposition is strict.

use std::ops::Range;

use lettre::message::header::{Header, HeaderName, HeaderValue};

use super::address;

/// How a part's body is carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartBody {
    /// The body as it stands in the ledger's copy of the message being answered,
    /// still encoded with `encoding` (base64, quoted-printable or 7bit: line-based,
    /// so its line ends can be made CRLF without changing what it decodes to).
    Ledger {
        range: Range<usize>,
        encoding: Encoding,
    },
    /// Decoded bytes (an 8bit or binary body, which SMTP cannot carry as it is):
    /// sent as base64.
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Base64,
    QuotedPrintable,
    SevenBit,
}

/// One part beside the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The file name, cleaned (see `message::attachments`): no control characters,
    /// no path, bounded.
    pub name: String,
    /// `type/subtype`, lower case, token characters only.
    pub content_type: String,
    /// Ours, without angle brackets: the part is an image the HTML shows, inline in
    /// multipart/related (RFC 2387), and the HTML says `cid:` this.
    pub content_id: Option<String>,
    pub body: PartBody,
    /// The decoded size, about (for the relay limit).
    pub size: usize,
}

macro_rules! raw_header {
    ($ty:ident, $name:literal) => {
        /// A header whose value is written here, folded, and given to lettre as it is.
        #[derive(Clone)]
        pub(super) struct $ty(pub String);

        impl Header for $ty {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($name)
            }

            fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok($ty(s.to_string()))
            }

            fn display(&self) -> HeaderValue {
                HeaderValue::dangerous_new_pre_encoded(
                    Self::name(),
                    self.0.replace("\r\n", ""),
                    self.0.clone(),
                )
            }
        }
    };
}

raw_header!(RawContentType, "Content-Type");
raw_header!(RawContentDisposition, "Content-Disposition");
raw_header!(RawContentId, "Content-ID");

impl Part {
    /// `Content-Type: type/subtype; name="…"`.
    pub(super) fn content_type_header(&self) -> RawContentType {
        let mut v = safe_type(&self.content_type);
        v.push_str(";\r\n name=");
        v.push_str(&quoted_words(&self.name, " name=".len()));
        // A name that needs no encoding is in Content-Disposition alone too.
        RawContentType(v)
    }

    /// `Content-Disposition: attachment|inline; filename*0*=…` (RFC 2231 alone: a
    /// second `filename` would be a duplicate parameter to a strict reader).
    pub(super) fn disposition_header(&self) -> RawContentDisposition {
        let mut v = String::from(if self.content_id.is_some() {
            "inline"
        } else {
            "attachment"
        });
        for piece in rfc2231("filename", &self.name) {
            v.push_str(";\r\n ");
            v.push_str(&piece);
        }
        RawContentDisposition(v)
    }

    pub(super) fn content_id_header(&self) -> Option<RawContentId> {
        self.content_id
            .as_ref()
            .map(|id| RawContentId(format!("<{id}>")))
    }
}

/// The type as it may stand in a header: RFC 2045 §5.1 tokens, else octet-stream.
fn safe_type(t: &str) -> String {
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    match t.split_once('/') {
        Some((a, b)) if token(a) && token(b) => t.to_ascii_lowercase(),
        _ => "application/octet-stream".into(),
    }
}

/// A name in a quoted string: as it is when it is printable ASCII that needs no
/// escape and cannot be taken for an encoded word, else RFC 2047 words, one fold
/// between each.
fn quoted_words(name: &str, used: usize) -> String {
    let plain = !name.contains("=?")
        && name
            .bytes()
            .all(|b| b == b' ' || (b.is_ascii_graphic() && b != b'"' && b != b'\\'));
    if plain && used + name.len() + 2 <= 78 {
        return format!("\"{name}\"");
    }
    // ` name="` and a word and `";` within 78 columns: 39 octets make 52
    // characters of base64, 64 with the word's frame.
    let words = address::encoded_words_of(name, 39);
    format!("\"{}\"", words.join("\r\n "))
}

/// RFC 2231 §3–4: `param*0*=UTF-8''…`, `param*1*=…`, each at most 78 columns with
/// the space before it; a short ASCII name in one piece.
fn rfc2231(param: &str, value: &str) -> Vec<String> {
    // Attribute characters (RFC 2231 §7) go as they are, the rest percent-encoded.
    let attr_char = |b: u8| b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b);
    let mut encoded: Vec<String> = Vec::new();
    for c in value.chars() {
        let mut buf = [0u8; 4];
        let s = c.encode_utf8(&mut buf);
        let piece: String = s
            .bytes()
            .map(|b| {
                if attr_char(b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        encoded.push(piece);
    }
    let mut out = Vec::new();
    let mut current = String::new();
    let mut n = 0;
    let head = |n: usize| {
        if n == 0 {
            format!("{param}*0*=UTF-8''")
        } else {
            format!("{param}*{n}*=")
        }
    };
    for piece in encoded {
        // One space before, ";" after: 76 columns for the piece itself.
        if !current.is_empty() && head(n).len() + current.len() + piece.len() > 76 {
            out.push(format!("{}{current}", head(n)));
            current.clear();
            n += 1;
        }
        current.push_str(&piece);
    }
    out.push(format!("{}{current}", head(n)));
    if out.len() == 1 {
        // One piece: no continuation number (RFC 2231 §4).
        let single = format!(
            "{param}*=UTF-8''{}",
            out.concat().split_once("''").map_or("", |(_, v)| v)
        );
        return vec![single];
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_chinese_name_is_written_both_ways_within_78_columns() {
        let p = Part {
            name: "整改报告（第二版）关于十一月二十七日交付延迟的原因分析与纠正措施.xlsx".into(),
            content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                .into(),
            content_id: None,
            body: PartBody::Bytes(vec![]),
            size: 0,
        };
        let d = p.disposition_header().0;
        assert!(
            d.starts_with("attachment;\r\n filename*0*=UTF-8''%E6%95%B4"),
            "{d}"
        );
        for line in d
            .split("\r\n")
            .chain(p.content_type_header().0.split("\r\n"))
        {
            assert!(line.len() <= 78, "{line}");
        }
        assert!(rfc2231("filename", "report.pdf") == vec!["filename*=UTF-8''report.pdf"]);
        assert_eq!(quoted_words("report.pdf", 10), "\"report.pdf\"");
        assert_eq!(safe_type("text/html\r\nX: y"), "application/octet-stream");
    }
}
