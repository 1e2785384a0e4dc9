//! The message with the bodies of its base64 attachments left out, for parsing.
//!
//! Intake reads a message's header, its first text body and its shape. An attached
//! 5 MB PDF is none of those, yet mail-parser decodes every base64 body while it
//! looks for where the part ends: on the benchmark's mix that decoding was a fifth of
//! all of intake's time. The skeleton is the message with each such body cut out, so
//! that the parser sees the same tree with those parts empty. The ledger keeps the raw
//! message whole; only the parser's input is smaller.
//!
//! The walk follows mail-parser's own reading: a part ends at the first
//! `--boundary` of the innermost multipart, wherever it stands on a line, and an
//! unencoded `message/rfc822` part goes on in the same stream. A body is cut only when
//! every byte of it is base64 (alphabet, padding, white space) up to that boundary, so
//! the parser would have found the same end and had no error to recover from. Then
//! [`Skeleton::confirms`] checks the parse of the skeleton: every cut must come out as
//! an empty binary part whose body starts at the cut. Mail the two read differently
//! (malformed MIME) is parsed whole, as before.

use std::ops::Range;

use mail_parser::{MessageParser, MimeHeaders, PartType};

use super::limits;

/// A body shorter than this is left in: cutting it saves less than the walk costs.
const CUT_FROM_BYTES: usize = 1024;

pub struct Skeleton {
    pub bytes: Vec<u8>,
    /// Where each body was cut out, as offsets into `bytes`, ascending.
    pub cuts: Vec<usize>,
    /// The same bodies as ranges of the raw message (message/attachments.rs maps a
    /// part of the skeleton back to its bytes in the ledger with them).
    pub cut_ranges: Vec<Range<usize>>,
}

impl Skeleton {
    /// `None` when there is nothing worth cutting, or the walk found more depth or
    /// parts than the [`limits`] allow (the whole parse reports those).
    pub fn of(raw: &[u8]) -> Option<Skeleton> {
        let cuts = cuttable_bodies(raw)?;
        if cuts.is_empty() {
            return None;
        }
        let kept: usize = raw.len() - cuts.iter().map(|c| c.len()).sum::<usize>();
        let mut bytes = Vec::with_capacity(kept);
        let mut offsets = Vec::with_capacity(cuts.len());
        let mut from = 0;
        for cut in &cuts {
            bytes.extend_from_slice(raw.get(from..cut.start)?);
            offsets.push(bytes.len());
            from = cut.end;
        }
        bytes.extend_from_slice(raw.get(from..)?);
        Some(Skeleton {
            bytes,
            cuts: offsets,
            cut_ranges: cuts,
        })
    }

    /// Whether mail-parser read the skeleton as the walk did: each cut is an empty
    /// binary part whose body starts and ends there.
    pub fn confirms(&self, parsed: &mail_parser::Message<'_>) -> bool {
        let mut empty_binary_bodies = Vec::new();
        let mut stack = vec![parsed];
        while let Some(message) = stack.pop() {
            for part in &message.parts {
                match &part.body {
                    PartType::Binary(b) | PartType::InlineBinary(b)
                        if b.is_empty() && part.offset_body == part.offset_end =>
                    {
                        empty_binary_bodies.push(part.offset_body as usize);
                    }
                    // An encoded attached message is parsed from its decoded bytes, so
                    // its offsets are not ours; the walk never cuts inside one.
                    PartType::Message(inner) if part.encoding == mail_parser::Encoding::None => {
                        stack.push(inner);
                    }
                    _ => {}
                }
            }
        }
        self.cuts
            .iter()
            .all(|cut| empty_binary_bodies.contains(cut))
    }
}

