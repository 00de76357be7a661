#!/usr/bin/env python3
"""rollama against llama.cpp, side by side in one run, same thread count: pp512 and tg128 of the
three real models, printed as ratios (rollama / llama.cpp).

llama.cpp comes from the `llama-cpp-python` package, which builds it from source on install
(`pip install llama-cpp-python`, about 10 minutes on 2 cores); its shared library is driven
here through the package's low-level C bindings, measuring as llama-bench does: prompt
processing decodes N random tokens in one batch, generation decodes N random tokens one at a
time from an empty cache; each test runs once to warm up, then REPS times. rollama is measured
by `rollama bench` (the same method, engine/src/bench.rs). The two engines alternate, model by
model and round by round, so that a noisy neighbour slows both alike.

Usage: python3 benches/vs_llama_cpp.py [--threads 2] [--reps 3] [--rounds 2] [--rollama PATH] [MODEL...]
"""

import argparse
import ctypes
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODELS = [
    "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma-3-270m-q4_k_m.gguf",
    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
]


def llama_cpp_rates(path, threads, pp, tg, reps):
    """(pp t/s, tg t/s) of llama.cpp, each the mean of `reps` runs after a warm-up."""
    import llama_cpp as L

    L.llama_backend_init()
    mparams = L.llama_model_default_params()
    model = L.llama_model_load_from_file(str(path).encode(), mparams)
    if not model:
        raise RuntimeError(f"llama.cpp could not load {path}")
    cparams = L.llama_context_default_params()
    cparams.n_ctx = max(pp, tg) + 16
    cparams.n_batch = max(pp, 1)
    cparams.n_ubatch = max(pp, 1)
    cparams.n_threads = threads
    cparams.n_threads_batch = threads
    ctx = L.llama_init_from_model(model, cparams)
    vocab = L.llama_model_get_vocab(model)
    n_vocab = L.llama_vocab_n_tokens(vocab)
    mem = L.llama_get_memory(ctx)
    rng = random.Random(1234)

    def decode(tokens):
        arr = (L.llama_token * len(tokens))(*tokens)
        batch = L.llama_batch_get_one(arr, len(tokens))
        if L.llama_decode(ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")

    def once(kind, n):
        L.llama_memory_clear(mem, True)
        tokens = [rng.randrange(n_vocab) for _ in range(n)]
        t0 = time.perf_counter()
        if kind == "pp":
            decode(tokens)
        else:
            for t in tokens:
                decode([t])
        L.llama_synchronize(ctx)
        return n / (time.perf_counter() - t0)

    out = []
    for kind, n in (("pp", pp), ("tg", tg)):
        once(kind, n)
        out.append(statistics.mean(once(kind, n) for _ in range(reps)))
    L.llama_free(ctx)
    L.llama_model_free(model)
    return tuple(out)


def rollama_rates(exe, path, threads, pp, tg, reps):
    """(pp t/s, tg t/s) of `rollama bench`."""
    out = subprocess.run(
        [exe, "bench", str(path), "-p", str(pp), "-n", str(tg), "-r", str(reps), "-t", str(threads)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rates = {}
    for m in re.finditer(r"\| (pp|tg)\d+ \| ([0-9.]+) ±", out):
        rates[m.group(1)] = float(m.group(2))
    return rates["pp"], rates["tg"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", "-t", type=int, default=2)
    ap.add_argument("--reps", "-r", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("--rollama", default=str(Path(__file__).resolve().parent.parent / "target/release/rollama"))
    ap.add_argument("models", nargs="*")
    a = ap.parse_args()
    models_dir = Path(os.environ.get("ROLLAMA_MODELS_DIR", Path.home() / ".cache/rollama/models"))
    models = [Path(m) for m in a.models] or [models_dir / m for m in MODELS]
    # Quiet llama.cpp's load logs (the callback must outlive every call, hence the global).
    import llama_cpp as L

    global _QUIET
    _QUIET = L.llama_log_callback(lambda level, text, user: None)
    L.llama_log_set(_QUIET, ctypes.c_void_p())
    print(f"threads {a.threads}, {a.rounds} rounds x {a.reps} reps, pp{a.p} / tg{a.n}; cpu: {cpu_name()}")
    print("| model | llama.cpp pp | rollama pp | ratio | llama.cpp tg | rollama tg | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for path in models:
        ours, theirs = [], []
        for _ in range(a.rounds):
            theirs.append(llama_cpp_rates(path, a.threads, a.p, a.n, a.reps))
            ours.append(rollama_rates(a.rollama, path, a.threads, a.p, a.n, a.reps))
        lp, lt = (statistics.median(x[i] for x in theirs) for i in (0, 1))
        rp, rt = (statistics.median(x[i] for x in ours) for i in (0, 1))
        print(f"| {path.name} | {lp:.1f} | {rp:.1f} | {rp / lp:.2f} | {lt:.1f} | {rt:.1f} | {rt / lt:.2f} |")
        sys.stdout.flush()


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
