//! Whether the receiving MTA vouched for the sender of a department's reply, from
//! its Authentication-Results headers (RFC 8601).
//!
//! Only departments command (DESIGN.md, invariant 6), and a From address is easy to
//! forge; DKIM, SPF and DMARC are not, but we do not check them ourselves: the MTA
//! that received the mail did, and wrote what it found. Anyone can write such a
//! header too, so only headers carrying our MTA's authserv-id count (RFC 8601 §5:
//! the MTA must remove incoming ones that claim its id; Postfix does not by itself,
//! so strip them in `header_checks` or at the milter).
//!
//! A reply passes on any one of:
//! - `dmarc=pass` whose `header.from` is the From domain (or is absent);
//! - `dkim=pass` whose `header.d` (else the domain of `header.i`, as Gmail writes
//!   only that) is the From domain or a parent of it with at least two labels
//!   (`example.com` signs for `mail.example.com`; `com` signs for nothing);
//! - `spf=pass` whose `smtp.mailfrom` domain is the From domain.
//!
//! Microsoft 365 (Exchange Online) writes its header without an authserv-id,
//! against the RFC, and renames incoming ones to Authentication-Results-Original.
//! To trust those, pass [`NO_AUTHSERV_ID`] as the id; then only id-less headers count.

/// The `authserv_id` that selects headers without one, as Microsoft 365 writes them.
pub const NO_AUTHSERV_ID: &str = "";

/// `Ok` if a header from `authserv_id` shows a pass aligned with `from_domain`;
/// otherwise what was found, e.g. "dkim=fail, spf=softfail".
///
/// `headers` are the values of the Authentication-Results fields, folded or not; a
/// leading "Authentication-Results:" is tolerated.
pub fn check_authentication_results(
    headers: &[&str],
    authserv_id: &str,
    from_domain: &str,
) -> Result<(), String> {
    let from = normalise_domain(from_domain);
    let ours: Vec<Vec<Resinfo>> = headers
        .iter()
        .filter_map(|h| parse_header(h))
        .filter(|(id, _)| id.eq_ignore_ascii_case(authserv_id))
        .map(|(_, results)| results)
        .collect();
    if ours.is_empty() {
        return Err(if authserv_id == NO_AUTHSERV_ID {
            "no Authentication-Results without an authserv-id".to_string()
        } else {
            format!("no Authentication-Results from {authserv_id}")
        });
    }
    let mut found = Vec::new();
    for result in ours.iter().flatten() {
        match judge(result, &from) {
            Verdict::Pass => return Ok(()),
            Verdict::Fail(why) => found.push(why),
            Verdict::Other => {}
        }
    }
    if found.is_empty() {
        return Err(if authserv_id == NO_AUTHSERV_ID {
            "no dkim, spf or dmarc result in Authentication-Results without an authserv-id"
                .to_string()
        } else {
            format!("no dkim, spf or dmarc result from {authserv_id}")
        });
    }
    Err(found.join(", "))
}

/// One `method=result property=value …` statement.
#[derive(Debug, PartialEq)]
struct Resinfo {
    method: String,
    result: String,
    properties: Vec<(String, String)>,
}

