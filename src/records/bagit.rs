//! BagIt (RFC 8493): a folder of payload files under `data/` with a manifest of their
//! SHA-256 sums, so that anyone can check years later, with any BagIt tool, that an
//! archive is whole and unchanged. The Library of Congress' `bagit.py --validate`
//! accepts what [`BagWriter`] writes (tests/records.rs).
//!
//! A bag is written into `NAME.partial` beside its final place, every file synced,
//! and renamed to `NAME` only when complete: a crash leaves a `.partial` folder (which
//! the next export replaces), never a bag that looks finished and is not.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256, Sha512};

use crate::digest::hex;

/// RFC 8493 §2.1.1: the version this writes, and the only tag file encoding it uses.
const BAGIT_TXT: &str = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";

pub struct BagWriter {
    target: PathBuf,
    work: PathBuf,
    /// (SHA-256 in hex, path from the bag's root), in the order written.
    entries: Vec<(String, String)>,
    octets: u64,
}

/// Counts and hashes what passes through on its way to a file.
struct Hashing<W: Write> {
    inner: W,
    hash: Sha256,
    len: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(buf.get(..n).unwrap_or_default());
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl BagWriter {
    /// Starts a bag that will be at `target`, which must not exist yet. A `.partial`
    /// folder left by an export that crashed is removed first.
    pub fn create(target: &Path) -> Result<BagWriter> {
        if target.exists() {
            bail!(
                "{} exists already; remove it or choose another folder",
                target.display()
            );
        }
        let name = target
            .file_name()
            .with_context(|| format!("{} names no folder", target.display()))?;
        let mut partial = name.to_os_string();
        partial.push(".partial");
        let work = target.with_file_name(partial);
        if work.exists() {
            std::fs::remove_dir_all(&work)
                .with_context(|| format!("Cannot remove the unfinished bag {}", work.display()))?;
        }
        std::fs::create_dir_all(work.join("data"))
            .with_context(|| format!("Cannot create {}", work.display()))?;
        Ok(BagWriter {
            target: target.to_path_buf(),
            work,
            entries: Vec::new(),
            octets: 0,
        })
    }

    /// Writes a payload file at `data/<rel>` with what `fill` writes, hashing it on
    /// the way: nothing is held in memory but the writer's buffer.
    pub fn add_with(
        &mut self,
        rel: &str,
        fill: impl FnOnce(&mut dyn Write) -> Result<()>,
    ) -> Result<()> {
        let path = format!("data/{rel}");
        if !safe_relative(&path) {
            bail!("A bag file may not be named {path:?}");
        }
        let full = self.work.join(&path);
        if let Some(dir) = full.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file =
            File::create(&full).with_context(|| format!("Cannot create {}", full.display()))?;
        let mut w = Hashing {
            inner: BufWriter::with_capacity(64 * 1024, file),
            hash: Sha256::new(),
            len: 0,
        };
        fill(&mut w).with_context(|| format!("Cannot write {path}"))?;
        w.flush()?;
        let file = w
            .inner
            .into_inner()
            .map_err(|e| anyhow::anyhow!("Cannot write {path}: {}", e.error()))?;
        file.sync_all()?;
        self.octets += w.len;
        self.entries.push((hex(&w.hash.finalize()), path));
        Ok(())
    }

    pub fn add_bytes(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        self.add_with(rel, |w| Ok(w.write_all(bytes)?))
    }

    /// Writes the tag files and puts the bag in its place. `info` are bag-info.txt's
    /// lines (RFC 8493 §2.2.2); Payload-Oxum is added here.
    pub fn finish(self, info: &[(&str, String)]) -> Result<PathBuf> {
        let mut manifest = String::new();
        for (sum, path) in &self.entries {
            manifest.push_str(&format!("{sum}  {}\n", encode_path(path)));
        }
        let mut bag_info = String::new();
        for (label, value) in info {
            bag_info.push_str(&format!("{label}: {}\n", one_line(value)));
        }
        bag_info.push_str(&format!(
            "Payload-Oxum: {}.{}\n",
            self.octets,
            self.entries.len()
        ));
        let mut tags = String::new();
        for (name, text) in [
            ("bagit.txt", BAGIT_TXT),
            ("bag-info.txt", bag_info.as_str()),
            ("manifest-sha256.txt", manifest.as_str()),
        ] {
            write_synced(&self.work.join(name), text.as_bytes())?;
            tags.push_str(&format!("{}  {name}\n", hex(&Sha256::digest(text))));
        }
        write_synced(&self.work.join("tagmanifest-sha256.txt"), tags.as_bytes())?;
        sync_tree(&self.work)?;
        std::fs::rename(&self.work, &self.target).with_context(|| {
            format!("Cannot move the finished bag to {}", self.target.display())
        })?;
        if let Some(parent) = self.target.parent() {
            sync_dir(parent)?;
        }
        Ok(self.target)
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).with_context(|| format!("Cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// Syncs every folder of the bag, so that its entries survive a power loss before
/// the rename that makes it final.
fn sync_tree(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        }
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("Cannot sync the folder {}", dir.display()))
}

/// A value of bag-info.txt on one line: mail subjects can hold anything.
fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// RFC 8493 §2.1.3: CR, LF and `%` in a manifest's file names are percent-encoded.
fn encode_path(path: &str) -> String {
    path.replace('%', "%25")
        .replace('\n', "%0A")
        .replace('\r', "%0D")
}

fn decode_path(path: &str) -> String {
    path.replace("%0A", "\n")
        .replace("%0a", "\n")
        .replace("%0D", "\r")
        .replace("%0d", "\r")
        .replace("%25", "%")
}

/// A path inside the bag: relative, without `..` (RFC 8493 §2.1.3 forbids leaving
/// the bag; a manifest naming `../../etc/passwd` must not make us read it).
fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    fn from_file_name(name: &str, kind: &str) -> Option<Option<Algorithm>> {
        let alg = name.strip_prefix(kind)?.strip_suffix(".txt")?;
        Some(match alg {
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        })
    }

    fn hash_file(&self, path: &Path) -> Result<String> {
        let mut f = BufReader::with_capacity(
            64 * 1024,
            File::open(path).with_context(|| format!("Cannot read {}", path.display()))?,
        );
        let mut buf = vec![0u8; 64 * 1024];
        let mut sha256 = Sha256::new();
        let mut sha512 = Sha512::new();
        loop {
            let n = f.read(&mut buf)?;
            let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
                break;
            };
            match self {
                Algorithm::Sha256 => sha256.update(chunk),
                Algorithm::Sha512 => sha512.update(chunk),
            }
        }
        Ok(match self {
            Algorithm::Sha256 => hex(&sha256.finalize()),
            Algorithm::Sha512 => hex(&sha512.finalize()),
        })
    }
}

