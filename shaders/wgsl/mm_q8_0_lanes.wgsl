// Q8_0 weights (34-byte blocks: d, 32 signed bytes) for matmul_lanes.wgsl.

fn load_lane(ro: u32, u: u32, l: u32) {
    let o = ro + u * 34u;
    wd = f16_at(o);
    let word = u32_at(o + 2u + 4u * l);
    wq4 = vec4<i32>(sx8(word & 0xffu), sx8((word >> 8u) & 0xffu), sx8((word >> 16u) & 0xffu), sx8(word >> 24u));
}

fn unit_extra(ar: u32, u: u32, e: f32) -> f32 {
    return e;
}
