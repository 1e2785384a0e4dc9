//! A realistic backlog for a shared company mailbox, generated from a seed: Chinese
//! and English, plain text, HTML-only and multipart/alternative, UTF-8 and GBK,
//! base64, quoted-printable and 8bit bodies, the header block a real delivery
//! carries (Received chain, DKIM, Authentication-Results), and 10% of messages with
//! an attachment whose size is log-uniform between 100 KB and 5 MB (file sizes are
//! spread on a log scale; a uniform spread would average 2.5 MB, which no shared
//! mailbox sees).
//!
//! The mix of kinds follows what the shipped rules expect: complaints, supplier
//! disputes, collaboration requests from colleagues, enquiries, newsletters,
//! auto-replies and follow-ups that quote an earlier message.

use std::fmt::Write as _;

/// splitmix64: small, fast, and the same stream on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Complaint,
    Supplier,
    Collaboration,
    Enquiry,
    Newsletter,
    AutoReply,
    FollowUp,
    Thanks,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lang {
    Zh,
    En,
}

#[derive(Clone, Copy)]
enum Shape {
    Plain,
    Html,
    Alternative,
}

/// One generated message and what went into it, for the summary line.
pub struct Generated {
    pub raw: Vec<u8>,
    pub attachment: bool,
}

pub struct Options {
    /// Share of messages with an attachment (0.10 by default).
    pub attachment_share: f64,
    pub attachment_min: usize,
    pub attachment_max: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            attachment_share: 0.10,
            attachment_min: 100 * 1024,
            attachment_max: 5 * 1024 * 1024,
        }
    }
}

