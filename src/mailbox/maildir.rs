//! A local Maildir as the incoming mailbox (the demo, and hosts that deliver to disk).
//!
//! Files in `new/` and `cur/` are read in name order (Maildir names start with the
//! delivery time). There is no UID, so "seen before" rests on the message ledger
//! alone: a file is moved to the processed or quarantine subfolder only after its
//! batch is committed, and a file left behind by a crash is recognised next time.
//! Batches are bounded in bytes as IMAP's are ([`super::batch`]).
//! Folders are Maildir++ subfolders: "Switchboard/Processed" is `.Switchboard.Processed`.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::batch::batches;
use crate::clock::Clock;
use crate::intake::{Incoming, Intake, Report, Source};
use crate::store::Db;

pub struct MaildirMailbox {
    root: PathBuf,
}

impl MaildirMailbox {
    pub fn new(root: PathBuf) -> MaildirMailbox {
        MaildirMailbox { root }
    }

    pub async fn pass(
        &mut self,
        intake: &std::sync::Arc<Intake>,
        db: &Db,
        clock: &Clock,
        on_report: &mut (dyn FnMut(&Report) + Send),
    ) -> Result<usize> {
        let config = &intake.config;
        let folder = folder_path(&self.root, &config.mailbox.folder);
        let mut files = Vec::new();
        for sub in ["new", "cur"] {
            let dir = folder.join(sub);
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("Cannot read {}", dir.display())),
            };
            for entry in entries {
                let entry = entry.with_context(|| format!("Cannot read {}", dir.display()))?;
                // Names starting with a dot are not messages (Maildir convention).
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                if !hidden && entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                    let path = entry.path();
                    // Its size bounds the batch and says whether it is read whole.
                    let size = entry
                        .metadata()
                        .with_context(|| format!("Cannot read {}", path.display()))?
                        .len();
                    files.push((path, size));
                }
            }
        }
        files.sort_by(|(a, _), (b, _)| a.file_name().cmp(&b.file_name()));
        let max = config.intake.max_message_bytes;
        let mailbox_key = format!("maildir:{}", folder.display());
        let mut taken = 0;
        let batch_size = config.mailbox.batch_size as usize;
        for chunk in batches(&files, |(_, size)| *size, batch_size, max) {
            let mut batch = Vec::with_capacity(chunk.len());
            for (path, size) in chunk {
                batch.push(read_message(path, *size, max)?);
            }
            let source = Source {
                mailbox: mailbox_key.clone(),
                uidvalidity: None,
            };
            let batch = intake.prepare_batch(batch, clock.now()).await?;
            let reports = intake
                .commit_batch(db, source, batch, None, clock.now())
                .await?;
            for ((path, _), report) in chunk.iter().zip(&reports) {
                on_report(report);
                if let Some(target) = report.target(config) {
                    move_file(path, &folder_path(&self.root, target))?;
                }
            }
            taken += reports.iter().filter(|r| r.outcome != "duplicate").count();
        }
        Ok(taken)
    }
}

/// The Maildir++ folder for an IMAP-style name; INBOX is the root itself.
fn folder_path(root: &Path, name: &str) -> PathBuf {
    if name.eq_ignore_ascii_case("INBOX") || name.is_empty() {
        root.to_path_buf()
    } else {
        root.join(format!(".{}", name.replace('/', ".")))
    }
}

/// `size`: the file's, as the listing found it (a delivered Maildir file does not
/// change).
fn read_message(path: &Path, size: u64, max: u64) -> Result<Incoming> {
    if size <= max {
        let raw = std::fs::read(path).with_context(|| format!("Cannot read {}", path.display()))?;
        return Ok(Incoming {
            uid: None,
            raw,
            too_large: None,
        });
    }
    // Only the header of an oversized message: enough to say whose it is.
    let mut header = Vec::new();
    std::fs::File::open(path)
        .with_context(|| format!("Cannot read {}", path.display()))?
        .take(256 * 1024)
        .read_to_end(&mut header)?;
    let end = header
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| header.windows(2).position(|w| w == b"\n\n").map(|p| p + 2))
        .unwrap_or(header.len());
    header.truncate(end);
    Ok(Incoming {
        uid: None,
        raw: header,
        too_large: Some(size),
    })
}

fn move_file(path: &Path, folder: &Path) -> Result<()> {
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(folder.join(sub))
            .with_context(|| format!("Cannot create {}", folder.join(sub).display()))?;
    }
    let name = path.file_name().context("a Maildir file without a name")?;
    let target = folder.join("cur").join(name);
    std::fs::rename(path, &target)
        .with_context(|| format!("Cannot move {} to {}", path.display(), target.display()))
}
