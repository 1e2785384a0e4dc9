//! Folder names as the config writes them and as the IMAP server spells them.
//!
//! The config always separates levels with `/` (`processed_folder = "客服/已处理"`)
//! and writes Unicode. On the wire each level is modified UTF-7 (RFC 3501 §5.1.3,
//! see [`utf7`]) and levels are joined with the server's own hierarchy delimiter,
//! which `LIST "" ""` reports (RFC 3501 §6.3.8): `/` for Dovecot's default and
//! Gmail, `.` for Courier, Cyrus and Dovecot set up with `separator = .`. So the
//! same config works against either.

pub mod utf7;

use anyhow::{Result, bail};

/// What the config's `/` becomes on one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderNames {
    /// The server's hierarchy delimiter; `None` when its names are flat (`NIL`).
    delimiter: Option<char>,
}

impl Default for FolderNames {
    /// Until LIST has answered: `/`, which is also what the config writes.
    fn default() -> FolderNames {
        FolderNames {
            delimiter: Some('/'),
        }
    }
}

impl FolderNames {
    /// From the delimiter in the server's answer to `LIST "" ""`.
    pub fn with_delimiter(delimiter: Option<&str>) -> Result<FolderNames> {
        let delimiter = match delimiter {
            None => None,
            Some(d) => {
                let mut chars = d.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if c.is_ascii() && c != '&' => Some(c),
                    _ => bail!(
                        "The IMAP server's hierarchy delimiter {d:?} is not one ASCII character"
                    ),
                }
            }
        };
        Ok(FolderNames { delimiter })
    }

    pub fn delimiter(&self) -> Option<char> {
        self.delimiter
    }

    /// The name to send in SELECT, CREATE, LIST, COPY and MOVE for the config's `name`.
    pub fn wire(&self, name: &str) -> Result<String> {
        // INBOX is case-insensitive and never encoded (RFC 3501 §5.1).
        if name.eq_ignore_ascii_case("INBOX") {
            return Ok("INBOX".to_string());
        }
        let Some(delimiter) = self.delimiter else {
            // A flat server: `/` is just a character of the one level.
            return Ok(utf7::encode(name));
        };
        let mut levels = Vec::new();
        for level in name.split('/') {
            if level.is_empty() {
                bail!(
                    "The folder name {name:?} has an empty level (a leading, trailing or doubled '/')"
                );
            }
            if delimiter != '/' && level.contains(delimiter) {
                bail!(
                    "The folder name {name:?} has {delimiter:?} in a level, and this IMAP server separates levels with {delimiter:?}; write the levels with '/'"
                );
            }
            levels.push(utf7::encode(level));
        }
        Ok(levels.join(&delimiter.to_string()))
    }

    /// The config's spelling of a name the server listed.
    pub fn config_name(&self, wire: &str) -> Result<String> {
        let name = utf7::decode(wire)?;
        Ok(match self.delimiter {
            Some(d) if d != '/' => name.replace(d, "/"),
            _ => name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_config_name_works_with_either_delimiter() {
        let slash = FolderNames::with_delimiter(Some("/")).unwrap();
        let dot = FolderNames::with_delimiter(Some(".")).unwrap();
        assert_eq!(slash.wire("客服/已处理").unwrap(), "&W6JnDQ-/&XfJZBHQG-");
        assert_eq!(dot.wire("客服/已处理").unwrap(), "&W6JnDQ-.&XfJZBHQG-");
        assert_eq!(
            dot.config_name("&W6JnDQ-.&XfJZBHQG-").unwrap(),
            "客服/已处理"
        );
        assert_eq!(
            slash.config_name("&W6JnDQ-/&XfJZBHQG-").unwrap(),
            "客服/已处理"
        );
        assert_eq!(dot.wire("inbox").unwrap(), "INBOX");
        assert_eq!(slash.wire("Switchboard/v1.0").unwrap(), "Switchboard/v1.0");
    }

    #[test]
    fn names_a_server_cannot_hold_are_refused() {
        let dot = FolderNames::with_delimiter(Some(".")).unwrap();
        assert!(dot.wire("Switchboard/v1.0").is_err());
        assert!(dot.wire("客服//已处理").is_err());
        assert!(dot.wire("/客服").is_err());
        assert!(FolderNames::with_delimiter(Some("//")).is_err());
        let flat = FolderNames::with_delimiter(None).unwrap();
        assert_eq!(flat.wire("a/b").unwrap(), "a/b");
    }
}
