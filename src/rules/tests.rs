//! Loader problems and classification semantics, on small inline rule files.

use super::*;

const IDS: &[&str] = &[
    "customer-service",
    "logistics",
    "quality",
    "finance",
    "procurement",
    "design",
    "sales",
    "marketing",
    "admin",
];

fn load(files: &[(&str, &str)]) -> RuleSet {
    match RuleSet::from_sources(files, IDS) {
        Ok(r) => r,
        Err(e) => panic!("rules did not load:\n{}", e.join("\n")),
    }
}

fn problems(files: &[(&str, &str)]) -> Vec<String> {
    match RuleSet::from_sources(files, IDS) {
        Ok(_) => panic!("rules loaded but should not have"),
        Err(e) => e,
    }
}

fn deps() -> Vec<DepartmentRef> {
    IDS.iter()
        .map(|id| DepartmentRef {
            id: (*id).into(),
            address: format!("{id}@example.com"),
            names: match *id {
                "design" => vec!["设计部".into(), "Design".into()],
                "sales" => vec!["销售部".into(), "Sales".into()],
                "logistics" => vec!["物流部".into(), "Logistics".into()],
                "marketing" => vec!["市场部".into(), "Marketing".into()],
                _ => vec![],
            },
        })
        .collect()
}

fn classify_with(rules: &RuleSet, raw: &str, vip: &[&str]) -> Classification {
    let deps = deps();
    let internal = vec!["example.com".to_string()];
    let vip: Vec<String> = vip.iter().map(|s| s.to_string()).collect();
    let ctx = Context {
        departments: &deps,
        internal_domains: &internal,
        vip_customers: &vip,
        suppliers: &[],
        parties: &crate::rules::NO_PARTIES,
        history: None,
        triage_department: "customer-service",
    };
    let msg = Message::parse(raw.as_bytes()).unwrap();
    rules.classify(&msg, &ctx)
}

fn classify(rules: &RuleSet, raw: &str) -> Classification {
    classify_with(rules, raw, &[])
}

fn mail(from: &str, subject: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: support@example.com\r\nSubject: {subject}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    )
}

const LATE: &str = r#"
[[rule]]
name = "late"
category = "complaint"
department = "logistics"
priority = "重要"
weight = 30
sender = "external"
  [[rule.match]]
  any = ["late", "延迟", "complain*"]
"#;

#[test]
fn english_words_are_whole_words_and_case_blind() {
    let r = load(&[("a.toml", LATE)]);
    let c = classify(&r, &mail("a@client.com", "Delivery LATE", "hi"));
    assert_eq!(c.category, Category::Complaint);
    assert_eq!(c.department, "logistics");
    assert_eq!(c.priority, Priority::Important);
    assert_eq!(c.rules, vec!["late"]);
    let c = classify(
        &r,
        &mail("a@client.com", "Please translate", "the latest text"),
    );
    assert_eq!(c.category, Category::Unclassified);
    assert_eq!(c.department, "customer-service");
    assert_eq!(c.priority, Priority::Normal);
    assert!(c.rules.is_empty());
}

#[test]
fn prefix_words_and_chinese_substrings() {
    let r = load(&[("a.toml", LATE)]);
    let c = classify(&r, &mail("a@client.com", "x", "We complained twice"));
    assert_eq!(c.category, Category::Complaint);
    let c = classify(&r, &mail("a@client.com", "货物严重延迟交付", ""));
    assert_eq!(c.category, Category::Complaint);
}

#[test]
fn sender_condition_uses_internal_domains() {
    let r = load(&[("a.toml", LATE)]);
    let c = classify(&r, &mail("colleague@example.com", "late", ""));
    assert_eq!(c.category, Category::Unclassified);
    let c = classify(&r, &mail("someone@sub.example.com", "late", ""));
    assert_eq!(c.category, Category::Unclassified);
    let c = classify(&r, &mail("someone@notexample.com", "late", ""));
    assert_eq!(c.category, Category::Complaint);
}

#[test]
fn any_all_none_and_fields() {
    let rules = r#"
[[rule]]
name = "billing"
category = "complaint"
department = "finance"
  [[rule.match]]
  in = ["subject"]
  all = ["invoice", "/wrong|incorrect/"]
  none = ["newsletter"]
  [[rule.match]]
  in = "from"
  any = ["@client.com"]
"#;
    let r = load(&[("a.toml", rules)]);
    let hit = |from: &str, subject: &str| classify(&r, &mail(from, subject, "")).category;
    assert_eq!(hit("a@client.com", "Invoice is WRONG"), Category::Complaint);
    assert_eq!(
        hit("a@client.com", "Invoice is wrong newsletter"),
        Category::Unclassified
    );
    assert_eq!(hit("a@client.com", "Invoice"), Category::Unclassified);
    assert_eq!(
        hit("a@other.com", "Invoice is wrong"),
        Category::Unclassified
    );
    // Words in the body do not count for a subject-only block.
    let c = classify(&r, &mail("a@client.com", "hello", "invoice wrong"));
    assert_eq!(c.category, Category::Unclassified);
}

