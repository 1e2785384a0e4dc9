//! Text in whatever charset it came in, decoded part by part, never failing.
//!
//! mail-parser 0.11 (`full_encoding`) already decodes the common cases through
//! encoding_rs: `gb2312` with the GB18030 decoder (so GBK and four-byte GB18030
//! sequences survive the old label), Big5 with the WHATWG index (HKSCS included), and
//! ISO-2022-JP with the WHATWG JIS X 0208 index, which holds the CP932/CP50220
//! extensions (NEC row 13, NEC-selected IBM rows 89–92) and `ESC ( I` katakana.
//! What it leaves to us, read from its source (`parsers/message.rs`,
//! `decoders/charsets/map.rs`, `parsers/fields/unstructured.rs`):
//!
//! - a part with no charset, or an unknown label, is read as UTF-8 with U+FFFD for
//!   every invalid byte, and `us-ascii` with 8-bit bytes as windows-1252: undeclared
//!   GBK mail from old clients turns into question marks or Latin mojibake;
//! - labels it does not know: `euc-cn`, `cp950`, `big5hkscs`, `cp932`, `cp50220`…;
//! - a label that lies (UTF-8 announced, GBK sent) gives U+FFFD;
//! - CP50222's SO/SI half-width katakana is outside the WHATWG decoder;
//! - raw 8-bit header fields (no RFC 2047 words — Chinese webmail and spam do this)
//!   are read as lossy UTF-8.
//!
//! For those, this module decodes the part's own bytes again: the declared charset
//! if it decodes them without error, else UTF-8, the charset the rest of the message
//! declares, GB18030, and last windows-1252, which never fails. Each part and each
//! header line is judged on its own, so one bad part never spoils the others.

use encoding_rs::{BIG5, EUC_KR, Encoding, GB18030, ISO_2022_JP, SHIFT_JIS, UTF_8, WINDOWS_1252};
use mail_parser::{Encoding as TransferEncoding, MessagePart, MimeHeaders, PartType};

/// The encoding a MIME charset label names: WHATWG's labels plus the Microsoft and
/// legacy names mail clients send. `None` for a label nobody knows.
pub fn encoding_for(label: &str) -> Option<&'static Encoding> {
    let label = label.trim().trim_matches(['"', '\'']).to_ascii_lowercase();
    let own = match label.as_str() {
        // GB18030 is a superset of GBK and GB2312; clients label all three "gb2312".
        "gb2312" | "gb_2312" | "gb_2312-80" | "gb2312-80" | "csgb2312" | "gbk" | "x-gbk"
        | "cp936" | "ms936" | "windows-936" | "euc-cn" | "x-euc-cn" | "cp54936" | "gb18030"
        | "gb18030-2000" | "gb18030-2005" | "gb18030-2022" | "csgb18030" | "chinese"
        | "iso-ir-58" | "csiso58gb231280" => Some(GB18030),
        // encoding_rs's Big5 is WHATWG's: Big5-2003 plus the HKSCS characters.
        "big5" | "big5-hkscs" | "big5hkscs" | "big5-2003" | "cp950" | "ms950" | "windows-950"
        | "x-windows-950" | "x-big5" | "cn-big5" | "csbig5" | "x-x-big5" => Some(BIG5),
        // Microsoft's ISO-2022-JP variants (CP50220–CP50222) add no new escape
        // sequences beyond SO/SI (see `iso_2022_jp_shift`); their extra characters are
        // in the WHATWG JIS X 0208 index.
        "iso-2022-jp"
        | "csiso2022jp"
        | "cp50220"
        | "cp50221"
        | "cp50222"
        | "iso-2022-jp-ms"
        | "x-windows-iso2022jp"
        | "iso-2022-jp-1"
        | "iso-2022-jp-2"
        | "iso-2022-jp-3"
        | "iso-2022-jp-2004" => Some(ISO_2022_JP),
        "cp932" | "windows-932" | "x-ms-cp932" | "ms932" | "windows-31j" | "sjis" | "x-sjis"
        | "shift_jisx0213" | "shift_jis-2004" => Some(SHIFT_JIS),
        "cp949" | "uhc" | "ks_c_5601-1987" | "ks_c_5601" | "windows-949" | "x-windows-949" => {
            Some(EUC_KR)
        }
        _ => None,
    };
    own.or_else(|| Encoding::for_label(label.as_bytes()))
}

