// Byte access to a weight matrix stored as raw GGUF block bytes in `w: array<u32>`, and the
// dequantization of one element of a row in each supported ggml type. Prepended to the
// kernels that read weights (get_rows and every matmul); they declare `w`.

fn byte_at(off: u32) -> u32 {
    return (w[off >> 2u] >> ((off & 3u) * 8u)) & 0xffu;
}

fn u16_at(off: u32) -> u32 {
    return byte_at(off) | (byte_at(off + 1u) << 8u);
}

// Four bytes from any byte offset (blocks of 18, 22, 34 or 210 bytes are not word aligned).
fn u32_at(off: u32) -> u32 {
    let i = off >> 2u;
    let sh = (off & 3u) * 8u;
    if (sh == 0u) {
        return w[i];
    }
    return (w[i] >> sh) | (w[i + 1u] << (32u - sh));
}

// Exactly, subnormals included (f16.wgsl's conversion, not the driver's).
fn f16_at(off: u32) -> f32 {
    return f16_value(u16_at(off));
}

// A signed byte's value.
fn sx8(b: u32) -> i32 {
    return i32(b << 24u) >> 24u;
}

// The sum of a word's four signed bytes.
fn byte_sum(word: u32) -> i32 {
    return sx8(word & 0xffu) + sx8((word >> 8u) & 0xffu) + sx8((word >> 16u) & 0xffu) + sx8(word >> 24u);
}

// Q4_K's 6-bit scale (x) and min (y) of group j, as ggml's get_scale_min_k4.
fn q4k_scale_min(o: u32, j: u32) -> vec2<u32> {
    if (j < 4u) {
        return vec2<u32>(byte_at(o + j) & 63u, byte_at(o + j + 4u) & 63u);
    }
    let a = byte_at(o + j + 4u);
    return vec2<u32>((a & 15u) | ((byte_at(o + j - 4u) >> 6u) << 4u), (a >> 4u) | ((byte_at(o + j) >> 6u) << 4u));
}

// Element i of the row starting at byte ro, in ggml type ty (ids as in enum ggml_type).
fn dequant(ty: u32, ro: u32, i: u32) -> f32 {
    switch ty {
        case 0u: {
            return bitcast<f32>(w[(ro >> 2u) + i]);
        }
        case 1u: {
            return f16_at(ro + 2u * i);
        }
        case 2u: {
            // Q4_0: d, 16 bytes of nibbles (element j low, j + 16 high).
            let o = ro + (i / 32u) * 18u;
            let j = i % 32u;
            let q = byte_at(o + 2u + (j % 16u));
            let v = select(q & 15u, q >> 4u, j >= 16u);
            return f16_at(o) * f32(i32(v) - 8);
        }
        case 3u: {
            // Q4_1: d, m, nibbles.
            let o = ro + (i / 32u) * 20u;
            let j = i % 32u;
            let q = byte_at(o + 4u + (j % 16u));
            let v = select(q & 15u, q >> 4u, j >= 16u);
            return f16_at(o) * f32(v) + f16_at(o + 2u);
        }
        case 6u: {
            // Q5_0: d, qh (bit j is element j's fifth bit), nibbles.
            let o = ro + (i / 32u) * 22u;
            let j = i % 32u;
            let q = byte_at(o + 6u + (j % 16u));
            let lo = select(q & 15u, q >> 4u, j >= 16u);
            let h = (u32_at(o + 2u) >> j) & 1u;
            return f16_at(o) * f32(i32(lo | (h << 4u)) - 16);
        }
        case 8u: {
            // Q8_0: d, 32 signed bytes.
            let o = ro + (i / 32u) * 34u;
            return f16_at(o) * f32(sx8(byte_at(o + 2u + i % 32u)));
        }
        case 12u: {
            // Q4_K: d, dmin, 12 bytes of scales and mins, 128 bytes of nibbles.
            let o = ro + (i / 256u) * 144u;
            let e = i % 256u;
            let c = e / 64u;
            let hi = (e % 64u) >= 32u;
            let q = byte_at(o + 16u + 32u * c + e % 32u);
            let v = select(q & 15u, q >> 4u, hi);
            let sm = q4k_scale_min(o + 4u, 2u * c + select(0u, 1u, hi));
            let d1 = f16_at(o) * f32(sm.x);
            let m1 = f16_at(o + 2u) * f32(sm.y);
            return d1 * f32(v) - m1;
        }
        case 14u: {
            // Q6_K: ql[128], qh[64], scales[16] (signed), d.
            let o = ro + (i / 256u) * 210u;
            let e = i % 256u;
            let h = e / 128u;
            let r = e % 128u;
            let quarter = r / 32u;
            let l = r % 32u;
            let ql = byte_at(o + 64u * h + l + (quarter & 1u) * 32u);
            let lo = select(ql & 15u, ql >> 4u, quarter >= 2u);
            let hb = (byte_at(o + 128u + 32u * h + l) >> (2u * quarter)) & 3u;
            let v = i32(lo | (hb << 4u)) - 32;
            let sc = sx8(byte_at(o + 192u + 8u * h + r / 16u));
            return f16_at(o + 208u) * f32(sc) * f32(v);
        }
        default: {
            return 0.0;
        }
    }
}