/// The `i`-th message of the backlog with this seed.
pub fn message(seed: u64, i: usize, opts: &Options) -> Generated {
    let mut rng = Rng::new(seed ^ (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let kind = {
        let r = rng.unit();
        match r {
            r if r < 0.34 => Kind::Complaint,
            r if r < 0.48 => Kind::Supplier,
            r if r < 0.56 => Kind::Collaboration,
            r if r < 0.70 => Kind::Enquiry,
            r if r < 0.80 => Kind::Newsletter,
            r if r < 0.83 => Kind::AutoReply,
            r if r < 0.88 => Kind::FollowUp,
            _ => Kind::Thanks,
        }
    };
    let lang = if rng.chance(0.55) { Lang::Zh } else { Lang::En };
    // Chinese mail from older systems still comes in GBK; about 40% of it here.
    let gbk = lang == Lang::Zh && rng.chance(0.4);
    let shape = match rng.unit() {
        r if r < 0.5 => Shape::Plain,
        r if r < 0.62 => Shape::Html,
        _ => Shape::Alternative,
    };
    let shape = if kind == Kind::Newsletter {
        Shape::Alternative
    } else {
        shape
    };
    let attachment = kind != Kind::AutoReply && rng.chance(opts.attachment_share);

    let (from_name, from_addr) = sender(&mut rng, i, kind, lang);
    let subject = subject(&mut rng, kind, lang, i);
    let paragraphs = body(&mut rng, kind, lang);
    let message_id = format!("bench.{seed:x}.{i}@{}", domain_of(&from_addr));

    let mut h = String::with_capacity(4096);
    received_chain(&mut h, &mut rng, &from_addr, i);
    let _ = write!(
        h,
        "From: {}\r\nTo: =?UTF-8?B?{}?= <support@example.com>\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n",
        display(&from_name, &from_addr, gbk),
        b64(("客户服务部 Customer Service").as_bytes()),
        encoded_word(&subject, gbk, &mut rng),
        date(i),
    );
    if kind == Kind::FollowUp && i > 0 {
        let earlier = rng.below(i);
        let _ = write!(
            h,
            "In-Reply-To: <bench.{seed:x}.{earlier}@{domain}>\r\nReferences: <bench.{seed:x}.{earlier}@{domain}>\r\n",
            domain = domain_of(&from_addr)
        );
    }
    match kind {
        Kind::Newsletter => {
            let _ = write!(
                h,
                "List-Unsubscribe: <mailto:unsubscribe-{i}@news.example.net>, <https://news.example.net/u/{:x}>\r\nList-Id: <weekly.news.example.net>\r\nPrecedence: bulk\r\n",
                rng.next()
            );
        }
        Kind::AutoReply => {
            h.push_str("Auto-Submitted: auto-replied\r\nX-Autoreply: yes\r\n");
        }
        _ => {}
    }
    h.push_str("X-Mailer: ");
    h.push_str(rng.pick(&[
        "Microsoft Outlook 16.0",
        "Foxmail 7.2.25.228[cn]",
        "Apple Mail (2.3774.300.61)",
        "Coremail Webmail Server Version 2023.2",
        "Mozilla Thunderbird 128.3",
    ]));
    h.push_str("\r\n");

    let text = paragraphs.join("\r\n\r\n");
    let html = html_of(&paragraphs);
    let charset = if gbk { "GBK" } else { "UTF-8" };
    let boundary_a = format!("----=_Alt_{:x}", rng.next());
    let boundary_m = format!("----=_Mix_{:x}", rng.next());

    let text_part = |rng: &mut Rng, subtype: &str, content: &str| -> Vec<u8> {
        let (cte, encoded) = encode_body(rng, content, gbk);
        let mut part = format!(
            "Content-Type: text/{subtype}; charset=\"{charset}\"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
        )
        .into_bytes();
        part.extend_from_slice(&encoded);
        part.extend_from_slice(b"\r\n");
        part
    };
    let inner = match shape {
        Shape::Plain => text_part(&mut rng, "plain", &text),
        Shape::Html => text_part(&mut rng, "html", &html),
        Shape::Alternative => {
            let mut alt = format!(
                "Content-Type: multipart/alternative; boundary=\"{boundary_a}\"\r\n\r\n--{boundary_a}\r\n"
            )
            .into_bytes();
            alt.extend(text_part(&mut rng, "plain", &text));
            alt.extend_from_slice(format!("--{boundary_a}\r\n").as_bytes());
            alt.extend(text_part(&mut rng, "html", &html));
            alt.extend_from_slice(format!("--{boundary_a}--\r\n").as_bytes());
            alt
        }
    };
    let mut raw = h.into_bytes();
    if attachment {
        let size = log_uniform(&mut rng, opts.attachment_min, opts.attachment_max);
        let (name, ctype) = rng.pick(&[
            ("现场照片.jpg", "image/jpeg"),
            ("invoice-scan.pdf", "application/pdf"),
            ("检测报告.pdf", "application/pdf"),
            ("photos.zip", "application/zip"),
            (
                "order-list.xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
        ]);
        raw.extend_from_slice(
            format!(
                "Content-Type: multipart/mixed; boundary=\"{boundary_m}\"\r\n\r\nThis is a multi-part message in MIME format.\r\n\r\n--{boundary_m}\r\n"
            )
            .as_bytes(),
        );
        raw.extend(inner);
        raw.extend_from_slice(
            format!(
                "--{boundary_m}\r\nContent-Type: {ctype}; name=\"=?UTF-8?B?{n}?=\"\r\nContent-Disposition: attachment; filename=\"=?UTF-8?B?{n}?=\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
                n = b64(name.as_bytes()),
            )
            .as_bytes(),
        );
        let mut bytes = vec![0u8; size];
        for chunk in bytes.chunks_mut(8) {
            let r = rng.next().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        raw.extend_from_slice(b64_lines(&bytes).as_bytes());
        raw.extend_from_slice(format!("\r\n--{boundary_m}--\r\n").as_bytes());
    } else {
        raw.extend(inner);
    }
    Generated { raw, attachment }
}

fn log_uniform(rng: &mut Rng, min: usize, max: usize) -> usize {
    let (lo, hi) = ((min.max(1) as f64).ln(), (max.max(min + 1) as f64).ln());
    (lo + (hi - lo) * rng.unit()).exp() as usize
}

fn domain_of(addr: &str) -> &str {
    addr.rsplit_once('@').map_or("example.net", |(_, d)| d)
}

const ZH_SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
];
const ZH_GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "建华", "志强",
];
const EN_FIRST: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "Sarah",
    "Thomas",
    "Karen",
    "Daniel",
    "Nancy",
    "Paul",
];
const EN_LAST: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson",
    "Anderson", "Taylor", "Moore", "Clark", "Lewis",
];
const COMPANIES: &[&str] = &[
    "keji-tech.cn",
    "huayuan-materials.com",
    "163.com",
    "qq.com",
    "126.com",
    "gmail.com",
    "outlook.com",
    "bigclient.com",
    "northwind.example",
    "contoso.example",
    "sina.com",
    "foxmail.com",
];

