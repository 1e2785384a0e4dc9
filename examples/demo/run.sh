#!/usr/bin/env bash
# The demo: takes in the sample mailbox in examples/demo/inbox (Chinese and English,
# a GBK-encoded complaint, an auto-reply, a newsletter, a follow-up, garbage bytes),
# opens and routes cases, writes the outgoing mail to examples/demo/state/outbox; then
# a department answers by email and the clock moves on to the first missed deadlines.
# Shows what happened at each step. Needs only Rust; runs again from scratch each time.
set -euo pipefail
# --serve: at the end, keep the daemon running with the web view on loopback.
serve=0
[ "${1:-}" = "--serve" ] && serve=1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/../.."
cargo build --quiet --release
bin=target/release/switchboard
config="$here/switchboard.toml"

rm -rf "$here/state"
mkdir -p "$here/state"
cp -r "$here/inbox" "$here/state/inbox"

# The demo runs on a fixed clock so that it shows the same deadlines whenever it runs:
# Monday 30 November 2026, from 10:00 in Shanghai.
"$bin" check --config "$config"
echo
echo "== Monday 10:00: taking in the demo mailbox =="
SWITCHBOARD_LOG=warn "$bin" run --config "$config" --once --now 2026-11-30T10:00:00+08:00
echo
echo "== Cases =="
"$bin" cases --config "$config"

# Logistics answers the late-delivery complaint by replying to the routed mail, as a
# mail client would: In-Reply-To names the routed mail, whose Message-ID carries the
# reply token.
routed=$(grep -l "^To: .*logistics@example.com" "$here"/state/outbox/new/* | xargs grep -l "SB-2026-000001" | head -1)
parent=$(grep -m1 -i "^Message-ID:" "$routed" | sed 's/^[^:]*: *//' | tr -d '\r')
# The reply carries the department's report as a PDF with a Chinese name, and quotes
# the routed mail below its text, as Outlook does: the customer gets the report, not
# the quote.
report=$(printf '%%PDF-1.4\n%% 整改报告 SB-2026-000001: 原材料短缺，已加急生产，明日17点前送达。\n%%%%EOF\n' | base64 -w 76)
cat > "$here/state/inbox/new/1764470400.reply.demo" <<MAIL
From: 物流部 <logistics@example.com>
To: support@example.com
Subject: Re: [SB-2026-000001] 投诉
Message-ID: <demo-reply-1@example.com>
In-Reply-To: $parent
References: $parent
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="demo-reply"

--demo-reply
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Status: analysed

李先生您好：延迟是因为原材料短缺，我们已安排加急生产，明日17点前送达。整改报告见附件。

-----原始邮件-----
发件人: 客户服务部 Customer Service
发送时间: 2026年11月30日 10:00
主题: 新案件
--demo-reply
Content-Type: application/pdf; name="=?UTF-8?B?$(printf '整改报告.pdf' | base64 -w 0)?="
Content-Disposition: attachment; filename*=UTF-8''%E6%95%B4%E6%94%B9%E6%8A%A5%E5%91%8A.pdf
Content-Transfer-Encoding: base64

$report
--demo-reply--
MAIL
echo "== Monday 10:40: logistics replies with \"Status: analysed\", an answer for the customer and a PDF =="
SWITCHBOARD_LOG=warn "$bin" run --config "$config" --once --now 2026-11-30T10:40:00+08:00
relay=$(grep -l "^Auto-Submitted: no" "$here"/state/outbox/new/* | head -1)
echo "The relay to the customer ($relay) is text and HTML with the attachment:"
grep -E "^(Content-Type: (multipart|text|application)|Content-Disposition| filename| name)" "$relay" | sed 's/^/  /' 
echo
echo "== Monday 12:05: the other complaints' 2-hour analysis deadlines have passed =="
SWITCHBOARD_LOG=warn "$bin" run --config "$config" --once --now 2026-11-30T12:05:00+08:00
echo
echo "== The timeline of SB-2026-000001 =="
"$bin" cases --config "$config" show SB-2026-000001 --now 2026-11-30T12:05:00+08:00
echo
echo "== Outgoing mail (one file each in examples/demo/state/outbox/new) =="
"$bin" outbox --config "$config"
echo
if [ "$serve" -eq 1 ]; then
    echo "== The web view: http://127.0.0.1:8025/ (loopback, no users file: you are the admin). Ctrl-C stops it. =="
    SWITCHBOARD_LOG=warn exec "$bin" run --config "$config" --now 2026-11-30T12:05:00+08:00
else
    echo "The web view of these cases: examples/demo/run.sh --serve, then open http://127.0.0.1:8025/"
fi
