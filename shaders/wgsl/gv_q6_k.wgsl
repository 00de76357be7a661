// Q6_K pieces (gemv.wgsl): a 210-byte super-block of 256 (ql[128], qh[64], 16 signed scales,
// d) is 4 pieces of 64 weights; piece t takes half n = t / 2 and l = l0..l0 + 15
// (l0 = 16 * (t % 2)) of ggml's loop, that is elements 128n + 32m + l for m = 0..3, value
// (ql nibble | 2 bits of qh << 4) - 32 with scale sc[8n + t % 2 + 2m]. Times Q8_K activations.
// (Pieces of 32 weights reached 45% of the H200's read bandwidth: a lane needs more bytes in
// flight.)

var<private> gd: f32;
var<private> gsc: vec4<i32>;
// Elements of m = 0..3, as signed bytes.
var<private> gq0: vec4<u32>;
var<private> gq1: vec4<u32>;
var<private> gq2: vec4<u32>;
var<private> gq3: vec4<u32>;

fn six_bits(nibbles: vec4<u32>, high: vec4<u32>) -> vec4<u32> {
    return minus_bytes((nibbles & vec4<u32>(NIBBLES)) | ((high & vec4<u32>(0x03030303u)) << vec4<u32>(4u)), 0x20202020u);
}

fn piece_load(ro: u32, s: u32) {
    let o = ro + (s / 4u) * 210u;
    let t = s % 4u;
    let n = t / 2u;
    let l0 = 16u * (t % 2u);
    let ql = o + 64u * n + l0;
    let lo = vec4<u32>(u32_at(ql), u32_at(ql + 4u), u32_at(ql + 8u), u32_at(ql + 12u));
    let hi = vec4<u32>(u32_at(ql + 32u), u32_at(ql + 36u), u32_at(ql + 40u), u32_at(ql + 44u));
    let qh = o + 128u + 32u * n + l0;
    let h = vec4<u32>(u32_at(qh), u32_at(qh + 4u), u32_at(qh + 8u), u32_at(qh + 12u));
    gd = half_at(o + 208u);
    let sc = o + 192u + 8u * n + t % 2u;
    gsc = vec4<i32>(sx8(byte_at(sc)), sx8(byte_at(sc + 2u)), sx8(byte_at(sc + 4u)), sx8(byte_at(sc + 6u)));
    gq0 = six_bits(lo, h);
    gq1 = six_bits(hi, h >> vec4<u32>(2u));
    gq2 = six_bits(lo >> vec4<u32>(4u), h >> vec4<u32>(4u));
    gq3 = six_bits(hi >> vec4<u32>(4u), h >> vec4<u32>(6u));
}

fn piece_dot(ar: u32, s: u32) -> f32 {
    let ab = ar + (s / 4u) * 65u;
    let t = s % 4u;
    let b = ab + 32u * (t / 2u) + 4u * (t % 2u);
    let sum = gsc.x * dot4x4(gq0, b) + gsc.y * dot4x4(gq1, b + 8u) + gsc.z * dot4x4(gq2, b + 16u)
        + gsc.w * dot4x4(gq3, b + 24u);
    return bitcast<f32>(a[ab + 64u]) * gd * f32(sum);
}
