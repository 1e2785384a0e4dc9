//! When the learned model overrules the rules, and when it must not.

use super::learned::{Label, Model, Settings};
use super::*;

const IDS: &[&str] = &[
    "customer-service",
    "logistics",
    "finance",
    "procurement",
    "sales",
    "admin",
];

const RULES: &str = r#"
[[rule]]
name = "late"
category = "complaint"
department = "logistics"
  [[rule.match]]
  in = "subject"
  any = ["迟到"]

[[rule]]
name = "ask"
category = "collaboration_request"
department = "named"
sender = "internal"
  [[rule.match]]
  in = "subject"
  any = ["协助"]

[[rule]]
name = "newsletter"
category = "unclassified"
set_aside = true
  [[rule.match]]
  in = "subject"
  any = ["订阅"]
"#;

fn label(category: Category, department: &str) -> Label {
    Label {
        category,
        department: department.into(),
    }
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| (*s).to_string()).collect()
}

/// `RULES` with a model learned from `docs` (every word kept) beside them.
fn rules_learned_from(docs: &[(Label, Vec<String>)], margin: f64) -> RuleSet {
    let text = Model::learn(
        docs.iter().map(|(l, t)| (l, t.as_slice())),
        &Settings {
            margin,
            min_messages: 1,
            ..Settings::default()
        },
    );
    let mut rules = RuleSet::from_sources(&[("a.toml", RULES)], IDS).unwrap();
    rules.set_learned(Some(Model::parse("t", &text).unwrap()));
    rules
}

/// A model that has seen refunds as billing complaints, suppliers' payment chases as
/// disputes, and colleagues' requests to sales, each several times.
fn rules_with_model(margin: f64) -> RuleSet {
    let mut docs = Vec::new();
    for _ in 0..5 {
        docs.push((
            label(Category::Complaint, "finance"),
            words(&["@external", "退款", "发票", "扣款"]),
        ));
        docs.push((
            label(Category::SupplierDispute, "procurement"),
            words(&["@external", "货款", "逾期", "付款"]),
        ));
        docs.push((
            label(Category::CollaborationRequest, "sales"),
            words(&["@internal", "报价", "客户", "协助"]),
        ));
        docs.push((
            label(Category::Unclassified, "customer-service"),
            words(&["@external", "订阅", "优惠"]),
        ));
    }
    rules_learned_from(&docs, margin)
}

