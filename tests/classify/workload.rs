//! What the classification test and the classification benchmark share: the
//! departments and context of `expected.toml`, the corpus, the shipped rule files,
//! and a generator of many more rules.
//!
//! Included by `tests/classify.rs` and `benches/classify.rs` with `#[path]`; it is
//! not a test of its own.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use switchboard::message::Message;
use switchboard::rules::{Context, DepartmentRef, RuleSet};

pub const DEPARTMENTS: &[(&str, &str, &str)] = &[
    ("customer-service", "客服部", "Customer Service"),
    ("logistics", "物流部", "Logistics"),
    ("production", "生产部", "Production"),
    ("quality", "质量部", "Quality"),
    ("procurement", "采购部", "Procurement"),
    ("sales", "销售部", "Sales"),
    ("marketing", "市场部", "Marketing"),
    ("design", "设计部", "Design"),
    ("rnd", "研发部", "R&D"),
    ("finance", "财务部", "Finance"),
    ("admin", "行政部", "Admin"),
    ("legal", "法务部", "Legal"),
];

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The departments as `[[department]]` tables of a config file, each at
/// `<id>@example.com` with a manager at `<id>-head@example.com`.
pub fn config_departments() -> String {
    DEPARTMENTS
        .iter()
        .map(|(id, zh, en)| {
            format!(
                "\n[[department]]\nid = \"{id}\"\nname = \"{zh} {en}\"\naddress = \"{id}@example.com\"\nmanagers = [\"{id}-head@example.com\"]\n"
            )
        })
        .collect()
}

pub fn ids() -> Vec<&'static str> {
    DEPARTMENTS.iter().map(|(id, _, _)| *id).collect()
}

pub fn departments() -> Vec<DepartmentRef> {
    DEPARTMENTS
        .iter()
        .map(|(id, zh, en)| DepartmentRef {
            id: (*id).to_string(),
            address: format!("{id}@example.com"),
            names: vec![(*zh).to_string(), (*en).to_string()],
        })
        .collect()
}

/// What a context borrows: departments <id>@example.com, internal domain
/// example.com, VIP bigclient.com.
pub struct World {
    pub departments: Vec<DepartmentRef>,
    pub internal: Vec<String>,
    pub vip: Vec<String>,
    pub suppliers: Vec<String>,
}

impl World {
    pub fn new() -> World {
        World {
            departments: departments(),
            internal: vec!["example.com".to_string()],
            vip: vec!["bigclient.com".to_string()],
            suppliers: Vec::new(),
        }
    }

    /// The same, with departments whose only name is their id (`name = "sales"`): the
    /// config an administrator writes who never gives display names.
    pub fn with_id_names() -> World {
        let mut world = World::new();
        for d in &mut world.departments {
            d.names = vec![d.id.clone()];
        }
        world
    }

    pub fn context(&self) -> Context<'_> {
        Context {
            departments: &self.departments,
            internal_domains: &self.internal,
            vip_customers: &self.vip,
            suppliers: &self.suppliers,
            parties: &switchboard::rules::NO_PARTIES,
            history: None,
            triage_department: "customer-service",
        }
    }
}

/// The `*.eml` files of `dir` in name order, with their file names.
pub fn corpus(dir: &Path) -> Vec<(String, Message)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let raw = std::fs::read(path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let msg = Message::parse(&raw)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, msg)
        })
        .collect()
}

/// The shipped rule files (`rules/*.toml` but the service levels), as
/// `(file name, text)` in name order, the order `RuleSet::load_dir` reads them in.
pub fn shipped_sources() -> Vec<(String, String)> {
    let dir = root().join("rules");
    let mut sources: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().into_owned();
            if name.starts_with('.') || name == "sla.toml" {
                return None;
            }
            let text = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            Some((name, text))
        })
        .collect();
    sources.sort();
    sources
}

/// `(file name, text)` pairs as `RuleSet::from_sources` takes them.
pub fn as_refs(sources: &[(String, String)]) -> Vec<(&str, &str)> {
    sources
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect()
}

