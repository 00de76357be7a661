#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what the tests need, fetches
# the real models (cached after the first run), builds the binary and runs the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# The `gguf` Python package is the independent GGUF reader the writer is checked against.
if ! python3 -c 'import gguf' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check gguf
fi
python3 scripts/fetch_models.py >/dev/null
cargo build --release -p rollama
cargo test --release --workspace "$@"
