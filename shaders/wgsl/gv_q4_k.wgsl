// Q4_K pieces (gemv.wgsl): a 144-byte super-block of 256 (d, dmin, 12 bytes of 6-bit scales
// and mins, 128 bytes of nibbles) is 4 pieces of 64 weights; piece c takes chunk c's 32 bytes
// of nibbles: its low nibbles are elements 64c + 0..31 (group 2c), its high ones
// 64c + 32..63 (group 2c + 1). Times Q8_K activations:
// d_a * (d * (sc0 * sum0 + sc1 * sum1) - dmin * (m0 * asum0 + m1 * asum1)).
// (Pieces of 32 weights, 16 bytes, reached 43% of the H200's read bandwidth where Q8_0's
// 34-byte pieces reached 69%: a lane needs more bytes in flight.)

var<private> gdm: vec2<f32>;
// Scales of groups 2c, 2c + 1, then their mins.
var<private> gsm: vec4<i32>;
// Low nibbles (words 0..3, 4..7 of the chunk), then high.
var<private> glo0: vec4<u32>;
var<private> glo1: vec4<u32>;
var<private> ghi0: vec4<u32>;
var<private> ghi1: vec4<u32>;

fn byte_of(v: u32, i: u32) -> u32 {
    return (v >> (8u * i)) & 0xffu;
}

// ggml's get_scale_min_k4 from the scale words s0, s1, s2 (bytes 0..11).
fn scale_min(s0: u32, s1: u32, s2: u32, j: u32) -> vec2<i32> {
    if (j < 4u) {
        return vec2<i32>(i32(byte_of(s0, j) & 63u), i32(byte_of(s1, j) & 63u));
    }
    let b = byte_of(s2, j - 4u);
    let sc = (b & 15u) | ((byte_of(s0, j - 4u) >> 6u) << 4u);
    let m = (b >> 4u) | ((byte_of(s1, j - 4u) >> 6u) << 4u);
    return vec2<i32>(i32(sc), i32(m));
}

fn piece_load(ro: u32, s: u32) {
    let o = (ro + (s / 4u) * 144u) >> 2u;
    let c = s % 4u;
    let q0 = o + 4u + 8u * c;
    let qa = vec4<u32>(w[q0], w[q0 + 1u], w[q0 + 2u], w[q0 + 3u]);
    let qb = vec4<u32>(w[q0 + 4u], w[q0 + 5u], w[q0 + 6u], w[q0 + 7u]);
    gdm = unpack2x16float(w[o]);
    let s0 = w[o + 1u];
    let s1 = w[o + 2u];
    let s2 = w[o + 3u];
    let a0 = scale_min(s0, s1, s2, 2u * c);
    let a1 = scale_min(s0, s1, s2, 2u * c + 1u);
    gsm = vec4<i32>(a0.x, a1.x, a0.y, a1.y);
    glo0 = qa & vec4<u32>(NIBBLES);
    glo1 = qb & vec4<u32>(NIBBLES);
    ghi0 = (qa >> vec4<u32>(4u)) & vec4<u32>(NIBBLES);
    ghi1 = (qb >> vec4<u32>(4u)) & vec4<u32>(NIBBLES);
}

fn piece_dot(ar: u32, s: u32) -> f32 {
    let ab = ar + (s / 4u) * 65u;
    let lo = ab + 16u * (s % 4u);
    let hi = lo + 8u;
    let sums = gsm.x * (dot4x4(glo0, lo) + dot4x4(glo1, lo + 4u)) + gsm.y * (dot4x4(ghi0, hi) + dot4x4(ghi1, hi + 4u));
    let mins = gsm.z * (sum4(lo) + sum4(lo + 4u)) + gsm.w * (sum4(hi) + sum4(hi + 4u));
    return bitcast<f32>(a[ab + 64u]) * (gdm.x * f32(sums) - gdm.y * f32(mins));
}
