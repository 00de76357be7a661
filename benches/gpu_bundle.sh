#!/bin/sh
# Packs what `e2e-bench gpu` needs on an x86-64 Linux GPU machine that has no Rust toolchain
# and no network: the bench binary built here, Debian's Vulkan loader (libvulkan1) and GL
# dispatch libraries (libglvnd0 and friends: NVIDIA's Vulkan driver lives in libGLX_nvidia,
# which needs libGLdispatch; without them the loader finds no adapter), and run.sh, which
# unpacks them where the loader is missing, points Vulkan at NVIDIA's driver where that is
# mounted under /usr/local/nvidia, and runs the bench. Also the engine's unit-test binary, so
# that the GPU backend's op-by-op tests run on that GPU too.
#
#   sh benches/gpu_bundle.sh [DIR]        # default target/gpubench (ignored by git)
#   sh DIR/run.sh [e2e-bench gpu flags]   # there; with no flags, the SmolLM2-shaped and
#                                         # 7B Q4_K_M random-weight models, written to /tmp
#   sh DIR/run.sh --tests                 # there: the GPU backend's unit tests
set -eu
dir=${1:-target/gpubench}
cargo build --release -p rollama-benches
mkdir -p "$dir"
cp "${CARGO_TARGET_DIR:-target}/release/e2e-bench" "$dir/"
strip "$dir/e2e-bench"
tests=$(cargo test --release -p rollama-engine --lib --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
cp "$tests" "$dir/engine-tests"
strip "$dir/engine-tests"
lists=$(mktemp -d)
mkdir -p "$lists/partial"
o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
# shellcheck disable=SC2086
apt-get $o update -qq
rm -f "$dir"/*.deb
# shellcheck disable=SC2086
(cd "$dir" && apt-get $o download libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2)
rm -rf "$lists"
cat >"$dir/run.sh" <<'RUN'
#!/bin/sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
    for f in "$here"/*.deb; do dpkg -x "$f" /; done
    ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd"; fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
if [ "${1:-}" = --tests ]; then
    ROLLAMA_REQUIRE_GPU=1 exec "$here/engine-tests" backend::gpu
fi
[ $# -gt 0 ] || set -- --make-smollm2 /tmp/smollm2-random.gguf --make-7b /tmp/llama7b-random-q4km.gguf
exec "$here/e2e-bench" gpu "$@"
RUN
chmod +x "$dir/run.sh" "$dir/e2e-bench"
du -sh "$dir"