fn sender(rng: &mut Rng, i: usize, kind: Kind, lang: Lang) -> (String, String) {
    let name = match lang {
        Lang::Zh => format!("{}{}", rng.pick(ZH_SURNAMES), rng.pick(ZH_GIVEN)),
        Lang::En => format!("{} {}", rng.pick(EN_FIRST), rng.pick(EN_LAST)),
    };
    // Every person writes from an address of their own: the hourly acknowledgement
    // limit per sender is not what this backlog measures.
    let addr = match kind {
        Kind::Collaboration => format!("staff{i}@example.com"),
        Kind::Newsletter => format!("news{}@news.example.net", i % 40),
        Kind::AutoReply => format!("noreply{i}@{}", rng.pick(COMPANIES)),
        Kind::Supplier => format!("sales{i}@supplier{}.com.cn", i % 97),
        _ => format!("user{i}@{}", rng.pick(COMPANIES)),
    };
    (name, addr)
}

fn display(name: &str, addr: &str, gbk: bool) -> String {
    if name.is_ascii() {
        format!("\"{name}\" <{addr}>")
    } else if gbk {
        format!("=?GBK?B?{}?= <{addr}>", b64(&gbk_bytes(name)))
    } else {
        format!("=?UTF-8?B?{}?= <{addr}>", b64(name.as_bytes()))
    }
}

fn encoded_word(text: &str, gbk: bool, rng: &mut Rng) -> String {
    if text.is_ascii() {
        return text.to_string();
    }
    if gbk {
        return format!("=?GB2312?B?{}?=", b64(&gbk_bytes(text)));
    }
    if rng.chance(0.3) {
        // Quoted-printable encoded word, as some webmail sends it.
        let mut out = String::from("=?UTF-8?Q?");
        for b in text.as_bytes() {
            match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => out.push(*b as char),
                b' ' => out.push('_'),
                _ => {
                    let _ = write!(out, "={b:02X}");
                }
            }
        }
        out.push_str("?=");
        return out;
    }
    format!("=?UTF-8?B?{}?=", b64(text.as_bytes()))
}

fn gbk_bytes(text: &str) -> Vec<u8> {
    encoding_rs::GBK.encode(text).0.into_owned()
}

fn date(i: usize) -> String {
    let minute = i % 60;
    let hour = (8 + i / 60) % 24;
    let day = 2 + (i / 1440) % 26;
    format!("Mon, {day:02} Nov 2026 {hour:02}:{minute:02}:17 +0800")
}

fn received_chain(h: &mut String, rng: &mut Rng, from: &str, i: usize) {
    let domain = domain_of(from);
    let _ = write!(
        h,
        "Return-Path: <{from}>\r\nDelivered-To: support@example.com\r\n"
    );
    for hop in 0..3 {
        let _ = write!(
            h,
            "Received: from mx{hop}.{domain} (mx{hop}.{domain} [203.0.113.{}])\r\n\tby mail.example.com (Postfix) with ESMTPS id {:X}\r\n\tfor <support@example.com>; Mon, 2 Nov 2026 09:{:02}:{:02} +0800 (CST)\r\n",
            rng.below(250) + 1,
            rng.next() & 0x00FF_FFFF_FFFF,
            i % 60,
            hop * 7
        );
    }
    let _ = write!(
        h,
        "Authentication-Results: mail.example.com;\r\n\tdkim=pass header.d={domain} header.s=s2026 header.b=\"{:x}\";\r\n\tspf=pass (mail.example.com: domain of {from} designates 203.0.113.7 as permitted sender) smtp.mailfrom={from};\r\n\tdmarc=pass (p=NONE sp=NONE dis=NONE) header.from={domain}\r\n",
        rng.next() & 0xFFFF_FFFF
    );
    let mut sig = [0u8; 192];
    for chunk in sig.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next().to_le_bytes());
    }
    let _ = write!(
        h,
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=s2026;\r\n\tt=1793600000; bh={};\r\n\th=From:To:Subject:Date:Message-ID:MIME-Version:Content-Type;\r\n\tb={}\r\n",
        b64(&sig[..32]),
        b64_wrapped(&sig, "\r\n\t ")
    );
}

