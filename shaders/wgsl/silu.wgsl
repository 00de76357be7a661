// ggml's vectorized SiLU, x / (1 + expf(-x)), with its own expf: a polynomial adapted from
// Arm's optimized routines (rollama_kernels::activation::v_expf, the scalar twin of its
// AVX-512 form), on the fmaf/divf of an arith part.

fn v_expf(x: f32) -> f32 {
    // ggml rounds x * log2(e) to an integer by a fused add of 0x1.8p23 and its subtraction;
    // written so, a driver may fold the pair away (Mesa does), so the rounding is explicit.
    let n = round_product(x, bitcast<f32>(0x3fb8aa3bu));
    // b = x - n*ln2, in two parts.
    let b = fmaf(-n, bitcast<f32>(0x35bfbe8eu), fmaf(-n, bitcast<f32>(0x3f317200u), x));
    let u = b * b;
    let j = fmaf(
        fmaf(fmaf(bitcast<f32>(0x3c072010u), b, bitcast<f32>(0x3d2b9f17u)), u, fmaf(bitcast<f32>(0x3e2aaf33u), b, bitcast<f32>(0x3efffedbu))),
        u,
        fmaf(bitcast<f32>(0x3f7ffff6u), b, 1.0),
    );
    if (abs(n) > 192.0) {
        return select(bitcast<f32>(0x7f800000u), 0.0, n <= 0.0);
    }
    // j * 2^n without an intermediate overflow (AVX-512's scalef).
    let e = i32(n);
    if (e > 127) {
        return j * pow2(127) * pow2(e - 127);
    }
    if (e < -126) {
        return j * pow2(-126) * pow2(e + 126);
    }
    return j * pow2(e);
}

fn pow2(e: i32) -> f32 {
    return bitcast<f32>(u32(e + 127) << 23u);
}

fn v_silu(x: f32) -> f32 {
    return divf(x, 1.0 + v_expf(0.0 - x));
}
