#!/usr/bin/env bash
# Fetches the real-world mail corpus that tests/corpus.rs runs through intake: test
# mail of other mail software, taken from the package registries (Debian's archive,
# PyPI, crates.io) with their ordinary clients, one message per file, into a cache
# folder outside git:
#
#   ${SWITCHBOARD_CORPUS:-$HOME/.cache/switchboard-corpus}/messages/<source>/<file>
#
# Skipped when the cache is complete (a stamp file names this script's corpus
# version). Fails loudly — never a silent skip — when a source cannot be fetched.
# Needs apt-get and dpkg-deb (Debian), pip and python3, cargo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VERSION=1
ROOT="${SWITCHBOARD_CORPUS:-$HOME/.cache/switchboard-corpus}"
STAMP="$ROOT/complete-v$VERSION"
if [ -f "$STAMP" ]; then
  echo "Corpus: $(find "$ROOT/messages" -type f | wc -l) messages in $ROOT (cached)."
  exit 0
fi

fail() {
  echo "fetch-corpus: $*" >&2
  echo "fetch-corpus: the corpus test (tests/corpus.rs) cannot run without it." >&2
  exit 1
}

rm -rf "$ROOT/messages" "$ROOT/work"
mkdir -p "$ROOT/messages" "$ROOT/work/deb" "$ROOT/work/src" "$ROOT/work/pypi"
WORK="$ROOT/work"
OUT="$ROOT/messages"

# Copies files into messages/<source>/, one message each, names made flat.
take() {
  local source="$1"
  shift
  mkdir -p "$OUT/$source"
  local n=0 f
  for f in "$@"; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    cp "$f" "$OUT/$source/$(printf '%05d' "$n")-$(basename "$f" | tr -c 'A-Za-z0-9._\n-' '_')"
  done
  [ "$n" -gt 0 ] || fail "no messages found for $source"
  echo "Corpus: $source: $n messages."
}

# Splits mbox files into one file per message (a line "From " after an empty line,
# or at the start, begins a message; the "From " line itself is dropped).
split_mbox() {
  local source="$1"
  shift
  mkdir -p "$OUT/$source"
  python3 - "$OUT/$source" "$@" <<'PY'
import os, sys
out, files, n = sys.argv[1], sys.argv[2:], 0
for path in files:
    data = open(path, "rb").read()
    messages, current, blank = [], None, True
    for line in data.splitlines(keepends=True):
        if line.startswith(b"From ") and blank:
            if current is not None:
                messages.append(current)
            current, blank = [], False
            continue
        if current is not None:
            current.append(line)
        blank = line.strip() == b""
    if current is not None:
        messages.append(current)
    for m in messages:
        n += 1
        name = "%05d-%s" % (n, os.path.basename(path))
        open(os.path.join(out, name), "wb").write(b"".join(m))
if n == 0:
    sys.exit("no messages in " + " ".join(files))
print("Corpus: %s: %d messages (from mbox)." % (os.path.basename(out), n))
PY
}

# --- crates.io: mail-parser's own test corpus (the crate this project parses with). ---
cargo fetch --locked >/dev/null || fail "cargo fetch failed (crates.io unreachable?)"
MP=$(cargo metadata --format-version 1 --locked 2>/dev/null |
  python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]=="mail-parser"))') ||
  fail "mail-parser is not in cargo metadata"
