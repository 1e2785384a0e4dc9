//! The attachments and inline images of a stored message, as parts that a mail of
//! ours can carry (compose/part.rs): each with a clean name and type, and its body
//! as the range of the raw message where its encoded bytes stand, so that they go
//! out from the ledger without being decoded or held again.
//!
//! A large message is read through its skeleton (message/skeleton.rs): the bodies
//! of its base64 parts are never decoded here, only found; the skeleton's cuts say
//! where they are in the raw message.

use std::ops::Range;

use mail_parser::{MessageParser, MimeHeaders, PartType};

use super::html;
use super::skeleton::Skeleton;
use crate::compose::{Encoding, Part, PartBody};

/// File names longer than this lose their middle, not their extension.
const NAME_CHARS: usize = 120;

/// One attachment or inline image as the message has it.
#[derive(Debug, Clone)]
pub struct Found {
    /// `content_id` not yet set: the caller decides what is shown inline.
    pub part: Part,
    /// The message's own Content-ID, without angle brackets.
    pub cid: Option<String>,
    /// `Content-Disposition: attachment`.
    pub attachment: bool,
}

/// What a message carries besides its text.
#[derive(Debug, Default)]
pub struct Carried {
    pub found: Vec<Found>,
    /// Its HTML body, decoded, if it has one.
    pub html: Option<String>,
}

/// The attachments, inline images and HTML body of `raw` (a message as stored).
pub fn read(raw: &[u8]) -> Carried {
    let skeleton = (raw.len() >= 32 * 1024)
        .then(|| Skeleton::of(raw))
        .flatten();
    let (bytes, skeleton) = match &skeleton {
        Some(s) => (s.bytes.as_slice(), Some(s)),
        None => (raw, None),
    };
    let Some(parsed) = MessageParser::default().parse(bytes) else {
        return Carried::default();
    };
    let skeleton = skeleton.filter(|s| s.confirms(&parsed));
    // A skeleton the parse does not confirm is not used: parse the whole.
    if skeleton.is_none() && bytes.len() != raw.len() {
        return read_whole(raw);
    }
    collect(raw, &parsed, skeleton)
}

fn read_whole(raw: &[u8]) -> Carried {
    match MessageParser::default().parse(raw) {
        Some(parsed) => collect(raw, &parsed, None),
        None => Carried::default(),
    }
}

fn collect(raw: &[u8], parsed: &mail_parser::Message<'_>, skeleton: Option<&Skeleton>) -> Carried {
    let header = raw.get(..super::limits::header_end(raw)).unwrap_or(raw);
    let hint = super::charset::hint(parsed, header);
    let html = parsed
        .html_body
        .first()
        .and_then(|&id| parsed.parts.get(id as usize))
        .filter(|p| matches!(p.body, PartType::Html(_)))
        .and_then(|p| super::charset::part_text(p, raw_of(raw, skeleton), hint));
    let mut found = Vec::new();
    for (n, &id) in parsed.attachments.iter().enumerate() {
        let Some(part) = parsed.parts.get(id as usize) else {
            continue;
        };
        let ctype = part
            .content_type()
            .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("octet-stream")))
            .unwrap_or_else(|| "application/octet-stream".into());
        let range = body_range(part, skeleton);
        let Some(body) = body(raw, part, &range) else {
            continue;
        };
        let size = match &body {
            // Four characters of base64 are three bytes; line ends are none.
            PartBody::Ledger {
                range,
                encoding: Encoding::Base64,
            } => raw.get(range.clone()).map_or(0, |b| {
                b.iter().filter(|c| !c.is_ascii_whitespace()).count() / 4 * 3
            }),
            PartBody::Ledger { range, .. } => range.len(),
            PartBody::Bytes(b) => b.len(),
        };
        let name = clean_file_name(part.attachment_name(), n + 1, &ctype);
        let cid = part
            .content_id()
            .map(|c| c.trim().trim_matches(['<', '>']).to_string())
            .filter(|c| !c.is_empty());
        let attachment = part
            .content_disposition()
            .is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"));
        found.push(Found {
            part: Part {
                name,
                content_type: ctype,
                content_id: None,
                body,
                size,
            },
            cid,
            attachment,
        });
    }
    Carried { found, html }
}

/// The bytes offsets of the parse refer to: the skeleton's, when one was parsed.
fn raw_of<'a>(raw: &'a [u8], skeleton: Option<&'a Skeleton>) -> &'a [u8] {
    skeleton.map_or(raw, |s| s.bytes.as_slice())
}

/// Where the part's encoded body stands in the raw message.
fn body_range(part: &mail_parser::MessagePart<'_>, skeleton: Option<&Skeleton>) -> Range<usize> {
    let (start, end) = (part.offset_body as usize, part.offset_end as usize);
    let Some(s) = skeleton else {
        return start..end;
    };
    // A part whose body was cut is the cut.
    if let Some(i) = s.cuts.iter().position(|&c| c == start)
        && let Some(cut) = s.cut_ranges.get(i)
        && matches!(part.body, PartType::Binary(ref b) | PartType::InlineBinary(ref b) if b.is_empty())
    {
        return cut.clone();
    }
    let shift: usize = s
        .cuts
        .iter()
        .zip(&s.cut_ranges)
        .filter(|(c, _)| **c < start)
        .map(|(_, r)| r.len())
        .sum();
    start + shift..end + shift
}

