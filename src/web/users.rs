//! `web-users.toml`: who may open the web view, as `[[user]]` tables —
//! `name`, `password` (an argon2id PHC string, which `switchboard web-user add`
//! writes), `role` (`manager` sees only `departments`; `admin` sees everything) —
//! validated whole like the config, every problem as `file: key: expected`.

use std::fmt;
use std::path::Path;

use anyhow::{Result, bail};
use argon2::password_hash::phc::PasswordHash;

use crate::config::Report;
use crate::config::fields::Fields;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    Manager,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }
}

#[derive(Clone)]
pub struct User {
    pub name: String,
    /// The PHC string as written; parsed again at each check (it borrows).
    pub password: String,
    pub role: Role,
    pub departments: Vec<String>,
}

/// Never the hash: a log line or an error that prints a user shows who, not how.
impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("departments", &self.departments)
            .finish_non_exhaustive()
    }
}

impl User {
    /// May this user see what belongs to these departments?
    pub fn sees<'a>(&self, mut departments: impl Iterator<Item = &'a str>) -> bool {
        self.role == Role::Admin || departments.any(|d| self.departments.iter().any(|m| m == d))
    }
}

/// Reads and validates the file; `known` are the config's department ids.
pub fn load(path: &Path, known: &[&str]) -> Result<Vec<User>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read the web users file: {e}", path.display()))?;
    let (users, report) = parse(path, &text, known);
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
    if !report.errors.is_empty() {
        bail!("{}", report.errors.join("\n"));
    }
    Ok(users)
}

pub fn parse(path: &Path, text: &str, known: &[&str]) -> (Vec<User>, Report) {
    let mut report = Report::default();
    let table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            report
                .errors
                .push(format!("{}: {}", path.display(), e.message()));
            return (Vec::new(), report);
        }
    };
    let mut root = Fields::new(path, "", table);
    let mut users: Vec<User> = Vec::new();
    for mut u in root.array_of_tables(&mut report, "user") {
        if let Some(user) = read_user(&mut u, &mut report, known) {
            if users.iter().any(|o| o.name == user.name) {
                u.error(
                    &mut report,
                    "name",
                    format!("user \"{}\" is defined twice", user.name),
                );
            }
            users.push(user);
        }
        u.finish(&mut report);
    }
    root.finish(&mut report);
    (users, report)
}

fn read_user(t: &mut Fields<'_>, report: &mut Report, known: &[&str]) -> Option<User> {
    let name = t.required_string(report, "name");
    if let Some(n) = &name
        && (n.is_empty() || n.contains(':') || n.chars().any(char::is_control))
    {
        // RFC 7617 §2: the user-id cannot contain a colon.
        t.error(
            report,
            "name",
            format!("expected a name without ':' such as \"li.hua\", found \"{n}\""),
        );
    }
    let password = t.required_string(report, "password");
    if let Some(p) = &password {
        let ok = PasswordHash::new(p).is_ok_and(|h| h.algorithm.as_str() == "argon2id");
        if !ok {
            // The value is never repeated: it may be a password typed in by mistake.
            t.error(
                report,
                "password",
                "expected an argon2id PHC string such as \"$argon2id$v=19$m=19456,t=2,p=1$…\" (switchboard web-user add NAME writes one)",
            );
        }
    }
    let present = t.has("role");
    let role = match t.choice(report, "role", &["manager", "admin"]).as_deref() {
        Some("admin") => Some(Role::Admin),
        Some("manager") => Some(Role::Manager),
        _ => {
            if !present {
                t.error(report, "role", "is required: \"manager\" or \"admin\"");
            }
            None
        }
    };
    let departments = t.strings(report, "departments");
    for (i, d) in departments.iter().enumerate() {
        if !known.contains(&d.as_str()) {
            t.error(
                report,
                &format!("departments[{i}]"),
                format!("expected the id of a [[department]] in the config, found \"{d}\""),
            );
        }
    }
    if role == Some(Role::Manager) && departments.is_empty() {
        t.error(
            report,
            "departments",
            "a manager needs at least one department, such as [\"logistics\"]",
        );
    }
    Some(User {
        name: name?,
        password: password?,
        role: role?,
        departments,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$5c4VEGaxNrhtxxDFJu7wWOfCBh2CE9arDbAYr6V6f8E";

    #[test]
    fn reads_managers_and_admins() {
        let text = format!(
            "[[user]]\nname = \"li.hua\"\npassword = \"{HASH}\"\nrole = \"manager\"\ndepartments = [\"logistics\"]\n\n[[user]]\nname = \"wang\"\npassword = \"{HASH}\"\nrole = \"admin\"\n"
        );
        let (users, report) = parse(Path::new("u.toml"), &text, &["logistics", "quality"]);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(users.len(), 2);
        assert!(users[0].sees(["logistics"].into_iter()));
        assert!(!users[0].sees(["quality"].into_iter()));
        assert!(users[1].sees(["quality"].into_iter()));
        assert!(!format!("{:?}", users[0]).contains("argon2"));
    }

    #[test]
    fn names_every_problem_and_never_the_password() {
        let text = "[[user]]\nname = \"a:b\"\npassword = \"hunter2\"\nrole = \"boss\"\n\n[[user]]\nname = \"li\"\npassword = \"x\"\nrole = \"manager\"\ndepartments = [\"nowhere\"]\n";
        let (_, report) = parse(Path::new("u.toml"), text, &["logistics"]);
        let all = report.errors.join("\n");
        assert!(
            all.contains("u.toml: user[0].name: expected a name without ':'"),
            "{all}"
        );
        assert!(
            all.contains("u.toml: user[0].password: expected an argon2id PHC string"),
            "{all}"
        );
        assert!(all.contains("u.toml: user[0].role:"), "{all}");
        assert!(
            all.contains("u.toml: user[1].departments[0]: expected the id"),
            "{all}"
        );
        assert!(!all.contains("hunter2"), "{all}");
    }
}
