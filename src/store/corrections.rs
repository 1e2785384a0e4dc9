//! Corrections: a department's `Department:` or `Category:` reply that moves a case
//! from where the rules put it (migration 12). They are what teaches: a sender whose
//! cases were corrected twice the same way is routed that way next time
//! ([`learned`]), and their cases as they stand after corrections say which side
//! they are on ([`history_role`]) when neither the lists nor the parties file know
//! them. `switchboard corrections` lists them for the administrator.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::rules::PartyRole;

/// What a correction changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Category,
    Department,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Category => "category",
            Field::Department => "department",
        }
    }
}

pub struct NewCorrection<'a> {
    pub case_id: i64,
    pub at: i64,
    pub sender: &'a str,
    pub by_address: &'a str,
    pub by_department: &'a str,
    pub field: Field,
    pub from: &'a str,
    pub to: &'a str,
    /// The case's category and department after this change.
    pub category: &'a str,
    pub department: &'a str,
    /// The rule that had decided the case (the first of `cases.rules`), or "".
    pub rule: &'a str,
}

pub fn record(conn: &Connection, c: &NewCorrection<'_>) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO corrections (case_id, at, sender, by_address, by_department, field,
                                  from_value, to_value, category, department, rule)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        c.case_id,
        c.at,
        c.sender.to_lowercase(),
        c.by_address,
        c.by_department,
        c.field.as_str(),
        c.from,
        c.to,
        c.category,
        c.department,
        c.rule
    ])?;
    Ok(())
}

/// A route the departments taught for one sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Learned {
    pub category: String,
    pub department: String,
    /// The cases corrected that way, oldest first.
    pub cases: Vec<String>,
}

impl Learned {
    /// What the case record says: `learned: corrected to … on SB-…, SB-…`.
    pub fn reason(&self) -> String {
        format!(
            "learned: {} cases of this sender corrected to {} / {} ({})",
            self.cases.len(),
            self.category,
            self.department,
            self.cases.join(", ")
        )
    }
}

/// The cases of `sender` a correction has moved, each at where its last correction
/// left it, grouped by that place: the place at least two cases ended at (the one
/// corrected most recently, if several have). `None`: not taught yet.
pub fn learned(conn: &Connection, sender: &str) -> Result<Option<Learned>> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.category, c.department, cases.number, c.at
         FROM corrections c JOIN cases ON cases.id = c.case_id
         WHERE c.sender = ?1
           AND c.id = (SELECT max(id) FROM corrections WHERE case_id = c.case_id)
         ORDER BY c.at, c.id",
    )?;
    let rows = stmt.query_map([sender.to_lowercase()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    // (category, department) → (cases, the latest correction's time)
    let mut places: Vec<(String, String, Vec<String>, i64)> = Vec::new();
    for row in rows {
        let (category, department, number, at) = row?;
        match places
            .iter_mut()
            .find(|p| p.0 == category && p.1 == department)
        {
            Some(p) => {
                p.2.push(number);
                p.3 = p.3.max(at);
            }
            None => places.push((category, department, vec![number], at)),
        }
    }
    Ok(places
        .into_iter()
        .filter(|p| p.2.len() >= 2)
        .max_by_key(|p| p.3)
        .map(|(category, department, cases, _)| Learned {
            category,
            department,
            cases,
        }))
}

/// The side the sender's earlier cases ended on, after corrections: their latest
/// case that is a complaint (a customer) or a supplier dispute (a supplier). Only
/// cases a department has corrected at least once count when there are any, since
/// those are the ones a person looked at; otherwise the latest of all.
pub fn history_role(conn: &Connection, sender: &str) -> Result<Option<PartyRole>> {
    let category: Option<String> = conn
        .prepare_cached(
            "SELECT category FROM cases
             WHERE sender = ?1 AND category IN ('complaint', 'supplier_dispute')
             ORDER BY EXISTS (SELECT 1 FROM corrections WHERE case_id = cases.id) DESC,
                      opened_at DESC, id DESC
             LIMIT 1",
        )?
        .query_row([sender.to_lowercase()], |r| r.get(0))
        .optional()?;
    Ok(match category.as_deref() {
        Some("complaint") => Some(PartyRole::Customer),
        Some("supplier_dispute") => Some(PartyRole::Supplier),
        _ => None,
    })
}

/// What the first correction of each field found on the case: the category and
/// department the rules had given it (`None`: never corrected).
pub fn original(conn: &Connection, case_id: i64) -> Result<(Option<String>, Option<String>)> {
    let first = |field: Field| -> Result<Option<String>> {
        Ok(conn
            .prepare_cached(
                "SELECT from_value FROM corrections WHERE case_id = ?1 AND field = ?2
                 ORDER BY at, id LIMIT 1",
            )?
            .query_row(params![case_id, field.as_str()], |r| r.get(0))
            .optional()?)
    };
    Ok((first(Field::Category)?, first(Field::Department)?))
}

/// One correction as `switchboard corrections` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CorrectionRow {
    pub at: i64,
    pub case: String,
    pub sender: String,
    pub by: String,
    pub by_department: String,
    pub field: String,
    pub from: String,
    pub to: String,
    pub category: String,
    pub department: String,
    pub rule: String,
}

