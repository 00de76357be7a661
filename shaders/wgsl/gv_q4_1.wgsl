// Q4_1 pieces (gemv.wgsl): one 20-byte block (d, m, 16 bytes of nibbles) per piece, times a
// Q8_1 block: (d * d_a) * sum(q * q_a) + m * s_a.

struct Piece {
    dm: vec2<f32>,
    lo: vec4<u32>,
    hi: vec4<u32>,
}

fn piece_load(ro: u32, s: u32) -> Piece {
    var pc: Piece;
    let o = (ro + s * 20u) >> 2u;
    pc.dm = unpack2x16float(w[o]);
    let q = vec4<u32>(w[o + 1u], w[o + 2u], w[o + 3u], w[o + 4u]);
    pc.lo = q & vec4<u32>(NIBBLES);
    pc.hi = (q >> vec4<u32>(4u)) & vec4<u32>(NIBBLES);
    return pc;
}

fn piece_dot(pc: Piece, ar: u32, s: u32) -> f32 {
    let ao = ar + s * 10u;
    let qs = f32(dot4x4(pc.lo, ao) + dot4x4(pc.hi, ao + 4u));
    return qs * (pc.dm.x * bitcast<f32>(a[ao + 8u])) + pc.dm.y * bitcast<f32>(a[ao + 9u]);
}
