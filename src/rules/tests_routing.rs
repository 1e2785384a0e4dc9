//! Routing by the `[departments]` vocabulary and by who the sender is
//! (`suppliers`, `vip_customers`, `sender = "supplier" | "customer"`).

use super::*;

const IDS: &[&str] = &[
    "customer-service",
    "quality",
    "procurement",
    "sales",
    "admin",
];

const COLLAB: &str = r#"
[[rule]]
name = "collab"
category = "collaboration_request"
department = "named"
fallback = "admin"
sender = "internal"
any = ["请", "please"]
"#;

const VOCABULARY: &str = r#"
[departments]
quality = ["品质部", "品管部", "QC"]
sales = ["业务部", "Sales team"]
"#;

const SIDES: &str = r#"
[[rule]]
name = "complaint: other"
category = "complaint"
department = "customer-service"
weight = 20
sender = "external"
any = ["不满", "unhappy"]

[[rule]]
name = "complaint: quality"
category = "complaint"
department = "quality"
weight = 41
sender = "external"
any = ["故障", "defective"]

[[rule]]
name = "supplier: payment"
category = "supplier_dispute"
department = "procurement"
weight = 45
sender = "external"
any = ["货款", "payment"]

[[rule]]
name = "supplier: listed supplier writes"
category = "supplier_dispute"
department = "procurement"
weight = 30
sender = "supplier"
any = ["订单", "order"]
"#;

/// Departments whose config names are only their ids, as with `name = "sales"`.
fn deps() -> Vec<DepartmentRef> {
    IDS.iter()
        .map(|id| DepartmentRef {
            id: (*id).into(),
            address: format!("{id}@example.com"),
            names: vec![(*id).into()],
        })
        .collect()
}

fn classify(rules: &RuleSet, raw: &str, suppliers: &[&str], vip: &[&str]) -> Classification {
    let deps = deps();
    let internal = vec!["example.com".to_string()];
    let suppliers: Vec<String> = suppliers.iter().map(|s| s.to_string()).collect();
    let vip: Vec<String> = vip.iter().map(|s| s.to_string()).collect();
    let ctx = Context {
        departments: &deps,
        internal_domains: &internal,
        vip_customers: &vip,
        suppliers: &suppliers,
        parties: &crate::rules::NO_PARTIES,
        history: None,
        triage_department: "customer-service",
    };
    rules.classify(&Message::parse(raw.as_bytes()).unwrap(), &ctx)
}

fn load(files: &[(&str, &str)]) -> RuleSet {
    match RuleSet::from_sources(files, IDS) {
        Ok(r) => r,
        Err(e) => panic!("rules did not load:\n{}", e.join("\n")),
    }
}

#[test]
fn a_department_is_found_by_the_vocabulary_name_the_mail_uses() {
    let rules = load(&[("05-departments.toml", VOCABULARY), ("30.toml", COLLAB)]);
    let raw =
        "From: a@example.com\r\nSubject: =?utf-8?b?6aqM5Y6C?=\r\n\r\n请品管部准备检验记录。\r\n";
    assert_eq!(classify(&rules, raw, &[], &[]).department, "quality");
    let raw = "From: a@example.com\r\nSubject: leads\r\n\r\nHi Sales team, please follow up.\r\n";
    assert_eq!(classify(&rules, raw, &[], &[]).department, "sales");
    // English names are whole words: "QC" is not in "QCX-200".
    let raw = "From: a@example.com\r\nSubject: x\r\n\r\nplease ship the QCX-200\r\n";
    assert_eq!(classify(&rules, raw, &[], &[]).department, "admin");
    // Without the vocabulary, the same mail has only the ids to go by.
    let bare = load(&[("30.toml", COLLAB)]);
    let raw = "From: a@example.com\r\nSubject: x\r\n\r\n请品管部准备检验记录。\r\n";
    assert_eq!(classify(&bare, raw, &[], &[]).department, "admin");
    // The vocabulary also tells the sender's own department by its signature.
    let raw =
        "From: a@example.com\r\nSubject: x\r\n\r\n请业务部确认地址。\r\n\r\n王五\r\n品质部\r\n";
    assert_eq!(departments_asked(&rules, raw), ["sales"]);
}

/// The departments a mail from inside (example.com) asks, in order.
fn departments_asked(rules: &RuleSet, raw: &str) -> Vec<String> {
    rules.departments_asked(
        &Message::parse(raw.as_bytes()).unwrap(),
        &Context {
            departments: &deps(),
            internal_domains: &["example.com".to_string()],
            vip_customers: &[],
            suppliers: &[],
            parties: &crate::rules::NO_PARTIES,
            history: None,
            triage_department: "customer-service",
        },
    )
}

