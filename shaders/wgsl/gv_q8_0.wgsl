// Q8_0 pieces (gemv.wgsl): one 34-byte block (d, 32 signed bytes) per piece, times a Q8_0
// block.

struct Piece {
    d: f32,
    lo: vec4<u32>,
    hi: vec4<u32>,
}

fn piece_load(ro: u32, s: u32) -> Piece {
    var pc: Piece;
    let o = ro + s * 34u;
    pc.d = half_at(o);
    pc.lo = vec4<u32>(u32_at(o + 2u), u32_at(o + 6u), u32_at(o + 10u), u32_at(o + 14u));
    pc.hi = vec4<u32>(u32_at(o + 18u), u32_at(o + 22u), u32_at(o + 26u), u32_at(o + 30u));
    return pc;
}

fn piece_dot(pc: Piece, ar: u32, s: u32) -> f32 {
    let ao = ar + s * 10u;
    return f32(dot4x4(pc.lo, ao) + dot4x4(pc.hi, ao + 4u)) * (pc.d * bitcast<f32>(a[ao + 8u]));
}