/// The part's body as it can go out: its encoded bytes where they are line-based,
/// else its decoded bytes.
fn body(raw: &[u8], part: &mail_parser::MessagePart<'_>, range: &Range<usize>) -> Option<PartBody> {
    let bytes = raw.get(range.clone())?;
    // The line end before the next boundary belongs to the boundary (RFC 2046
    // §5.1.1), not to the body.
    let end = range.end
        - if bytes.ends_with(b"\r\n") {
            2
        } else {
            usize::from(bytes.ends_with(b"\n"))
        };
    let range = range.start..end.max(range.start);
    let encoding = match part.encoding {
        mail_parser::Encoding::Base64 => Some(Encoding::Base64),
        mail_parser::Encoding::QuotedPrintable => Some(Encoding::QuotedPrintable),
        mail_parser::Encoding::None => {
            let body = raw.get(range.clone())?;
            (body.is_ascii() && line_based(body)).then_some(Encoding::SevenBit)
        }
    };
    Some(match encoding {
        Some(encoding) => PartBody::Ledger { range, encoding },
        None => PartBody::Bytes(part.contents().to_vec()),
    })
}

/// No NUL, no bare CR, no line over 998 octets (RFC 5322 §2.1.1).
fn line_based(body: &[u8]) -> bool {
    !body.contains(&0)
        && body
            .split(|&b| b == b'\n')
            .all(|l| l.len() <= 999 && !l.strip_suffix(b"\r").unwrap_or(l).contains(&b'\r'))
}

/// A name that can stand in our header and on the reader's disk: control characters
/// and path separators gone, no leading dots, bounded; `attachment-N.ext` when the
/// message gave none.
pub fn clean_file_name(name: Option<&str>, n: usize, content_type: &str) -> String {
    let name = name.unwrap_or("");
    // A path ("C:\\Users\\x\\report.pdf", "../../etc/passwd") keeps its last part.
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = super::clean_text(last, 10_000)
        .chars()
        .map(|c| {
            if matches!(c, '"' | '*' | ':' | '<' | '>' | '?' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim().to_string();
    let cleaned = if cleaned.chars().count() > NAME_CHARS {
        let (stem, ext) = match cleaned.rsplit_once('.') {
            Some((s, e)) if e.chars().count() <= 10 => (s.to_string(), format!(".{e}")),
            _ => (cleaned.clone(), String::new()),
        };
        let keep = NAME_CHARS.saturating_sub(ext.chars().count() + 1);
        format!("{}…{ext}", stem.chars().take(keep).collect::<String>())
    } else {
        cleaned
    };
    if !cleaned.is_empty() {
        return cleaned;
    }
    let ext = match content_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "application/pdf" => "pdf",
        "message/rfc822" => "eml",
        "text/plain" => "txt",
        _ => "bin",
    };
    format!("attachment-{n}.{ext}")
}

/// The HTML text of a message for the relay (html.rs), if it has an HTML body.
pub fn html_text(carried: &Carried) -> Option<String> {
    carried.html.as_deref().map(html::to_text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_and_bounded() {
        assert_eq!(
            clean_file_name(Some("..\\..\\evil\r\n.pdf"), 1, "x/y"),
            "evil .pdf"
        );
        assert_eq!(
            clean_file_name(Some("整改报告.xlsx"), 1, "x/y"),
            "整改报告.xlsx"
        );
        assert_eq!(clean_file_name(None, 2, "image/jpeg"), "attachment-2.jpg");
        assert_eq!(
            clean_file_name(Some("../.."), 3, "application/pdf"),
            "attachment-3.pdf"
        );
        let long = clean_file_name(Some(&format!("{}.pdf", "长".repeat(300))), 1, "x/y");
        assert!(
            long.ends_with(".pdf") && long.chars().count() <= NAME_CHARS,
            "{long}"
        );
    }

    /// A large message read through its skeleton finds each base64 body where the
    /// whole parse does.
    #[test]
    fn bodies_are_found_in_the_raw_message_through_the_skeleton() {
        use base64::Engine as _;
        let pdf: Vec<u8> = (0..60_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&pdf);
        let wrapped: String = b64
            .as_bytes()
            .chunks(76)
            .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
            .collect();
        let raw = format!(
            "From: a@b.c\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
             --b\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{wrapped}\
             --b\r\nContent-Type: text/plain; name=\"n.txt\"\r\nContent-Disposition: attachment\r\n\r\nplain text\r\n\
             --b--\r\n"
        );
        let c = read(raw.as_bytes());
        assert_eq!(c.found.len(), 2);
        let PartBody::Ledger { range, encoding } = &c.found[0].part.body else {
            panic!("{:?}", c.found[0].part.body)
        };
        assert_eq!(*encoding, Encoding::Base64);
        let encoded: Vec<u8> = raw.as_bytes()[range.clone()]
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap(),
            pdf
        );
        assert_eq!(c.found[0].part.name, "a.pdf");
        let PartBody::Ledger { range, .. } = &c.found[1].part.body else {
            panic!()
        };
        assert_eq!(&raw.as_bytes()[range.clone()], b"plain text");
    }
}
