//! The parties file (`[intake] parties = "parties.csv"`): who the company's customers,
//! suppliers and partners are, as the administrator exports them from the ERP or CRM.
//!
//! Customers and suppliers write alike (贵司, orders, invoices, quality), so the words
//! alone sometimes take one for the other; a sender the company already knows is
//! decided by who they are (see `rules::role`). The file is one party a line:
//!
//! ```text
//! address,role,name,tier
//! ar@vendor.cn,supplier,Vendor Co. accounts,
//! bigclient.com,customer,"Big Client, Inc.",vip
//! ```
//!
//! The first column is an address or a domain (a domain matches its subdomains), the
//! role `customer` | `supplier` | `partner` (客户 / 供应商 / 合作伙伴), the name for the
//! reader, the tier empty or `vip`. A header line and `#` comments are skipped. The
//! file is read whole and strictly, like the rule files: every problem at once, as
//! `file:line: what was expected`, and a broken file refuses the set (on SIGHUP the
//! old one stays). Spreadsheets export CSV with a byte-order mark and CRLF line ends,
//! and quote a name that holds a comma: all three are read as such.

use std::collections::BTreeMap;
use std::path::Path;

/// What a party is to the company.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartyRole {
    Customer,
    Supplier,
    /// Neither buys nor sells here (a forwarder, a partner firm): the words decide.
    Partner,
}

impl PartyRole {
    pub fn parse(s: &str) -> Option<PartyRole> {
        match s.trim().to_lowercase().as_str() {
            "customer" | "客户" | "客戶" => Some(PartyRole::Customer),
            "supplier" | "vendor" | "供应商" | "供應商" => Some(PartyRole::Supplier),
            "partner" | "合作伙伴" | "合作夥伴" => Some(PartyRole::Partner),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PartyRole::Customer => "customer",
            PartyRole::Supplier => "supplier",
            PartyRole::Partner => "partner",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub role: PartyRole,
    pub name: String,
    pub vip: bool,
    /// Where it was read: `file:line`, for messages and `check`.
    pub at: String,
}

/// The parties, by address and by domain (lower-case).
#[derive(Debug, Default)]
pub struct Parties {
    by_address: BTreeMap<String, Party>,
    by_domain: BTreeMap<String, Party>,
}

/// No parties file.
pub static NO_PARTIES: Parties = Parties {
    by_address: BTreeMap::new(),
    by_domain: BTreeMap::new(),
};

impl Parties {
    /// Reads and checks the file; `Err` lists every problem as `file:line: reason`.
    pub fn load(path: &Path) -> Result<Parties, Vec<String>> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path)
            .map_err(|e| vec![format!("{shown}: cannot read the parties file: {e}")])?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let line = e
                .as_bytes()
                .get(..e.utf8_error().valid_up_to())
                .map_or(0, |b| b.iter().filter(|c| **c == b'\n').count())
                + 1;
            vec![format!(
                "{shown}:{line}: not UTF-8 text: export the file as \"CSV UTF-8\" (a GBK export from Excel is not read)"
            )]
        })?;
        Self::parse(&shown, &text)
    }

    pub fn parse(file: &str, text: &str) -> Result<Parties, Vec<String>> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut parties = Parties::default();
        let mut problems = Vec::new();
        let mut first = true;
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let at = format!("{file}:{n}");
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let fields = match split(line) {
                Ok(f) => f,
                Err(why) => {
                    problems.push(format!("{at}: {why}"));
                    continue;
                }
            };
            let was_first = std::mem::replace(&mut first, false);
            let column = |k: usize| fields.get(k).map(|s| s.trim()).unwrap_or("");
            if was_first && column(0).eq_ignore_ascii_case("address") {
                continue; // the header line
            }
            if fields.len() > 4 {
                problems.push(format!(
                    "{at}: expected 4 columns (address,role,name,tier), found {}",
                    fields.len()
                ));
                continue;
            }
            let key = column(0).trim_start_matches('@').to_lowercase();
            let is_address = key.contains('@');
            let valid = if is_address {
                key.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty() && domain.contains('.') && !domain.contains('@')
                })
            } else {
                key.contains('.')
                    && !key.starts_with('.')
                    && !key.ends_with('.')
                    && key
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
            };
            if !valid {
                problems.push(format!(
                    "{at}: column 1 (address): expected an address such as ar@vendor.cn or a domain such as vendor.cn, found \"{}\"",
                    column(0)
                ));
                continue;
            }
            let Some(role) = PartyRole::parse(column(1)) else {
                problems.push(format!(
                    "{at}: column 2 (role): expected customer, supplier or partner, found \"{}\"",
                    column(1)
                ));
                continue;
            };
            let vip = match column(3).to_lowercase().as_str() {
                "" | "normal" | "regular" => false,
                "vip" => true,
                other => {
                    problems.push(format!(
                        "{at}: column 4 (tier): expected vip or nothing, found \"{other}\""
                    ));
                    continue;
                }
            };
            let party = Party {
                role,
                name: column(2).to_string(),
                vip,
                at: at.clone(),
            };
            let map = if is_address {
                &mut parties.by_address
            } else {
                &mut parties.by_domain
            };
            if let Some(earlier) = map.get(&key) {
                problems.push(format!(
                    "{at}: {key} is already listed at {} (a party once: keep one line)",
                    earlier.at
                ));
                continue;
            }
            map.insert(key, party);
        }
        if problems.is_empty() {
            Ok(parties)
        } else {
            Err(problems)
        }
    }

    pub fn len(&self) -> usize {
        self.by_address.len() + self.by_domain.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The party an address belongs to: the address itself, else its domain or the
    /// nearest parent domain listed (`eu.bigclient.com`, then `bigclient.com`).
    pub fn lookup(&self, email: &str) -> Option<&Party> {
        if self.is_empty() {
            return None;
        }
        let email = email.trim().to_lowercase();
        if let Some(p) = self.by_address.get(&email) {
            return Some(p);
        }
        let mut domain = email.rsplit_once('@').map(|(_, d)| d)?;
        loop {
            if let Some(p) = self.by_domain.get(domain) {
                return Some(p);
            }
            domain = domain.split_once('.').map(|(_, rest)| rest)?;
            if !domain.contains('.') {
                return None;
            }
        }
    }
}

