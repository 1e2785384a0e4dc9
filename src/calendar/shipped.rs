//! The mainland China holiday schedules shipped in `calendars/`, compiled into the
//! binary: a calendar in Asia/Shanghai that names no holiday files uses them, so an
//! installed service keeps the Spring Festival and the make-up working days (调休)
//! without a path to find and without anyone having read a warning.
//!
//! Add a year here only together with its file in `calendars/`, from the State
//! Council's published notice, checked date by date (calendars/README.md).

use std::path::Path;

use super::holidays::{self, HolidayFile};

/// The shipped files, by the name they have in the repository.
const MAINLAND: &[(&str, &str)] = &[
    (
        "calendars/cn-2025.toml",
        include_str!("../../calendars/cn-2025.toml"),
    ),
    (
        "calendars/cn-2026.toml",
        include_str!("../../calendars/cn-2026.toml"),
    ),
];

/// How a built-in schedule is named in messages and in `check`.
pub const BUILT_IN: &str = "built in";

/// The mainland schedules, parsed. Their text is checked by a test below and by
/// every build's `check`; a file that did not parse would be left out with its
/// problems returned, never a panic.
pub fn mainland() -> Result<Vec<HolidayFile>, Vec<String>> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for (name, text) in MAINLAND {
        let path = Path::new(BUILT_IN).join(name);
        match holidays::parse(&path, text) {
            Ok(file) => files.push(file),
            Err(p) => problems.extend(p),
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(problems)
    }
}

/// Whether a holiday file was compiled in rather than read from disk.
pub fn is_built_in(path: &Path) -> bool {
    path.starts_with(BUILT_IN)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_shipped_schedule_parses_and_covers_its_own_year() {
        let files = super::mainland().unwrap();
        assert_eq!(files.len(), super::MAINLAND.len());
        let years: Vec<i32> = files.iter().map(|f| f.year).collect();
        assert_eq!(years, [2025, 2026]);
        // The same text as in the repository's calendars/ (include_str! keeps it so,
        // but a file renamed there must be renamed here too).
        for (name, text) in super::MAINLAND {
            let on_disk = std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name),
            )
            .unwrap();
            assert_eq!(&on_disk, text, "{name}");
        }
    }
}