#[test]
fn a_department_greeted_or_asked_outright_is_asked_though_the_signature_names_it() {
    let rules = load(&[("05-departments.toml", VOCABULARY), ("30.toml", COLLAB)]);
    let asked = |raw: &str| departments_asked(&rules, raw);
    // A QC engineer of one plant writes to the quality department of another: the
    // signature says quality, and so does the greeting.
    let greeted = "From: a@example.com\r\nSubject: x\r\n\r\n品管部 各位好：\r\n\r\n请寄来上月的检验记录，另请业务部知悉。\r\n\r\n王五\r\n品质部\r\n";
    assert_eq!(asked(greeted), ["quality", "sales"]);
    let greeted_en = "From: a@example.com\r\nSubject: x\r\n\r\nHi QC,\r\n\r\nthe new limits are attached; Sales team, note them.\r\n\r\nWang Wu\r\nQC\r\n";
    assert_eq!(asked(greeted_en), ["quality", "sales"]);
    // Asked outright in the subject.
    let outright = "From: a@example.com\r\nSubject: =?utf-8?b?6K+35ZOB566h6YOo5a6h5qC4?=\r\n\r\n附件是新的检验标准。\r\n\r\n王五\r\n品质部\r\n";
    assert_eq!(asked(outright), ["quality"]);
    // Merely named, the signature's department stays the sender's own.
    let named = "From: a@example.com\r\nSubject: x\r\n\r\n品质部这边已经检验完毕，请业务部通知客户。\r\n\r\n王五\r\n品质部\r\n";
    assert_eq!(asked(named), ["sales"]);
    // The department's own address is the sender beyond doubt, greeting or not.
    let from_quality = greeted.replace("a@example.com", "quality@example.com");
    assert_eq!(asked(&from_quality), ["sales"]);
}

#[test]
fn a_broken_vocabulary_is_refused_with_file_and_line() {
    let bad = "[departments]\nqualty = [\"品质部\"]\nsales = [\"业务部\", \"\", 3]\nadmin = [\"业务部\"]\n";
    let again = "[departments]\nsales = [\"营业部\"]\n";
    let errs = match RuleSet::from_sources(
        &[("a.toml", bad), ("b.toml", again), ("30.toml", COLLAB)],
        IDS,
    ) {
        Ok(_) => panic!("a broken vocabulary loaded"),
        Err(e) => e,
    };
    let expect = [
        "a.toml:2: unknown department \"qualty\" (did you mean \"quality\"?)",
        "a.toml:3: an empty department name",
        "a.toml:3: `sales` must list words in quotes, found integer",
        "a.toml:4: \"业务部\" is already a name of \"sales\" at a.toml:3",
        "b.toml:2: department \"sales\" is listed twice: already at a.toml:3",
    ];
    for want in expect {
        assert!(
            errs.iter().any(|e| e.starts_with(want)),
            "missing `{want}` in:\n{}",
            errs.join("\n")
        );
    }
    assert_eq!(errs.len(), expect.len(), "{}", errs.join("\n"));
}

#[test]
fn a_listed_supplier_is_never_a_complainant() {
    let rules = load(&[("10.toml", SIDES)]);
    let raw = "From: ar@vendor.cn\r\nSubject: x\r\n\r\n我们很不满，货款还没付。\r\n";
    // Unknown sender: the words decide (payment outweighs displeasure here too).
    let c = classify(&rules, raw, &[], &[]);
    assert_eq!(
        (c.category, c.department.as_str()),
        (Category::SupplierDispute, "procurement")
    );
    // Displeasure alone from a listed supplier (a subdomain counts) is still its dispute.
    let raw = "From: li@sales.vendor.cn\r\nSubject: x\r\n\r\n我们很不满。\r\n";
    assert_eq!(
        classify(&rules, raw, &[], &[]).category,
        Category::Complaint
    );
    let c = classify(&rules, raw, &["vendor.cn"], &[]);
    assert_eq!(
        (
            c.category,
            c.department.as_str(),
            c.rules.first().map(String::as_str)
        ),
        (
            Category::SupplierDispute,
            "procurement",
            Some("sender-supplier")
        )
    );
    // About quality, it stays with quality.
    let raw = "From: li@vendor.cn\r\nSubject: x\r\n\r\n贵司说的故障我们不认可。\r\n";
    let c = classify(&rules, raw, &["vendor.cn"], &[]);
    assert_eq!(
        (c.category, c.department.as_str()),
        (Category::SupplierDispute, "quality")
    );
    // `sender = "supplier"` only holds for listed suppliers; an address works as well.
    let raw = "From: ar@vendor.cn\r\nSubject: x\r\n\r\n订单确认\r\n";
    assert_eq!(
        classify(&rules, raw, &[], &[]).category,
        Category::Unclassified
    );
    let c = classify(&rules, raw, &["ar@vendor.cn"], &[]);
    assert_eq!(
        c.rules,
        vec!["supplier: listed supplier writes".to_string()]
    );
}