#[test]
fn headers_and_recipients_can_be_matched() {
    let rules = r#"
[[rule]]
name = "list mail"
category = "unclassified"
weight = 100
in = ["header:List-Unsubscribe"]
any = ["*"]

[[rule]]
name = "to sales"
category = "collaboration_request"
department = "sales"
in = ["to"]
any = ["sales@example.com"]
"#;
    let r = load(&[("a.toml", rules)]);
    let raw = "From: news@shop.com\r\nTo: sales@example.com\r\nList-Unsubscribe: <mailto:u@shop.com>\r\nSubject: 紧急 sale\r\n\r\nbuy";
    let c = classify(&r, raw);
    assert_eq!(c.category, Category::Unclassified);
    assert_eq!(c.rules, vec!["list mail"]);
    let raw = "From: bob@example.com\r\nTo: x@example.com\r\nCc: Sales <sales@example.com>\r\nSubject: hi\r\n\r\nbody";
    assert_eq!(classify(&r, raw).department, "sales");
}

#[test]
fn highest_weight_wins_and_ties_go_to_the_earlier_file_then_rule() {
    let a = r#"
[[rule]]
name = "general"
category = "complaint"
department = "customer-service"
weight = 10
any = ["投诉"]

[[rule]]
name = "quality-a"
category = "complaint"
department = "quality"
weight = 40
all = ["投诉", "质量"]

[[rule]]
name = "quality-b"
category = "complaint"
department = "finance"
weight = 40
all = ["投诉", "质量"]
"#;
    let b = r#"
[[rule]]
name = "from-b"
category = "complaint"
department = "logistics"
weight = 40
all = ["投诉", "质量"]
"#;
    let r = load(&[("a.toml", a), ("b.toml", b)]);
    let c = classify(&r, &mail("x@c.com", "投诉", "产品质量差"));
    assert_eq!(c.rules, vec!["quality-a"]);
    assert_eq!(c.department, "quality");
    let r = load(&[("a.toml", b), ("b.toml", a)]);
    let c = classify(&r, &mail("x@c.com", "投诉", "产品质量差"));
    assert_eq!(c.rules, vec!["from-b"]);
    let c = classify(&r, &mail("x@c.com", "投诉", "服务差"));
    assert_eq!(c.rules, vec!["general"]);
}

const RAISES: &str = r#"
[[rule]]
name = "complaint"
category = "complaint"
department = "customer-service"
any = ["complaint", "spam-word"]

[[rule]]
name = "newsletter"
category = "unclassified"
weight = 99
any = ["unsubscribe"]

[[priority_rule]]
name = "urgent words"
priority = "紧急"
any = ["urgent", "紧急"]
none = ["not urgent"]

[[priority_rule]]
name = "high importance"
priority = "important"
in = ["header:Importance", "header:X-Priority"]
any = ["high", "/^\\s*[12]\\b/"]
"#;

#[test]
fn priority_rules_raise_whatever_won() {
    let r = load(&[("a.toml", RAISES)]);
    let c = classify(&r, &mail("a@c.com", "URGENT complaint", ""));
    assert_eq!(c.priority, Priority::Urgent);
    assert_eq!(c.rules, vec!["complaint", "urgent words"]);
    let c = classify(&r, &mail("a@c.com", "complaint", "this is not urgent"));
    assert_eq!(c.priority, Priority::Normal);
    let c = classify(&r, &mail("a@c.com", "紧急", "no rule claims this"));
    assert_eq!(
        (c.category, c.priority),
        (Category::Unclassified, Priority::Urgent)
    );
    assert_eq!(c.rules, vec!["urgent words"]);
    let raw = "From: a@c.com\r\nX-Priority: 1 (Highest)\r\nSubject: complaint\r\n\r\nx";
    let c = classify(&r, raw);
    assert_eq!(c.priority, Priority::Important);
    assert_eq!(c.rules, vec!["complaint", "high importance"]);
    let raw = "From: a@c.com\r\nX-Priority: 3\r\nSubject: complaint\r\n\r\nx";
    assert_eq!(classify(&r, raw).priority, Priority::Normal);
}

