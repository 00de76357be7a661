// Q4_0 pieces (gemv.wgsl): one 18-byte block (d, 16 bytes of nibbles: element j low, j + 16
// high) per piece, times a Q8_0 block.

struct Piece {
    d: f32,
    lo: vec4<u32>,
    hi: vec4<u32>,
}

fn piece_load(ro: u32, s: u32) -> Piece {
    var pc: Piece;
    let o = ro + s * 18u;
    pc.d = half_at(o);
    let q = vec4<u32>(u32_at(o + 2u), u32_at(o + 6u), u32_at(o + 10u), u32_at(o + 14u));
    pc.lo = minus_bytes(q & vec4<u32>(NIBBLES), 0x08080808u);
    pc.hi = minus_bytes((q >> vec4<u32>(4u)) & vec4<u32>(NIBBLES), 0x08080808u);
    return pc;
}

fn piece_dot(pc: Piece, ar: u32, s: u32) -> f32 {
    let ao = ar + s * 10u;
    return f32(dot4x4(pc.lo, ao) + dot4x4(pc.hi, ao + 4u)) * (pc.d * bitcast<f32>(a[ao + 8u]));
}
