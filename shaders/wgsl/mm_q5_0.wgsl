// Q5_0 weights (22-byte blocks: d, qh with element j's fifth bit at bit j, 16 bytes of
// nibbles) times Q8_0 activations.

var<private> wd: f32;

fn load_unit(ro: u32, u: u32) {
    let o = ro + u * 22u;
    wd = f16_at(o);
    let qh = u32_at(o + 2u);
    for (var k = 0u; k < 4u; k++) {
        let word = u32_at(o + 6u + 4u * k);
        for (var l = 0u; l < 4u; l++) {
            let j = 4u * k + l;
            let q = (word >> (8u * l)) & 0xffu;
            wq[j] = i32((q & 15u) | (((qh >> j) & 1u) << 4u)) - 16;
            wq[j + 16u] = i32((q >> 4u) | (((qh >> (j + 16u)) & 1u) << 4u)) - 16;
        }
    }
}

fn unit_dot(ar: u32, u: u32) -> f32 {
    let ao = ar + u * 10u;
    return (wd * bitcast<f32>(a[ao + 8u])) * f32(idot(ao, 0u, 32u));
}
