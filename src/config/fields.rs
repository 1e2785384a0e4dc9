//! Reading a TOML table key by key, so that every problem in a config file is reported
//! at once as `file: key: what was expected`, and keys nobody reads are warned about.

use std::path::{Path, PathBuf};

use toml::{Table, Value};

/// Collects problems while a config file is read.
#[derive(Debug, Default)]
pub struct Report {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

/// One table of the file, with the dotted path of keys that leads to it.
pub struct Fields<'a> {
    file: &'a Path,
    prefix: String,
    table: Table,
}

impl<'a> Fields<'a> {
    pub fn new(file: &'a Path, prefix: &str, table: Table) -> Fields<'a> {
        Fields {
            file,
            prefix: prefix.to_string(),
            table,
        }
    }

    pub fn key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    pub fn error(&self, report: &mut Report, key: &str, expected: impl std::fmt::Display) {
        report.errors.push(format!(
            "{}: {}: {expected}",
            self.file.display(),
            self.key(key)
        ));
    }

    pub fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        self.table.remove(key)
    }

    pub fn string(&mut self, report: &mut Report, key: &str) -> Option<String> {
        match self.take(key) {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                self.error(
                    report,
                    key,
                    format!("expected a string, found {}", other.type_str()),
                );
                None
            }
        }
    }

    pub fn boolean(&mut self, report: &mut Report, key: &str) -> Option<bool> {
        match self.take(key) {
            None => None,
            Some(Value::Boolean(b)) => Some(b),
            Some(other) => {
                self.error(
                    report,
                    key,
                    format!("expected true or false, found {}", other.type_str()),
                );
                None
            }
        }
    }

    pub fn required_string(&mut self, report: &mut Report, key: &str) -> Option<String> {
        // A key that is there with the wrong type was reported by `string` already.
        let present = self.has(key);
        let value = self.string(report, key);
        if !present {
            self.error(report, key, "is required");
        }
        value
    }

    pub fn integer(&mut self, report: &mut Report, key: &str, min: i64, max: i64) -> Option<i64> {
        match self.take(key) {
            None => None,
            Some(Value::Integer(i)) if (min..=max).contains(&i) => Some(i),
            Some(Value::Integer(i)) => {
                self.error(
                    report,
                    key,
                    format!("expected a number from {min} to {max}, found {i}"),
                );
                None
            }
            Some(other) => {
                self.error(
                    report,
                    key,
                    format!("expected a number, found {}", other.type_str()),
                );
                None
            }
        }
    }

    pub fn strings(&mut self, report: &mut Report, key: &str) -> Vec<String> {
        match self.take(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s),
                        other => self.error(
                            report,
                            &format!("{key}[{i}]"),
                            format!("expected a string, found {}", other.type_str()),
                        ),
                    }
                }
                out
            }
            Some(other) => {
                self.error(
                    report,
                    key,
                    format!("expected a list of strings, found {}", other.type_str()),
                );
                Vec::new()
            }
        }
    }

    /// A path, resolved against the config file's folder when relative.
    pub fn path(&mut self, report: &mut Report, key: &str) -> Option<PathBuf> {
        let raw = self.string(report, key)?;
        if raw.trim().is_empty() {
            self.error(report, key, "expected a path, found an empty string");
            return None;
        }
        Some(resolve(self.file, &raw))
    }

    /// A path that must be given; `what` says what it is for in the error.
    pub fn required_path(&mut self, report: &mut Report, key: &str, what: &str) -> Option<PathBuf> {
        let present = self.has(key);
        let path = self.path(report, key);
        if !present {
            self.error(report, key, format!("is required: {what}"));
        }
        path
    }

    /// Like `path`, with a default that is also relative to the config file's folder.
    pub fn path_or(&mut self, report: &mut Report, key: &str, default: &str) -> PathBuf {
        self.path(report, key)
            .unwrap_or_else(|| resolve(self.file, default))
    }

    /// One of a fixed set of words.
    pub fn choice(&mut self, report: &mut Report, key: &str, choices: &[&str]) -> Option<String> {
        let value = self.string(report, key)?;
        if choices.contains(&value.as_str()) {
            Some(value)
        } else {
            self.error(
                report,
                key,
                format!("expected one of {}, found \"{value}\"", quoted(choices)),
            );
            None
        }
    }

    pub fn duration(&mut self, report: &mut Report, key: &str) -> Option<std::time::Duration> {
        let value = self.string(report, key)?;
        match parse_duration(&value) {
            Some(d) => Some(d),
            None => {
                self.error(report, key, format!("expected a duration such as \"30s\", \"5m\" or \"1h30m\", found \"{value}\""));
                None
            }
        }
    }

    pub fn table(&mut self, report: &mut Report, key: &str) -> Option<Fields<'a>> {
        match self.take(key) {
            None => None,
            Some(Value::Table(t)) => Some(Fields::new(self.file, &self.key(key), t)),
            Some(other) => {
                self.error(
                    report,
                    key,
                    format!(
                        "expected a table [{}], found {}",
                        self.key(key),
                        other.type_str()
                    ),
                );
                None
            }
        }
    }

    pub fn array_of_tables(&mut self, report: &mut Report, key: &str) -> Vec<Fields<'a>> {
        match self.take(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for (i, item) in items.into_iter().enumerate() {
                    let item_key = format!("{key}[{i}]");
                    match item {
                        Value::Table(t) => {
                            out.push(Fields::new(self.file, &self.key(&item_key), t))
                        }
                        other => self.error(
                            report,
                            &item_key,
                            format!("expected a table, found {}", other.type_str()),
                        ),
                    }
                }
                out
            }
            Some(other) => {
                self.error(
                    report,
                    key,
                    format!(
                        "expected [[{}]] tables, found {}",
                        self.key(key),
                        other.type_str()
                    ),
                );
                Vec::new()
            }
        }
    }

    /// Warns about every key that was not read: most often a typo.
    pub fn finish(self, report: &mut Report) {
        for key in self.table.keys() {
            report.warnings.push(format!(
                "{}: {}: unknown key, ignored",
                self.file.display(),
                self.key(key)
            ));
        }
    }
}

pub fn resolve(base_file: &Path, raw: &str) -> PathBuf {
    let p = PathBuf::from(raw);
    if p.is_absolute() {
        p
    } else {
        base_file.parent().unwrap_or(Path::new(".")).join(p)
    }
}

fn quoted(choices: &[&str]) -> String {
    choices
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "30s", "5m", "1h30m", "2d": a sum of numbers with units s, m, h, d.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
        } else {
            let n: u64 = number.parse().ok()?;
            number.clear();
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                _ => return None,
            };
            total = total.checked_add(n.checked_mul(unit)?)?;
        }
    }
    if !number.is_empty() {
        return None;
    }
    Some(std::time::Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(172800)));
        assert_eq!(parse_duration("30"), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration(""), None);
    }
}
