// Q6_K weights (210-byte super-blocks of 256: ql[128], qh[64], 16 signed scales, d) times
// Q8_K activations (65 words: 64 of signed bytes, d) for matmul_lanes.wgsl, as ggml's AVX2
// kernel: lane l sums sc * q * q8 over the 32 elements e with (e % 32) / 4 == l (q unsigned,
// 0..63), minus 32 * (the sums of q8 times scale over the two groups of 16 of elements
// 32l..32l+31): so each lane's total is ggml's, whose f32 accumulation it decides.

// sc * q for the lane's elements 32g + 4l + k, at 4g + k.
var<private> wq32: array<i32, 32>;
// The scales of groups 2l and 2l + 1.
var<private> wsc: vec2<i32>;

fn load_lane(ro: u32, u: u32, l: u32) {
    let o = ro + u * 210u;
    wd = f16_at(o + 208u);
    for (var g = 0u; g < 8u; g++) {
        for (var k = 0u; k < 4u; k++) {
            let e = 32u * g + 4u * l + k;
            let h = e / 128u;
            let quarter = (e % 128u) / 32u;
            let i = e % 32u;
            let lb = byte_at(o + 64u * h + 32u * (quarter & 1u) + i);
            let lo = select(lb & 15u, lb >> 4u, quarter >= 2u);
            let hi = (byte_at(o + 128u + 32u * h + i) >> (2u * quarter)) & 3u;
            wq32[4u * g + k] = sx8(byte_at(o + 192u + e / 16u)) * i32(lo | (hi << 4u));
        }
    }
    wsc = vec2<i32>(sx8(byte_at(o + 192u + 2u * l)), sx8(byte_at(o + 193u + 2u * l)));
}

fn lane_fma(ar: u32, u: u32, l: u32, acc: f32) -> f32 {
    let ao = ar + u * 65u;
    var s = 0;
    for (var g = 0u; g < 8u; g++) {
        let word = a[ao + 8u * g + l];
        s += wq32[4u * g] * sx8(word & 0xffu) + wq32[4u * g + 1u] * sx8((word >> 8u) & 0xffu)
            + wq32[4u * g + 2u] * sx8((word >> 16u) & 0xffu) + wq32[4u * g + 3u] * sx8(word >> 24u);
    }
    var b0 = 0;
    var b1 = 0;
    for (var k = 0u; k < 4u; k++) {
        b0 += byte_sum(a[ao + 8u * l + k]);
        b1 += byte_sum(a[ao + 8u * l + 4u + k]);
    }
    s -= 32 * (b0 * wsc.x + b1 * wsc.y);
    return fmaf(bitcast<f32>(a[ao + 64u]) * wd, f32(s), acc);
}

fn unit_extra(ar: u32, u: u32, e: f32) -> f32 {
    return e;
}
