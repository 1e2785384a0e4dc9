//! The IMAP ID command (RFC 2971): telling the server which client this is.
//!
//! NetEase (163.com, 126.com, 网易企业邮) and Coremail servers answer
//! `NO SELECT Unsafe Login. Please contact kefu@188.com for help` to a client that
//! has not sent ID after LOGIN (reported by Thunderbird, Delta Chat and aerc users;
//! Delta Chat core sends ID whenever CAPABILITY lists it, src/imap/client.rs). RFC
//! 2971 §3.1 lets a client send ID only to a server that advertises it, so it is
//! never sent to one that does not: some servers answer BAD to unknown commands.

use anyhow::{Context, Result};

use super::connect::Session;

/// What Switchboard says about itself (RFC 2971 §3.3 field names).
pub fn fields(support_email: Option<&str>) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("name", "Switchboard".to_string()),
        ("version", env!("CARGO_PKG_VERSION").to_string()),
        ("vendor", "Switchboard".to_string()),
    ];
    if let Some(email) = support_email {
        fields.push(("support-email", email.to_string()));
    }
    fields
}

/// Sends ID with [`fields`]; the server's own identification is logged at debug
/// level. A server that refuses the command is noted and the session goes on: ID
/// is a courtesy everywhere except at the servers that demand it, and those then
/// refuse SELECT with a message that says why.
pub async fn identify(session: &mut Session, support_email: Option<&str>) -> Result<()> {
    let fields = fields(support_email);
    let answer = session
        .id(fields.iter().map(|(k, v)| (*k, Some(v.as_str()))))
        .await;
    match answer {
        Ok(server) => {
            tracing::debug!(server = ?server, "IMAP ID sent");
            Ok(())
        }
        Err(async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text)) => {
            tracing::warn!(
                answer = text,
                "The IMAP server refused the ID command; going on"
            );
            Ok(())
        }
        Err(e) => Err(e).context("Cannot send the IMAP ID command"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_email_is_sent_only_when_known() {
        let with: Vec<&str> = fields(Some("it@example.com"))
            .iter()
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(with, ["name", "version", "vendor", "support-email"]);
        assert_eq!(fields(None).len(), 3);
    }
}
