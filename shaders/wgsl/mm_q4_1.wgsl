// Q4_1 weights (20-byte blocks: d, m, 16 bytes of nibbles) times Q8_1 activations:
// (d_w * d_a) * sum(q_w * q_a) + m_w * s_a.

var<private> wd: f32;
var<private> wm: f32;

fn load_unit(ro: u32, u: u32) {
    let o = ro + u * 20u;
    wd = f16_value(w[o >> 2u] & 0xffffu);
    wm = f16_value(w[o >> 2u] >> 16u);
    for (var k = 0u; k < 4u; k++) {
        let word = w[(o >> 2u) + 1u + k];
        for (var l = 0u; l < 4u; l++) {
            let q = (word >> (8u * l)) & 0xffu;
            wq[4u * k + l] = i32(q & 15u);
            wq[4u * k + l + 16u] = i32(q >> 4u);
        }
    }
}

fn unit_dot(ar: u32, u: u32) -> f32 {
    let ao = ar + u * 10u;
    return (wd * bitcast<f32>(a[ao + 8u])) * f32(idot(ao, 0u, 32u)) + wm * bitcast<f32>(a[ao + 9u]);
}
