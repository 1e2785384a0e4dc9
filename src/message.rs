//! An incoming message as the rest of the pipeline sees it.
//!
//! mail-parser does the hard part (MIME, RFC 2047 words, most charsets); this module
//! turns its borrowed tree into a small owned view with just what intake, threading
//! and the rules need. `charset` decodes again what mail-parser had to guess, part by
//! part; `limits` bounds what one message may cost; `skeleton` spares large mail the
//! decoding of attachments nobody here reads. Parsing never panics: damaged
//! mail yields `Err` with a reason that is stored in the quarantine, and the raw
//! bytes are kept by the ledger whatever happens here.
//!
//! Everything in the view is safe to put in a header of our own mail: no control
//! characters (CR, LF, NUL…) in the subject or names, bounded lengths, Message-IDs
//! without spaces or controls.

pub mod attachments;
pub mod charset;
pub mod html;
pub mod limits;
pub mod skeleton;

use mail_parser::{HeaderValue, MessageParser, MimeHeaders};

use skeleton::Skeleton;

/// How much body text the rules look at. Complaints say what they are about early;
/// bounding the text bounds the cost of one message whatever its size.
const BODY_TEXT_LIMIT: usize = 64 * 1024;
/// A subject longer than this loses its middle (see `clean_text`): it goes into case
/// lists and the subjects of our own mail.
const SUBJECT_CHARS: usize = 1000;
/// Display names longer than this lose their middle.
const NAME_CHARS: usize = 200;
/// RFC 5322 §2.1.1: no line over 998 characters, so no Message-ID either.
const MESSAGE_ID_BYTES: usize = 998;
/// Mail at least this large is parsed without its attachments' bodies (see
/// [`skeleton`]); below it the walk would cost more than the decoding it saves.
const SKELETON_FROM_BYTES: usize = 32 * 1024;

/// Which bodies the parser reads. The view is the same either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bodies {
    /// Every body, decoded.
    All,
    /// Base64 attachments left out where the MIME structure allows (see [`skeleton`]).
    TextOnly,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub name: Option<String>,
    /// Lower-cased `local@domain`.
    pub email: String,
}

impl Address {
    pub fn domain(&self) -> &str {
        self.email.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }

    pub fn local_part(&self) -> &str {
        self.email
            .split_once('@')
            .map(|(l, _)| l)
            .unwrap_or(&self.email)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Zh,
    En,
}

impl Language {
    pub fn code(self) -> &'static str {
        match self {
            Language::Zh => "zh",
            Language::En => "en",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Message {
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub subject: String,
    pub from: Address,
    pub reply_to: Option<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    /// Message-IDs from In-Reply-To and References, without angle brackets.
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// The first text body (HTML converted to text), at most `BODY_TEXT_LIMIT` bytes.
    pub body: String,
    /// Every header as (name, decoded value), in message order.
    pub headers: Vec<(String, String)>,
    /// The envelope sender from Return-Path, lower-cased; `Some("")` for the null path `<>`.
    pub return_path: Option<String>,
    pub is_multipart_report: bool,
    pub attachment_count: usize,
    pub size: usize,
}

impl Message {
    /// Parses raw RFC 5322 bytes. Fails only when there is nothing a person could act
    /// on, or when the message is over one of the [`limits`]. Mail from
    /// SKELETON_FROM_BYTES up is read without its base64 attachments' bodies.
    pub fn parse(raw: &[u8]) -> Result<Message, String> {
        let bodies = if raw.len() >= SKELETON_FROM_BYTES {
            Bodies::TextOnly
        } else {
            Bodies::All
        };
        Message::parse_reading(raw, bodies)
    }

    /// [`Message::parse`], told which bodies to read.
    pub fn parse_reading(raw: &[u8], bodies: Bodies) -> Result<Message, String> {
        let header_len = limits::check_header(raw)?;
        if let Some(skeleton) = (bodies == Bodies::TextOnly)
            .then(|| Skeleton::of(raw))
            .flatten()
        {
            let parsed = MessageParser::default().parse(&skeleton.bytes);
            if let Some(parsed) = parsed.filter(|p| skeleton.confirms(p)) {
                return Message::from_parsed(&skeleton.bytes, &parsed, header_len, raw.len());
            }
        }
        let parsed = MessageParser::default()
            .parse(raw)
            .ok_or_else(|| "not a mail message: no header block could be read".to_string())?;
        Message::from_parsed(raw, &parsed, header_len, raw.len())
    }

    /// The view of a parsed message. `raw` is what was parsed: the message or its
    /// skeleton, whose header block is the same; `size` is the message's own.
    fn from_parsed(
        raw: &[u8],
        parsed: &mail_parser::Message<'_>,
        header_len: usize,
        size: usize,
    ) -> Result<Message, String> {
        limits::check_tree(parsed)?;
        let header = raw.get(..header_len).unwrap_or(raw);
        let hint = charset::hint(parsed, header);
        // Raw 8-bit header lines (no RFC 2047) are read again in the message's charset.
        let transcoded = charset::transcode_header(header, hint);
        let reparsed = transcoded
            .as_deref()
            .and_then(|h| MessageParser::default().parse_headers(h));
        let hv = reparsed.as_ref().unwrap_or(parsed);
        let header_raw: &[u8] = transcoded.as_deref().unwrap_or(raw);
        // RFC 5322 requires From; mail that lost it (broken gateways, hand-made scripts)
        // still says who sent it in Sender, Reply-To or the envelope's Return-Path.
        let from = [hv.from(), hv.sender(), hv.reply_to()]
            .into_iter()
            .flatten()
            .find_map(|a| a.first().and_then(convert_addr))
            .or_else(|| {
                let rp = hv.return_address()?.trim().to_lowercase();
                (rp.contains('@') && !rp.chars().any(|c| c.is_control() || c.is_whitespace()))
                    .then_some(Address {
                        name: None,
                        email: rp,
                    })
            })
            .ok_or_else(|| {
                "no sender: no address in From, Sender, Reply-To or Return-Path".to_string()
            })?;
        let headers: Vec<(String, String)> = hv
            .headers()
            .iter()
            .map(|h| {
                let name = h.name.as_str().to_string();
                let value = match &h.value {
                    HeaderValue::Text(t) => t.to_string(),
                    HeaderValue::TextList(l) => l.join(", "),
                    _ => raw_header_value(header_raw, h.offset_start, h.offset_end),
                };
                (name, value)
            })
            .collect();
        let mut body = parsed
            .text_body
            .first()
            .and_then(|&id| parsed.parts.get(id as usize))
            .and_then(|part| {
                let text = charset::part_text(part, raw, hint)?;
                Some(match part.body {
                    mail_parser::PartType::Html(_) => html::to_text(&text),
                    _ => text,
                })
            })
            .unwrap_or_default();
        truncate_at_char_boundary(&mut body, BODY_TEXT_LIMIT);
        let is_multipart_report = hv
            .root_part()
            .content_type()
            .map(|ct| {
                ct.ctype().eq_ignore_ascii_case("multipart")
                    && ct
                        .subtype()
                        .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            })
            .unwrap_or(false);
        let return_path = hv.header_raw("Return-Path").map(|rp| {
            rp.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim()
                .to_lowercase()
        });
        Ok(Message {
            message_id: hv.message_id().and_then(clean_id),
            subject: clean_text(hv.subject().unwrap_or(""), SUBJECT_CHARS),
            from,
            reply_to: hv.reply_to().and_then(|a| a.first()).and_then(convert_addr),
            to: hv
                .to()
                .map(|a| a.iter().filter_map(convert_addr).collect())
                .unwrap_or_default(),
            cc: hv
                .cc()
                .map(|a| a.iter().filter_map(convert_addr).collect())
                .unwrap_or_default(),
            in_reply_to: id_list(hv.in_reply_to()),
            references: id_list(hv.references()),
            body,
            headers,
            return_path,
            is_multipart_report,
            attachment_count: parsed.attachment_count(),
            size,
        })
    }

    /// The message as its header block alone says (at most the header limit of it):
    /// who sent it and what about, for the ledger row of a message that is quarantined
    /// before its body is read.
    pub fn parse_header(raw: &[u8]) -> Result<Message, String> {
        // Room for the empty line that ends it, within the limit.
        let head = raw.get(..limits::HEADER_BLOCK_BYTES - 4).unwrap_or(raw);
        let mut header = head
            .get(..limits::header_end(head))
            .unwrap_or(head)
            .to_vec();
        header.extend_from_slice(b"\r\n");
        Message::parse(&header)
    }

    /// The decoded value of the first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Where an answer to this message goes: Reply-To if given, else From.
    pub fn reply_address(&self) -> &Address {
        self.reply_to.as_ref().unwrap_or(&self.from)
    }

    /// Chinese when the subject and the start of the body hold a fair share of Han
    /// characters; English otherwise. Mail from this company's users is one or the other.
    pub fn language(&self) -> Language {
        let sample = self.subject.chars().chain(self.body.chars().take(2000));
        let (mut han, mut letters) = (0usize, 0usize);
        for c in sample {
            if is_han(c) {
                han += 1;
                letters += 1;
            } else if c.is_alphabetic() {
                letters += 1;
            }
        }
        // A Chinese character carries about as much as an English word of ~5 letters.
        if han >= 2 && han * 5 >= letters / 4 {
            Language::Zh
        } else {
            Language::En
        }
    }
}

fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

fn convert_addr(addr: &mail_parser::Addr<'_>) -> Option<Address> {
    let email = addr.address.as_deref()?.trim().to_lowercase();
    // An address with spaces or control characters in it is no address to answer.
    if email.is_empty() || email.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return None;
    }
    let name = addr
        .name
        .as_deref()
        .map(|n| clean_text(n, NAME_CHARS))
        .filter(|n| !n.is_empty());
    Some(Address { name, email })
}

/// Text from a header made safe for any header of ours: control characters (CR, LF,
/// NUL, ESC…) become spaces, runs of spaces one, and at most about `max` characters.
/// A longer text keeps its start and its end (where case tags and "Re:" live) around
/// a " … ".
pub fn clean_text(text: &str, max: usize) -> String {
    let mut out: Vec<char> = Vec::with_capacity(text.len().min(max * 4));
    let mut space = false;
    for c in text.trim().chars() {
        let c = if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            ' '
        } else {
            c
        };
        if c == ' ' {
            if space {
                continue;
            }
            space = true;
        } else {
            space = false;
        }
        out.push(c);
    }
    if out.len() <= max {
        return out.into_iter().collect::<String>().trim_end().to_string();
    }
    let tail = (max / 10).max(1);
    let head: String = out.iter().take(max.saturating_sub(tail)).collect();
    let end: String = out.iter().skip(out.len() - tail).collect();
    format!("{} … {}", head.trim_end(), end.trim_start())
}

/// A Message-ID we can repeat in In-Reply-To and References: no spaces, no control
/// characters, no longer than a header line.
fn clean_id(id: &str) -> Option<String> {
    let id = id.trim();
    (!id.is_empty()
        && id.len() <= MESSAGE_ID_BYTES
        && !id
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>'))
    .then(|| id.to_string())
}

fn id_list(value: &HeaderValue<'_>) -> Vec<String> {
    value
        .as_text_list()
        .map(|l| l.iter().filter_map(|id| clean_id(id)).collect())
        .unwrap_or_default()
}

fn raw_header_value(raw: &[u8], start: u32, end: u32) -> String {
    raw.get(start as usize..end as usize)
        .map(|b| {
            String::from_utf8_lossy(b)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

pub fn truncate_at_char_boundary(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gbk_complaint() {
        let mut raw = b"From: =?GBK?B?1cXI/Q==?= <zhangsan@client.cn>\r\nTo: support@example.com\r\nSubject: test\r\nMessage-ID: <a1@client.cn>\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n".to_vec();
        // "货物延迟交付" in GBK
        raw.extend_from_slice(&[
            0xBB, 0xF5, 0xCE, 0xEF, 0xD1, 0xD3, 0xB3, 0xD9, 0xBD, 0xBB, 0xB8, 0xB6,
        ]);
        let m = Message::parse(&raw).unwrap();
        assert_eq!(m.from.email, "zhangsan@client.cn");
        assert_eq!(m.from.name.as_deref(), Some("张三"));
        assert!(m.body.contains("货物延迟交付"), "{}", m.body);
        assert_eq!(m.message_id.as_deref(), Some("a1@client.cn"));
        assert_eq!(m.language(), Language::Zh);
    }

    #[test]
    fn gbk_only_characters_under_a_gb2312_label_survive() {
        // 喆 and 堃 are in GBK but not in GB2312; Chinese clients label such mail gb2312.
        let mut raw =
            b"From: a@client.cn\r\nSubject: x\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n"
                .to_vec();
        raw.extend_from_slice(&[0x86, 0xB4, 0x88, 0xD2]);
        let m = Message::parse(&raw).unwrap();
        assert_eq!(m.body.trim(), "喆堃");
    }

    #[test]
    fn no_from_is_an_error() {
        let err = Message::parse(b"Subject: hi\r\n\r\nbody").unwrap_err();
        assert!(err.contains("From"), "{err}");
    }

    #[test]
    fn english_mail_is_english() {
        let m =
            Message::parse(b"From: a@b.com\r\nSubject: Late delivery\r\n\r\nOur order is late.")
                .unwrap();
        assert_eq!(m.language(), Language::En);
    }
}
