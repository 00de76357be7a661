// Q4_1 pieces (gemv.wgsl): one 20-byte block (d, m, 16 bytes of nibbles) per piece, times a
// Q8_1 block: (d * d_a) * sum(q * q_a) + m * s_a.

var<private> gdm: vec2<f32>;
var<private> glo: vec4<u32>;
var<private> ghi: vec4<u32>;

fn piece_load(ro: u32, s: u32) {
    let o = (ro + s * 20u) >> 2u;
    gdm = unpack2x16float(w[o]);
    let q = vec4<u32>(w[o + 1u], w[o + 2u], w[o + 3u], w[o + 4u]);
    glo = q & vec4<u32>(NIBBLES);
    ghi = (q >> vec4<u32>(4u)) & vec4<u32>(NIBBLES);
}

fn piece_dot(ar: u32, s: u32) -> f32 {
    let ao = ar + s * 10u;
    let qs = f32(dot4x4(glo, ao) + dot4x4(ghi, ao + 4u));
    return qs * (gdm.x * bitcast<f32>(a[ao + 8u])) + gdm.y * bitcast<f32>(a[ao + 9u]);
}
