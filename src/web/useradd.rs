//! `switchboard web-user add NAME`: asks for the password twice (from the terminal
//! without echo, or two lines on standard input when it is not a terminal, so that a
//! script can drive it), hashes it with argon2id, and writes the user into the
//! `[web] users` file — added, or its password, role and departments replaced. The
//! file is written whole to a temporary file and renamed, mode 0600.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use argon2::Argon2;
use argon2::password_hash::PasswordHasher;

use crate::config::Config;

pub fn add(config: &Path, name: &str, role: &str, departments: &[String]) -> Result<ExitCode> {
    let (config, _) = Config::load(config)?;
    let Some(path) = config.web.as_ref().and_then(|w| w.users.clone()) else {
        bail!(
            "{}: web.users: name the web users file first, such as users = \"/etc/switchboard/web-users.toml\"",
            config.file.display()
        );
    };
    if role != "manager" && role != "admin" {
        bail!("--role: expected \"manager\" or \"admin\", found \"{role}\"");
    }
    let known: Vec<&str> = config.departments.iter().map(|d| d.id.as_str()).collect();
    let password = ask_twice()?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow!("Cannot hash the password: {e}"))?
        .to_string();

    let mut doc: toml::Table = if path.exists() {
        std::fs::read_to_string(&path)
            .with_context(|| format!("Cannot read {}", path.display()))?
            .parse()
            .with_context(|| format!("{} is not TOML", path.display()))?
    } else {
        toml::Table::new()
    };
    let list = doc
        .entry("user")
        .or_insert_with(|| toml::Value::Array(Vec::new()));
    let toml::Value::Array(list) = list else {
        bail!("{}: user: expected [[user]] tables", path.display());
    };
    let mut entry = toml::Table::new();
    entry.insert("name".into(), name.into());
    entry.insert("password".into(), hash.into());
    entry.insert("role".into(), role.into());
    entry.insert(
        "departments".into(),
        toml::Value::Array(departments.iter().map(|d| d.as_str().into()).collect()),
    );
    let existing = list
        .iter()
        .position(|u| u.get("name").and_then(|n| n.as_str()) == Some(name));
    let verb = match existing.and_then(|i| list.get_mut(i)) {
        Some(slot) => {
            *slot = toml::Value::Table(entry);
            "Updated"
        }
        None => {
            list.push(toml::Value::Table(entry));
            "Added"
        }
    };
    let text = toml::to_string(&doc)?;
    // What the daemon will read must pass its own checks.
    let (_, report) = super::users::parse(&path, &text, &known);
    if !report.errors.is_empty() {
        bail!("{}", report.errors.join("\n"));
    }
    write_private(&path, &text)?;
    let scope = if role == "admin" {
        "all departments".to_string()
    } else {
        departments.join(", ")
    };
    println!(
        "{verb} web user {name} ({role}: {scope}) in {}",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("toml.new");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("Cannot write {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("Cannot replace {}", path.display()))?;
    Ok(())
}

fn ask_twice() -> Result<String> {
    let stdin = std::io::stdin();
    let (first, second) = if stdin.is_terminal() {
        let first = read_hidden("Password: ")?;
        let second = read_hidden("Again: ")?;
        (first, second)
    } else {
        let mut lines = stdin.lock().lines();
        let mut next = || -> Result<String> {
            Ok(lines
                .next()
                .context("Expected the password twice, on two lines of standard input")??)
        };
        (next()?, next()?)
    };
    if first != second {
        bail!("The two passwords differ; nothing was written");
    }
    if first.chars().count() < 10 {
        bail!("The password is shorter than 10 characters; nothing was written");
    }
    Ok(first)
}

/// One line from the terminal with echo off (termios, POSIX), echo restored after.
fn read_hidden(prompt: &str) -> Result<String> {
    eprint!("{prompt}");
    let fd = libc::STDIN_FILENO;
    // SAFETY: tcgetattr/tcsetattr on stdin with a termios we own; the old settings
    // are put back before returning, whatever the read did.
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut old) } != 0 {
        bail!("Cannot read the terminal's settings");
    }
    let mut quiet = old;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