const ZH_COMPLAINT_SUBJECTS: &[&str] = &[
    "投诉：订单{n}延迟交付，至今未到货",
    "产品质量问题，要求退换货（订单{n}）",
    "发票金额有误，重复扣款",
    "对客服态度非常不满",
    "收到的货物破损严重，请尽快处理",
    "设备频繁死机，影响生产",
    "退款迟迟未到账",
    "紧急：充电器冒烟，存在安全隐患",
];
const EN_COMPLAINT_SUBJECTS: &[&str] = &[
    "Complaint: order {n} still not delivered",
    "Defective units in shipment {n}",
    "Overcharged on invoice {n}",
    "Refund not received after 3 weeks",
    "Very unhappy with your support team",
    "URGENT: wrong items delivered, production stopped",
    "Broken screen on arrival",
];
const ZH_SUPPLIER_SUBJECTS: &[&str] = &[
    "关于采购订单PO-{n}的价格争议",
    "贵司付款逾期，请尽快安排（PO-{n}）",
    "批次{n}被判不合格，我司有异议",
    "关于原材料涨价的通知",
];
const EN_SUPPLIER_SUBJECTS: &[&str] = &[
    "Price dispute on purchase order PO-{n}",
    "Overdue payment for invoice {n}",
    "Lot {n} rejection - our response",
    "Notice of price increase from January",
];
const ZH_COLLAB_SUBJECTS: &[&str] = &[
    "跨部门协作申请：季度新品推广项目",
    "协作申请：展会物料准备（需设计部支持）",
    "请法务部协助审核合同{n}",
];
const EN_COLLAB_SUBJECTS: &[&str] = &[
    "Collaboration request: Q3 product launch",
    "Request for support from Design: trade show booth",
    "Legal review needed for contract {n}",
];
const ZH_ENQUIRY_SUBJECTS: &[&str] = &[
    "咨询产品价格和交货期",
    "请问是否支持开具增值税专用发票",
    "经销商合作咨询",
    "产品保修政策咨询",
];
const EN_ENQUIRY_SUBJECTS: &[&str] = &[
    "Question about bulk pricing",
    "Do you ship to Germany?",
    "Warranty question for model X-{n}",
    "Request for a quotation",
];
const NEWSLETTER_SUBJECTS: &[&str] = &[
    "本周行业资讯 | 第{n}期",
    "Weekly digest: what's new in logistics",
    "限时优惠：全场五折起",
    "Webinar invitation: supply chain in 2027",
];
const AUTO_SUBJECTS: &[&str] = &[
    "自动回复：我已休假",
    "Out of office: back on Monday",
    "Automatic reply: Re: your message",
];
const THANKS_SUBJECTS: &[&str] = &[
    "谢谢，问题已经解决了",
    "Thanks for the quick replacement",
    "收到，谢谢",
];