impl Resinfo {
    fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

enum Verdict {
    Pass,
    Fail(String),
    Other,
}

fn judge(r: &Resinfo, from: &str) -> Verdict {
    let method = r.method.as_str();
    if !["dmarc", "dkim", "spf"].contains(&method) {
        return Verdict::Other;
    }
    if r.result != "pass" {
        return Verdict::Fail(format!("{method}={}", r.result));
    }
    let (name, value, aligned) = match method {
        "dmarc" => {
            let Some(value) = r.property("header.from") else {
                return Verdict::Pass;
            };
            ("header.from", value, normalise_domain(value) == from)
        }
        "dkim" => {
            let Some((name, value)) = r
                .property("header.d")
                .map(|v| ("header.d", v))
                .or_else(|| r.property("header.i").map(|v| ("header.i", v)))
            else {
                return Verdict::Fail("dkim=pass without header.d".into());
            };
            let d = normalise_domain(value);
            let parent = d.contains('.') && from.ends_with(&format!(".{d}"));
            (name, value, d == from || parent)
        }
        _ => {
            let Some(value) = r.property("smtp.mailfrom") else {
                return Verdict::Fail("spf=pass without smtp.mailfrom".into());
            };
            ("smtp.mailfrom", value, normalise_domain(value) == from)
        }
    };
    if aligned {
        Verdict::Pass
    } else {
        Verdict::Fail(format!("{method}=pass for {name}={value}, not {from}"))
    }
}

/// The domain of an address or a domain, lower case, without a final dot.
fn normalise_domain(value: &str) -> String {
    let domain = value.rsplit('@').next().unwrap_or(value);
    domain.trim().trim_end_matches('.').to_ascii_lowercase()
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Equals,
    Semicolon,
}

/// The authserv-id (lower case; empty if the header has none) and the results.
fn parse_header(header: &str) -> Option<(String, Vec<Resinfo>)> {
    let value = match header.get(..23) {
        Some(name) if name.eq_ignore_ascii_case("authentication-results:") => header.get(23..)?,
        _ => header,
    };
    let tokens = lex(value);
    let mut groups = tokens.split(|t| *t == Token::Semicolon);
    let first = groups.next()?;
    let mut results = Vec::new();
    let id = if first.contains(&Token::Equals) {
        // No authserv-id: the first group is already a result (Microsoft 365).
        results.extend(resinfo(first));
        String::new()
    } else {
        // The id, then an optional version ("mx.example.com 1").
        match first.first()? {
            Token::Word(id) => id.to_ascii_lowercase(),
            _ => return None,
        }
    };
    results.extend(groups.filter_map(resinfo));
    Some((id, results))
}

/// `method[/version]=result` and its `ptype.property=value` pairs. Base64 values
/// (`header.b=…==`) leave stray `=` tokens behind, which are skipped.
fn resinfo(tokens: &[Token]) -> Option<Resinfo> {
    let mut pairs = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if let (Some(Token::Word(k)), Some(Token::Equals), Some(Token::Word(v))) =
            (tokens.get(i), tokens.get(i + 1), tokens.get(i + 2))
        {
            pairs.push((k.to_ascii_lowercase(), v.clone()));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut pairs = pairs.into_iter();
    let (method, result) = pairs.next()?;
    let method = method.split('/').next().unwrap_or_default().to_string();
    Some(Resinfo {
        method,
        result: result.to_ascii_lowercase(),
        properties: pairs.collect(),
    })
}

/// Words, `=` and `;`, with comments (nested, RFC 5322 §3.2.2) and folding removed
/// and quoted strings unquoted.
fn lex(value: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '=' => tokens.push(Token::Equals),
            ';' => tokens.push(Token::Semicolon),
            '(' => {
                let mut depth = 1;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            '"' => {
                let mut word = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => word.extend(chars.next()),
                        '"' => break,
                        c => word.push(c),
                    }
                }
                tokens.push(Token::Word(word));
            }
            c => {
                let mut word = String::from(c);
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || "=;(\"".contains(c) {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    // Postfix with OpenDKIM, OpenDMARC and policyd-spf, each adding its own header.
    const OPENDKIM: &str = "mx.example.com;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=client.cn header.i=@client.cn header.a=rsa-sha256 header.s=default header.b=\"Kx2+/ab=\";\r\n\tdkim-atps=neutral";
    const OPENDMARC: &str =
        "mx.example.com; dmarc=pass (p=quarantine dis=none) header.from=client.cn";
    const POLICYD_SPF: &str = "mx.example.com; spf=pass (sender SPF authorized) smtp.mailfrom=client.cn (client-ip=203.0.113.5; helo=mail.client.cn; envelope-from=li@client.cn; receiver=<UNKNOWN>)";

    const GMAIL: &str = "mx.google.com;\r\n       dkim=pass header.i=@supplier.com header.s=google header.b=Xyz12345;\r\n       spf=pass (google.com: domain of sales@supplier.com designates 209.85.220.41 as permitted sender) smtp.mailfrom=sales@supplier.com;\r\n       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=supplier.com";

    const M365: &str = "spf=pass (sender IP is 40.107.255.1)\r\n smtp.mailfrom=customer.com; dkim=pass (signature was verified)\r\n header.d=customer.com;dmarc=pass action=none\r\n header.from=customer.com;compauth=pass reason=100";

    #[test]
    fn postfix_milters_pass_each_on_their_own() {
        for header in [OPENDKIM, OPENDMARC, POLICYD_SPF] {
            assert_eq!(
                check_authentication_results(&[header], "mx.example.com", "client.cn"),
                Ok(()),
                "{header}"
            );
        }
        assert_eq!(
            check_authentication_results(&[OPENDKIM], "MX.Example.COM", "CLIENT.CN."),
            Ok(())
        );
    }

    #[test]
    fn gmail_and_microsoft_365() {
        assert_eq!(
            check_authentication_results(&[GMAIL], "mx.google.com", "supplier.com"),
            Ok(())
        );
        let named = format!("Authentication-Results: {GMAIL}");
        assert_eq!(
            check_authentication_results(&[&named], "mx.google.com", "supplier.com"),
            Ok(())
        );
        assert_eq!(
            check_authentication_results(&[M365], NO_AUTHSERV_ID, "customer.com"),
            Ok(())
        );
        assert_eq!(
            check_authentication_results(&[M365], "mx.example.com", "customer.com"),
            Err("no Authentication-Results from mx.example.com".into())
        );
    }

    #[test]
    fn failures_say_what_was_found() {
        let header = "mx.example.com; dkim=fail (signature did not verify) header.d=client.cn; spf=softfail smtp.mailfrom=client.cn";
        assert_eq!(
            check_authentication_results(&[header], "mx.example.com", "client.cn"),
            Err("dkim=fail, spf=softfail".into())
        );
        let none = "mx.example.com 1; none";
        assert_eq!(
            check_authentication_results(&[none], "mx.example.com", "client.cn"),
            Err("no dkim, spf or dmarc result from mx.example.com".into())
        );
        assert_eq!(
            check_authentication_results(&[], "mx.example.com", "client.cn"),
            Err("no Authentication-Results from mx.example.com".into())
        );
        assert_eq!(
            check_authentication_results(&["compauth=pass reason=100"], NO_AUTHSERV_ID, "x.cn"),
            Err(
                "no dkim, spf or dmarc result in Authentication-Results without an authserv-id"
                    .into()
            )
        );
        assert_eq!(
            check_authentication_results(&[], NO_AUTHSERV_ID, "client.cn"),
            Err("no Authentication-Results without an authserv-id".into())
        );
    }

    #[test]
    fn headers_from_other_servers_are_ignored() {
        // Written by the sender, claiming every pass.
        let forged = "mail.attacker.example; dkim=pass header.d=client.cn; spf=pass smtp.mailfrom=client.cn; dmarc=pass header.from=client.cn";
        let real = "mx.example.com; dkim=none; spf=fail smtp.mailfrom=attacker.example";
        assert_eq!(
            check_authentication_results(&[forged, real], "mx.example.com", "client.cn"),
            Err("dkim=none, spf=fail".into())
        );
        // An id-less header counts only when the caller asked for those.
        assert_eq!(
            check_authentication_results(&[M365], "mx.example.com", "customer.com"),
            Err("no Authentication-Results from mx.example.com".into())
        );
        assert_eq!(
            check_authentication_results(&[OPENDMARC], NO_AUTHSERV_ID, "client.cn"),
            Err("no Authentication-Results without an authserv-id".into())
        );
    }

    #[test]
    fn passes_must_align_with_the_from_domain() {
        let cases: &[(&str, &str, Result<(), &str>)] = &[
            (
                "mx; dkim=pass header.d=example.com",
                "mail.example.com",
                Ok(()),
            ),
            ("mx; dkim=pass header.d=example.com", "example.com", Ok(())),
            (
                "mx; dkim=pass header.d=mail.example.com",
                "example.com",
                Err("dkim=pass for header.d=mail.example.com, not example.com"),
            ),
            (
                "mx; dkim=pass header.d=com",
                "example.com",
                Err("dkim=pass for header.d=com, not example.com"),
            ),
            (
                "mx; dkim=pass header.d=ample.com",
                "example.com",
                Err("dkim=pass for header.d=ample.com, not example.com"),
            ),
            (
                "mx; dkim=pass header.i=@mailer.example",
                "example.com",
                Err("dkim=pass for header.i=@mailer.example, not example.com"),
            ),
            (
                "mx; dkim=pass",
                "example.com",
                Err("dkim=pass without header.d"),
            ),
            (
                "mx; spf=pass smtp.mailfrom=bounce@esp.example",
                "example.com",
                Err("spf=pass for smtp.mailfrom=bounce@esp.example, not example.com"),
            ),
            (
                "mx; spf=pass smtp.mailfrom=mail.example.com",
                "example.com",
                Err("spf=pass for smtp.mailfrom=mail.example.com, not example.com"),
            ),
            (
                "mx; spf=pass smtp.helo=mx.example.com",
                "example.com",
                Err("spf=pass without smtp.mailfrom"),
            ),
            (
                "mx; dmarc=pass header.from=other.example",
                "example.com",
                Err("dmarc=pass for header.from=other.example, not example.com"),
            ),
            ("mx; dmarc=pass", "example.com", Ok(())),
            (
                "mx; DMARC=PASS Header.From=Example.COM",
                "example.com",
                Ok(()),
            ),
            (
                "mx; dkim/1=pass header.d=example.com",
                "example.com",
                Ok(()),
            ),
            (
                "mx; dkim = pass header.d = example.com",
                "example.com",
                Ok(()),
            ),
            (
                "mx; dkim=pass reason=\"good; 2048 bit\" header.d=example.com",
                "example.com",
                Ok(()),
            ),
            (
                "mx; dkim=pass (comment (nested; with \\) paren) and ;) header.d=example.com",
                "example.com",
                Ok(()),
            ),
            (
                "mx; arc=pass; iprev=pass",
                "example.com",
                Err("no dkim, spf or dmarc result from mx"),
            ),
        ];
        for (header, from, want) in cases {
            let got = check_authentication_results(&[header], "mx", from);
            assert_eq!(got, want.map_err(String::from), "{header}");
        }
    }

    #[test]
    fn lexing_keeps_base64_and_quoted_values() {
        let (id, results) = parse_header(OPENDKIM).unwrap();
        assert_eq!(id, "mx.example.com");
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].method, "dkim");
        assert_eq!(results[0].property("header.b"), Some("Kx2+/ab="));
        assert_eq!(results[0].property("header.s"), Some("default"));
        assert_eq!(results[1].method, "dkim-atps");
        assert_eq!(results[1].result, "neutral");
    }
}