/// One CSV line (RFC 4180): fields separated by commas, a field in double quotes may
/// hold commas, and `""` inside it is one quote.
fn split(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.trim().is_empty() && !was_quoted => {
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                fields.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            (false, '"') => return Err("a quote inside a field that does not start with one: write the field in quotes and the quote as \"\"".into()),
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed: a \" is missing".into());
    }
    fields.push(field);
    Ok(fields)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn a_spreadsheet_export_is_read() {
        let text = "\u{feff}address,role,name,tier\r\n# from the ERP, 2026-11\r\nar@vendor.cn,supplier,Vendor accounts,\r\nbigclient.com,customer,\"Big Client, Inc.\",VIP\r\n\r\nforwarder.de,合作伙伴,\"The \"\"Fast\"\" Forwarder\",\r\n";
        let p = Parties::parse("parties.csv", text).unwrap();
        assert_eq!(p.len(), 3);
        let big = p.lookup("Buyer@EU.BigClient.com").unwrap();
        assert_eq!(
            (big.role, big.name.as_str(), big.vip, big.at.as_str()),
            (
                PartyRole::Customer,
                "Big Client, Inc.",
                true,
                "parties.csv:4"
            )
        );
        assert_eq!(p.lookup("ar@vendor.cn").unwrap().role, PartyRole::Supplier);
        assert!(
            p.lookup("sales@vendor.cn").is_none(),
            "an address is only itself"
        );
        assert_eq!(
            p.lookup("x@forwarder.de").unwrap().name,
            "The \"Fast\" Forwarder"
        );
        assert!(p.lookup("x@notbigclient.com").is_none());
        assert!(p.lookup("x@com").is_none());
    }

    #[test]
    fn every_mistake_is_reported_with_file_and_line() {
        let text = "address,role,name,tier\n\
                    vendor.cn,suplier,Vendor,\n\
                    bigclient.com,customer,Big,gold\n\
                    not an address,customer,,\n\
                    a.com,customer,\"unclosed,\n\
                    b.com,customer,x,vip,extra\n\
                    bigclient.com,supplier,Again,\n\
                    c.com,customer,bad\"quote,\n";
        let errors = Parties::parse("p.csv", text).unwrap_err();
        let want = [
            "p.csv:2: column 2 (role): expected customer, supplier or partner, found \"suplier\"",
            "p.csv:3: column 4 (tier): expected vip or nothing, found \"gold\"",
            "p.csv:4: column 1 (address): expected an address such as ar@vendor.cn or a domain such as vendor.cn, found \"not an address\"",
            "p.csv:5: a quoted field is not closed",
            "p.csv:6: expected 4 columns (address,role,name,tier), found 5",
            // line 3 was refused, so bigclient.com is new at line 7
            "p.csv:8: a quote inside a field",
        ];
        for w in want {
            assert!(
                errors.iter().any(|e| e.starts_with(w)),
                "missing {w} in:\n{}",
                errors.join("\n")
            );
        }
        assert_eq!(errors.len(), want.len(), "{}", errors.join("\n"));
    }

    #[test]
    fn a_party_listed_twice_names_both_lines() {
        let errors =
            Parties::parse("p.csv", "vendor.cn,supplier,,\n@Vendor.cn,customer,,\n").unwrap_err();
        assert_eq!(
            errors,
            vec!["p.csv:2: vendor.cn is already listed at p.csv:1 (a party once: keep one line)"]
        );
    }

    #[test]
    fn a_gbk_file_is_refused_with_its_line() {
        let dir = std::env::temp_dir().join(format!("sb-parties-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("parties.csv");
        let mut bytes = b"address,role,name,tier\nvendor.cn,supplier,".to_vec();
        bytes.extend_from_slice(&[0xb9, 0xa9, 0xd3, 0xa6, 0xc9, 0xcc]); // 供应商 in GBK
        bytes.extend_from_slice(b",\n");
        std::fs::write(&path, bytes).unwrap();
        let errors = Parties::load(&path).unwrap_err();
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with(&format!("{}:2: not UTF-8 text", path.display())),
            "{errors:?}"
        );
    }
}
