//! An incoming message as the rest of the pipeline sees it.
//!
//! mail-parser does the hard part (MIME, every charset, RFC 2047 words); this module
//! turns its borrowed tree into a small owned view with just what intake, threading
//! and the rules need. Parsing never panics: damaged mail yields `Err` with a reason
//! that is stored in the quarantine.

use mail_parser::{HeaderValue, MessageParser, MimeHeaders};

/// How much body text the rules look at. Complaints say what they are about early;
/// bounding the text bounds the cost of one message whatever its size.
const BODY_TEXT_LIMIT: usize = 64 * 1024;

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
    /// Parses raw RFC 5322 bytes. Fails only when there is nothing a person could act on.
    pub fn parse(raw: &[u8]) -> Result<Message, String> {
        let parsed = MessageParser::default()
            .parse(raw)
            .ok_or_else(|| "not a mail message: no header block could be read".to_string())?;
        // RFC 5322 requires From; mail that lost it (broken gateways, hand-made scripts)
        // still says who sent it in Sender, Reply-To or the envelope's Return-Path.
        let from = [parsed.from(), parsed.sender(), parsed.reply_to()]
            .into_iter()
            .flatten()
            .find_map(|a| a.first().and_then(convert_addr))
            .or_else(|| {
                let rp = parsed.return_address()?.trim().to_lowercase();
                rp.contains('@').then_some(Address {
                    name: None,
                    email: rp,
                })
            })
            .ok_or_else(|| {
                "no sender: no address in From, Sender, Reply-To or Return-Path".to_string()
            })?;
        let headers: Vec<(String, String)> = parsed
            .headers()
            .iter()
            .map(|h| {
                let name = h.name.as_str().to_string();
                let value = match &h.value {
                    HeaderValue::Text(t) => t.to_string(),
                    HeaderValue::TextList(l) => l.join(", "),
                    _ => raw_header_value(raw, h.offset_start, h.offset_end),
                };
                (name, value)
            })
            .collect();
        let mut body = parsed
            .body_text(0)
            .map(|b| b.into_owned())
            .unwrap_or_default();
        truncate_at_char_boundary(&mut body, BODY_TEXT_LIMIT);
        let is_multipart_report = parsed
            .root_part()
            .content_type()
            .map(|ct| {
                ct.ctype().eq_ignore_ascii_case("multipart")
                    && ct
                        .subtype()
                        .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            })
            .unwrap_or(false);
        let return_path = parsed.header_raw("Return-Path").map(|rp| {
            rp.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim()
                .to_lowercase()
        });
        Ok(Message {
            message_id: parsed
                .message_id()
                .map(|id| id.trim().to_string())
                .filter(|id| !id.is_empty()),
            subject: parsed.subject().unwrap_or("").trim().to_string(),
            from,
            reply_to: parsed
                .reply_to()
                .and_then(|a| a.first())
                .and_then(convert_addr),
            to: parsed
                .to()
                .map(|a| a.iter().filter_map(convert_addr).collect())
                .unwrap_or_default(),
            cc: parsed
                .cc()
                .map(|a| a.iter().filter_map(convert_addr).collect())
                .unwrap_or_default(),
            in_reply_to: id_list(parsed.in_reply_to()),
            references: id_list(parsed.references()),
            body,
            headers,
            return_path,
            is_multipart_report,
            attachment_count: parsed.attachment_count(),
            size: raw.len(),
        })
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
    if email.is_empty() {
        return None;
    }
    let name = addr
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    Some(Address { name, email })
}

fn id_list(value: &HeaderValue<'_>) -> Vec<String> {
    value
        .as_text_list()
        .map(|l| {
            l.iter()
                .map(|id| id.trim().to_string())
                .filter(|id| !id.is_empty())
                .collect()
        })
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
