// Q5_0 weights (22-byte blocks: d, qh with element i's fifth bit at bit i, 16 bytes of
// nibbles ordered as Q4_0's; value minus 16) for matmul_lanes.wgsl.

fn load_lane(ro: u32, u: u32, l: u32) {
    let o = ro + u * 22u;
    wd = f16_at(o);
    let qh = u32_at(o + 2u) >> (4u * l);
    let word = u32_at(o + 6u + 4u * (l & 3u)) >> (4u * (l >> 2u));
    let lo = vec4<u32>(word, word >> 8u, word >> 16u, word >> 24u) & vec4<u32>(15u);
    let hi = (vec4<u32>(qh, qh >> 1u, qh >> 2u, qh >> 3u) & vec4<u32>(1u)) << vec4<u32>(4u);
    wq4 = vec4<i32>(lo | hi) - vec4<i32>(16);
}

fn unit_extra(ar: u32, u: u32, e: f32) -> f32 {
    return e;
}
