//! Reply tokens: proof that a reply address or Message-ID was made by us for one case
//! and one department.
//!
//! Routed mail carries the case and the department twice: in a sub-address of the
//! shared mailbox (`support+sb.sb-2026-000042.logistics.<token>@example.com`), so a
//! plain reply lands back with its context, and in the Message-ID
//! (`<sb.route.sb-2026-000042.logistics.<token>.<unique>@example.com>`), which
//! In-Reply-To and References carry back even when the client replies to the From
//! address. Anyone can write such an address, so the token, an HMAC-SHA256 over
//! `case_number \0 department` with the daemon's secret key, says that we did.
//!
//! Encoding choices:
//! - everything is lower case, because some MTAs lower-case local parts; the case
//!   number is upper-cased and the department lower-cased before the HMAC, and
//!   parsing accepts either case and returns `SB-2026-000042`-style case numbers, so
//!   a lower-cased address still verifies;
//! - the token is the first 10 bytes (80 bits) of the MAC in RFC 4648 base32 without
//!   padding: 16 characters of `a-z2-7`, valid in a local part (RFC 5322 dot-atom)
//!   and a Message-ID, and shorter than hex (20), which matters against the 64-octet
//!   local-part limit of RFC 5321 §4.5.3.1.1;
//! - fields are separated by dots, which neither case numbers (letters, digits,
//!   dashes) nor department ids (lower-case letters, digits, dashes) contain.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the MAC kept in a token.
const TOKEN_BYTES: usize = 10;

/// What follows the sub-address delimiter: `support+sb.…`.
const SUBADDRESS_TAG: &str = "sb";

/// What starts our routing Message-IDs: `<sb.route.…`.
const MESSAGE_ID_TAG: &str = "sb.route";

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

fn mac(key: &[u8], case_number: &str, department: &str) -> HmacSha256 {
    // HMAC takes a key of any length, so this cannot fail; the fallback keeps the
    // function total without a panic path.
    let mut mac = HmacSha256::new_from_slice(key)
        .unwrap_or_else(|_| <HmacSha256 as Mac>::new(&Default::default()));
    mac.update(case_number.to_ascii_uppercase().as_bytes());
    mac.update(b"\0");
    mac.update(department.to_ascii_lowercase().as_bytes());
    mac
}

/// The token for this case and department: 16 characters of `a-z2-7`.
pub fn token(key: &[u8], case_number: &str, department: &str) -> String {
    let tag = mac(key, case_number, department).finalize().into_bytes();
    base32(tag.get(..TOKEN_BYTES).unwrap_or_default())
}

/// Whether `token` is ours for this case and department; compares in constant time.
/// Accepts upper case, in case a hop upper-cased the address.
pub fn verify(key: &[u8], case_number: &str, department: &str, token: &str) -> bool {
    match unbase32(token) {
        // Exactly the length we issue: `verify_truncated_left` would also accept a
        // shorter prefix, which is easier to guess.
        Some(bytes) if bytes.len() == TOKEN_BYTES => mac(key, case_number, department)
            .verify_truncated_left(&bytes)
            .is_ok(),
        _ => false,
    }
}

/// `support+sb.sb-2026-000042.logistics.<token>`: the local part of the address a
/// department replies to. `local` is the shared mailbox's local part; add the domain.
pub fn subaddress(
    local: &str,
    delimiter: char,
    case_number: &str,
    department: &str,
    token: &str,
) -> String {
    format!(
        "{local}{delimiter}{SUBADDRESS_TAG}.{}.{}.{}",
        case_number.to_ascii_lowercase(),
        department.to_ascii_lowercase(),
        token.to_ascii_lowercase()
    )
}

/// The case number (upper case), department and token of an address made by
/// [`subaddress`], with or without `@domain` and angle brackets. Verify the token.
pub fn parse_subaddress(address: &str, delimiter: char) -> Option<(String, String, String)> {
    let address = address.trim().trim_start_matches('<').trim_end_matches('>');
    let local = match address.rfind('@') {
        Some(at) => address.get(..at)?,
        None => address,
    };
    let marker = format!("{delimiter}{SUBADDRESS_TAG}.");
    let lower = local.to_ascii_lowercase();
    // The shared mailbox's own local part may contain the delimiter, so take the
    // last place where our tag follows it.
    let start = lower.rfind(&marker)? + marker.len();
    let mut fields = lower.get(start..)?.split('.');
    let parsed = fields_of(&mut fields)?;
    fields.next().is_none().then_some(parsed)
}

