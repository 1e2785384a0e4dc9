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
