// Q6_K pieces (gemv.wgsl): a 210-byte super-block of 256 (ql[128], qh[64], 16 signed scales,
// d) is 8 pieces; piece t takes half n = t / 4 and l = l0..l0 + 7 (l0 = 8 * (t % 4)) of ggml's
// loop, that is elements 128n + 32m + l for m = 0..3, value
// (ql nibble | 2 bits of qh << 4) - 32 with scale sc[8n + l0 / 16 + 2m]. Times Q8_K activations.

var<private> gd: f32;
var<private> gsc: vec4<i32>;
// Elements of m = 0 (x, y) and m = 1 (z, w), then m = 2 and m = 3, as signed bytes.
var<private> gq0: vec4<u32>;
var<private> gq1: vec4<u32>;

fn piece_load(ro: u32, s: u32) {
    let o = ro + (s / 8u) * 210u;
    let t = s % 8u;
    let n = t / 4u;
    let l0 = 8u * (t % 4u);
    gd = half_at(o + 208u);
    let sc = o + 192u + 8u * n + l0 / 16u;
    gsc = vec4<i32>(sx8(byte_at(sc)), sx8(byte_at(sc + 2u)), sx8(byte_at(sc + 4u)), sx8(byte_at(sc + 6u)));
    let ql = o + 64u * n + l0;
    let lo = vec4<u32>(u32_at(ql), u32_at(ql + 4u), u32_at(ql + 32u), u32_at(ql + 36u));
    let qh = o + 128u + 32u * n + l0;
    let h = vec4<u32>(u32_at(qh), u32_at(qh + 4u), 0u, 0u).xyxy;
    let h01 = vec4<u32>(h.xy, h.zw >> vec2<u32>(2u));
    let h23 = vec4<u32>(h.xy >> vec2<u32>(4u), h.zw >> vec2<u32>(6u));
    let m = vec4<u32>(0x03030303u);
    gq0 = minus_bytes((lo & vec4<u32>(NIBBLES)) | ((h01 & m) << vec4<u32>(4u)), 0x20202020u);
    gq1 = minus_bytes(((lo >> vec4<u32>(4u)) & vec4<u32>(NIBBLES)) | ((h23 & m) << vec4<u32>(4u)), 0x20202020u);
}

fn piece_dot(ar: u32, s: u32) -> f32 {
    let ab = ar + (s / 8u) * 65u;
    let t = s % 8u;
    let b = ab + 32u * (t / 4u) + 2u * (t % 4u);
    let s0 = dot4I8Packed(gq0.x, a[b]) + dot4I8Packed(gq0.y, a[b + 1u]);
    let s1 = dot4I8Packed(gq0.z, a[b + 8u]) + dot4I8Packed(gq0.w, a[b + 9u]);
    let s2 = dot4I8Packed(gq1.x, a[b + 16u]) + dot4I8Packed(gq1.y, a[b + 17u]);
    let s3 = dot4I8Packed(gq1.z, a[b + 24u]) + dot4I8Packed(gq1.w, a[b + 25u]);
    let sum = gsc.x * s0 + gsc.y * s1 + gsc.z * s2 + gsc.w * s3;
    return bitcast<f32>(a[ab + 64u]) * gd * f32(sum);
}
