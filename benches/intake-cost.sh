#!/bin/bash
# What intake costs per message, in instructions (issue 19): `switchboard run --once`
# under valgrind's callgrind over a Maildir holding every labelled message of
# tests/classify and tests/unseen (over 1,000 real messages), the outbox left full
# (SMTP to a loopback port nobody listens on), on a fixed clock. Instruction counts
# do not depend on what else the machine is doing, so two builds compare exactly where
# benches/run.sh's wall-clock figures differ by more than a lever gains.
#
#   benches/intake-cost.sh [BINARY|TREE...]   # default: target/release/switchboard, built
#
# A TREE is another checkout (a git worktree of an older commit, say) with its release
# build in TREE/target/release: its binary runs with that tree's own rules, templates
# and demo config, so a build from before a change of the rules' format still runs.
#
# Prints one markdown table: each phase's instructions per message taken in, a column
# per binary, all of them run over the same copy of the mailbox (the corpus grows as
# batches are added, so compare builds within one run, not across runs). Phases
# overlap where one calls the other (indented rows are inside the row above). Needs
# valgrind (installed with apt where missing, as root). About a minute a binary.
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

bins=("$@")
if [ ${#bins[@]} -eq 0 ]; then
    cargo build --release --quiet --bin switchboard
    bins=("$root/target/release/switchboard")
fi
# Each binary's own tree: where its rules, templates and demo config are.
declare -a trees labels
for i in "${!bins[@]}"; do
    labels[i]=${bins[$i]}
    if [ -d "${bins[$i]}" ]; then
        trees[i]=$(cd "${bins[$i]}" && pwd)
        bins[i]=${trees[$i]}/target/release/switchboard
        labels[i]=$(git -C "${trees[$i]}" rev-parse --short HEAD 2>/dev/null || echo "${trees[$i]}")
    else
        trees[i]=$root
    fi
    [ -x "${bins[$i]}" ] || { echo "benches/intake-cost.sh: no binary at ${bins[$i]}" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/mail"
n=0
for f in tests/classify/*.eml tests/unseen/*/*.eml; do
    n=$((n + 1))
    cp "$f" "$work/mail/$(printf '%05d' "$n").bench"
done

# Inclusive instructions of the first function whose name ends with $2, in the
# annotated profile $1; nothing when it was inlined.
ir() {
    awk -v f="$2" '
        /^ *[0-9,]+ +\(/ {
            name = $0; sub(/^.*\?\?\?:/, "", name); sub(/^[^:]*\.[a-z]+:/, "", name)
            # A clone GCC made of a C function (of SQLite) carries a suffix: the same function.
            sub(/(\.(part|isra|constprop)\.[0-9]+)+$/, "", name)
            if (substr(name, length(name) - length(f) + 1) == f) {
                v = $1; gsub(",", "", v); print v; exit
            }
        }' "$1"
}

phases=(
    "loading rules and templates (once)|switchboard::intake::Intake::new"
    "compiling /regex/ words on first use (once)|regex::builders::string::RegexBuilder::build"
    "parsing|switchboard::message::Message::parse_reading"
    "classifying (with the compiling above)|switchboard::rules::RuleSet::classify"
    "the store's transaction|switchboard::intake::Intake::take_in_transaction"
    "– opening cases|switchboard::intake::open_case::<impl switchboard::intake::Intake>::open_case"
    "– – deadlines and their timers|switchboard::deadlines::Clockwork::event_by"
    "– – outbox rows|switchboard::outgoing::Mailer::queue"
    "– the composed bytes into their rows|switchboard::outgoing::composer::Composer::fill_ready"
    "– committing: the batch's pages into the WAL|sqlite3PagerCommitPhaseOne"
    "the WAL checkpoint, on its own thread|sqlite3WalCheckpoint"
    "composing|switchboard::outgoing::Recipe::compose"
    "– rendering templates|switchboard::templates::Templates::render"
    "– building the MIME|switchboard::compose::build"
)

declare -a totals taken
for i in "${!bins[@]}"; do
    run=$work/run$i
    mkdir -p "$run/inbox/new" "$run/inbox/cur" "$run/inbox/tmp"
    cp "$work/mail/"* "$run/inbox/new/"
    # The demo's config, reading this Maildir and keeping its mail in the outbox.
    sed -e "s#state/inbox#$run/inbox#; s#state/switchboard.db#$run/switchboard.db#" \
        -e "s#\.\./\.\./#${trees[$i]}/#g" \
        -e '/^\[smtp\]/,/^\[/{s#^kind = "maildir"#kind = "smtp"\nhost = "127.0.0.1"\nport = 9\ntls = "none"#; /^path = /d}' \
        "${trees[$i]}/examples/demo/switchboard.toml" > "$run/switchboard.toml"
    valgrind --tool=callgrind --callgrind-out-file="$run/callgrind.out" \
        "${bins[$i]}" run --once --config "$run/switchboard.toml" \
        --now 2026-11-30T10:00:00+08:00 > "$run/stdout" 2> "$run/stderr" || {
        tail -20 "$run/stderr" >&2
        exit 1
    }
    taken[i]=$(grep -o 'Done: [0-9]* message' "$run/stdout" | grep -o '[0-9]*')
    callgrind_annotate --inclusive=yes --threshold=100 "$run/callgrind.out" 2>/dev/null |
        sed -e 's/ \[[^]]*\]$//' > "$run/inclusive"
    totals[i]=$(awk '/PROGRAM TOTALS/ {v = $1; gsub(",", "", v); print v; exit}' "$run/inclusive")
done

echo "run --once over $n messages of tests/classify and tests/unseen (tree at $(git rev-parse --short HEAD 2>/dev/null || echo '?')); instructions per message taken in:"
echo
header="| phase |"
rule="| --- |"
for b in "${labels[@]}"; do
    header="$header $b |"
    rule="$rule --- |"
done
echo "$header"
echo "$rule"
line="| all |"
for i in "${!bins[@]}"; do
    line="$line $((totals[i] / taken[i])) |"
done
echo "$line"
for p in "${phases[@]}"; do
    line="| ${p%%|*} |"
    for i in "${!bins[@]}"; do
        v=$(ir "$work/run$i/inclusive" "${p#*|}")
        if [ -n "$v" ]; then
            line="$line $((v / taken[i])) ($(echo "scale=1; 100 * $v / ${totals[i]}" | bc)%) |"
        else
            line="$line (inlined) |"
        fi
    done
    echo "$line"
done