/// `<sb.route.sb-2026-000042.logistics.<token>.<unique>@domain>`. `unique` makes
/// each message's id its own (a sequence number or outbox row id and a timestamp);
/// characters that are not letters, digits, dashes or dots become dashes.
pub fn route_message_id(
    case_number: &str,
    department: &str,
    token: &str,
    unique: &str,
    domain: &str,
) -> String {
    let unique: String = unique
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!(
        "<{MESSAGE_ID_TAG}.{}.{}.{}.{unique}@{domain}>",
        case_number.to_ascii_lowercase(),
        department.to_ascii_lowercase(),
        token.to_ascii_lowercase()
    )
}

/// The case number (upper case), department and token of a Message-ID made by
/// [`route_message_id`], with or without angle brackets. Verify the token.
pub fn parse_message_id(id: &str) -> Option<(String, String, String)> {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    let left = id.get(..id.rfind('@')?)?.to_ascii_lowercase();
    let rest = left.strip_prefix(MESSAGE_ID_TAG)?.strip_prefix('.')?;
    let mut fields = rest.split('.');
    let parsed = fields_of(&mut fields)?;
    // A unique part must follow; it is ours to ignore.
    fields.next().filter(|u| !u.is_empty())?;
    Some(parsed)
}

/// Case, department and token from the next three dot-separated fields, validated.
fn fields_of<'a>(fields: &mut impl Iterator<Item = &'a str>) -> Option<(String, String, String)> {
    let case = fields.next()?;
    let department = fields.next()?;
    let token = fields.next()?;
    let case_ok = case.chars().any(|c| c.is_ascii_digit())
        && case.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !case.starts_with('-');
    let department_ok = !department.is_empty()
        && department
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let token_ok = token.len() == 16 && unbase32(token).is_some();
    (case_ok && department_ok && token_ok).then(|| {
        (
            case.to_ascii_uppercase(),
            department.to_string(),
            token.to_string(),
        )
    })
}

/// RFC 4648 §6 base32, lower case, no padding.
fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(symbol((buffer >> bits) & 31));
        }
    }
    if bits > 0 {
        out.push(symbol((buffer << (5 - bits)) & 31));
    }
    out
}

fn symbol(value: u32) -> char {
    BASE32
        .get(value as usize)
        .map(|&b| char::from(b))
        .unwrap_or('a')
}