/// What a check of one bag found: empty when the bag is complete and unchanged.
#[derive(Debug, Default)]
pub struct Verdict {
    pub problems: Vec<String>,
    /// Payload files checked.
    pub files: usize,
}

/// Re-hashes every file a bag's manifests name and checks that the payload holds no
/// file they leave out (RFC 8493 §3: a bag is valid when it is complete and every
/// checksum matches).
pub fn verify(bag: &Path) -> Result<Verdict> {
    let mut v = Verdict::default();
    let declaration = std::fs::read_to_string(bag.join("bagit.txt"))
        .with_context(|| format!("{} is not a bag: no readable bagit.txt", bag.display()))?;
    let mut lines = declaration.lines();
    if !lines
        .next()
        .is_some_and(|l| l.starts_with("BagIt-Version: "))
    {
        v.problems
            .push("bagit.txt: the first line is not \"BagIt-Version: M.N\"".into());
    }
    if lines.next() != Some("Tag-File-Character-Encoding: UTF-8") {
        v.problems.push(
            "bagit.txt: the second line is not \"Tag-File-Character-Encoding: UTF-8\"".into(),
        );
    }
    if bag.join("fetch.txt").exists() {
        v.problems
            .push("fetch.txt: a bag that fetches files from elsewhere is not checked here".into());
    }
    let mut payload_manifests = 0;
    let mut listed: Vec<std::collections::BTreeSet<String>> = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(bag)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    for name in &names {
        for (kind, payload) in [("manifest-", true), ("tagmanifest-", false)] {
            let Some(alg) = Algorithm::from_file_name(name, kind) else {
                continue;
            };
            let Some(alg) = alg else {
                v.problems
                    .push(format!("{name}: an algorithm this check does not know"));
                continue;
            };
            let seen = check_manifest(bag, name, &alg, payload, &mut v)?;
            if payload {
                payload_manifests += 1;
                listed.push(seen);
            }
        }
    }
    if payload_manifests == 0 {
        v.problems
            .push("no payload manifest (manifest-sha256.txt)".into());
    }
    let mut payload = Vec::new();
    walk(&bag.join("data"), "data", &mut payload, &mut v)?;
    for file in &payload {
        if listed.iter().any(|set| !set.contains(file)) {
            v.problems
                .push(format!("{file}: in the payload but not in every manifest"));
        }
    }
    if let Ok(info) = std::fs::read_to_string(bag.join("bag-info.txt"))
        && let Some(oxum) = info
            .lines()
            .find_map(|l| l.strip_prefix("Payload-Oxum:"))
            .map(str::trim)
    {
        let mut octets = 0u64;
        for file in &payload {
            octets += std::fs::metadata(bag.join(file))?.len();
        }
        let found = format!("{octets}.{}", payload.len());
        if oxum != found {
            v.problems.push(format!(
                "bag-info.txt: Payload-Oxum says {oxum}, the payload is {found}"
            ));
        }
    }
    v.files = payload.len();
    Ok(v)
}

