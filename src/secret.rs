//! Passwords come from a file or the environment, never from the TOML, and never
//! appear in logs: `Secret` prints as `[redacted]`.

use std::fmt;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

/// Where a password is kept, as the config names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
}

impl SecretSource {
    pub fn load(&self) -> Result<Secret> {
        let value = match self {
            SecretSource::File(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("Cannot read the password file {}", path.display()))?;
                // A trailing newline is what every editor and `echo` leave behind.
                text.trim_end_matches(['\r', '\n']).to_string()
            }
            SecretSource::Env(var) => std::env::var(var).with_context(|| {
                format!("The environment variable {var} (the password) is not set")
            })?,
        };
        if value.is_empty() {
            bail!("The password from {self} is empty");
        }
        Ok(Secret(value))
    }
}

impl SecretSource {
    /// A warning when a password file can be read by other users than its owner.
    pub fn permission_warning(&self) -> Option<String> {
        #[cfg(unix)]
        if let SecretSource::File(path) = self {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).ok()?.permissions().mode();
            if mode & 0o077 != 0 {
                return Some(format!(
                    "{} can be read by other users (mode {:o}); chmod 600 it",
                    path.display(),
                    mode & 0o777
                ));
            }
        }
        None
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::File(p) => write!(f, "file {}", p.display()),
            SecretSource::Env(v) => write!(f, "environment variable {v}"),
        }
    }
}

#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// A secret got otherwise than from the config (an OAuth2 token).
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
