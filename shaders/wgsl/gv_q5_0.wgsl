// Q5_0 pieces (gemv.wgsl): one 22-byte block (d, 32 fifth bits, 16 bytes of nibbles) per
// piece, times a Q8_0 block.

var<private> gd: f32;
var<private> glo: vec4<u32>;
var<private> ghi: vec4<u32>;

// Bits 0..3 of b, each moved to bit 4 of its own byte.
fn spread4(b: u32) -> u32 {
    return ((b & 1u) << 4u) | ((b & 2u) << 11u) | ((b & 4u) << 18u) | ((b & 8u) << 25u);
}

fn piece_load(ro: u32, s: u32) {
    let o = ro + s * 22u;
    gd = half_at(o);
    let qh = u32_at(o + 2u);
    let q = vec4<u32>(u32_at(o + 6u), u32_at(o + 10u), u32_at(o + 14u), u32_at(o + 18u));
    let hl = vec4<u32>(spread4(qh), spread4(qh >> 4u), spread4(qh >> 8u), spread4(qh >> 12u));
    let hh = vec4<u32>(spread4(qh >> 16u), spread4(qh >> 20u), spread4(qh >> 24u), spread4(qh >> 28u));
    glo = minus_bytes((q & vec4<u32>(NIBBLES)) | hl, 0x10101010u);
    ghi = minus_bytes(((q >> vec4<u32>(4u)) & vec4<u32>(NIBBLES)) | hh, 0x10101010u);
}

fn piece_dot(ar: u32, s: u32) -> f32 {
    let ao = ar + s * 10u;
    return f32(dot4x4(glo, ao) + dot4x4(ghi, ao + 4u)) * (gd * bitcast<f32>(a[ao + 8u]));
}
