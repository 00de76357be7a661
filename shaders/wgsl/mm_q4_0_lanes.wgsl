// Q4_0 weights (18-byte blocks: d, 16 bytes of nibbles; element i < 16 is byte i's low
// nibble, element i + 16 its high one, minus 8) for matmul_lanes.wgsl.

fn load_lane(ro: u32, u: u32, l: u32) {
    let o = ro + u * 18u;
    wd = f16_at(o);
    let word = u32_at(o + 2u + 4u * (l & 3u)) >> (4u * (l >> 2u));
    wq4 = vec4<i32>(vec4<u32>(word, word >> 8u, word >> 16u, word >> 24u) & vec4<u32>(15u)) - vec4<i32>(8);
}

fn unit_extra(ar: u32, u: u32, e: f32) -> f32 {
    return e;
}