/// The byte ranges of the bodies to cut, ascending; `None` when the walk went past
/// the MIME limits.
fn cuttable_bodies(raw: &[u8]) -> Option<Vec<Range<usize>>> {
    let mut cuts = Vec::new();
    // The boundaries of the multiparts we are in, innermost last.
    let mut boundaries: Vec<Vec<u8>> = Vec::new();
    // Attached messages we are in: they nest like multiparts but add no boundary.
    let mut messages = 0;
    let mut parts = 0;
    // Where the next part's header starts.
    let mut pos = 0;
    loop {
        parts += 1;
        if parts > limits::MIME_PARTS || boundaries.len() + messages > limits::MIME_DEPTH {
            return None;
        }
        let rest = raw.get(pos..)?;
        let body = pos + limits::header_end(rest);
        let header = MessageParser::new().parse_headers(raw.get(pos..body)?);
        let part = header.as_ref().map(|h| h.root_part());
        let content_type = part.and_then(|p| p.content_type());
        let encoding = part.and_then(|p| p.content_transfer_encoding());
        let is_encoding = |name: &str| encoding.is_some_and(|e| e.eq_ignore_ascii_case(name));
        let base64 = is_encoding("base64");
        // The same tests as mail-parser's `mime_type`.
        let ctype = content_type.map(|c| c.ctype());
        let boundary = content_type
            .filter(|_| ctype == Some("multipart"))
            .and_then(|c| c.attribute("boundary"))
            .map(|b| delimiter(b.as_bytes()));
        if let Some(delim) = boundary {
            if let Some(at) = find(raw, body, &delim) {
                // The first part follows without a check for a closing delimiter.
                boundaries.push(delim);
                pos = after_line_end(raw, at);
                continue;
            }
            // A multipart whose boundary never comes is read as one text part.
        } else if ctype == Some("message")
            && content_type
                .and_then(|c| c.subtype())
                .is_some_and(|s| s == "rfc822" || s == "global")
            && !base64
            && !is_encoding("quoted-printable")
        {
            // The attached message's own header starts where this part's body does.
            messages += 1;
            pos = body;
            continue;
        }
        let is_leaf_to_cut = base64
            && content_type.is_some()
            && !matches!(ctype, Some("text" | "multipart" | "message"));
        let innermost = boundaries.last();
        // Where the search for the part's end may start: no delimiter begins inside a
        // run of base64, which has no `-`.
        let mut scanned_to = body;
        if is_leaf_to_cut {
            let end = base64_run_end(raw, body);
            scanned_to = end;
            let ends_at_boundary = match innermost {
                Some(delim) => raw.get(end..).is_some_and(|r| r.starts_with(delim)),
                None => end == raw.len(),
            };
            if ends_at_boundary {
                let cut_end = if innermost.is_some() {
                    line_break_before(raw, end)
                } else {
                    end
                };
                if cut_end >= body + CUT_FROM_BYTES {
                    cuts.push(body..cut_end);
                }
            }
        }
        let Some(delim) = innermost else {
            // A part outside any multipart runs to the end of the message.
            return Some(cuts);
        };
        let next = find(raw, scanned_to, delim).and_then(|at| next_part(raw, at, &mut boundaries));
        match next {
            Some(next) => pos = next,
            None => return Some(cuts),
        }
    }
}

/// `--boundary`.
fn delimiter(boundary: &[u8]) -> Vec<u8> {
    let mut d = Vec::with_capacity(boundary.len() + 2);
    d.extend_from_slice(b"--");
    d.extend_from_slice(boundary);
    d
}

/// Just past the first `delim` at or after `from`.
fn find(raw: &[u8], from: usize, delim: &[u8]) -> Option<usize> {
    let at = memchr::memmem::find(raw.get(from..)?, delim)?;
    Some(from + at + delim.len())
}

/// From just past a delimiter: where the next part's header starts, or `None` when
/// the message has no more parts. A closing delimiter (`--boundary--`) ends its
/// multipart, and the walk goes on after the enclosing one's next delimiter, as
/// mail-parser does.
fn next_part(raw: &[u8], mut pos: usize, boundaries: &mut Vec<Vec<u8>>) -> Option<usize> {
    while raw.get(pos..)?.starts_with(b"--") {
        boundaries.pop();
        pos = find(raw, pos + 2, boundaries.last()?)?;
    }
    Some(after_line_end(raw, pos))
}

/// Past the rest of a delimiter line, as mail-parser skips it: blanks and CRs, then
/// one LF.
fn after_line_end(raw: &[u8], pos: usize) -> usize {
    let rest = raw.get(pos..).unwrap_or_default();
    let blank = rest
        .iter()
        .position(|&b| !matches!(b, b'\r' | b' ' | b'\t'))
        .unwrap_or(rest.len());
    pos + blank + usize::from(rest.get(blank) == Some(&b'\n'))
}

/// Where the run of base64 bytes (alphabet, `=`, blanks, line ends) that starts at
/// `from` ends: the first other byte, or the end of the message.
fn base64_run_end(raw: &[u8], from: usize) -> usize {
    const CHUNK: usize = 64;
    let is_base64 = |b: u8| {
        b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\r' | b'\n' | b' ' | b'\t')
    };
    let Some(rest) = raw.get(from..) else {
        return raw.len();
    };
    let mut offset = 0;
    // Whole chunks with a branch-free test first: it compiles to vector compares.
    for chunk in rest.chunks_exact(CHUNK) {
        if !chunk.iter().fold(true, |ok, &b| ok & is_base64(b)) {
            break;
        }
        offset += CHUNK;
    }
    let tail = rest.get(offset..).unwrap_or_default();
    from + offset
        + tail
            .iter()
            .position(|&b| !is_base64(b))
            .unwrap_or(tail.len())
}

