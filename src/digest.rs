//! Hex digests, one way everywhere: content hashes (the ledger's keys, a resend's
//! bytes, BagIt manifests, a person's address in the audit trail) and short
//! fingerprints (Message-IDs and Content-IDs of our mail, the clock's policy
//! fingerprint).

use std::fmt::Write;

use sha2::{Digest, Sha256};

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The SHA-256 of `data`, in hex.
pub fn sha256_hex(data: impl AsRef<[u8]>) -> String {
    hex(&Sha256::digest(data))
}

/// The first `bytes` bytes of the SHA-256 of `data`, in hex: a name that tells things
/// apart, not a checksum.
pub fn sha256_prefix(data: impl AsRef<[u8]>, bytes: usize) -> String {
    let digest = Sha256::digest(data);
    hex(digest.get(..bytes).unwrap_or(&digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_hex_as_before() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha256_prefix("abc", 4), "ba7816bf");
        assert_eq!(sha256_prefix("abc", 99).len(), 64);
    }
}