/// Checks one manifest's lines; returns the paths it lists.
fn check_manifest(
    bag: &Path,
    name: &str,
    alg: &Algorithm,
    payload: bool,
    v: &mut Verdict,
) -> Result<std::collections::BTreeSet<String>> {
    let mut seen = std::collections::BTreeSet::new();
    let file = File::open(bag.join(name)).with_context(|| format!("Cannot read {name}"))?;
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{name}: not UTF-8"))?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let Some((sum, path)) = line.split_once(char::is_whitespace) else {
            v.problems
                .push(format!("{name}:{}: expected \"CHECKSUM PATH\"", i + 1));
            continue;
        };
        let path = decode_path(path.trim_start());
        if !safe_relative(&path) || (payload && !path.starts_with("data/")) {
            v.problems.push(format!(
                "{name}:{}: {path:?} is not a file of this bag's {}",
                i + 1,
                if payload { "payload" } else { "tags" }
            ));
            continue;
        }
        let full = bag.join(&path);
        if !full.is_file() {
            v.problems
                .push(format!("{path}: listed in {name} but missing"));
        } else if alg.hash_file(&full)? != sum.to_ascii_lowercase() {
            v.problems
                .push(format!("{path}: its checksum differs from {name}"));
        }
        seen.insert(path);
    }
    Ok(seen)
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<String>, v: &mut Verdict) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(_) => {
            v.problems.push(format!("{rel}: missing"));
            return Ok(());
        }
    };
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            v.problems
                .push(format!("{rel}: a file name that is not UTF-8"));
            continue;
        };
        let path = format!("{rel}/{name}");
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), &path, out, v)?;
        } else if kind.is_file() {
            out.push(path);
        } else {
            v.problems
                .push(format!("{path}: neither a file nor a folder"));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("switchboard-bagit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn bag(dir: &Path) -> PathBuf {
        let mut w = BagWriter::create(&dir.join("SB-1")).unwrap();
        w.add_bytes("messages/001.eml", b"Subject: a\r\n\r\nhello\r\n")
            .unwrap();
        w.add_with("case.txt", |out| Ok(out.write_all(b"timeline\n")?))
            .unwrap();
        w.finish(&[("External-Identifier", "SB-1\nforged: x".into())])
            .unwrap()
    }

    #[test]
    fn a_written_bag_verifies_and_says_what_it_holds() {
        let dir = tmp("ok");
        let bag = bag(&dir);
        assert!(!dir.join("SB-1.partial").exists());
        let v = verify(&bag).unwrap();
        assert!(v.problems.is_empty(), "{:?}", v.problems);
        assert_eq!(v.files, 2);
        let info = std::fs::read_to_string(bag.join("bag-info.txt")).unwrap();
        assert!(
            info.contains("External-Identifier: SB-1 forged: x\n"),
            "{info}"
        );
        assert!(info.contains("Payload-Oxum: 30.2\n"), "{info}");
        assert!(BagWriter::create(&bag).is_err(), "an existing bag is kept");
    }

    #[test]
    fn a_flipped_byte_an_extra_file_and_a_missing_file_are_each_refused() {
        let dir = tmp("bad");
        let bag = bag(&dir);
        let msg = bag.join("data/messages/001.eml");
        let mut bytes = std::fs::read(&msg).unwrap();
        bytes[3] ^= 1;
        std::fs::write(&msg, &bytes).unwrap();
        let v = verify(&bag).unwrap();
        assert!(
            v.problems
                .iter()
                .any(|p| p.contains("data/messages/001.eml: its checksum differs")),
            "{:?}",
            v.problems
        );
        bytes[3] ^= 1;
        std::fs::write(&msg, &bytes).unwrap();
        assert!(verify(&bag).unwrap().problems.is_empty());

        std::fs::write(bag.join("data/extra.txt"), b"x").unwrap();
        let v = verify(&bag).unwrap();
        assert!(
            v.problems
                .iter()
                .any(|p| p.contains("data/extra.txt: in the payload"))
        );
        std::fs::remove_file(bag.join("data/extra.txt")).unwrap();

        std::fs::remove_file(bag.join("data/case.txt")).unwrap();
        let v = verify(&bag).unwrap();
        assert!(
            v.problems
                .iter()
                .any(|p| p.contains("data/case.txt: listed"))
        );
    }

    #[test]
    fn a_manifest_cannot_point_outside_the_bag() {
        let dir = tmp("escape");
        let bag = bag(&dir);
        std::fs::write(
            bag.join("manifest-sha256.txt"),
            "00  data/../../../etc/passwd\n",
        )
        .unwrap();
        let v = verify(&bag).unwrap();
        assert!(
            v.problems
                .iter()
                .any(|p| p.contains("is not a file of this bag"))
        );
    }
}
