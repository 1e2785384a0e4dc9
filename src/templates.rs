//! The texts Switchboard sends, as minijinja templates in `templates/`, edited by the
//! administrator. A template file starts with a `Subject:` line, then an empty line,
//! then the body. Variables that do not exist are errors (strict mode), caught by
//! `check`, which renders every template with sample data before the daemon starts.
//!
//! A template may have an HTML sibling, `ack.zh.html` beside `ack.zh.txt`: the body
//! of the same mail as HTML, rendered from the same context, without a Subject line
//! (the subject is the text template's). With one, the mail is multipart/alternative,
//! text first (RFC 2046 §5.1.4: the last part is the richest). minijinja escapes
//! every variable in a template named `.html` (its default auto-escape callback), so
//! a subject full of `<script>` is text in the HTML part; `| safe` is for HTML that
//! Switchboard itself has sanitised (the relayed reply, see message/html.rs).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// Every template the pipeline uses. `ack` and `survey` come in one file per language.
pub const REQUIRED: &[&str] = &[
    "ack.zh.txt",
    "ack.en.txt",
    "route.txt",
    "follow_up.txt",
    "relay.txt",
    "relay_limit.txt",
    "command_error.txt",
    "reminder.txt",
    "escalation.txt",
    "survey.zh.txt",
    "survey.en.txt",
    "digest.txt",
    "alert.txt",
    "set_aside_list.txt",
    "weekly_report.txt",
];

pub struct Templates {
    env: Environment<'static>,
    dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
    /// The HTML sibling's rendering, when the template has one.
    pub html: Option<String>,
}

/// The HTML sibling's name of a text template: `ack.zh.txt` → `ack.zh.html`.
pub fn html_sibling(name: &str) -> String {
    format!("{}.html", name.strip_suffix(".txt").unwrap_or(name))
}

impl Templates {
    /// Loads and compiles every template; `Err` lists each broken or missing one.
    pub fn load(dir: &Path) -> Result<Templates> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        let mut problems = Vec::new();
        for name in REQUIRED {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(source) => {
                    if let Err(e) = env.add_template_owned(name.to_string(), source) {
                        problems.push(format!("{}: {}", path.display(), describe(&e)));
                    }
                }
                Err(e) => {
                    problems.push(format!("{}: cannot read the template: {e}", path.display()))
                }
            }
            // The HTML sibling is optional: without it the mail is text alone.
            let html = html_sibling(name);
            let path = dir.join(&html);
            match std::fs::read_to_string(&path) {
                Ok(source) => {
                    if let Err(e) = env.add_template_owned(html, source) {
                        problems.push(format!("{}: {}", path.display(), describe(&e)));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    problems.push(format!("{}: cannot read the template: {e}", path.display()))
                }
            }
        }
        if !problems.is_empty() {
            bail!("{}", problems.join("\n"));
        }
        Ok(Templates {
            env,
            dir: dir.to_path_buf(),
        })
    }

    pub fn render(&self, name: &str, context: &impl Serialize) -> Result<Rendered> {
        let path = self.dir.join(name);
        let template = self
            .env
            .get_template(name)
            .map_err(|e| anyhow!("{}: {}", path.display(), describe(&e)))?;
        let text = template
            .render(context)
            .map_err(|e| anyhow!("{}: {}", path.display(), describe(&e)))?;
        let mut rendered = split_subject(text)
            .with_context(|| format!("{}: the rendered text", path.display()))?;
        let html = html_sibling(name);
        if let Ok(template) = self.env.get_template(&html) {
            let path = self.dir.join(&html);
            let body = template
                .render(context)
                .map_err(|e| anyhow!("{}: {}", path.display(), describe(&e)))?;
            rendered.html = Some(lf_only(body));
        }
        Ok(rendered)
    }

    /// How many templates have an HTML sibling (for `check`'s report).
    pub fn html_count(&self) -> usize {
        REQUIRED.iter().filter(|n| self.has_html(n)).count()
    }

    /// Whether `name` has an HTML sibling.
    pub fn has_html(&self, name: &str) -> bool {
        self.env.get_template(&html_sibling(name)).is_ok()
    }
}