#[test]
fn a_listed_customer_is_never_a_supplier() {
    let rules = load(&[("10.toml", SIDES)]);
    // "payment" words would make it a supplier dispute; a VIP customer complains.
    let raw = "From: buyer@bigclient.com\r\nSubject: x\r\n\r\nWe are unhappy: the payment was taken twice.\r\n";
    assert_eq!(
        classify(&rules, raw, &[], &[]).category,
        Category::SupplierDispute
    );
    let c = classify(&rules, raw, &[], &["bigclient.com"]);
    assert_eq!(
        (c.category, c.department.as_str()),
        (Category::Complaint, "customer-service")
    );
    assert_eq!(
        c.rules.first().map(String::as_str),
        Some("complaint: other")
    );
    // Only supplier words: the customer's side still, for the triage department.
    let raw = "From: buyer@bigclient.com\r\nSubject: x\r\n\r\npayment\r\n";
    let c = classify(&rules, raw, &[], &["bigclient.com"]);
    assert_eq!(
        (
            c.category,
            c.department.as_str(),
            c.rules.first().map(String::as_str)
        ),
        (
            Category::Complaint,
            "customer-service",
            Some("sender-customer")
        )
    );
}

fn classify_with(
    rules: &RuleSet,
    raw: &str,
    parties: &Parties,
    history: Option<PartyRole>,
) -> Classification {
    let deps = deps();
    let internal = vec!["example.com".to_string()];
    let ctx = Context {
        departments: &deps,
        internal_domains: &internal,
        vip_customers: &[],
        suppliers: &[],
        parties,
        history,
        triage_department: "customer-service",
    };
    rules.classify(&Message::parse(raw.as_bytes()).unwrap(), &ctx)
}

#[test]
fn the_parties_file_decides_the_side_before_the_words_and_history_after_it() {
    let rules = load(&[("20.toml", SIDES)]);
    let parties = Parties::parse(
        "parties.csv",
        "address,role,name,tier\nvendor.cn,supplier,Vendor,\nbuyer.com,customer,Buyer,vip\nfwd.de,partner,Forwarder,\n",
    )
    .unwrap();
    // A supplier's words of displeasure about our payment: a supplier dispute, not a
    // complaint, because the file says who they are.
    let raw = "From: ar@sub.vendor.cn\r\nSubject: x\r\n\r\n不满：产品故障\r\n";
    let c = classify_with(&rules, raw, &parties, None);
    assert_eq!(
        (c.category, c.department.as_str()),
        (Category::SupplierDispute, "quality"),
        "{c:?}"
    );
    // A customer on the file writing about payment: a complaint, and its tier raises it.
    let raw = "From: ap@buyer.com\r\nSubject: x\r\n\r\npayment\r\n";
    let c = classify_with(&rules, raw, &parties, None);
    assert_eq!(c.category, Category::Complaint, "{c:?}");
    assert!(c.rules.iter().any(|r| r == "vip-customer"), "{c:?}");
    assert_eq!(c.priority, Priority::Important);
    // A partner is neither side: the words decide, as for a stranger.
    let raw = "From: ops@fwd.de\r\nSubject: x\r\n\r\npayment\r\n";
    assert_eq!(
        classify_with(&rules, raw, &parties, None).category,
        Category::SupplierDispute
    );
    // Unknown to the file: the history of their corrected cases says supplier.
    let raw = "From: someone@stranger.com\r\nSubject: x\r\n\r\n产品故障\r\n";
    assert_eq!(
        classify_with(&rules, raw, &parties, None).category,
        Category::Complaint
    );
    assert_eq!(
        classify_with(&rules, raw, &parties, Some(PartyRole::Supplier)).category,
        Category::SupplierDispute
    );
    // The file outranks the history.
    let raw = "From: ap@buyer.com\r\nSubject: x\r\n\r\npayment\r\n";
    assert_eq!(
        classify_with(&rules, raw, &parties, Some(PartyRole::Supplier)).category,
        Category::Complaint
    );
}
