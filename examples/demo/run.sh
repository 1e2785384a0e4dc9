#!/usr/bin/env bash
# The demo: takes in the sample mailbox in examples/demo/inbox (Chinese and English,
# a GBK-encoded complaint, an auto-reply, a newsletter, a follow-up, garbage bytes),
# opens and routes cases, writes the outgoing mail to examples/demo/state/outbox,
# and shows what happened. Needs only Rust; runs again from scratch each time.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/../.."
cargo build --quiet --release
bin=target/release/switchboard
config="$here/switchboard.toml"

rm -rf "$here/state"
mkdir -p "$here/state"
cp -r "$here/inbox" "$here/state/inbox"

"$bin" check --config "$config"
echo
echo "== Taking in the demo mailbox =="
SWITCHBOARD_LOG=warn "$bin" run --config "$config" --once
echo
echo "== Cases =="
"$bin" cases --config "$config"
echo
echo "== Outgoing mail (one file each in examples/demo/state/outbox/new) =="
"$bin" outbox --config "$config"
