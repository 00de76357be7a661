// f32 <-> f16 conversions done with integer ops, rounding to nearest even and keeping
// subnormals, as the `half` crate (and so the CPU backend) does. WGSL's quantizeToF16 and
// pack2x16float may flush subnormals and leave the rounding to the driver; the attention
// keeps a running f16 sum, where one different rounding moves a result by a part in 2000.

// The f16 bits (low 16) of x.
fn f16_bits(x: f32) -> u32 {
    let b = bitcast<u32>(x);
    let sign = (b >> 16u) & 0x8000u;
    let a = b & 0x7fffffffu;
    if (a >= 0x7f800000u) {
        // Infinity, or a NaN kept quiet.
        return sign | select(0x7c00u, 0x7e00u | ((a >> 13u) & 0x3ffu), a > 0x7f800000u);
    }
    if (a >= 0x477ff000u) {
        // Rounds to 65520 or more: infinity.
        return sign | 0x7c00u;
    }
    if (a >= 0x38800000u) {
        // A normal f16: drop 13 mantissa bits, ties to even (a carry may raise the exponent).
        let r = a + 0xfffu + ((a >> 13u) & 1u);
        return sign | ((r - 0x38000000u) >> 13u);
    }
    // A subnormal f16 (or zero): multiples of 2^-24, ties to even.
    return sign | u32(round(bitcast<f32>(a) * 16777216.0));
}

// The f32 value of f16 bits h (low 16).
fn f16_value(h: u32) -> f32 {
    let sign = (h & 0x8000u) << 16u;
    let e = (h >> 10u) & 0x1fu;
    let m = h & 0x3ffu;
    if (e == 0u) {
        let v = f32(m) * 5.9604645e-8;
        return select(v, -v, sign != 0u);
    }
    if (e == 31u) {
        return bitcast<f32>(sign | 0x7f800000u | (m << 13u));
    }
    return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}

// x rounded to the nearest f16, as an f32.
fn round_f16(x: f32) -> f32 {
    return f16_value(f16_bits(x));
}

// Two f16 values packed in a word, low half first.
fn pack_f16(a: f32, b: f32) -> u32 {
    return f16_bits(a) | (f16_bits(b) << 16u);
}

// Half `i` (0 low, 1 high) of a packed word.
fn unpack_f16(w: u32, i: u32) -> f32 {
    return f16_value((w >> (16u * i)) & 0xffffu);
}
