//! `archive export --tar`: a finished bag packed as one POSIX ustar file
//! (POSIX.1-2001 `pax` interchange format, ustar header), for media that want one
//! file per case. RFC 8493 §4 allows a bag to travel serialised so, with the bag's
//! folder as the archive's one top-level folder. Written by hand: the header is 512
//! bytes of fixed fields, not worth a crate.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

const BLOCK: usize = 512;

/// Packs the bag folder `bag` into `bag.tar` beside it and returns its path.
pub fn pack(bag: &Path) -> Result<PathBuf> {
    let name = bag
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} has no UTF-8 name", bag.display()))?
        .to_string();
    let target = bag.with_file_name(format!("{name}.tar"));
    let partial = bag.with_file_name(format!("{name}.tar.partial"));
    let mut out = BufWriter::new(
        File::create(&partial).with_context(|| format!("Cannot create {}", partial.display()))?,
    );
    add_tree(&mut out, bag, &name)?;
    // Two zero blocks end the archive.
    out.write_all(&[0u8; 2 * BLOCK])?;
    let file = out
        .into_inner()
        .map_err(|e| anyhow::anyhow!("Cannot write {}: {}", partial.display(), e.error()))?;
    file.sync_all()?;
    std::fs::rename(&partial, &target)?;
    Ok(target)
}

fn add_tree(out: &mut impl Write, dir: &Path, name: &str) -> Result<()> {
    header(out, &format!("{name}/"), 0, b'5', 0o755)?;
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let Some(child) = entry.file_name().to_str().map(|n| format!("{name}/{n}")) else {
            bail!("{}: a file name that is not UTF-8", entry.path().display());
        };
        if entry.file_type()?.is_dir() {
            add_tree(out, &entry.path(), &child)?;
            continue;
        }
        let mut file = File::open(entry.path())?;
        let len = file.metadata()?.len();
        header(out, &child, len, b'0', 0o644)?;
        let copied = std::io::copy(&mut (&mut file).take(len), out)?;
        if copied != len {
            bail!("{} changed while it was packed", entry.path().display());
        }
        let pad = (BLOCK - (len as usize % BLOCK)) % BLOCK;
        out.write_all(&vec![0u8; pad])?;
    }
    Ok(())
}

/// One ustar header block. Fields are NUL-padded; numbers are octal.
fn header(out: &mut impl Write, path: &str, size: u64, kind: u8, mode: u32) -> Result<()> {
    let mut h = [0u8; BLOCK];
    let (prefix, name) = split_name(path)?;
    put(&mut h, 0, 100, name.as_bytes());
    put(&mut h, 100, 8, format!("{mode:07o}").as_bytes());
    put(&mut h, 108, 8, b"0000000");
    put(&mut h, 116, 8, b"0000000");
    put(&mut h, 124, 12, format!("{size:011o}").as_bytes());
    put(&mut h, 136, 12, b"00000000000");
    put(&mut h, 148, 8, b"        ");
    put(&mut h, 156, 1, &[kind]);
    put(&mut h, 257, 6, b"ustar\0");
    put(&mut h, 263, 2, b"00");
    put(&mut h, 345, 155, prefix.as_bytes());
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    put(&mut h, 148, 8, format!("{sum:06o}\0 ").as_bytes());
    out.write_all(&h)?;
    Ok(())
}

/// ustar keeps names up to 100 bytes, or a prefix of up to 155 and a name of up to
/// 100 split at a slash.
fn split_name(path: &str) -> Result<(&str, &str)> {
    if path.len() <= 100 {
        return Ok(("", path));
    }
    for (i, _) in path.match_indices('/') {
        let (prefix, rest) = (path.get(..i).unwrap_or(""), path.get(i + 1..).unwrap_or(""));
        if prefix.len() <= 155 && rest.len() <= 100 && !rest.is_empty() {
            return Ok((prefix, rest));
        }
    }
    bail!("{path}: too long a name for a tar file")
}

fn put(h: &mut [u8; BLOCK], at: usize, width: usize, value: &[u8]) {
    for (slot, b) in h.iter_mut().skip(at).take(width).zip(value) {
        *slot = *b;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_bag_unpacks_with_tar_to_the_same_bytes() {
        let dir = std::env::temp_dir().join(format!("switchboard-tar-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut w = crate::records::bagit::BagWriter::create(&dir.join("SB-2")).unwrap();
        let big: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
        w.add_bytes("messages/001.eml", &big).unwrap();
        let bag = w.finish(&[]).unwrap();
        let tar = pack(&bag).unwrap();
        let into = dir.join("out");
        std::fs::create_dir_all(&into).unwrap();
        let status = std::process::Command::new("tar")
            .arg("-xf")
            .arg(&tar)
            .arg("-C")
            .arg(&into)
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(
            std::fs::read(into.join("SB-2/data/messages/001.eml")).unwrap(),
            big
        );
        let v = crate::records::bagit::verify(&into.join("SB-2")).unwrap();
        assert!(v.problems.is_empty(), "{:?}", v.problems);
    }
}
