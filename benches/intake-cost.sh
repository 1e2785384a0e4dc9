#!/bin/bash
# What intake costs per message, in instructions (issue 19): `switchboard run --once`
# under valgrind's callgrind over a Maildir holding every labelled message of
# tests/classify and tests/unseen (about 1,000 real messages), the outbox left full
# (SMTP to a loopback port nobody listens on), on a fixed clock. Instruction counts
# do not depend on what else the machine is doing, so two builds compare exactly where
# benches/run.sh's wall-clock figures differ by more than a lever gains.
#
#   benches/intake-cost.sh [BINARY]     # default: target/release/switchboard, built
#
# Prints one markdown table: each phase's instructions per message taken in, and its
# share of the total. Phases overlap where one calls the other (indented rows are
# inside the row above). Needs valgrind (installed with apt where missing, as root).
# Takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if ! command -v valgrind >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "benches/intake-cost.sh: needs valgrind (apt-get install valgrind)" >&2
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind >&2
fi

bin=${1:-}
if [ -z "$bin" ]; then
    cargo build --release --quiet --bin switchboard
    bin=$root/target/release/switchboard
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/inbox/new" "$work/inbox/cur" "$work/inbox/tmp"
n=0
for f in tests/classify/*.eml tests/unseen/*/*.eml; do
    n=$((n + 1))
    cp "$f" "$work/inbox/new/$(printf '%05d' "$n").bench"
done
# The demo's config, reading this Maildir and keeping its mail in the outbox.
sed -e "s#state/inbox#$work/inbox#; s#state/switchboard.db#$work/switchboard.db#" \
    -e "s#\.\./\.\./#$root/#g" \
    -e '/^\[smtp\]/,/^\[/{s#^kind = "maildir"#kind = "smtp"\nhost = "127.0.0.1"\nport = 9\ntls = "none"#; /^path = /d}' \
    examples/demo/switchboard.toml > "$work/switchboard.toml"

valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
    "$bin" run --once --config "$work/switchboard.toml" --now 2026-11-30T10:00:00+08:00 \
    > "$work/stdout" 2> "$work/stderr" || {
    tail -20 "$work/stderr" >&2
    exit 1
}
taken=$(grep -o 'Done: [0-9]* message' "$work/stdout" | grep -o '[0-9]*')
callgrind_annotate --inclusive=yes --threshold=100 "$work/callgrind.out" 2>/dev/null |
    sed -e 's/ \[[^]]*\]$//' > "$work/inclusive"

# Inclusive instructions of the first function whose name ends with $1.
ir() {
    awk -v f="$1" '
        /^ *[0-9,]+ +\(/ {
            name = $0; sub(/^.*\?\?\?:/, "", name); sub(/^[^:]*\.[a-z]+:/, "", name)
            if (substr(name, length(name) - length(f) + 1) == f) {
                v = $1; gsub(",", "", v); print v; exit
            }
        }' "$work/inclusive"
}
total=$(awk '/PROGRAM TOTALS/ {v = $1; gsub(",", "", v); print v; exit}' "$work/inclusive")

row() { # label, instructions (empty: the function was inlined in this build)
    if [ -z "${2:-}" ]; then
        printf '| %s | (inlined in this build) | |\n' "$1"
        return
    fi
    local v=$2
    printf '| %s | %s | %.1f%% |\n' "$1" "$(numfmt --grouping $((v / taken)))" \
        "$(echo "100 * $v / $total" | bc -l)"
}
startup=$(ir 'switchboard::intake::Intake::new')
lazy=$(ir 'regex::builders::string::RegexBuilder::build')
classify=$(ir 'switchboard::rules::RuleSet::classify')
store=$(ir 'switchboard::intake::Intake::take_in_transaction')
opened=$(ir 'switchboard::intake::open_case::<impl switchboard::intake::Intake>::open_case')
deadlines=$(ir 'switchboard::deadlines::Clockwork::event_by')
queue=$(ir 'switchboard::outgoing::Mailer::queue')
fill=$(ir 'switchboard::outgoing::composer::Composer::fill_ready')
compose=$(ir 'switchboard::outgoing::Recipe::compose')
render=$(ir 'switchboard::templates::Templates::render')
build=$(ir 'switchboard::compose::build')

echo "run --once over $taken messages ($(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'); $($bin --version 2>/dev/null || echo switchboard)): $(numfmt --grouping $((total / taken))) instructions per message in all"
echo
echo "| phase | instructions per message | share |"
echo "| --- | --- | --- |"
row "loading rules and templates (once)" "$startup"
row "compiling /regex/ words on first use (once)" "$lazy"
row "parsing" "$(ir 'switchboard::message::Message::parse_reading')"
row "classifying (less the compiling)" "$((${classify:-0} - ${lazy:-0}))"
row "the store's transaction" "$store"
row "– opening cases" "$opened"
row "– – deadlines and their timers" "$deadlines"
row "– – outbox rows" "$queue"
row "– the composed bytes into their rows" "$fill"
row "composing" "$compose"
row "– rendering templates" "$render"
row "– building the MIME" "$build"