/// The inverse of [`base32`], either case; `None` for other characters or for
/// leftover bits that are not zero (so each byte string has one spelling).
fn unbase32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let value = BASE32.iter().position(|&s| s == c.to_ascii_lowercase())?;
        buffer = (buffer << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    (buffer & ((1 << bits) - 1) == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"a secret of thirty-two bytes....";

    #[test]
    fn base32_matches_rfc_4648_vectors() {
        // RFC 4648 §10, lower-cased and without padding.
        for (plain, encoded) in [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ] {
            assert_eq!(base32(plain.as_bytes()), encoded);
            assert_eq!(unbase32(encoded).unwrap(), plain.as_bytes());
            assert_eq!(unbase32(&encoded.to_uppercase()).unwrap(), plain.as_bytes());
        }
        assert_eq!(unbase32("my1"), None);
        assert_eq!(unbase32("mz"), None, "leftover bits must be zero");
    }

    #[test]
    fn tokens_are_short_lowercase_and_stable() {
        let t = token(KEY, "SB-2026-000042", "logistics");
        assert_eq!(t.len(), 16);
        assert!(
            t.chars()
                .all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c))
        );
        assert_eq!(t, token(KEY, "sb-2026-000042", "LOGISTICS"));
        assert_ne!(t, token(KEY, "SB-2026-000043", "logistics"));
        assert_ne!(t, token(KEY, "SB-2026-000042", "quality"));
        assert_ne!(t, token(b"another key", "SB-2026-000042", "logistics"));
        // The separator keeps "a"+"bc" apart from "ab"+"c".
        assert_ne!(token(KEY, "SB-1", "2x"), token(KEY, "SB-12", "x"));
    }

    #[test]
    fn verify_accepts_ours_and_refuses_tampering() {
        let t = token(KEY, "SB-2026-000042", "logistics");
        assert!(verify(KEY, "SB-2026-000042", "logistics", &t));
        assert!(verify(
            KEY,
            "sb-2026-000042",
            "logistics",
            &t.to_uppercase()
        ));
        assert!(!verify(KEY, "SB-2026-000043", "logistics", &t));
        assert!(!verify(KEY, "SB-2026-000042", "quality", &t));
        assert!(!verify(b"another key", "SB-2026-000042", "logistics", &t));
        assert!(!verify(KEY, "SB-2026-000042", "logistics", ""));
        assert!(
            !verify(KEY, "SB-2026-000042", "logistics", &t[..8]),
            "a prefix"
        );
        assert!(!verify(
            KEY,
            "SB-2026-000042",
            "logistics",
            &format!("{t}aaaaaaaa")
        ));
        assert!(!verify(
            KEY,
            "SB-2026-000042",
            "logistics",
            "0000000000000000"
        ));
        for i in 0..t.len() {
            let mut bytes = t.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let changed = String::from_utf8(bytes).unwrap();
            assert!(
                !verify(KEY, "SB-2026-000042", "logistics", &changed),
                "{changed}"
            );
        }
    }

    #[test]
    fn subaddress_round_trips() {
        let t = token(KEY, "SB-2026-000042", "logistics");
        let local = subaddress("support", '+', "SB-2026-000042", "logistics", &t);
        assert_eq!(local, format!("support+sb.sb-2026-000042.logistics.{t}"));
        assert!(local.len() <= 64, "RFC 5321 local-part limit");
        let want = (
            "SB-2026-000042".to_string(),
            "logistics".to_string(),
            t.clone(),
        );
        for address in [
            local.clone(),
            format!("{local}@example.com"),
            format!("<{local}@example.com>"),
            format!("{}@EXAMPLE.COM", local.to_uppercase()),
        ] {
            assert_eq!(
                parse_subaddress(&address, '+'),
                Some(want.clone()),
                "{address}"
            );
        }
        let (case, dept, tok) = parse_subaddress(&local, '+').unwrap();
        assert!(verify(KEY, &case, &dept, &tok));

        let dashed = subaddress(
            "customer.service",
            '-',
            "CS-2026-000001",
            "after-sales-2",
            &t,
        );
        assert_eq!(
            parse_subaddress(&format!("{dashed}@example.com"), '-'),
            Some(("CS-2026-000001".into(), "after-sales-2".into(), t.clone()))
        );
        let plus_in_local = subaddress("help+desk", '+', "SB-2026-000042", "logistics", &t);
        assert_eq!(parse_subaddress(&plus_in_local, '+'), Some(want));
    }

    #[test]
    fn subaddress_refuses_other_shapes() {
        let t = token(KEY, "SB-2026-000042", "logistics");
        for address in [
            "support@example.com".to_string(),
            "support+other@example.com".to_string(),
            "support+sb.sb-2026-000042.logistics@example.com".to_string(),
            format!("support+sb.sb-2026-000042.logistics.{t}.extra@example.com"),
            format!("support+sb.sb-2026-000042.logi_stics.{t}@example.com"),
            format!("support+sb.sb 2026.logistics.{t}@example.com"),
            format!(
                "support+sb.sb-2026-000042.logistics.{}@example.com",
                &t[..15]
            ),
            format!(
                "support+sb.sb-2026-000042.logistics.{}1@example.com",
                &t[..15]
            ),
            format!("support+sb..logistics.{t}@example.com"),
            format!("support-sb.sb-2026-000042.logistics.{t}@example.com"),
        ] {
            assert_eq!(parse_subaddress(&address, '+'), None, "{address}");
        }
    }

    #[test]
    fn message_id_round_trips() {
        let t = token(KEY, "SB-2026-000042", "logistics");
        let id = route_message_id(
            "SB-2026-000042",
            "logistics",
            &t,
            "17.1764230400",
            "example.com",
        );
        assert_eq!(
            id,
            format!("<sb.route.sb-2026-000042.logistics.{t}.17.1764230400@example.com>")
        );
        let want = Some((
            "SB-2026-000042".to_string(),
            "logistics".to_string(),
            t.clone(),
        ));
        assert_eq!(parse_message_id(&id), want);
        assert_eq!(parse_message_id(id.trim_matches(['<', '>'])), want);
        assert_eq!(parse_message_id(&id.to_uppercase()), want);

        let odd = route_message_id("SB-2026-000042", "logistics", &t, "a b@c<d>", "example.com");
        assert_eq!(
            odd,
            format!("<sb.route.sb-2026-000042.logistics.{t}.a-b-c-d-@example.com>")
        );
        assert_eq!(parse_message_id(&odd), want);
    }

    #[test]
    fn message_id_refuses_other_shapes() {
        let t = token(KEY, "SB-2026-000042", "logistics");
        for id in [
            "<CAF=abc@mail.gmail.com>".to_string(),
            format!("<sb.route.sb-2026-000042.logistics.{t}@example.com>"),
            format!("<sb.route.sb-2026-000042.logistics.{t}.@example.com>"),
            format!("<sb.route.sb-2026-000042.logistics.{t}.1>"),
            format!("<sb.other.sb-2026-000042.logistics.{t}.1@example.com>"),
            format!("<sb.route.sb-2026-000042.Logistics!.{t}.1@example.com>"),
            String::new(),
        ] {
            assert_eq!(parse_message_id(&id), None, "{id}");
        }
    }
}
