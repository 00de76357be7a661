#!/usr/bin/env bash
# The main job: fetch SmolLM2-135M, build rollama, and answer a prompt with it.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$(python3 scripts/fetch_models.py smollm2)
cargo build --release -p rollama
prompt=${1:-"What is the capital of France?"}
echo ">>> $prompt" >&2
./target/release/rollama run "$model" "$prompt" -o temperature=0 -o num_predict=64
echo
