//! Modified UTF-7, the encoding of IMAP mailbox names (RFC 3501 §5.1.3).
//!
//! IMAP4rev1 names are 7-bit: printable US-ASCII stands for itself except `&`,
//! which is written `&-`; every other run of characters is UTF-16 in a modified
//! BASE64 (`,` instead of `/`, no padding) between `&` and `-`. Dovecot 2.3 refuses
//! a raw UTF-8 name in SELECT or CREATE ("Mailbox name is not valid mUTF-7",
//! checked 2026-12-02), so a Chinese folder such as `客服/已处理` must travel as
//! `&W6JnDQ-/&XfJZBHQG-`.
//!
//! [`decode`] is strict, as the RFC's rules are "MUST": a shift that never ends,
//! an empty or superfluous shift (`&U,BTFw-&ZeVnLIqe-`), printable ASCII that was
//! encoded, bits left over, a broken surrogate pair or a raw 8-bit byte are all
//! errors, so that a name decodes to exactly one string and encodes back to itself.

use anyhow::{Result, anyhow, bail};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn printable(c: u32) -> bool {
    (0x20..=0x7e).contains(&c)
}

/// The modified UTF-7 form of `name`.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut run: Vec<u16> = Vec::new();
    for c in name.chars() {
        if printable(u32::from(c)) {
            flush(&mut run, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            run.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Writes a run of UTF-16 units as one shifted sequence `&…-`.
fn flush(run: &mut Vec<u16>, out: &mut String) {
    if run.is_empty() {
        return;
    }
    out.push('&');
    let bytes: Vec<u8> = run.iter().flat_map(|u| u.to_be_bytes()).collect();
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            push_sextet(out, (acc >> bits) & 0x3f);
        }
    }
    if bits > 0 {
        // The last sextet is padded with zero bits (RFC 2152, no `=` padding).
        push_sextet(out, (acc << (6 - bits)) & 0x3f);
    }
    out.push('-');
    run.clear();
}

fn push_sextet(out: &mut String, v: u32) {
    if let Some(&c) = ALPHABET.get(v as usize) {
        out.push(char::from(c));
    }
}

fn sextet(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

/// The Unicode name that `wire` (as a server sends it in LIST) stands for.
pub fn decode(wire: &str) -> Result<String> {
    let bytes = wire.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    // Where the last shifted sequence ended, to refuse `…-&…` (a superfluous shift).
    let mut shift_ended_at = None;
    while let Some(&b) = bytes.get(i) {
        if b != b'&' {
            if !printable(u32::from(b)) {
                bail!("{wire:?}: byte 0x{b:02x} at {i} is not printable US-ASCII");
            }
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let start = i + 1;
        let len = bytes
            .get(start..)
            .and_then(|rest| rest.iter().position(|&c| c == b'-'))
            .ok_or_else(|| anyhow!("{wire:?}: the shift at {i} has no closing '-'"))?;
        let end = start + len;
        if len == 0 {
            out.push('&');
        } else {
            if shift_ended_at == Some(i) {
                bail!("{wire:?}: two shifted sequences side by side at {i}");
            }
            let encoded = bytes.get(start..end).unwrap_or_default();
            decode_run(wire, encoded, &mut out)?;
            shift_ended_at = Some(end + 1);
        }
        i = end + 1;
    }
    Ok(out)
}

/// Decodes the modified BASE64 between `&` and `-` into `out`.
fn decode_run(wire: &str, encoded: &[u8], out: &mut String) -> Result<()> {
    let mut units = Vec::with_capacity(encoded.len() * 6 / 16);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in encoded {
        let v = sextet(c)
            .ok_or_else(|| anyhow!("{wire:?}: {:?} is not modified BASE64", char::from(c)))?;
        acc = ((acc << 6) | v) & 0xff_ffff;
        bits += 6;
        if bits >= 16 {
            bits -= 16;
            units.push(((acc >> bits) & 0xffff) as u16);
        }
    }
    // At most the padding of the last sextet is left, and it is zero.
    if bits >= 6 || acc & ((1 << bits) - 1) != 0 {
        bail!("{wire:?}: a shifted sequence ends in the middle of a character");
    }
    for c in char::decode_utf16(units) {
        let c = c.map_err(|_| anyhow!("{wire:?}: a broken UTF-16 surrogate pair"))?;
        if printable(u32::from(c)) {
            bail!("{wire:?}: {c:?} is printable US-ASCII and must stand for itself");
        }
        out.push(c);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 3501 §5.1.3's examples, and the names of this project's own folders.
    #[test]
    fn the_rfcs_examples() {
        let cases = [
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("台北日本語", "&U,BTF2XlZyyKng-"),
            ("☺!", "&Jjo-!"),
            ("客服/已处理", "&W6JnDQ-/&XfJZBHQG-"),
            ("客服/隔离", "&W6JnDQ-/&lpR5uw-"),
            ("R&D", "R&-D"),
            ("INBOX", "INBOX"),
            ("😀", "&2D3eAA-"),
        ];
        for (name, wire) in cases {
            assert_eq!(encode(name), wire, "encoding {name}");
            assert_eq!(decode(wire).unwrap(), name, "decoding {wire}");
        }
    }

    #[test]
    fn what_the_rfc_forbids_is_refused() {
        for wire in [
            // No closing '-' (the RFC's own example of an invalid name).
            "&Jjo!",
            // Two shifted sequences side by side: must be one.
            "&U,BTFw-&ZeVnLIqe-",
            // "A" encoded instead of standing for itself.
            "&AEE-",
            // Raw UTF-8, as Switchboard used to send.
            "客服",
            // Not the modified alphabet ('/' is ',' here), and bits left over.
            "&U/B-",
            "&U,BTF-",
            // A lone high surrogate.
            "&2D0-",
        ] {
            assert!(decode(wire).is_err(), "{wire} should be refused");
        }
    }

    proptest! {
        #[test]
        fn any_name_round_trips(name in "\\PC*") {
            let wire = encode(&name);
            prop_assert!(wire.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{}", wire);
            prop_assert_eq!(decode(&wire).unwrap(), name);
        }

        #[test]
        fn any_chars_round_trip(name in proptest::collection::vec(any::<char>(), 0..40)) {
            let name: String = name.into_iter().collect();
            prop_assert_eq!(decode(&encode(&name)).unwrap(), name);
        }
    }
}