/// Labels that promise 7-bit text: 8-bit bytes under them were never declared.
fn is_ascii_label(label: &str) -> bool {
    let l = label.trim().trim_matches(['"', '\'']).to_ascii_lowercase();
    matches!(
        l.as_str(),
        "us-ascii" | "ascii" | "ansi_x3.4-1968" | "iso646-us" | "us" | "646" | "7bit"
    )
}

/// The text of `bytes`, never failing: the declared encoding if the bytes are valid in
/// it, else the first of UTF-8, `hint`, GB18030 in which they are, else the declared
/// encoding (or windows-1252) with replacement characters.
pub fn decode(bytes: &[u8], label: Option<&str>, hint: Option<&'static Encoding>) -> String {
    let declared = label.filter(|l| !is_ascii_label(l)).and_then(encoding_for);
    if bytes.is_ascii() && declared.is_none_or(|e| e.is_ascii_compatible()) {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    if let Some(text) = declared.and_then(|e| strict(e, bytes)) {
        return text;
    }
    for encoding in [Some(UTF_8), hint, Some(GB18030)].into_iter().flatten() {
        if let Some(text) = strict(encoding, bytes) {
            return text;
        }
    }
    let fallback = declared.unwrap_or(WINDOWS_1252);
    let shifted = iso_2022_jp_shift(fallback, bytes);
    fallback
        .decode_without_bom_handling(&shifted)
        .0
        .into_owned()
}

fn strict(encoding: &'static Encoding, bytes: &[u8]) -> Option<String> {
    encoding
        .decode_without_bom_handling_and_without_replacement(&iso_2022_jp_shift(encoding, bytes))
        .map(|t| t.into_owned())
}

/// CP50222 switches to half-width katakana with SO (0x0E) and back with SI (0x0F),
/// which WHATWG's decoder rejects; the same characters are reached with `ESC ( I`.
fn iso_2022_jp_shift<'a>(
    encoding: &'static Encoding,
    bytes: &'a [u8],
) -> std::borrow::Cow<'a, [u8]> {
    if encoding != ISO_2022_JP || !bytes.iter().any(|&b| b == 0x0E || b == 0x0F) {
        return bytes.into();
    }
    let mut out = Vec::with_capacity(bytes.len() + 16);
    for &b in bytes {
        match b {
            0x0E => out.extend_from_slice(b"\x1b(I"),
            0x0F => out.extend_from_slice(b"\x1b(B"),
            _ => out.push(b),
        }
    }
    out.into()
}

/// The charset the message declares somewhere (a part's Content-Type, or an RFC 2047
/// word in its header), when it is not plain ASCII or UTF-8: the best guess for the
/// parts and header lines that declare nothing.
pub fn hint(parsed: &mail_parser::Message<'_>, header: &[u8]) -> Option<&'static Encoding> {
    let useful =
        |e: &&'static Encoding| *e != UTF_8 && e.is_ascii_compatible() || **e == *ISO_2022_JP;
    let from_parts = parsed.parts.iter().find_map(|p| {
        let label = p.content_type()?.attribute("charset")?;
        if is_ascii_label(label) {
            return None;
        }
        encoding_for(label).filter(useful)
    });
    from_parts
        .or_else(|| encoded_word_charsets(header).find_map(|l| encoding_for(&l).filter(useful)))
}

/// The charsets named by `=?charset?` in a header block.
fn encoded_word_charsets(header: &[u8]) -> impl Iterator<Item = String> + '_ {
    header
        .windows(2)
        .enumerate()
        .filter(|(_, w)| *w == b"=?")
        .filter_map(move |(i, _)| {
            let rest = header.get(i + 2..)?;
            let end = rest.iter().take(40).position(|&b| b == b'?')?;
            let label = std::str::from_utf8(rest.get(..end)?).ok()?;
            // RFC 2231 §5: `charset*language`.
            Some(label.split('*').next().unwrap_or(label).to_string())
        })
}

/// The header block as UTF-8 when some of its lines are raw 8-bit text in another
/// charset; `None` when it is valid UTF-8 already (the common case: nothing copied).
pub fn transcode_header(header: &[u8], hint: Option<&'static Encoding>) -> Option<Vec<u8>> {
    if std::str::from_utf8(header).is_ok() {
        return None;
    }
    let mut out = Vec::with_capacity(header.len() * 3 / 2);
    for line in header.split_inclusive(|&b| b == b'\n') {
        match std::str::from_utf8(line) {
            Ok(_) => out.extend_from_slice(line),
            Err(_) => out.extend_from_slice(decode(line, None, hint).as_bytes()),
        }
    }
    Some(out)
}

