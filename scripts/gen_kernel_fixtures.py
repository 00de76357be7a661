#!/usr/bin/env python3
"""Writes the quant-format fixtures that rollama-kernels checks itself against.

Regenerate them with:

    python3 scripts/gen_kernel_fixtures.py

The fixtures come from implementations independent of ours, so that a shared misreading of
ggml's formats cannot hide:

- ``<type>.dequant.bin`` for every weight type rollama has kernels for: a few random,
  well-formed blocks (random bits, with modest finite f16 scales) and their f32 values as the
  ``gguf`` Python package (gguf-py, llama.cpp's own reader) dequantizes them.
- ``<type>.quantize.bin`` for every type gguf-py can quantize (F32, F16, BF16, Q4_0, Q4_1,
  Q5_0, Q5_1, Q8_0): a random f32 row with awkward blocks (zeros, constants, outliers, ties)
  and gguf-py's bytes for it.
- ``<type>.quantize.bin`` for Q2_K..Q6_K, which gguf-py cannot quantize: the bytes of ggml's
  C reference quantizers (``quantize_row_q*_K_ref`` in ``ggml-quants.c``). These are only
  rewritten when a ggml source tree is given; otherwise the files already present are kept:

      python3 scripts/gen_kernel_fixtures.py --ggml-src /path/to/ggml

  where the directory holds ``include/ggml.h`` and ``src/ggml-quants.c`` (llama.cpp's
  ``ggml/`` folder, or the copy vendored in the ``ggml-py`` source package on PyPI). The file
  is compiled with the system C compiler, without fused multiply-adds (``-ffp-contract=off``,
  as a portable ggml build computes), and called through ctypes. The committed files were made
  from ggml 0.10.1 (``pip download --no-deps ggml-py==0.10.1``, ``vendor/ggml``) and gguf 0.19.0.

Every file is ``b"RKFX"``, then little-endian u32 version (1), element count ``n`` and byte
count ``m``, then the ``m`` bytes of the quantized row, then ``n`` f32 values. The script is
deterministic: the same gguf-py (and ggml) give the same files.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as T
import gguf.quants

OUT = Path(__file__).resolve().parent.parent / "kernels" / "src" / "tests" / "fixtures"

# Byte offsets of the f16 scale fields in each block (ggml-common.h).
SCALE_FIELDS = {
    T.Q4_0: [0],
    T.Q4_1: [0, 2],
    T.Q5_0: [0],
    T.Q5_1: [0, 2],
    T.Q8_0: [0],
    T.IQ4_NL: [0],
    T.Q2_K: [80, 82],
    T.Q3_K: [108],
    T.Q4_K: [0, 2],
    T.Q5_K: [0, 2],
    T.Q6_K: [208],
    T.IQ4_XS: [0],
}
FLOAT_TYPES = [T.F32, T.F16, T.BF16]
GGUF_QUANTIZES = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]
GGML_K_QUANTIZES = [T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]


def write(path: Path, n: int, raw: bytes, values: np.ndarray) -> None:
    values = np.ascontiguousarray(values, dtype="<f4").ravel()
    assert values.size == n
    path.write_bytes(b"RKFX" + struct.pack("<III", 1, n, len(raw)) + raw + values.tobytes())


def random_blocks(ty: T, rng: np.random.Generator) -> tuple[int, bytes]:
    """A row of a few random well-formed blocks of `ty` and its element count."""
    block_len, block_bytes = GGML_QUANT_SIZES[ty]
    if ty in FLOAT_TYPES:
        n = 128
        x = (rng.standard_normal(n) * 0.1).astype(np.float32)
        if ty == T.F32:
            return n, x.astype("<f4").tobytes()
        if ty == T.F16:
            return n, x.astype("<f2").tobytes()
        return n, (x.view(np.uint32) >> 16).astype("<u2").tobytes()
    n_blocks = 8 if block_len == 32 else 3
    raw = bytearray(rng.integers(0, 256, size=n_blocks * block_bytes, dtype=np.uint8).tobytes())
    for b in range(n_blocks):
        for k, off in enumerate(SCALE_FIELDS[ty]):
            # Mostly normal magnitudes of either sign; one block with a zero and a subnormal.
            if b == 1:
                v = [0.0, 3e-6][k % 2]
            else:
                v = float(rng.choice([-1.0, 1.0]) * 10 ** rng.uniform(-4, -1))
            raw[b * block_bytes + off : b * block_bytes + off + 2] = np.float16(v).tobytes()
    return n_blocks * block_len, bytes(raw)


def awkward_group(kind: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` values of one of eight shapes that exercise the corner cases of the quantizers."""
    if kind == 0:
        return rng.standard_normal(n)
    if kind == 1:
        x = rng.standard_normal(n) * 1e-3
        x[rng.integers(n)] = 0.05  # an outlier
        return x
    if kind == 2:
        return np.zeros(n)
    if kind == 3:
        return rng.uniform(0.5, 2.0, n)  # all positive: the min clamps to 0
    if kind == 4:
        return -rng.uniform(0.5, 2.0, n)
    if kind == 5:
        return np.full(n, -0.75)  # constant
    if kind == 6:
        return rng.integers(-8, 8, n) * 0.25  # exact steps and ties
    return rng.standard_normal(n) * 30.0


