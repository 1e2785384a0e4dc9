#!/bin/sh
# The benchmark of issue 5, in one command:
#
#   benches/run.sh [--messages N] [--runs R] [--scale 1000,10000,100000] [--latency N]
#                  [--send N] [--only intake,send,backlog,latency,scale,startup] [--no-clock]
#                  [--no-classify]
#
# Builds in release mode, starts a private Dovecot and Postfix on loopback (the test
# harness, tests/harness/mailstack.rs), fills a real mailbox with a generated
# backlog and measures Switchboard against references run on the same machine, in
# the same run: a raw IMAP fetch, imapfilter, Postfix's smtp-source. Prints one
# markdown table, with the machine it ran on, to stdout (progress goes to stderr)
# and keeps a copy in target/bench/results.md.
#
# Needs root on Debian 12 (bookworm): installs what is missing (dovecot-imapd,
# dovecot-lmtpd, postfix with smtp-source, imapfilter, time) without starting or
# configuring the system's own mail services. Every file of the run (mailboxes,
# Postfix queue, stores) lives on a private tmpfs mounted over /tmp in a mount
# namespace of its own, as MAILSTACK.md advises: the figures are the programs', not
# the disk's. Defaults (10,000 messages, 3 runs) take about 18 minutes on 2 cores;
# --scale 1000,10000,100000 adds the 100,000-message run (about 5 minutes more and
# ~6 GB of tmpfs).
set -eu
cd "$(dirname "$0")/.."

clock=1
classify=1
for a in "$@"; do
    case "$a" in
        --no-clock) clock=0 ;;
        --no-classify) classify=0 ;;
    esac
done
mail_args=""
for a in "$@"; do
    case "$a" in
        --no-clock|--no-classify) ;;
        *) mail_args="$mail_args $a" ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "benches/run.sh: run as root (it starts Dovecot and Postfix and mounts a tmpfs)" >&2
    exit 1
fi

missing=""
command -v dovecot >/dev/null 2>&1 || missing="$missing dovecot-imapd dovecot-lmtpd"
[ -x /usr/sbin/postfix ] || missing="$missing postfix"
[ -x /usr/sbin/smtp-source ] || missing="$missing postfix"
command -v imapfilter >/dev/null 2>&1 || missing="$missing imapfilter"
[ -x /usr/bin/time ] || missing="$missing time"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
if [ -n "$missing" ]; then
    echo "Installing:$missing" >&2
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    policy_added=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy_added=1
    fi
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
    [ "$policy_added" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

echo "Building (release)…" >&2
bench_bin() {
    cargo bench --no-run --message-format=json --bench "$1" 2>/dev/null \
        | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        print(m["executable"])'
}
cargo bench --no-run --bench mail >&2
mail_bin=$(bench_bin mail)
clock_bin=""
if [ "$clock" = 1 ] && [ -f benches/clock.rs ]; then
    cargo bench --no-run --bench clock >&2
    clock_bin=$(bench_bin clock)
fi

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
out=target/bench
mkdir -p "$out"
results="$out/results.md"
rows="$out/rows.md"
: > "$rows"

# A private /tmp on tmpfs for the mail stack and everything it writes. If the
# benchmark dies without stopping its Dovecot and Postfix, they are stopped by the
# pids in their own folders.
unshare --mount --propagation private sh -c '
    mount -t tmpfs -o size=16g,mode=1777 bench-tmp /tmp
    cleanup() {
        for pid in /tmp/sbms-*/pf/queue/pid/master.pid /tmp/sbms-*/run/master.pid; do
            [ -f "$pid" ] && kill "$(cat "$pid" | tr -d " ")" 2>/dev/null
        done
        return 0
    }
    trap "kill \$bench 2>/dev/null; cleanup; exit 130" INT TERM
    "$0" $1 --bench >> "$2" &
    bench=$!
    wait $bench || { status=$?; cleanup; exit $status; }
    if [ -n "$3" ]; then "$3" --bench >> "$2" || exit $?; fi
' "$mail_bin" "$mail_args" "$rows" "$clock_bin"

classify_rows=""
if [ "$classify" = 1 ] && [ -f benches/classify.rs ]; then
    echo "Running cargo bench --bench classify…" >&2
    classify_rows=$(cargo bench --bench classify 2>/dev/null | sed -n 's/^/    /p')
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
{
    echo "Machine: $(nproc) cores ($cpu), $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo) RAM," \
        "$(. /etc/os-release && echo "$PRETTY_NAME"), Linux $(uname -r);" \
        "Dovecot $(dovecot --version | cut -d' ' -f1), Postfix $(postconf -d -h mail_version 2>/dev/null)," \
        "imapfilter $(imapfilter -V 2>&1 | head -1 | cut -d' ' -f2), $(rustc --version | cut -d' ' -f1-2);" \
        "mailboxes, queue and stores on tmpfs; load average before the run: $load_before."
    echo
    echo "| measurement | Switchboard | reference (same run) | Switchboard vs reference | target |"
    echo "| --- | --- | --- | --- | --- |"
    cat "$rows"
    if [ -n "$classify_rows" ]; then
        echo
        echo "4. classification (\`cargo bench --bench classify\`):"
        echo
        echo "$classify_rows"
    fi
} > "$results"
cat "$results"