// The pieces generated words are made of. Every rule gets its own product, customer,
// supplier and project names (no two rules share one), written the way such names
// appear in mail: English brand-like words, Chinese names, model numbers, order
// references; around them the ordinary vocabulary every company's rules use, and now
// and then a list of the shipped files.
const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ren", "tor", "vel", "sa", "nix", "do", "bra", "quin", "zo", "fen", "lu",
    "mar", "ti", "gor", "pa", "shu", "wex", "ly", "ost", "cer", "jun",
];
const HAN: &[&str] = &[
    "华", "达", "恒", "信", "源", "泰", "鑫", "隆", "瑞", "博", "联", "创", "科", "盛", "通", "宏",
    "海", "天", "安", "康", "美", "佳", "正", "新", "金", "光", "明", "德", "兴", "丰", "立", "远",
];
const THINGS: &[&str] = &[
    "pump",
    "valve",
    "sensor",
    "controller",
    "charger",
    "panel",
    "module",
    "bracket",
    "housing",
    "motor",
    "cable",
    "display",
    "adapter",
    "filter",
    "gasket",
    "board",
];
const THINGS_ZH: &[&str] = &[
    "水泵",
    "阀门",
    "传感器",
    "控制器",
    "充电器",
    "面板",
    "模块",
    "支架",
    "外壳",
    "电机",
    "线缆",
    "显示屏",
    "适配器",
    "滤网",
    "垫片",
    "主板",
];
const TROUBLE: &[&str] = &[
    "not working",
    "stopped working",
    "leaking",
    "overheating",
    "cracked",
    "rattling",
    "won't start",
    "keeps tripping",
    "missing parts",
    "wrong colour",
    "late again",
    "short shipped",
];
const TROUBLE_ZH: &[&str] = &[
    "不工作",
    "漏水",
    "发热",
    "开裂",
    "异响",
    "无法启动",
    "跳闸",
    "缺件",
    "颜色不对",
    "又延迟",
    "少发",
    "返修",
];
const QUIET: &[&str] = &[
    "newsletter",
    "webinar",
    "unsubscribe",
    "test mail",
    "ignore this",
    "out of office",
    "测试",
    "请忽略",
    "广告",
    "退订",
];
const SHARED_LISTS: &[&str] = &[
    "list:complaint",
    "list:delivery-trouble",
    "list:product-fault",
    "list:billing-trouble",
    "list:supplier-commerce",
    "list:urgent-words",
];
const CATEGORIES: &[(&str, &[&str])] = &[
    (
        "complaint",
        &["customer-service", "quality", "logistics", "finance"],
    ),
    ("supplier_dispute", &["procurement", "quality", "finance"]),
    (
        "collaboration_request",
        &["production", "design", "rnd", "marketing", "admin"],
    ),
];

/// A distinct made-up word for `n`: `SYLLABLES` read as digits, three or more.
fn coined(n: usize) -> String {
    let base = SYLLABLES.len();
    let mut n = n + base * base; // at least three syllables
    let mut word = String::new();
    while n > 0 {
        word.push_str(pick(SYLLABLES, n));
        n /= base;
    }
    word
}

/// A distinct made-up Chinese name for `n`, two characters or more.
fn coined_zh(n: usize) -> String {
    let base = HAN.len();
    let mut n = n + base;
    let mut word = String::new();
    while n > 0 {
        word.push_str(pick(HAN, n));
        n /= base;
    }
    word
}

fn pick<'a>(from: &[&'a str], n: usize) -> &'a str {
    from.get(n % from.len().max(1)).copied().unwrap_or("")
}

fn quoted(words: &[String]) -> String {
    let inner: Vec<String> = words.iter().map(|w| format!("{w:?}")).collect();
    format!("[{}]", inner.join(", "))
}

