// Q8_0 pieces (gemv.wgsl): one 34-byte block (d, 32 signed bytes) per piece, times a Q8_0
// block.

var<private> gd: f32;
var<private> glo: vec4<u32>;
var<private> ghi: vec4<u32>;

fn piece_load(ro: u32, s: u32) {
    let o = ro + s * 34u;
    gd = half_at(o);
    glo = vec4<u32>(u32_at(o + 2u), u32_at(o + 6u), u32_at(o + 10u), u32_at(o + 14u));
    ghi = vec4<u32>(u32_at(o + 18u), u32_at(o + 22u), u32_at(o + 26u), u32_at(o + 30u));
}

fn piece_dot(ar: u32, s: u32) -> f32 {
    let ao = ar + s * 10u;
    return f32(dot4x4(glo, ao) + dot4x4(ghi, ao + 4u)) * (gd * bitcast<f32>(a[ao + 8u]));
}