MP=$(dirname "$MP")/resources
take crates-mail-parser "$MP"/eml/*/*.eml $(find "$MP/maildir" -type f)
# mail-auth's: DMARC, ARF and TLS reports, DKIM and ARC signed mail. Fetched through a
# throwaway manifest, so the project's own dependencies stay as they are.
mkdir -p "$WORK/crates/src"
printf '[package]\nname = "corpus"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nmail-auth = "=0.7.1"\n' >"$WORK/crates/Cargo.toml"
: >"$WORK/crates/src/lib.rs"
MA=$(cd "$WORK/crates" && cargo fetch -q && cargo metadata --format-version 1 |
  python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]=="mail-auth"))') ||
  fail "cannot fetch the mail-auth crate from crates.io"
take crates-mail-auth $(find "$(dirname "$MA")/resources" -name '*.eml')

# --- Debian binary packages: CPython's email tests, GNU Mailman's bounce detector,
# the Go MIME parser enmime (its source ships with its test mail, much of it broken). ---
(cd "$WORK/deb" && apt-get download -q libpython3.11-testsuite python3-flufl.bounce \
  golang-github-jhillyerd-enmime-dev >/dev/null 2>&1) ||
  fail "apt-get download failed (Debian's archive unreachable? run apt-get update first)"
for deb in "$WORK"/deb/*.deb; do dpkg-deb -x "$deb" "$WORK/deb/root"; done
take debian-cpython-test-email "$WORK"/deb/root/usr/lib/python3.11/test/test_email/data/msg_*.txt
take debian-flufl-bounce "$WORK"/deb/root/usr/lib/python3/dist-packages/flufl/bounce/tests/data/*.txt
ENMIME=$(find "$WORK/deb/root/usr/share/gocode" -type d -path '*enmime/testdata' | head -1)
take debian-go-enmime $(find "$ENMIME"/mail "$ENMIME"/low-quality "$ENMIME"/parts -type f)

# --- Debian source packages: notmuch (LKML threads and more), rspamd (spam, phishing,
# malformed MIME), bogofilter (spam and ham mboxes). A
# private apt configuration in the cache folder: the system's sources stay as they are.
APT="$WORK/apt"
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial"
echo "deb-src http://deb.debian.org/debian bookworm main" >"$APT/sources.list"
APTOPT=(-o "Dir::Etc::SourceList=$APT/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache")
apt-get "${APTOPT[@]}" update -q >/dev/null 2>&1 || fail "apt-get update of Debian's sources failed"
for pkg in notmuch rspamd bogofilter; do
  (cd "$WORK/src" && apt-get "${APTOPT[@]}" source --download-only -q "$pkg" >/dev/null 2>&1) ||
    fail "apt-get source $pkg failed"
done
for t in "$WORK"/src/*.orig.tar.*; do tar -xf "$t" -C "$WORK/src"; done
take debian-notmuch $(find "$WORK"/src/notmuch-*/test/corpora -type f ! -name README ! -name '.*')
take debian-rspamd $(find "$WORK"/src/rspamd-*/test/functional/messages -type f)
take debian-bogofilter "$WORK"/src/bogofilter-*/src/tests/inputs/msg.*.txt
split_mbox debian-bogofilter-mbox "$WORK"/src/bogofilter-*/src/tests/inputs/{good,spam}.mbx

# --- PyPI source distributions: test mail of mail-parser (SpamScope: malformed and
# Outlook mail), talon (replies from every client), Mailman 3 and HyperKitty (list
# traffic, broken encodings). ---
(cd "$WORK/pypi" && pip download -q --no-deps --no-binary :all: \
  mail-parser==4.8.0 talon==1.4.4 mailman==3.3.10 hyperkitty==1.3.12 >/dev/null 2>&1) ||
  fail "pip download from PyPI failed"
for t in "$WORK"/pypi/*.tar.gz; do tar -xzf "$t" -C "$WORK/pypi"; done
take pypi-mail-parser "$WORK"/pypi/mail_parser-*/tests/mails/*
take pypi-talon $(find "$WORK"/pypi/talon-* -name '*.eml')
take pypi-mailman $(find "$WORK"/pypi/mailman-*/src -name '*.eml')
take pypi-hyperkitty "$WORK"/pypi/hyperkitty-*/hyperkitty/tests/testdata/*.txt

rm -rf "$WORK"
TOTAL=$(find "$OUT" -type f | wc -l)
[ "$TOTAL" -ge 900 ] || fail "only $TOTAL messages: expected at least 900"
touch "$STAMP"
echo "Corpus: $TOTAL messages in $ROOT."