fn subject(rng: &mut Rng, kind: Kind, lang: Lang, i: usize) -> String {
    let list = match (kind, lang) {
        (Kind::Complaint, Lang::Zh) => ZH_COMPLAINT_SUBJECTS,
        (Kind::Complaint, Lang::En) => EN_COMPLAINT_SUBJECTS,
        (Kind::Supplier, Lang::Zh) => ZH_SUPPLIER_SUBJECTS,
        (Kind::Supplier, Lang::En) => EN_SUPPLIER_SUBJECTS,
        (Kind::Collaboration, Lang::Zh) => ZH_COLLAB_SUBJECTS,
        (Kind::Collaboration, Lang::En) => EN_COLLAB_SUBJECTS,
        (Kind::Enquiry, Lang::Zh) => ZH_ENQUIRY_SUBJECTS,
        (Kind::Enquiry, Lang::En) => EN_ENQUIRY_SUBJECTS,
        (Kind::Newsletter, _) => NEWSLETTER_SUBJECTS,
        (Kind::AutoReply, _) => AUTO_SUBJECTS,
        (Kind::Thanks, _) => THANKS_SUBJECTS,
        (Kind::FollowUp, Lang::Zh) => ZH_COMPLAINT_SUBJECTS,
        (Kind::FollowUp, Lang::En) => EN_COMPLAINT_SUBJECTS,
    };
    let s = rng
        .pick(list)
        .replace("{n}", &format!("{}", 10_000 + (i * 7919) % 90_000));
    match kind {
        Kind::FollowUp if lang == Lang::Zh => format!("回复：{s}"),
        Kind::FollowUp => format!("Re: {s}"),
        _ => s,
    }
}

const ZH_SENTENCES: &[&str] = &[
    "我司于上月采购的一批设备，原定本周一到货，至今仍未收到，严重影响了项目进度。",
    "收到货物后发现外包装有明显挤压痕迹，打开后有三台设备屏幕破裂。",
    "我们已经多次联系贵司客服，但一直没有得到明确答复，对此非常不满。",
    "请贵司尽快核实情况，并告知具体的处理方案和时间安排。",
    "发票上的金额与合同约定不符，多收了约两千元，请核对后重新开具。",
    "设备在使用过程中频繁死机，重启后问题依旧，已经影响到正常生产。",
    "如果本周内仍无法解决，我们将考虑通过法律途径维护自身权益。",
    "附件是现场照片和订单截图，供贵司参考。",
    "按照双方签订的合同，贵司应在三十天内完成付款，目前已逾期两周。",
    "该批次原材料经我司复检合格，贵司判定不合格的依据请提供检测报告。",
    "市场部计划在下月举办新品发布会，需要设计部协助完成海报和展台设计。",
    "请各部门在本周五前确认职责分工和时间节点。",
    "我们是一家位于深圳的电子产品经销商，希望了解贵司产品的批发价格。",
    "请问贵司产品是否提供两年保修，保修期内维修是否收费？",
    "非常感谢贵司的快速处理，新的设备已经收到，一切正常。",
    "另外，请在回复时附上订单编号，方便我们内部跟进。",
    "我们对贵司的产品一直比较满意，但这次的服务确实令人失望。",
    "快递员态度恶劣，直接把包裹扔在门口，也没有电话通知。",
];
const EN_SENTENCES: &[&str] = &[
    "We ordered 100 units last month and they were due on Monday, but nothing has arrived yet.",
    "When the pallet arrived the boxes were crushed and three of the screens were cracked.",
    "I have contacted your support line several times and nobody has given me a clear answer.",
    "Please look into this as soon as possible and let me know what you will do and by when.",
    "The amount on the invoice does not match the contract; we were charged about 300 USD too much.",
    "The controller keeps rebooting during normal operation and it is holding up our production line.",
    "If this is not resolved this week we will have to consider other options, including legal action.",
    "I have attached photos of the damage and a screenshot of the order for your reference.",
    "Under our agreement payment was due within 30 days; it is now two weeks overdue.",
    "Our own inspection found the lot within specification, so please send the test report behind the rejection.",
    "Marketing is planning a launch event next month and needs Design to prepare the booth and posters.",
    "Could each department confirm its tasks and milestones by Friday?",
    "We are a distributor based in Hamburg and would like to know your wholesale prices.",
    "Does the warranty cover parts and labour for two years, and is there a charge for repairs?",
    "Thank you for the quick replacement; the new unit arrived yesterday and works perfectly.",
    "Please quote the order number in your reply so that we can follow up internally.",
    "We have generally been happy with your products, but this time the service was disappointing.",
    "The courier was rude and left the parcel at the door without calling.",
];