/// The text of one body part, decoded again from its own bytes where mail-parser had
/// to guess (see the module documentation); mail-parser's text otherwise.
pub fn part_text(
    part: &MessagePart<'_>,
    raw: &[u8],
    hint: Option<&'static Encoding>,
) -> Option<String> {
    let text = match &part.body {
        PartType::Text(t) | PartType::Html(t) => t,
        _ => return None,
    };
    let label = part.content_type().and_then(|ct| ct.attribute("charset"));
    let known_to_parser = label.is_some_and(|l| {
        mail_parser::decoders::charsets::map::charset_decoder(l.as_bytes()).is_some()
    });
    let guessed = label.is_none_or(|l| !known_to_parser || is_ascii_label(l));
    if !guessed && !text.contains('\u{FFFD}') {
        return Some(text.to_string());
    }
    let bytes = raw
        .get(part.offset_body as usize..part.offset_end as usize)
        .and_then(|body| match part.encoding {
            TransferEncoding::Base64 => mail_parser::decoders::base64::base64_decode(body),
            TransferEncoding::QuotedPrintable => {
                mail_parser::decoders::quoted_printable::quoted_printable_decode(body)
            }
            TransferEncoding::None => Some(body.to_vec()),
        });
    let Some(bytes) = bytes else {
        return Some(text.to_string());
    };
    if guessed && bytes.is_ascii() {
        return Some(text.to_string());
    }
    Some(decode(&bytes, label, hint))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn labels_beyond_whatwg() {
        for (label, name) in [
            ("GB2312", "gb18030"),
            ("euc-cn", "gb18030"),
            ("CP936", "gb18030"),
            ("cp950", "Big5"),
            ("big5hkscs", "Big5"),
            ("CP50220", "ISO-2022-JP"),
            ("iso-2022-jp-ms", "ISO-2022-JP"),
            ("cp932", "Shift_JIS"),
            ("\"utf-8\"", "UTF-8"),
            ("koi8-r", "KOI8-R"),
        ] {
            assert_eq!(encoding_for(label).map(|e| e.name()), Some(name), "{label}");
        }
        assert!(encoding_for("x-no-such-charset").is_none());
    }

    #[test]
    fn undeclared_bytes_try_utf8_then_gb18030_then_windows_1252() {
        assert_eq!(decode("货物".as_bytes(), None, None), "货物");
        assert_eq!(decode(&[0xBB, 0xF5, 0xCE, 0xEF], None, None), "货物");
        // Latin-1 "café " is not valid GB18030 (0xE9 then a space).
        assert_eq!(decode(b"caf\xe9 ok", None, None), "café ok");
        // A lying label: UTF-8 announced, GBK sent.
        assert_eq!(
            decode(&[0xBB, 0xF5, 0xCE, 0xEF], Some("utf-8"), None),
            "货物"
        );
        // us-ascii promises 7 bits; 8-bit bytes under it are undeclared.
        assert_eq!(decode(&[0xBB, 0xF5], Some("us-ascii"), None), "货");
    }

    #[test]
    fn the_message_hint_wins_over_gb18030() {
        // 嘅 in Big5-HKSCS: also valid GBK, so only the hint tells them apart.
        assert_eq!(decode(&[0x9D, 0xEF], None, Some(BIG5)), "嘅");
    }

    #[test]
    fn cp50222_shift_out_katakana() {
        // SO, half-width "ｱｲ" (0x31 0x32 in JIS X 0201 katakana), SI.
        assert_eq!(decode(b"\x0e12\x0fA", Some("cp50222"), None), "ｱｲA");
    }

    #[test]
    fn raw_gbk_header_lines_become_utf8() {
        let mut header = b"From: a@b.cn\r\nSubject: ".to_vec();
        header.extend_from_slice(&[0xBB, 0xF5, 0xCE, 0xEF]);
        header.extend_from_slice(b"\r\n\r\n");
        let fixed = transcode_header(&header, None).unwrap();
        assert_eq!(
            String::from_utf8(fixed).unwrap(),
            "From: a@b.cn\r\nSubject: 货物\r\n\r\n"
        );
        assert!(transcode_header(b"Subject: ok\r\n\r\n", None).is_none());
    }
}