fn classify(
    rules: &RuleSet,
    from: &str,
    subject: &str,
    body: &str,
    suppliers: &[&str],
) -> Classification {
    let deps: Vec<DepartmentRef> = IDS
        .iter()
        .map(|id| DepartmentRef {
            id: (*id).into(),
            address: format!("{id}@example.com"),
            names: if *id == "admin" {
                vec!["行政部".into()]
            } else {
                vec![]
            },
        })
        .collect();
    let internal = vec!["example.com".to_string()];
    let suppliers: Vec<String> = suppliers.iter().map(|s| s.to_string()).collect();
    let ctx = Context {
        departments: &deps,
        internal_domains: &internal,
        vip_customers: &[],
        suppliers: &suppliers,
        parties: &NO_PARTIES,
        history: None,
        triage_department: "customer-service",
    };
    let raw = format!(
        "From: {from}\r\nTo: support@example.com\r\nSubject: {subject}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    );
    rules.classify(&Message::parse(raw.as_bytes()).unwrap(), &ctx)
}

#[test]
fn a_sure_model_overrules_the_rules_and_says_so() {
    let rules = rules_with_model(1.0);
    // No rule knows refunds: unclassified by the rules, billing by the model.
    let c = classify(&rules, "a@shop.cn", "退款", "发票重复扣款，请退款", &[]);
    assert_eq!(
        (c.category, c.department.as_str()),
        (Category::Complaint, "finance")
    );
    assert_eq!(c.rules, ["learned-model"]);
    // A rule that matched stays on record after the model's name.
    let c = classify(
        &rules,
        "a@shop.cn",
        "迟到的退款",
        "发票重复扣款，请退款",
        &[],
    );
    assert_eq!(
        (c.category, c.department.as_str()),
        (Category::Complaint, "finance")
    );
    assert_eq!(c.rules, ["learned-model", "late"]);
}

#[test]
fn an_unsure_model_leaves_the_rules_alone() {
    let rules = rules_with_model(1e6);
    let c = classify(&rules, "a@shop.cn", "退款", "发票重复扣款，请退款", &[]);
    assert_eq!(c.category, Category::Unclassified);
    assert!(c.rules.is_empty());
}

#[test]
fn the_model_never_takes_a_case_out_of_mail_set_aside_or_against_the_senders_side() {
    let rules = rules_with_model(1.0);
    let c = classify(&rules, "a@shop.cn", "订阅", "发票重复扣款，请退款", &[]);
    assert!(c.set_aside, "{c:?}");
    assert_eq!(c.rules, ["newsletter"]);
    // A listed supplier's mail that reads like a billing complaint is not made one.
    let c = classify(
        &rules,
        "ar@vendor.cn",
        "退款",
        "发票重复扣款，请退款",
        &["vendor.cn"],
    );
    assert_ne!(c.category, Category::Complaint, "{c:?}");
    assert!(!c.rules.contains(&"learned-model".to_string()));
}

#[test]
fn the_departments_a_collaboration_request_asks_are_the_rules_business() {
    let rules = rules_with_model(1.0);
    // The model has only ever seen requests to sales; this one asks admin by name.
    let c = classify(
        &rules,
        "li@example.com",
        "协助",
        "请行政部协助客户报价",
        &[],
    );
    assert_eq!(c.category, Category::CollaborationRequest);
    assert_eq!(c.department, "admin");
    assert_eq!(c.rules, ["ask"]);
}

#[test]
fn the_model_is_sure_against_the_rules_own_class_not_against_its_runner_up() {
    // Billing complaints go to finance or, less often, to customer service: the
    // model hesitates between the two, but either is far from the rules' logistics.
    let mut docs = Vec::new();
    for i in 0..5 {
        docs.push((
            label(Category::Complaint, "finance"),
            words(&["@external", "退款", "发票"]),
        ));
        if i > 0 {
            docs.push((
                label(Category::Complaint, "customer-service"),
                words(&["@external", "退款", "发票"]),
            ));
        }
        docs.push((
            label(Category::Complaint, "logistics"),
            words(&["@external", "快递", "没到"]),
        ));
    }
    let rules = rules_learned_from(&docs, 5.0);
    let late = label(Category::Complaint, "logistics");
    let raw = "From: a@shop.cn\r\nSubject: 迟到的退款\r\n\r\n发票退款";
    let verdict = rules
        .learned()
        .unwrap()
        .judge(
            &Message::parse(raw.as_bytes()).unwrap(),
            false,
            (late.category, &late.department),
        )
        .unwrap();
    assert!(verdict.margin < 5.0 && verdict.lead > 5.0, "{verdict:?}");
    let c = classify(&rules, "a@shop.cn", "迟到的退款", "发票退款", &[]);
    assert_eq!(
        (c.category, c.department.as_str(), c.rules.as_slice()),
        (
            Category::Complaint,
            "finance",
            ["learned-model", "late"].map(String::from).as_slice()
        )
    );
}

#[test]
fn only_colleagues_file_collaboration_requests_and_those_the_rules_find_stay_theirs() {
    let rules = rules_with_model(1.0);
    // An outsider's mail in a colleague's words is not made a request.
    let c = classify(&rules, "a@shop.cn", "报价", "客户报价，请协助", &[]);
    assert_ne!(c.category, Category::CollaborationRequest, "{c:?}");
    // The model has learned 订阅/优惠 as no case; a colleague's request the rules
    // found stays a request.
    let c = classify(&rules, "li@example.com", "协助", "订阅 优惠 订阅", &[]);
    assert_eq!(c.category, Category::CollaborationRequest, "{c:?}");
    assert_eq!(c.rules, ["ask"]);
}