/// Every correction, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<CorrectionRow>> {
    query(conn, None)
}

/// The corrections of one case, oldest first: its timeline and archive show them.
pub fn for_case(conn: &Connection, case_id: i64) -> Result<Vec<CorrectionRow>> {
    query(conn, Some(case_id))
}

fn query(conn: &Connection, case_id: Option<i64>) -> Result<Vec<CorrectionRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.at, cases.number, c.sender, c.by_address, c.by_department, c.field,
                c.from_value, c.to_value, c.category, c.department, c.rule
         FROM corrections c JOIN cases ON cases.id = c.case_id
         WHERE ?1 IS NULL OR c.case_id = ?1
         ORDER BY c.at, c.id",
    )?;
    let rows = stmt.query_map([case_id], |r| {
        Ok(CorrectionRow {
            at: r.get(0)?,
            case: r.get(1)?,
            sender: r.get(2)?,
            by: r.get(3)?,
            by_department: r.get(4)?,
            field: r.get(5)?,
            from: r.get(6)?,
            to: r.get(7)?,
            category: r.get(8)?,
            department: r.get(9)?,
            rule: r.get(10)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::{NewCase, cases};

    fn case(conn: &Connection, sender: &str, category: &str, at: i64) -> (i64, String) {
        let (id, number) = cases::insert(
            conn,
            &NewCase {
                prefix: "SB",
                year: 2026,
                category,
                priority: "normal",
                department: "customer-service",
                sender,
                sender_name: None,
                subject: "s",
                language: "en",
                rules: &["客户投诉：其他 / Complaint: other".to_string()],
                at,
            },
        )
        .unwrap();
        (id, number)
    }

    fn correct(conn: &Connection, id: i64, at: i64, field: Field, to: &str, cat: &str, dep: &str) {
        cases::set_category(conn, id, cat).unwrap();
        cases::set_department(conn, id, dep).unwrap();
        record(
            conn,
            &NewCorrection {
                case_id: id,
                at,
                sender: "AR@Vendor.cn",
                by_address: "cs@example.com",
                by_department: "customer-service",
                field,
                from: "x",
                to,
                category: cat,
                department: dep,
                rule: "客户投诉：其他 / Complaint: other",
            },
        )
        .unwrap();
    }

    #[test]
    fn twice_the_same_way_is_learned_and_once_is_not() {
        let conn = &crate::store::memory().unwrap();
        (|| -> Result<()> {
            let (a, na) = case(conn, "ar@vendor.cn", "complaint", 10);
            let (b, nb) = case(conn, "ar@vendor.cn", "complaint", 20);
            assert_eq!(
                history_role(conn, "ar@vendor.cn")?,
                Some(PartyRole::Customer)
            );
            correct(
                conn,
                a,
                11,
                Field::Category,
                "supplier_dispute",
                "supplier_dispute",
                "customer-service",
            );
            // The last correction of a case is where it ended.
            correct(
                conn,
                a,
                12,
                Field::Department,
                "procurement",
                "supplier_dispute",
                "procurement",
            );
            assert_eq!(
                learned(conn, "ar@vendor.cn")?,
                None,
                "one case is not a lesson"
            );
            // The corrected case outweighs the later, uncorrected one.
            assert_eq!(
                history_role(conn, "AR@vendor.cn")?,
                Some(PartyRole::Supplier)
            );
            correct(
                conn,
                b,
                21,
                Field::Category,
                "supplier_dispute",
                "supplier_dispute",
                "procurement",
            );
            let l = learned(conn, "ar@vendor.cn")?.unwrap();
            assert_eq!(
                (l.category.as_str(), l.department.as_str(), l.cases.clone()),
                (
                    "supplier_dispute",
                    "procurement",
                    vec![na.clone(), nb.clone()]
                )
            );
            assert!(l.reason().contains(&na), "{}", l.reason());
            assert_eq!(learned(conn, "someone@else.com")?, None);
            let rows = list(conn)?;
            assert_eq!(rows.len(), 3);
            assert_eq!(rows[0].sender, "ar@vendor.cn");
            Ok(())
        })()
        .unwrap();
    }
}
