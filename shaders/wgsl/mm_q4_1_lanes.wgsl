// Q4_1 weights (20-byte blocks: d, m, 16 bytes of nibbles, ordered as Q4_0's) times Q8_1
// activations, for matmul_lanes.wgsl: the integer dot scaled by d_w * d_a, plus m_w * s_a
// summed apart (a fused multiply-add per block, as ggml's build compiles it).

var<private> wm: f32;

fn load_lane(ro: u32, u: u32, l: u32) {
    let o = ro + u * 20u;
    wd = f16_at(o);
    wm = f16_at(o + 2u);
    let word = w[(o >> 2u) + 1u + (l & 3u)] >> (4u * (l >> 2u));
    wq4 = vec4<i32>(vec4<u32>(word, word >> 8u, word >> 16u, word >> 24u) & vec4<u32>(15u));
}

fn unit_extra(ar: u32, u: u32, e: f32) -> f32 {
    return fmaf(wm, bitcast<f32>(a[ar + u * 10u + 9u]), e);
}
