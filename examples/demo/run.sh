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
cat > "$here/state/inbox/new/1764470400.reply.demo" <<MAIL
From: 物流部 <logistics@example.com>
To: support@example.com
Subject: Re: [SB-2026-000001] 投诉
Message-ID: <demo-reply-1@example.com>
In-Reply-To: $parent
References: $parent
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Status: analysed

李先生您好：延迟是因为原材料短缺，我们已安排加急生产，明日17点前送达。
MAIL
echo
echo "== Monday 10:40: logistics replies with \"Status: analysed\" and an answer for the customer =="
SWITCHBOARD_LOG=warn "$bin" run --config "$config" --once --now 2026-11-30T10:40:00+08:00
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
