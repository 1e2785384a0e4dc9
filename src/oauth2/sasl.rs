//! The SASL mechanisms that carry an OAuth2 access token, for IMAP AUTHENTICATE
//! and SMTP AUTH.
//!
//! XOAUTH2 is what Microsoft 365 and Gmail document (Exchange Online offers only it);
//! OAUTHBEARER is its standard form (RFC 7628), which Gmail and Dovecot also take.
//! We send XOAUTH2 whenever the server lists it, because it is the one every large
//! provider is known to accept, and OAUTHBEARER when only that is listed. Both
//! carry the same bearer token; neither is ever logged.

use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    XOAuth2,
    OAuthBearer,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::XOAuth2 => "XOAUTH2",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The mechanism to use among those a server lists (upper-cased names). When
    /// it lists neither (some servers list AUTH only after STARTTLS, or not at all
    /// in IMAP's pre-login CAPABILITY), XOAUTH2 is tried: the server's refusal then
    /// says what is wrong.
    pub fn choose<'a>(offered: impl IntoIterator<Item = &'a str>) -> Mechanism {
        let offered: Vec<String> = offered.into_iter().map(str::to_ascii_uppercase).collect();
        if offered.iter().any(|m| m == "XOAUTH2") {
            Mechanism::XOAuth2
        } else if offered.iter().any(|m| m == "OAUTHBEARER") {
            Mechanism::OAuthBearer
        } else {
            Mechanism::XOAuth2
        }
    }

    /// The initial client response, before base64.
    pub fn initial_response(self, user: &str, host: &str, port: u16, token: &Secret) -> Vec<u8> {
        let token = token.expose();
        match self {
            // https://developers.google.com/gmail/imap/xoauth2-protocol
            Mechanism::XOAuth2 => format!("user={user}\x01auth=Bearer {token}\x01\x01"),
            // RFC 7628 §3.1: the GS2 header names the user (saslname, RFC 5801 §4),
            // then key/value pairs separated by ^A.
            Mechanism::OAuthBearer => format!(
                "n,a={},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01",
                user.replace('=', "=3D").replace(',', "=2C")
            ),
        }
        .into_bytes()
    }
}

/// async-imap's `Authenticator`: the initial response to the first (empty)
/// challenge; an empty line to the second, which is the server's JSON error (RFC
/// 7628 §3.2.3: the client answers it with a dummy response, ^A for OAUTHBEARER,
/// and the server then sends its tagged NO).
pub struct ImapAuthenticator {
    pub mechanism: Mechanism,
    pub response: Option<Vec<u8>>,
    /// The server's error, when it sent one (status and scope, never the token).
    pub error: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl async_imap::Authenticator for &mut ImapAuthenticator {
    type Response = Vec<u8>;

    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        match self.response.take() {
            Some(r) => r,
            None => {
                if let Ok(mut e) = self.error.lock() {
                    *e = Some(String::from_utf8_lossy(challenge).into_owned());
                }
                match self.mechanism {
                    Mechanism::XOAuth2 => Vec::new(),
                    Mechanism::OAuthBearer => b"\x01".to_vec(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_as_the_specifications_show() {
        let token = Secret::new("vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==".to_string());
        assert_eq!(
            Mechanism::XOAuth2.initial_response("someuser@example.com", "h", 1, &token),
            b"user=someuser@example.com\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        // RFC 7628 §4.1, with a user that needs escaping.
        assert_eq!(
            Mechanism::OAuthBearer.initial_response("a=b,c@example.com", "server.example.com", 143, &token),
            b"n,a=a=3Db=2Cc@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        assert_eq!(
            Mechanism::choose(["PLAIN", "oauthbearer"]),
            Mechanism::OAuthBearer
        );
        assert_eq!(
            Mechanism::choose(["OAUTHBEARER", "XOAUTH2"]),
            Mechanism::XOAuth2
        );
        assert_eq!(Mechanism::choose([]), Mechanism::XOAuth2);
    }
}
