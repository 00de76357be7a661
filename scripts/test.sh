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
# Mesa's lavapipe, a software Vulkan driver, runs the GPU backend's tests (engine's
# backend::gpu::tests and tests/e2e/gpu.rs); with it installed they must not skip.
if [ ! -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ] && [ "$(uname -m)" = x86_64 ]; then
  apt-get update -qq && apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
fi
if [ -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ]; then
  export ROLLAMA_REQUIRE_GPU=1
fi
# lavapipe warns on stderr when this is unset.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
python3 scripts/fetch_models.py >/dev/null
cargo build --release -p rollama
cargo test --release --workspace "$@"
# The NEON kernels, cross-compiled for arm64 and tested under qemu-user.
if [ "$(uname -m)" = x86_64 ]; then
  scripts/test_arm.sh
fi
