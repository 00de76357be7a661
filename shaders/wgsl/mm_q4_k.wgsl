// Q4_K weights (144-byte super-blocks of 256: d, dmin, 12 bytes of 6-bit scales and mins,
// 128 bytes of nibbles) times Q8_K activations, one group of 32 (one scale, one min) per unit:
// sc * sum(q_w * q_a) * (d * d_a) - m * sum(q_a) * (dmin * d_a).

var<private> wd: f32;
var<private> wdmin: f32;
var<private> wsm: vec2<u32>;

fn load_unit(ro: u32, u: u32) {
    let o = ro + (u / 8u) * 144u;
    let g = u % 8u;
    let dm = vec2<f32>(f16_value(w[o >> 2u] & 0xffffu), f16_value(w[o >> 2u] >> 16u));
    wd = dm.x;
    wdmin = dm.y;
    wsm = q4k_scale_min(o + 4u, g);
    let shift = (g & 1u) * 4u;
    let q0 = (o + 16u + 32u * (g / 2u)) >> 2u;
    for (var k = 0u; k < 8u; k++) {
        let word = w[q0 + k];
        for (var l = 0u; l < 4u; l++) {
            wq[4u * k + l] = i32((word >> (8u * l + shift)) & 15u);
        }
    }
}

fn unit_dot(ar: u32, u: u32) -> f32 {
    let ab = ar + (u / 8u) * 65u;
    let ao = ab + (u % 8u) * 8u;
    let da = bitcast<f32>(a[ab + 64u]);
    let s = i32(wsm.x) * idot(ao, 0u, 32u);
    let m = i32(wsm.y) * asum(ao);
    return f32(s) * (wd * da) - f32(m) * (wdmin * da);
}