/// minijinja's error with its line, in one line.
fn describe(e: &minijinja::Error) -> String {
    let line = e.line().map(|l| format!("line {l}: ")).unwrap_or_default();
    let detail = e.detail().map(|d| format!(" ({d})")).unwrap_or_default();
    format!("{line}{}{detail}", e.kind())
}

/// `text` with CRLF made LF. A template written on Windows has them; most have none,
/// and then the text is kept as it is rather than copied (an HTML body carries the
/// original message: a copy of every one was 2% of intake's instructions).
fn lf_only(text: String) -> String {
    if text.contains('\r') {
        text.replace("\r\n", "\n")
    } else {
        text
    }
}

fn split_subject(text: String) -> Result<Rendered> {
    let mut text = lf_only(text);
    let (head, _) = text
        .split_once("\n\n")
        .ok_or_else(|| anyhow!("expected a \"Subject: …\" line, an empty line, then the body"))?;
    let start = head.len() + 2;
    let subject = head
        .trim()
        .strip_prefix("Subject:")
        .ok_or_else(|| anyhow!("expected the first line to start with \"Subject:\""))?;
    if subject.contains('\n') {
        bail!("expected one Subject line before the empty line");
    }
    let subject = subject.trim().to_string();
    // The body is what follows the empty line, without trailing white space, and
    // one line end: cut from the rendered text in place rather than copied.
    let end = text.trim_end().len().max(start);
    text.truncate(end);
    text.drain(..start);
    text.push('\n');
    Ok(Rendered {
        subject,
        body: text,
        html: None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn splits_subject_and_body() {
        let r = split_subject("Subject: 已收到 [SB-1]\n\n您好\n\n谢谢\n".into()).unwrap();
        assert_eq!(r.subject, "已收到 [SB-1]");
        assert_eq!(r.body, "您好\n\n谢谢\n");
        assert!(split_subject("Hello\n\nbody".into()).is_err());
        // A template saved on Windows, and bodies with nothing in them.
        let r = split_subject("Subject: Re\r\n\r\nHi\r\n  \r\n".into()).unwrap();
        assert_eq!((r.subject.as_str(), r.body.as_str()), ("Re", "Hi\n"));
        assert_eq!(split_subject("Subject: x\n\n".into()).unwrap().body, "\n");
        assert_eq!(
            split_subject("Subject: x\n\n \n\n".into()).unwrap().body,
            "\n"
        );
    }

    #[test]
    fn strict_variables_and_missing_files_are_reported() {
        let dir = std::env::temp_dir().join(format!("sb-tpl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("ack.zh.txt"),
            "Subject: {{ case.number }}\n\n{{ nope.x }}\n",
        )
        .unwrap();
        std::fs::write(dir.join("ack.en.txt"), "Subject: {% if %}\n\nx\n").unwrap();
        let err = Templates::load(&dir).err().unwrap().to_string();
        assert!(err.contains("ack.en.txt: line 1"), "{err}");
        assert!(err.contains("route.txt: cannot read"), "{err}");
        std::fs::write(dir.join("ack.en.txt"), "Subject: x\n\nx\n").unwrap();
        for name in REQUIRED.iter().filter(|n| !n.starts_with("ack.")) {
            std::fs::write(dir.join(name), "Subject: x\n\nx\n").unwrap();
        }
        let t = Templates::load(&dir).unwrap();
        let err = t
            .render(
                "ack.zh.txt",
                &serde_json::json!({"case": {"number": "SB-1"}}),
            )
            .unwrap_err();
        assert!(format!("{err:#}").contains("ack.zh.txt"), "{err:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
