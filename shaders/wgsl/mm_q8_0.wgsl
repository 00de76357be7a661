// Q8_0 weights (34-byte blocks: d, 32 signed bytes) times Q8_0 activations.

var<private> wd: f32;

fn load_unit(ro: u32, u: u32) {
    let o = ro + u * 34u;
    wd = f16_at(o);
    for (var k = 0u; k < 8u; k++) {
        let word = u32_at(o + 2u + 4u * k);
        for (var l = 0u; l < 4u; l++) {
            wq[4u * k + l] = sx8((word >> (8u * l)) & 0xffu);
        }
    }
}

fn unit_dot(ar: u32, u: u32) -> f32 {
    let ao = ar + u * 10u;
    return f32(idot(ao, 0u, 32u)) * (wd * bitcast<f32>(a[ao + 8u]));
}