/// Where a part that is followed by a delimiter at `at` ends: before the line break
/// the delimiter stands after (CR LF or LF), or at the delimiter if it stands
/// mid-line. The same end mail-parser gives the part.
fn line_break_before(raw: &[u8], at: usize) -> usize {
    match at.checked_sub(1).and_then(|i| raw.get(i)) {
        Some(b'\n') => {
            if at >= 2 && raw.get(at - 2) == Some(&b'\r') {
                at - 2
            } else {
                at - 1
            }
        }
        _ => at,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::message::Message;

    fn base64_block(len: usize) -> String {
        let line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2";
        let mut out = String::new();
        while out.len() < len {
            out.push_str(line);
            out.push_str("\r\n");
        }
        out
    }

    fn mail(body: &str) -> Vec<u8> {
        format!(
            "From: Li Lei <lilei@client.cn>\r\nTo: support@example.com\r\n\
             Subject: 货物破损\r\nMessage-ID: <m1@client.cn>\r\n{body}"
        )
        .into_bytes()
    }

    /// The view of a message parsed from its skeleton equals the view parsed whole.
    fn same_view(raw: &[u8]) -> usize {
        let skeleton = Skeleton::of(raw);
        let whole = Message::parse_reading(raw, crate::message::Bodies::All).unwrap();
        let skimmed = Message::parse_reading(raw, crate::message::Bodies::TextOnly).unwrap();
        assert_eq!(format!("{whole:?}"), format!("{skimmed:?}"));
        skeleton.map(|s| s.cuts.len()).unwrap_or(0)
    }

    #[test]
    fn an_attachment_is_cut_and_the_view_is_the_same() {
        let raw = mail(&format!(
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
             preamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             箱子到货时已经破了。\r\n--b1\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}--b1--\r\n",
            base64_block(50_000)
        ));
        let s = Skeleton::of(&raw).unwrap();
        assert_eq!(s.cuts.len(), 1);
        assert!(s.bytes.len() < 1000, "{}", s.bytes.len());
        assert_eq!(same_view(&raw), 1);
        let m = Message::parse(&raw).unwrap();
        assert_eq!(m.attachment_count, 1);
        assert!(m.body.contains("破了"), "{}", m.body);
        assert_eq!(m.size, raw.len());
    }

    #[test]
    fn nested_multiparts_and_an_attached_message_are_walked() {
        let raw = mail(&format!(
            "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
             --outer\r\nContent-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n\
             --inner\r\nContent-Type: text/plain\r\n\r\nplain text\r\n\
             --inner\r\nContent-Type: text/html\r\n\r\n<p>html text</p>\r\n--inner--\r\n\
             --outer\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n{img}\
             --outer\r\nContent-Type: message/rfc822\r\n\r\n\
             From: someone@supplier.com\r\nSubject: forwarded\r\n\
             Content-Type: multipart/mixed; boundary=\"fwd\"\r\n\r\n\
             --fwd\r\nContent-Type: text/plain\r\n\r\nforwarded text\r\n\
             --fwd\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\n{zip}\
             --fwd--\r\n\r\n--outer--\r\n",
            img = base64_block(4_000),
            zip = base64_block(9_000),
        ));
        assert_eq!(same_view(&raw), 2);
    }

    #[test]
    fn a_body_that_is_not_all_base64_is_left_in() {
        // A dash inside the body: mail-parser would stop there, so the walk must not cut.
        let mut block = base64_block(5_000);
        block.insert_str(2_000, "-x");
        let raw = mail(&format!(
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
             --b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{block}\
             --b--\r\n"
        ));
        assert_eq!(same_view(&raw), 0);
    }

    #[test]
    fn a_boundary_that_is_a_prefix_of_the_inner_one_is_read_as_mail_parser_reads_it() {
        let raw = mail(&format!(
            "Content-Type: multipart/mixed; boundary=\"ab\"\r\n\r\n\
             --ab\r\nContent-Type: multipart/mixed; boundary=\"abc\"\r\n\r\n\
             --abc\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\
             --abc\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--abc--\r\n--ab--\r\n",
            base64_block(5_000)
        ));
        same_view(&raw);
    }

    #[test]
    fn a_missing_closing_boundary_and_a_lone_attachment_keep_their_view() {
        let unclosed = mail(&format!(
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
             --b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
            base64_block(5_000)
        ));
        same_view(&unclosed);
        let lone = mail(&format!(
            "Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
            base64_block(5_000)
        ));
        assert_eq!(same_view(&lone), 1);
    }

    #[test]
    fn too_deep_a_walk_gives_up_and_the_whole_parse_reports_it() {
        let mut raw = b"From: a@b.com\r\nSubject: deep\r\n".to_vec();
        for i in 0..limits::MIME_DEPTH + 2 {
            raw.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n")
                    .as_bytes(),
            );
        }
        raw.extend_from_slice(
            format!(
                "Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
                base64_block(5_000)
            )
            .as_bytes(),
        );
        assert!(Skeleton::of(&raw).is_none());
        let err = Message::parse(&raw).unwrap_err();
        assert!(err.contains("nested"), "{err}");
    }
}