fn body(rng: &mut Rng, kind: Kind, lang: Lang) -> Vec<String> {
    let pool = match lang {
        Lang::Zh => ZH_SENTENCES,
        Lang::En => EN_SENTENCES,
    };
    let (greeting, closing) = match lang {
        Lang::Zh => ("您好：", "此致\r\n敬礼"),
        Lang::En => ("Hello,", "Best regards,"),
    };
    let mut paragraphs = vec![greeting.to_string()];
    let count = match kind {
        Kind::AutoReply | Kind::Thanks => 1 + rng.below(2),
        Kind::Newsletter => 12 + rng.below(20),
        _ => 3 + rng.below(8),
    };
    for _ in 0..count {
        let sentences = 1 + rng.below(4);
        let mut p = String::new();
        for _ in 0..sentences {
            if lang == Lang::En && !p.is_empty() {
                p.push(' ');
            }
            p.push_str(rng.pick(pool));
        }
        paragraphs.push(p);
    }
    paragraphs.push(closing.to_string());
    paragraphs.push(match lang {
        Lang::Zh => format!(
            "{}\r\n采购部 | 电话：0755-{:08}\r\n地址：广东省深圳市南山区科技园",
            rng.pick(ZH_SURNAMES),
            rng.next() % 100_000_000
        ),
        Lang::En => format!(
            "{}\r\nPurchasing | +49 40 {:07}",
            rng.pick(EN_FIRST),
            rng.next() % 10_000_000
        ),
    });
    if kind == Kind::FollowUp {
        // The quoted history a reply usually carries.
        let quoted: Vec<String> = (0..4 + rng.below(6))
            .map(|_| format!("> {}", rng.pick(pool)))
            .collect();
        paragraphs.push(quoted.join("\r\n"));
    }
    paragraphs
}

fn html_of(paragraphs: &[String]) -> String {
    let mut html = String::from(
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Type\" content=\"text/html\"><style>p{margin:0 0 12px 0;font-family:Arial,'Microsoft YaHei',sans-serif;font-size:14px}</style></head><body><div class=\"WordSection1\">",
    );
    for p in paragraphs {
        html.push_str("<p class=\"MsoNormal\"><span style=\"font-size:10.5pt\">");
        for c in p.chars() {
            match c {
                '<' => html.push_str("&lt;"),
                '>' => html.push_str("&gt;"),
                '&' => html.push_str("&amp;"),
                '\r' => {}
                '\n' => html.push_str("<br>\r\n"),
                c => html.push(c),
            }
        }
        html.push_str("</span></p>\r\n");
    }
    html.push_str("</div></body></html>");
    html
}

/// Encodes a text body the way mail clients do: base64, quoted-printable, or plain
/// 8bit (GBK bytes as they are, as older Chinese clients send them).
fn encode_body(rng: &mut Rng, text: &str, gbk: bool) -> (&'static str, Vec<u8>) {
    let bytes = if gbk {
        gbk_bytes(text)
    } else {
        text.as_bytes().to_vec()
    };
    match rng.below(3) {
        0 => ("base64", b64_lines(&bytes).into_bytes()),
        1 => ("quoted-printable", qp(&bytes).into_bytes()),
        _ => ("8bit", bytes),
    }
}

fn qp(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    let mut line = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            out.push_str("\r\n");
            line = 0;
            i += 2;
            continue;
        }
        let piece = if (33..=126).contains(&b) && b != b'=' || b == b' ' {
            (b as char).to_string()
        } else {
            format!("={b:02X}")
        };
        if line + piece.len() > 75 {
            out.push_str("=\r\n");
            line = 0;
        }
        line += piece.len();
        out.push_str(&piece);
        i += 1;
    }
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn b64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            out.push(if k <= chunk.len() {
                B64[((n >> (18 - 6 * k)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// Base64 in lines of 76 characters (RFC 2045 §6.8).
fn b64_lines(bytes: &[u8]) -> String {
    b64_wrapped(bytes, "\r\n")
}

fn b64_wrapped(bytes: &[u8], sep: &str) -> String {
    let mut out = String::with_capacity(bytes.len() / 3 * 4 + bytes.len() / 57 * 2 + 8);
    for (i, chunk) in bytes.chunks(57).enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(&b64(chunk));
    }
    out
}
