//! Chinese or English, by `Accept-Language` (RFC 9110 §12.5.4): the highest-weighted
//! tag that is `zh…` or `en…` wins; neither, Chinese (the company's language). The
//! words of the pages are here, one table per language, handed to the templates as
//! `t`.

use serde_json::Value;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
}

pub fn choose(accept_language: Option<&str>) -> Lang {
    let Some(header) = accept_language else {
        return Lang::Zh;
    };
    let mut best: Option<(f32, Lang)> = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let lang = if tag == "zh" || tag.starts_with("zh-") {
            Lang::Zh
        } else if tag == "en" || tag.starts_with("en-") {
            Lang::En
        } else {
            continue;
        };
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, lang));
        }
    }
    best.map_or(Lang::Zh, |(_, l)| l)
}

const EN: &[(&str, &str)] = &[
    ("title", "Switchboard"),
    ("overview", "Overview"),
    ("at_risk", "At risk"),
    ("cases", "Cases"),
    ("satisfaction", "Satisfaction"),
    ("health", "Health"),
    ("period", "Period"),
    ("from", "From"),
    ("to", "To"),
    ("show", "Show"),
    ("this_week", "This week"),
    ("last_week", "Last week"),
    ("last_30", "Last 30 days"),
    ("department", "Department"),
    ("milestone", "Milestone"),
    ("met", "Met"),
    ("missed", "Missed"),
    ("pending", "Pending"),
    ("pct_met", "% met"),
    ("median", "Median"),
    ("p90", "90th pct."),
    ("minutes", "min"),
    ("csv", "Download CSV"),
    ("none", "Nothing in this period."),
    ("due", "Due"),
    ("left", "Business time left"),
    ("overdue_by", "Overdue by"),
    ("case", "Case"),
    ("subject", "Subject"),
    ("sender", "Sender"),
    ("status", "Status"),
    ("priority", "Priority"),
    ("opened", "Opened"),
    ("search", "Search"),
    ("search_hint", "number, subject or sender"),
    ("shown", "shown"),
    ("of", "of"),
    ("deadlines", "Deadlines"),
    ("started", "Started"),
    ("done", "Done"),
    ("state", "State"),
    ("reminders", "Reminders and escalations"),
    ("fire_at", "At"),
    ("outcome", "Outcome"),
    ("messages_in", "Messages in"),
    ("mail_out", "Mail out"),
    ("timeline", "Timeline"),
    ("received", "Received"),
    ("kind", "Kind"),
    ("recipients", "To"),
    ("created", "Written"),
    ("detail", "Detail"),
    ("follows", "Follows case"),
    ("very_satisfied", "Very satisfied"),
    ("satisfied", "Satisfied"),
    ("neutral", "Neutral"),
    ("dissatisfied", "Dissatisfied"),
    ("no_answer", "No answer"),
    ("answers", "Answers"),
    ("mailbox_ok", "Mailbox last read"),
    ("never", "not yet"),
    ("outbox_waiting", "Outbox waiting"),
    ("outbox_failed", "Outbox failed"),
    ("outbox_oldest", "Oldest waiting since"),
    ("quarantined", "Quarantined messages"),
    ("alerts", "Last alerts"),
    ("raised", "Raised"),
    ("cleared", "cleared"),
    (
        "read_only",
        "Read-only view: cases change by the department's reply mail.",
    ),
    ("signed_in", "Signed in as"),
    ("working_hours", "working hours"),
    ("forbidden", "This case belongs to another department."),
    ("not_found", "No such page or case."),
    ("bad_request", "Bad request"),
    ("calendar", "Business calendar"),
    ("delay", "Delay"),
];

const ZH: &[(&str, &str)] = &[
    ("title", "Switchboard 工单总览"),
    ("overview", "总览"),
    ("at_risk", "临期与超时"),
    ("cases", "工单"),
    ("satisfaction", "满意度"),
    ("health", "运行状况"),
    ("period", "期间"),
    ("from", "从"),
    ("to", "到"),
    ("show", "查看"),
    ("this_week", "本周"),
    ("last_week", "上周"),
    ("last_30", "近 30 天"),
    ("department", "部门"),
    ("milestone", "节点"),
    ("met", "按时"),
    ("missed", "超时"),
    ("pending", "进行中"),
    ("pct_met", "达标率"),
    ("median", "中位数"),
    ("p90", "90 分位"),
    ("minutes", "分钟"),
    ("csv", "下载 CSV"),
    ("none", "此期间没有记录。"),
    ("due", "截止"),
    ("left", "剩余工作时间"),
    ("overdue_by", "已超时"),
    ("case", "编号"),
    ("subject", "主题"),
    ("sender", "发件人"),
    ("status", "状态"),
    ("priority", "优先级"),
    ("opened", "创建"),
    ("search", "搜索"),
    ("search_hint", "编号、主题或发件人"),
    ("shown", "条已显示"),
    ("of", "共"),
    ("deadlines", "时限"),
    ("started", "开始"),
    ("done", "完成"),
    ("state", "状态"),
    ("reminders", "提醒与升级"),
    ("fire_at", "时间"),
    ("outcome", "结果"),
    ("messages_in", "收到的邮件"),
    ("mail_out", "发出的邮件"),
    ("timeline", "经过"),
    ("received", "收到"),
    ("kind", "类型"),
    ("recipients", "收件人"),
    ("created", "写入"),
    ("detail", "详情"),
    ("follows", "接续工单"),
    ("very_satisfied", "非常满意"),
    ("satisfied", "满意"),
    ("neutral", "一般"),
    ("dissatisfied", "不满意"),
    ("no_answer", "未回复"),
    ("answers", "回复数"),
    ("mailbox_ok", "邮箱最近读取"),
    ("never", "尚无"),
    ("outbox_waiting", "待发邮件"),
    ("outbox_failed", "发送失败"),
    ("outbox_oldest", "最早待发"),
    ("quarantined", "隔离的邮件"),
    ("alerts", "最近告警"),
    ("raised", "发出"),
    ("cleared", "已解除"),
    ("read_only", "只读视图：工单由部门回复邮件更新。"),
    ("signed_in", "当前用户"),
    ("working_hours", "工作时间"),
    ("forbidden", "此工单属于其他部门。"),
    ("not_found", "没有这个页面或工单。"),
    ("bad_request", "请求有误"),
    ("calendar", "工作日历"),
    ("delay", "延期"),
];

pub fn texts(lang: Lang) -> Value {
    let table = match lang {
        Lang::En => EN,
        Lang::Zh => ZH,
    };
    Value::Object(
        table
            .iter()
            .map(|(k, v)| ((*k).to_string(), Value::String((*v).to_string())))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_by_weight() {
        assert_eq!(choose(None), Lang::Zh);
        assert_eq!(choose(Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(choose(Some("fr, en;q=0.5, zh-CN;q=0.8")), Lang::Zh);
        assert_eq!(choose(Some("de")), Lang::Zh);
        assert_eq!(choose(Some("zh;q=0, en")), Lang::En);
    }

    #[test]
    fn both_languages_have_the_same_words() {
        let (zh, en) = (texts(Lang::Zh), texts(Lang::En));
        let keys = |v: &Value| {
            let mut k: Vec<String> = v
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .collect();
            k.sort();
            k
        };
        assert_eq!(keys(&zh), keys(&en));
    }
}
