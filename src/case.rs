//! The vocabulary of a case: what kind of matter it is and how urgent, as the handbook names them.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// 客户投诉
    Complaint,
    /// 供应商争议 (price, order, quality)
    SupplierDispute,
    /// 跨部门协作申请
    CollaborationRequest,
    /// No rule claimed it; it goes to the triage department.
    Unclassified,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Complaint,
        Category::SupplierDispute,
        Category::CollaborationRequest,
        Category::Unclassified,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Complaint => "complaint",
            Category::SupplierDispute => "supplier_dispute",
            Category::CollaborationRequest => "collaboration_request",
            Category::Unclassified => "unclassified",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// As people write it in a `Category:` reply: the id in any case, with spaces or
    /// hyphens for the underscore, or the handbook's name (客户投诉, 供应商争议,
    /// 跨部门协作申请, 待分类) and its short forms.
    pub fn parse_command(s: &str) -> Option<Category> {
        let s = s.trim().to_lowercase().replace([' ', '-'], "_");
        Category::parse(&s).or(match s.as_str() {
            "客户投诉" | "投诉" | "客訴" | "客诉" => Some(Category::Complaint),
            "供应商争议" | "供应商" | "supplier" => Some(Category::SupplierDispute),
            "跨部门协作申请" | "跨部门协作" | "协作申请" | "协作" | "collaboration" => {
                Some(Category::CollaborationRequest)
            }
            "待分类" | "未分类" | "none" => Some(Category::Unclassified),
            _ => None,
        })
    }

    /// The handbook's name for the record.
    pub fn label_zh(self) -> &'static str {
        match self {
            Category::Complaint => "客户投诉",
            Category::SupplierDispute => "供应商争议",
            Category::CollaborationRequest => "跨部门协作申请",
            Category::Unclassified => "待分类",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Category::Complaint => "customer complaint",
            Category::SupplierDispute => "supplier dispute",
            Category::CollaborationRequest => "collaboration request",
            Category::Unclassified => "unclassified",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Ordered: `Normal < Important < Urgent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// 一般
    Normal,
    /// 重要
    Important,
    /// 紧急
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 3] = [Priority::Normal, Priority::Important, Priority::Urgent];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Normal => "normal",
            Priority::Important => "important",
            Priority::Urgent => "urgent",
        }
    }

    /// Accepts the English names and the handbook's Chinese ones (一般/重要/紧急).
    pub fn parse(s: &str) -> Option<Priority> {
        match s.trim() {
            "normal" | "一般" => Some(Priority::Normal),
            "important" | "重要" => Some(Priority::Important),
            "urgent" | "紧急" => Some(Priority::Urgent),
            _ => None,
        }
    }

    /// As [`Priority::parse`], but case-insensitive: for commands that people type in
    /// replies ("Priority: Urgent").
    pub fn parse_command(s: &str) -> Option<Priority> {
        Priority::parse(&s.trim().to_lowercase())
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Priority::Normal => "一般",
            Priority::Important => "重要",
            Priority::Urgent => "紧急",
        }
    }

    /// One step up, as for a VIP customer; urgent stays urgent.
    pub fn raised(self) -> Priority {
        match self {
            Priority::Normal => Priority::Important,
            Priority::Important | Priority::Urgent => Priority::Urgent,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a case stands. Ordered along the handbook's steps:
/// `New < Analysed < Contacted < Resolved < Closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// 新建: recorded and routed, nobody has answered yet.
    New,
    /// 已分析: the department has its cause, responsibility and plan (2 hours).
    Analysed,
    /// 已联系: someone has told the customer the cause and the plan (1 hour).
    Contacted,
    /// 已解决: fixed and reported to the customer (24 hours).
    Resolved,
    /// 已关闭: satisfaction recorded or the matter otherwise ended.
    Closed,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::New,
        Status::Analysed,
        Status::Contacted,
        Status::Resolved,
        Status::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Analysed => "analysed",
            Status::Contacted => "contacted",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }

    /// Case-insensitive; accepts the stored names, the US spelling "analyzed", and
    /// the Chinese words people write in replies (新建, 已分析/分析完成, 已联系/已联系客户,
    /// 已解决/已处理, 已关闭/关闭).
    pub fn parse(s: &str) -> Option<Status> {
        match s.trim().to_lowercase().as_str() {
            "new" | "新建" => Some(Status::New),
            "analysed" | "analyzed" | "已分析" | "分析完成" => Some(Status::Analysed),
            "contacted" | "已联系" | "已联系客户" => Some(Status::Contacted),
            "resolved" | "已解决" | "已处理" => Some(Status::Resolved),
            "closed" | "已关闭" | "关闭" => Some(Status::Closed),
            _ => None,
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Status::New => "新建",
            Status::Analysed => "已分析",
            Status::Contacted => "已联系",
            Status::Resolved => "已解决",
            Status::Closed => "已关闭",
        }
    }

    pub fn label_en(self) -> &'static str {
        self.as_str()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The customer's answer to the satisfaction call-back (客户满意度), best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    /// 非常满意
    VerySatisfied,
    /// 满意
    Satisfied,
    /// 一般
    Neutral,
    /// 不满意
    Dissatisfied,
}

