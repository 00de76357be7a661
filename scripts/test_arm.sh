#!/usr/bin/env bash
# The arm64 half of the test suite, on an x86-64 Debian/Ubuntu host: installs the cross
# toolchain and qemu's user-mode emulator if missing, runs the kernel tests under qemu (the
# NEON and NEON+dotprod kernels against their scalar twins), and cross-builds the server
# binary. The linker and the qemu runner are set in .cargo/config.toml.
#
# Kernel tests run twice: on qemu's `max` CPU, which has the dot-product extension, so the
# harness compares both the Neon and the NeonDot levels with scalar; and on a Cortex-A72,
# which lacks it, so that detection must stop at Neon. Extra arguments go to both test runs.
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-unknown-linux-gnu
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64-static >/dev/null \
  || [ ! -e /usr/aarch64-linux-gnu/lib/libc.so.6 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static >/dev/null
fi
if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target" >/dev/null
fi

# Children the tests spawn run under qemu too only through binfmt_misc, which containers
# rarely have; the one test that re-executes itself (to check that ROLLAMA_CPU caps the level)
# is skipped below and its child half run directly instead. QEMU_LD_PREFIX is where qemu finds
# the arm64 dynamic loader and libc.
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
# These builds are for testing, not shipping: no thin LTO, no debug info (the same settings for
# every step below, so that they share the compiled dependencies).
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_DEBUG=false
cap_test=tests::harness::env_cap_is_honoured

for cpu in max cortex-a72; do
  echo "== rollama-kernels tests, $target under qemu -cpu $cpu"
  QEMU_CPU=$cpu cargo test --release -p rollama-kernels --target "$target" -- --skip "$cap_test" "$@"
done
echo "== ROLLAMA_CPU=scalar caps the level (the child half of $cap_test)"
QEMU_CPU=max ROLLAMA_CPU=scalar ROLLAMA_KERNELS_CHILD=1 \
  cargo test --release -p rollama-kernels --target "$target" -- --exact "$cap_test"

echo "== cross build of the server for $target"
cargo build --release -p rollama --target "$target"
bin="${CARGO_TARGET_DIR:-target}/$target/release/rollama"
qemu-aarch64-static "$bin" --version
