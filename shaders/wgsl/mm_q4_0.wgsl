// Q4_0 weights (18-byte blocks: d, 16 bytes of nibbles) times Q8_0 activations.

var<private> wd: f32;

fn load_unit(ro: u32, u: u32) {
    let o = ro + u * 18u;
    wd = f16_at(o);
    for (var k = 0u; k < 4u; k++) {
        let word = u32_at(o + 2u + 4u * k);
        for (var l = 0u; l < 4u; l++) {
            let q = (word >> (8u * l)) & 0xffu;
            wq[4u * k + l] = i32(q & 15u) - 8;
            wq[4u * k + l + 16u] = i32(q >> 4u) - 8;
        }
    }
}

fn unit_dot(ar: u32, u: u32) -> f32 {
    let ao = ar + u * 10u;
    return f32(idot(ao, 0u, 32u)) * wd * bitcast<f32>(a[ao + 8u]);
}
