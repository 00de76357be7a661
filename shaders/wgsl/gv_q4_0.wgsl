// Q4_0 pieces (gemv.wgsl): one 18-byte block (d, 16 bytes of nibbles: element j low, j + 16
// high) per piece, times a Q8_0 block.

var<private> gd: f32;
var<private> glo: vec4<u32>;
var<private> ghi: vec4<u32>;

fn piece_load(ro: u32, s: u32) {
    let o = ro + s * 18u;
    gd = half_at(o);
    let q = vec4<u32>(u32_at(o + 2u), u32_at(o + 6u), u32_at(o + 10u), u32_at(o + 14u));
    glo = minus_bytes(q & vec4<u32>(NIBBLES), 0x08080808u);
    ghi = minus_bytes((q >> vec4<u32>(4u)) & vec4<u32>(NIBBLES), 0x08080808u);
}

fn piece_dot(ar: u32, s: u32) -> f32 {
    let ao = ar + s * 10u;
    return f32(dot4x4(glo, ao) + dot4x4(ghi, ao + 4u)) * (gd * bitcast<f32>(a[ao + 8u]));
}