/// A rule file of `n` rules that no two of share a name or a distinctive word, for
/// measuring how classification scales. Six kinds of rule in turn, as a company
/// would write them over the years:
///
/// - a product line's faults: its names and model number (`any`), and in a second
///   block either the product's own fault words or a shipped list (`list:product-fault`…);
/// - a key customer: its domain in `from`, and its complaint words or `list:complaint`;
/// - a supplier: its name (`all`, the subject and body) and its own dispute words or
///   `list:supplier-commerce`, never its newsletters (`none`);
/// - a project's order references as regular expressions (`/ABC-\d{4,}/`, `/项目\s*…/`);
/// - an internal request naming a project (`sender = "internal"`, the subject);
/// - a ticket system's header (`header:X-Ticket-Queue`), or every tenth such rule a
///   priority rule instead.
///
/// Words are built from `n`, so the same `n` always gives the same file.
pub fn generated_rules(n: usize) -> String {
    let mut out = String::with_capacity(n * 400);
    for i in 0..n {
        let kind = i % 6;
        let name = coined(i);
        let zh = coined_zh(i);
        let (category, departments) = pick_category(i);
        let department = pick(departments, i / 3);
        let weight = 5 + (i * 7) % 60;
        let thing = pick(THINGS, i / 6);
        let thing_zh = pick(THINGS_ZH, i / 6);
        let trouble = pick(TROUBLE, i / 5);
        let trouble_zh = pick(TROUBLE_ZH, i / 5);
        let shared = pick(SHARED_LISTS, i / 6);
        let use_shared = i % 4 == 0;
        let code: String = name.chars().take(3).collect::<String>().to_uppercase();
        let _ = writeln!(out, "[[rule]]\nname = \"generated {i}: {name}\"");
        let _ = writeln!(
            out,
            "category = \"{category}\"\ndepartment = \"{department}\""
        );
        let _ = writeln!(out, "weight = {weight}");
        match kind {
            0 => {
                let _ = writeln!(out, "sender = \"external\"");
                let mut names = vec![
                    name.clone(),
                    format!("{name} {thing}"),
                    format!("{zh}{thing_zh}"),
                    format!("{code}-{i}"),
                    format!("{code}{i}*"),
                ];
                if i % 3 == 0 {
                    // A rule for a kind of product rather than one product line: its
                    // words are in real mail (`charger`, `充电器`).
                    names.extend([format!("{thing}*"), thing_zh.to_string()]);
                }
                let _ = writeln!(out, "  [[rule.match]]\n  any = {}", quoted(&names));
                let second = if use_shared {
                    vec![shared.to_string(), format!("{name} {trouble}")]
                } else {
                    vec![
                        trouble.to_string(),
                        format!("{thing} {trouble}"),
                        format!("{thing_zh}{trouble_zh}"),
                        trouble_zh.to_string(),
                    ]
                };
                let _ = writeln!(out, "  [[rule.match]]\n  any = {}", quoted(&second));
                let _ = writeln!(out, "  none = {}", quoted(&[pick(QUIET, i).to_string()]));
            }
            1 => {
                let _ = writeln!(out, "sender = \"external\"\npriority = \"important\"");
                let domain = format!("{name}.com");
                let _ = writeln!(
                    out,
                    "  [[rule.match]]\n  in = [\"from\"]\n  any = {}",
                    quoted(&[domain, format!("{zh}集团"), format!("{name} group")])
                );
                let words = if use_shared {
                    vec![shared.to_string()]
                } else {
                    vec![
                        format!("{zh}投诉"),
                        format!("{name} complaint"),
                        trouble.to_string(),
                        trouble_zh.to_string(),
                        "disappoint*".to_string(),
                    ]
                };
                let _ = writeln!(out, "  [[rule.match]]\n  any = {}", quoted(&words));
            }
            2 => {
                let _ = writeln!(out, "sender = \"external\"");
                let _ = writeln!(
                    out,
                    "  [[rule.match]]\n  in = [\"subject\", \"body\", \"from\"]\n  any = {}\n  all = {}",
                    quoted(&[
                        format!("{name} ltd"),
                        format!("{zh}公司"),
                        format!("{name} co*")
                    ]),
                    quoted(&[format!("{thing}s"), thing_zh.to_string()]),
                );
                let words = if use_shared {
                    vec![
                        "list:supplier-commerce".to_string(),
                        format!("{name} invoice*"),
                    ]
                } else {
                    vec![
                        format!("{name} invoice*"),
                        format!("{zh}货款"),
                        format!("{code}-PO-{i}"),
                        "price increase".to_string(),
                    ]
                };
                let _ = writeln!(out, "  [[rule.match]]\n  any = {}", quoted(&words));
                let _ = writeln!(
                    out,
                    "  none = {}",
                    quoted(&[
                        pick(QUIET, i + 1).to_string(),
                        pick(QUIET, i + 2).to_string()
                    ])
                );
            }
            3 => {
                let _ = writeln!(
                    out,
                    "any = {}",
                    quoted(&[
                        format!("/{code}-?\\d{{4,}}/"),
                        format!("/(项目|項目|project)\\s*{zh}\\s*(二期|三期|phase\\s*\\d)?/"),
                        format!("/\\b{name}[- ]?{}\\b/", i % 97),
                    ])
                );
                let _ = writeln!(
                    out,
                    "none = {}",
                    quoted(&[format!("{name} test"), pick(QUIET, i).to_string()])
                );
            }
            4 => {
                let _ = writeln!(out, "sender = \"internal\"");
                let _ = writeln!(
                    out,
                    "  [[rule.match]]\n  in = [\"subject\"]\n  any = {}",
                    quoted(&[
                        format!("{name} project"),
                        format!("项目{zh}"),
                        format!("{zh}项目"),
                        format!("{code}-{}", i % 1000),
                    ])
                );
                let asking = if use_shared {
                    vec!["list:asking".to_string()]
                } else {
                    vec![
                        "please help".to_string(),
                        "协助".to_string(),
                        format!("{name} support"),
                    ]
                };
                let _ = writeln!(out, "  [[rule.match]]\n  any = {}", quoted(&asking));
                let _ = writeln!(
                    out,
                    "  none = [\"FYI\", \"仅供参考\", {:?}]",
                    format!("{name} done")
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "in = [\"header:X-Ticket-Queue\", \"subject\"]\nany = {}",
                    quoted(&[
                        format!("queue-{name}"),
                        format!("[{code}-{i}]"),
                        format!("{zh}工单")
                    ])
                );
            }
        }
        out.push('\n');
        if kind == 5 && i % 10 == 5 {
            let _ = writeln!(
                out,
                "[[priority_rule]]\nname = \"generated priority {i}: {name}\"\npriority = \"urgent\"\n\
                 category = [\"complaint\"]\nany = {}\nall = {}\n",
                quoted(&[
                    format!("{name} recall"),
                    format!("{zh}召回"),
                    format!("{name}-{i} safety*")
                ]),
                quoted(&[thing.to_string()]),
            );
        }
    }
    out
}

