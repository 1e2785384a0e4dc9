//! Limits on the shape of a message, so that one hostile message costs bounded time
//! and memory and then waits in the quarantine with its reason (DESIGN.md,
//! invariant 4). The size of the whole message is bounded before it gets here
//! (`intake.max_message_bytes`: the mailbox fetches only the header of anything
//! larger); these bound what fits inside that size.
//!
//! Real mail stays far below each limit: the deepest MIME trees in the corpus test
//! (mailing-list digests of forwarded mail) are under ten levels, the largest header
//! blocks (long Received and ARC chains) a few tens of kilobytes.

use mail_parser::PartType;

/// The header block of the message itself. Postfix refuses a single header over
/// 100 KiB (`header_size_limit`); a whole block four times that is no mail a person
/// sent.
pub const HEADER_BLOCK_BYTES: usize = 256 * 1024;
/// Multiparts and attached messages inside each other.
pub const MIME_DEPTH: usize = 32;
/// Every part of every attached message counted.
pub const MIME_PARTS: usize = 2_000;

/// Where the header block ends: just after its empty line, or the whole input when it
/// has none (a message that is all header).
pub fn header_end(raw: &[u8]) -> usize {
    let mut line_start = 0;
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' {
            let line = raw.get(line_start..i).unwrap_or_default();
            if line.is_empty() || line == b"\r" {
                return i + 1;
            }
            line_start = i + 1;
        }
    }
    raw.len()
}

/// `Err` with the reason when the header block is over its limit. Checked before
/// parsing, on the bytes alone.
pub fn check_header(raw: &[u8]) -> Result<usize, String> {
    let end = header_end(raw.get(..HEADER_BLOCK_BYTES + 3).unwrap_or(raw));
    // Without an empty line in the first limit + 3 bytes, `end` is that length.
    if end > HEADER_BLOCK_BYTES {
        return Err(format!(
            "over a limit: the header block is larger than {HEADER_BLOCK_BYTES} bytes"
        ));
    }
    Ok(end)
}

/// `Err` with the reason when the MIME tree is deeper or has more parts than allowed.
/// Walks the parsed tree with an explicit stack: no recursion on input.
pub fn check_tree(message: &mail_parser::Message<'_>) -> Result<(), String> {
    let (depth, parts) = shape(message);
    if depth > MIME_DEPTH {
        return Err(format!(
            "over a limit: MIME parts nested {depth} deep (the limit is {MIME_DEPTH})"
        ));
    }
    if parts > MIME_PARTS {
        return Err(format!(
            "over a limit: {parts} MIME parts (the limit is {MIME_PARTS})"
        ));
    }
    Ok(())
}

/// (deepest nesting, number of parts) of a parsed message and the messages in it.
pub fn shape(message: &mail_parser::Message<'_>) -> (usize, usize) {
    let mut parts = 0;
    let mut deepest = 0;
    // (message, part id, depth); the root part of a message is part 0.
    let mut stack: Vec<(&mail_parser::Message<'_>, u32, usize)> = vec![(message, 0, 1)];
    while let Some((msg, id, depth)) = stack.pop() {
        let Some(part) = msg.parts.get(id as usize) else {
            continue;
        };
        parts += 1;
        deepest = deepest.max(depth);
        match &part.body {
            PartType::Multipart(children) => {
                // A malformed tree could name a part twice or itself; ids only go
                // forward in mail-parser's numbering, which bounds the walk.
                stack.extend(
                    children
                        .iter()
                        .filter(|&&c| c > id)
                        .map(|&c| (msg, c, depth + 1)),
                );
            }
            PartType::Message(inner) => stack.push((inner, 0, depth + 1)),
            _ => {}
        }
    }
    (deepest, parts)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn header_end_finds_the_empty_line() {
        assert_eq!(header_end(b"A: b\r\n\r\nbody"), 8);
        assert_eq!(header_end(b"A: b\n\nbody"), 6);
        assert_eq!(header_end(b"A: b\r\n"), 6);
        assert_eq!(header_end(b"\r\nbody"), 2);
    }

    #[test]
    fn a_header_block_over_the_limit_is_refused_without_parsing() {
        let mut raw = b"From: a@b.com\r\n".to_vec();
        while raw.len() < 1_000_000 {
            raw.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        raw.extend_from_slice(b"\r\nbody\r\n");
        let err = check_header(&raw).unwrap_err();
        assert!(err.starts_with("over a limit: the header block"), "{err}");
        // All header, no body, no empty line: still over.
        let all_header = &raw[..raw.len() - 8];
        assert!(check_header(all_header).is_err());
        assert_eq!(check_header(b"From: a@b.com\r\n\r\nx"), Ok(17));
    }

    fn nested(depth: usize) -> Vec<u8> {
        let mut raw = b"From: a@b.com\r\nSubject: deep\r\n".to_vec();
        for i in 0..depth {
            raw.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n")
                    .as_bytes(),
            );
        }
        raw.extend_from_slice(b"Content-Type: text/plain\r\n\r\nhello\r\n");
        for i in (0..depth).rev() {
            raw.extend_from_slice(format!("--b{i}--\r\n").as_bytes());
        }
        raw
    }

    #[test]
    fn depth_and_parts_are_counted() {
        let raw = nested(5);
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(shape(&parsed), (6, 6));
        assert!(check_tree(&parsed).is_ok());
        let raw = nested(100);
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let err = check_tree(&parsed).unwrap_err();
        assert!(err.contains("nested 101 deep"), "{err}");
    }
}
