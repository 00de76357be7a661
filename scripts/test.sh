#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what the tests need, fetches
# the real models (cached after the first run), builds the binary and runs the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# Python packages the tests drive: `gguf`, the independent GGUF reader the writer is
# checked against, and `ollama`, the official client the API is checked with.
if ! python3 -c 'import gguf, ollama' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check gguf ollama
fi
# curl runs the API document's examples as written.
if ! command -v curl >/dev/null; then
  apt-get update -qq && apt-get install -y -qq curl >/dev/null
fi
# The CNCF distribution registry that pull and push are tested against (tests/e2e/registry.rs),
# htpasswd (apache2-utils) for the registry that wants credentials, and openssl for the
# certificates of the https registry.
if ! command -v docker-registry >/dev/null || ! command -v htpasswd >/dev/null || ! command -v openssl >/dev/null; then
  apt-get update -qq && apt-get install -y -qq docker-registry apache2-utils openssl >/dev/null
fi
python3 scripts/fetch_models.py >/dev/null
cargo build --release -p rollama
cargo test --release --workspace "$@"
# The NEON kernels, cross-compiled for arm64 and tested under qemu-user.
if [ "$(uname -m)" = x86_64 ]; then
  scripts/test_arm.sh
fi