impl Satisfaction {
    pub const ALL: [Satisfaction; 4] = [
        Satisfaction::VerySatisfied,
        Satisfaction::Satisfied,
        Satisfaction::Neutral,
        Satisfaction::Dissatisfied,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Satisfaction::VerySatisfied => "very_satisfied",
            Satisfaction::Satisfied => "satisfied",
            Satisfaction::Neutral => "neutral",
            Satisfaction::Dissatisfied => "dissatisfied",
        }
    }

    /// The stored name back ([`Satisfaction::as_str`]); replies are read by
    /// `reply::survey::parse_answer`.
    pub fn parse(s: &str) -> Option<Satisfaction> {
        Satisfaction::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Satisfaction::VerySatisfied => "非常满意",
            Satisfaction::Satisfied => "满意",
            Satisfaction::Neutral => "一般",
            Satisfaction::Dissatisfied => "不满意",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Satisfaction::VerySatisfied => "very satisfied",
            Satisfaction::Satisfied => "satisfied",
            Satisfaction::Neutral => "neutral",
            Satisfaction::Dissatisfied => "dissatisfied",
        }
    }

    /// The number the survey mail offers for this answer: 1 (very satisfied) to 4.
    pub fn digit(self) -> u8 {
        match self {
            Satisfaction::VerySatisfied => 1,
            Satisfaction::Satisfied => 2,
            Satisfaction::Neutral => 3,
            Satisfaction::Dissatisfied => 4,
        }
    }

    pub fn from_digit(digit: u8) -> Option<Satisfaction> {
        Satisfaction::ALL.into_iter().find(|a| a.digit() == digit)
    }

    /// A customer who is not at least satisfied is followed up by a manager.
    pub fn needs_escalation(self) -> bool {
        matches!(self, Satisfaction::Neutral | Satisfaction::Dissatisfied)
    }
}

impl fmt::Display for Satisfaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_parses_every_spelling() {
        let table = [
            ("new", Status::New),
            ("NEW", Status::New),
            ("新建", Status::New),
            ("analysed", Status::Analysed),
            ("Analyzed", Status::Analysed),
            ("已分析", Status::Analysed),
            ("分析完成", Status::Analysed),
            ("contacted", Status::Contacted),
            ("已联系", Status::Contacted),
            ("已联系客户", Status::Contacted),
            (" Resolved ", Status::Resolved),
            ("已解决", Status::Resolved),
            ("已处理", Status::Resolved),
            ("closed", Status::Closed),
            ("已关闭", Status::Closed),
            ("关闭", Status::Closed),
        ];
        for (input, want) in table {
            assert_eq!(Status::parse(input), Some(want), "{input}");
        }
        for bad in ["", "done", "open", "已完成", "analysing"] {
            assert_eq!(Status::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn status_round_trips_and_orders_by_the_handbook() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(Status::parse(s.label_zh()), Some(s));
        }
        let mut sorted = Status::ALL;
        sorted.reverse();
        sorted.sort();
        assert_eq!(sorted, Status::ALL);
        assert!(Status::Contacted < Status::Resolved);
    }

    #[test]
    fn priority_commands_ignore_case() {
        assert_eq!(Priority::parse_command("Urgent"), Some(Priority::Urgent));
        assert_eq!(
            Priority::parse_command(" IMPORTANT "),
            Some(Priority::Important)
        );
        assert_eq!(Priority::parse_command("一般"), Some(Priority::Normal));
        assert_eq!(Priority::parse_command("紧急"), Some(Priority::Urgent));
        assert_eq!(Priority::parse_command("high"), None);
    }

    #[test]
    fn satisfaction_digits_labels_and_escalation() {
        for (i, s) in Satisfaction::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(s.digit()), i + 1);
            assert_eq!(Satisfaction::from_digit(s.digit()), Some(s));
            assert_eq!(Satisfaction::parse(s.as_str()), Some(s));
        }
        assert_eq!(Satisfaction::from_digit(0), None);
        assert_eq!(Satisfaction::from_digit(5), None);
        assert_eq!(Satisfaction::VerySatisfied.as_str(), "very_satisfied");
        assert_eq!(Satisfaction::Dissatisfied.label_zh(), "不满意");
        assert_eq!(Satisfaction::Neutral.label_en(), "neutral");
        let escalated: Vec<_> = Satisfaction::ALL
            .into_iter()
            .filter(|s| s.needs_escalation())
            .collect();
        assert_eq!(
            escalated,
            [Satisfaction::Neutral, Satisfaction::Dissatisfied]
        );
    }
}