def awkward_row(block_len: int, rng: np.random.Generator) -> np.ndarray:
    """A row of eight 32-element blocks, one of each `awkward_group` kind; for the 256-element
    k-quants, one super-block of those eight groups, then one of zeros, one of large normal
    values and one constant."""
    if block_len <= 32:
        x = [awkward_group(k, 32, rng) for k in range(8)]
    else:
        x = [awkward_group(k, 32, rng) for k in range(8)]
        x += [awkward_group(2, 256, rng), awkward_group(7, 256, rng), awkward_group(5, 256, rng)]
    return np.concatenate(x).astype(np.float32)


def ggml_reference(src: Path, work: Path) -> ctypes.CDLL:
    """Compiles ggml-quants.c into a small shared library (with stubs for the few ggml
    functions it references but the reference quantizers never call)."""
    stub = work / "stub.c"
    stub.write_text(
        "#include <stdlib.h>\n#include <stddef.h>\n"
        "void ggml_abort(const char *f, int l, const char *fmt, ...) { (void)f; (void)l; (void)fmt; abort(); }\n"
        "size_t ggml_row_size(int t, long long n) { (void)t; (void)n; abort(); }\n"
        "const char *ggml_type_name(int t) { (void)t; return \"?\"; }\n"
        "size_t ggml_type_size(int t) { (void)t; abort(); }\n"
    )
    lib = work / "libggml_quants_ref.so"
    cc = os.environ.get("CC", "cc")
    cmd = [cc, "-O2", "-ffp-contract=off", "-fPIC", "-shared", "-I", str(src / "include"), "-I", str(src / "src")]
    cmd += [str(src / "src" / "ggml-quants.c"), str(stub), "-o", str(lib), "-lm"]
    subprocess.run(cmd, check=True)
    return ctypes.CDLL(str(lib))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ggml-src", type=Path, help="a ggml source tree, to regenerate the k-quant quantize fixtures")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)

    for i, ty in enumerate(FLOAT_TYPES + list(SCALE_FIELDS)):
        rng = np.random.default_rng(1000 + i)
        n, raw = random_blocks(ty, rng)
        values = gguf.quants.dequantize(np.frombuffer(raw, dtype=np.uint8), ty)
        write(OUT / f"{ty.name.lower()}.dequant.bin", n, raw, values)

    for i, ty in enumerate(GGUF_QUANTIZES):
        rng = np.random.default_rng(2000 + i)
        x = awkward_row(GGML_QUANT_SIZES[ty][0], rng)
        raw = np.ascontiguousarray(gguf.quants.quantize(x, ty)).view(np.uint8).tobytes()
        write(OUT / f"{ty.name.lower()}.quantize.bin", x.size, raw, x)

    if args.ggml_src is not None:
        with tempfile.TemporaryDirectory() as work:
            ref = ggml_reference(args.ggml_src, Path(work))
            for i, ty in enumerate(GGML_K_QUANTIZES):
                rng = np.random.default_rng(3000 + i)
                block_len, block_bytes = GGML_QUANT_SIZES[ty]
                x = awkward_row(block_len, rng)
                out = ctypes.create_string_buffer(x.size // block_len * block_bytes)
                fn = getattr(ref, f"quantize_row_{ty.name.lower()[:-2]}_K_ref")
                fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
                fn(x.ctypes.data, out, x.size)
                write(OUT / f"{ty.name.lower()}.quantize.bin", x.size, out.raw, x)
    else:
        print("k-quant quantize fixtures kept (pass --ggml-src to regenerate them)", file=sys.stderr)

    total = sum(p.stat().st_size for p in OUT.glob("*.bin"))
    print(f"wrote fixtures to {OUT} ({total} bytes in all)")


if __name__ == "__main__":
    main()
