// Q4_K pieces (gemv.wgsl): a 144-byte super-block of 256 (d, dmin, 12 bytes of 6-bit scales
// and mins, 128 bytes of nibbles) is 8 pieces; piece g takes 16 bytes of nibbles from chunk
// c = g / 2, half h = g % 2: its low nibbles are elements 64c + 16h + 0..15 (group 2c), its
// high ones 64c + 32 + 16h + 0..15 (group 2c + 1). Times Q8_K activations:
// d_a * (d * (sc0 * sum0 + sc1 * sum1) - dmin * (m0 * asum0 + m1 * asum1)).

var<private> gdm: vec2<f32>;
// Scales of groups 2c, 2c + 1, then their mins.
var<private> gsm: vec4<i32>;
var<private> glo: vec4<u32>;
var<private> ghi: vec4<u32>;

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
    let o = (ro + (s / 8u) * 144u) >> 2u;
    let g = s % 8u;
    let c = g / 2u;
    gdm = unpack2x16float(w[o]);
    let s0 = w[o + 1u];
    let s1 = w[o + 2u];
    let s2 = w[o + 3u];
    let a0 = scale_min(s0, s1, s2, 2u * c);
    let a1 = scale_min(s0, s1, s2, 2u * c + 1u);
    gsm = vec4<i32>(a0.x, a1.x, a0.y, a1.y);
    let q0 = o + 4u + 8u * c + 4u * (g % 2u);
    let q = vec4<u32>(w[q0], w[q0 + 1u], w[q0 + 2u], w[q0 + 3u]);
    glo = q & vec4<u32>(NIBBLES);
    ghi = (q >> vec4<u32>(4u)) & vec4<u32>(NIBBLES);
}

fn piece_dot(ar: u32, s: u32) -> f32 {
    let ab = ar + (s / 8u) * 65u;
    let g = s % 8u;
    let lo = ab + 16u * (g / 2u) + 4u * (g % 2u);
    let hi = lo + 8u;
    let sums = gsm.x * dot4x4(glo, lo) + gsm.y * dot4x4(ghi, hi);
    let mins = gsm.z * sum4(lo) + gsm.w * sum4(hi);
    return bitcast<f32>(a[ab + 64u]) * (gdm.x * f32(sums) - gdm.y * f32(mins));
}