#[test]
fn priority_rules_can_be_limited_to_categories() {
    let extra = r#"
[[priority_rule]]
name = "soon"
priority = "important"
category = ["complaint", "unclassified"]
any = ["asap please"]
"#;
    let r = load(&[("a.toml", RAISES), ("b.toml", extra)]);
    let c = classify(&r, &mail("a@c.com", "complaint", "asap please"));
    assert_eq!(c.rules, vec!["complaint", "soon"]);
    let c = classify(&r, &mail("a@c.com", "hello", "asap please"));
    assert_eq!(c.priority, Priority::Important);
    let only_collab = extra.replace(r#"["complaint", "unclassified"]"#, r#""跨部门协作申请""#);
    let r = load(&[("a.toml", RAISES), ("b.toml", &only_collab)]);
    let c = classify(&r, &mail("a@c.com", "complaint", "asap please"));
    assert_eq!(c.priority, Priority::Normal);
    let bad = extra.replace("\"unclassified\"", "\"complaints\"");
    let errs = problems(&[("a.toml", RAISES), ("b.toml", &bad)]);
    assert!(
        errs[0].starts_with("b.toml:5: unknown category \"complaints\""),
        "{errs:?}"
    );
}

#[test]
fn not_a_case_rules_are_never_raised() {
    let r = load(&[("a.toml", RAISES)]);
    let c = classify_with(
        &r,
        &mail("a@bigclient.com", "URGENT complaint", "unsubscribe"),
        &["bigclient.com"],
    );
    assert_eq!(c.category, Category::Unclassified);
    assert_eq!(c.priority, Priority::Normal);
    assert_eq!(c.rules, vec!["newsletter"]);
}

#[test]
fn vip_senders_are_raised_one_step() {
    let r = load(&[("a.toml", RAISES)]);
    let vip = ["bigclient.com", "boss@partner.cn"];
    let c = classify_with(&r, &mail("a@cn.bigclient.com", "complaint", ""), &vip);
    assert_eq!(c.priority, Priority::Important);
    assert_eq!(c.rules, vec!["complaint", "vip-customer"]);
    let c = classify_with(&r, &mail("Boss@Partner.cn", "complaint", ""), &vip);
    assert_eq!(c.priority, Priority::Important);
    let c = classify_with(&r, &mail("a@notbigclient.com", "complaint", ""), &vip);
    assert_eq!(c.priority, Priority::Normal);
    let c = classify_with(&r, &mail("a@bigclient.com", "urgent complaint", ""), &vip);
    assert_eq!(c.priority, Priority::Urgent);
    assert_eq!(c.rules, vec!["complaint", "urgent words"]);
}

#[test]
fn named_department_with_fallback() {
    let rules = r#"
[[rule]]
name = "collab"
category = "collaboration_request"
department = "named"
sender = "internal"
any = ["协作", "support"]

[[rule]]
name = "collab-b"
category = "collaboration_request"
department = "named"
fallback = "sales"
sender = "internal"
weight = 20
any = ["配合"]
"#;
    let r = load(&[("a.toml", rules)]);
    let c = classify(
        &r,
        &mail("marketing@example.com", "协作申请", "市场部需要设计部支持"),
    );
    assert_eq!(c.department, "design");
    let c = classify(&r, &mail("bob@example.com", "协作申请", "没有部门"));
    assert_eq!(c.department, "admin");
    let c = classify(&r, &mail("bob@example.com", "请配合", "谢谢"));
    assert_eq!(c.department, "sales");
    assert_eq!(c.category, Category::CollaborationRequest);
}

#[test]
fn lists_are_shared_between_files() {
    let a = r#"
[lists]
delay = ["延迟", "late", "/delay(ed)?/"]
"#;
    let b = r#"
[[rule]]
name = "late"
category = "complaint"
department = "logistics"
any = ["list:delay", "迟到"]
"#;
    let r = load(&[("a.toml", a), ("b.toml", b)]);
    assert_eq!(r.len(), 1);
    assert!(!r.is_empty());
    let c = classify(&r, &mail("a@c.com", "shipment DELAYED", ""));
    assert_eq!(c.department, "logistics");
}

#[test]
fn problems_are_reported_with_file_and_line() {
    let bad = r#"# comment
[[rule]]
name = "one"
category = "complaints"
department = "logistic"
priority = "very high"
weight = "high"
sender = "outside"
colour = "red"
  [[rule.match]]
  in = ["subjet"]
  any = ["/(unclosed/", "com*plain", ""]
  nonee = ["x"]

[[rule]]
name = "one"
category = "complaint"
department = "logistics"

[[rule]]
category = "complaint"
department = "named"
fallback = "nowhere"
  [[rule.match]]
  any = ["list:missing"]

[[rule]]
name = "empty"
category = "complaint"
department = "logistics"
  [[rule.match]]
  in = ["body"]

[[rule]]
name = "none only"
category = "complaint"
department = "logistics"
none = ["x"]

[[priority_rule]]
name = "p"
any = ["x"]

[rules]
x = 1
"#;
    let errs = problems(&[("rules/bad.toml", bad)]);
    let expect = [
        ("rules/bad.toml:4:", "unknown category \"complaints\""),
        (
            "rules/bad.toml:5:",
            "unknown department \"logistic\" (did you mean \"logistics\"?)",
        ),
        ("rules/bad.toml:6:", "unknown priority \"very high\""),
        ("rules/bad.toml:7:", "`weight` must be a whole number"),
        ("rules/bad.toml:8:", "unknown sender \"outside\""),
        ("rules/bad.toml:9:", "unknown key `colour`"),
        ("rules/bad.toml:11:", "unknown place \"subjet\""),
        ("rules/bad.toml:12:", "bad regular expression /(unclosed/"),
        (
            "rules/bad.toml:12:",
            "a `*` may only stand at the start or the end",
        ),
        ("rules/bad.toml:12:", "empty word"),
        (
            "rules/bad.toml:13:",
            "unknown key `nonee` in a match block (did you mean `none`?)",
        ),
        (
            "rules/bad.toml:15:",
            "duplicate rule name \"one\": already used at rules/bad.toml:2",
        ),
        ("rules/bad.toml:15:", "rule has nothing to match"),
        ("rules/bad.toml:20:", "rule has no `name`"),
        ("rules/bad.toml:23:", "unknown department \"nowhere\""),
        ("rules/bad.toml:25:", "unknown word list \"missing\""),
        ("rules/bad.toml:31:", "empty match block"),
        ("rules/bad.toml:34:", "rule has only `none` words"),
        ("rules/bad.toml:40:", "priority rule has no `priority`"),
        (
            "rules/bad.toml:44:",
            "unknown key `rules` at the top of a rule file (did you mean `rule`?)",
        ),
    ];
    for (at, what) in expect {
        assert!(
            errs.iter().any(|e| e.starts_with(at) && e.contains(what)),
            "missing `{at} …{what}…` in:\n{}",
            errs.join("\n")
        );
    }
    assert_eq!(errs.len(), expect.len(), "{}", errs.join("\n"));
}

#[test]
fn a_toml_escape_in_a_regex_is_caught() {
    let rule = "[[rule]]\nname = \"x\"\ncategory = \"complaint\"\ndepartment = \"quality\"\nany = [\"/\\bpo\\b/\"]\n";
    let errs = problems(&[("a.toml", rule)]);
    assert!(
        errs[0].starts_with("a.toml:5:") && errs[0].contains(r"write \\b"),
        "{errs:?}"
    );
    let fixed = rule.replace(r"\b", r"\\b");
    let r = load(&[("a.toml", &fixed)]);
    assert_eq!(
        classify(&r, &mail("a@c.com", "our PO 12", "")).category,
        Category::Complaint
    );
}

#[test]
fn a_toml_syntax_error_refuses_the_file_and_the_set() {
    let good = LATE;
    let broken = "[[rule]]\nname = \"x\"\nname = \"y\"\n";
    let errs = problems(&[("a.toml", good), ("b.toml", broken)]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("b.toml:3: not valid TOML"), "{errs:?}");
}

#[test]
fn lists_of_an_unreadable_file_are_not_reported_missing() {
    let lists = "[lists]\ndelay = [\"late\"]\n[[rule]\n";
    let rule = "[[rule]]\nname = \"x\"\ncategory = \"complaint\"\ndepartment = \"quality\"\nany = [\"list:delay\"]\n";
    let errs = problems(&[("a.toml", lists), ("b.toml", rule)]);
    assert!(errs.iter().all(|e| e.starts_with("a.toml:3:")), "{errs:?}");
}

#[test]
fn duplicate_names_across_files_and_the_reserved_name() {
    let a = "[[rule]]\nname = \"x\"\ncategory = \"complaint\"\ndepartment = \"quality\"\nany = [\"a\"]\n";
    let b = "\n[[rule]]\nname = \"x\"\ncategory = \"complaint\"\ndepartment = \"quality\"\nany = [\"a\"]\n\n[[priority_rule]]\nname = \"vip-customer\"\npriority = \"urgent\"\nany = [\"b\"]\n";
    let errs = problems(&[("a.toml", a), ("b.toml", b)]);
    assert!(errs.iter().any(|e| e.starts_with("b.toml:2: duplicate rule name \"x\": already used at a.toml:1")), "{errs:?}");
    assert!(
        errs.iter()
            .any(|e| e.starts_with("b.toml:8:") && e.contains("reserved")),
        "{errs:?}"
    );
}

#[test]
fn named_needs_a_fallback_when_there_is_no_admin() {
    let r = "[[rule]]\nname = \"x\"\ncategory = \"collaboration_request\"\ndepartment = \"named\"\nany = [\"a\"]\n";
    let errs = RuleSet::from_sources(&[("a.toml", r)], &["sales"])
        .err()
        .unwrap();
    assert!(
        errs[0].starts_with("a.toml:4:") && errs[0].contains("fallback"),
        "{errs:?}"
    );
    let r = r.replace("any =", "fallback = \"sales\"\nany =");
    assert!(RuleSet::from_sources(&[("a.toml", &r)], &["sales"]).is_ok());
}

#[test]
fn no_rules_is_an_error() {
    let errs = problems(&[("a.toml", "# nothing yet\n")]);
    assert!(errs[0].contains("no rules"), "{errs:?}");
    let dir = std::env::temp_dir().join(format!("sb-rules-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let errs = RuleSet::load_dir(&dir, IDS).err().unwrap();
    assert!(errs[0].contains("no *.toml files"), "{errs:?}");
    std::fs::write(dir.join("a.toml"), LATE).unwrap();
    std::fs::write(dir.join("b.toml"), "[[rule]]\nname = 1\n").unwrap();
    let errs = RuleSet::load_dir(&dir, IDS).err().unwrap();
    assert!(errs.iter().all(|e| e.contains("b.toml:")), "{errs:?}");
    std::fs::remove_file(dir.join("b.toml")).unwrap();
    assert_eq!(RuleSet::load_dir(&dir, IDS).unwrap().len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn many_rules_compile_into_one_set_per_field() {
    let mut text = String::new();
    for i in 0..300 {
        text.push_str(&format!(
            "[[rule]]\nname = \"r{i}\"\ncategory = \"complaint\"\ndepartment = \"quality\"\nweight = {i}\nany = [\"word{i}\", \"词{i}号\", \"/code-{i}\\\\d/\"]\nnone = [\"stop{i}\"]\n\n"
        ));
    }
    let r = load(&[("big.toml", &text)]);
    let c = classify(&r, &mail("a@c.com", "word7 and 词250号", ""));
    assert_eq!(c.rules, vec!["r250"]);
    let c = classify(&r, &mail("a@c.com", "word7 and 词250号", "stop250"));
    assert_eq!(c.rules, vec!["r7"]);
}

#[test]
fn set_aside_rules_say_so_and_only_unclassified_ones_may() {
    let rules = load(&[(
        "40.toml",
        r#"
[[rule]]
name = "advert"
category = "unclassified"
set_aside = true
weight = 90
any = ["special offer"]

[[rule]]
name = "announcement"
category = "unclassified"
weight = 90
any = ["all staff"]
"#,
    )]);
    let advert = classify(&rules, &mail("a@shop.example", "Special offer", "buy"));
    assert!(advert.set_aside);
    assert_eq!(advert.rules, vec!["advert".to_string()]);
    let notice = classify(&rules, &mail("a@shop.example", "To all staff", "hi"));
    assert!(
        !notice.set_aside,
        "an unclassified rule without the key stays a case"
    );
    let none = classify(&rules, &mail("a@shop.example", "hello", "hi"));
    assert!(!none.set_aside, "mail no rule claims stays a case");

    let p = problems(&[(
        "40.toml",
        r#"
[[rule]]
name = "wrong"
category = "complaint"
department = "logistics"
set_aside = true
any = ["x"]

[[rule]]
name = "typed"
category = "unclassified"
set_aside = "yes"
any = ["y"]
"#,
    )]);
    assert!(
        p.iter()
            .any(|l| l.contains("40.toml:6:") && l.contains("set_aside = true")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|l| l.contains("40.toml:12:") && l.contains("true or false")),
        "{p:?}"
    );
}

#[test]
fn every_shipped_not_a_case_rule_sets_aside() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/40-not-a-case.toml"),
    )
    .unwrap();
    let rules = text.matches("[[rule]]").count();
    assert!(rules > 10);
    assert_eq!(
        text.matches("\nset_aside = true").count(),
        rules,
        "each rule of 40-not-a-case.toml has set_aside = true"
    );
}