fn pick_category(i: usize) -> (&'static str, &'static [&'static str]) {
    let at = match i % 6 {
        0 | 1 | 3 => 0,
        2 => 1,
        4 => 2,
        _ => i / 6 % CATEGORIES.len(),
    };
    CATEGORIES
        .get(at)
        .copied()
        .unwrap_or(("complaint", &["customer-service"]))
}

/// A labelled message's category and department (its `expected.toml` entry; the
/// priority and the note are not scored here).
#[derive(Debug, serde::Deserialize)]
pub struct Labels {
    pub category: String,
    pub department: String,
}

/// How a batch fared with one config's department names.
pub struct Score {
    pub category: usize,
    pub department: usize,
    pub both: usize,
    /// One line per message not fully right: what was wanted, what came, which rules.
    pub misses: Vec<String>,
}

/// Classifies every message of a labelled batch and counts what is right.
pub fn score(
    rules: &RuleSet,
    messages: &[(String, Message)],
    labels: &std::collections::BTreeMap<String, Labels>,
    world: &World,
) -> Score {
    let ctx = world.context();
    let mut score = Score {
        category: 0,
        department: 0,
        both: 0,
        misses: Vec::new(),
    };
    for (name, msg) in messages {
        let want = &labels[name];
        let c = rules.classify(msg, &ctx);
        let category = c.category.as_str() == want.category;
        let department = c.department == want.department;
        score.category += usize::from(category);
        score.department += usize::from(department);
        score.both += usize::from(category && department);
        if !(category && department) {
            score.misses.push(format!(
                "  {name}: want {} / {}, got {} / {} ({:?})",
                want.category,
                want.department,
                c.category.as_str(),
                c.department,
                c.rules
            ));
        }
    }
    score
}
