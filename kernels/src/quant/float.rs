//! The unquantized element types: F32, F16 and BF16 rows as raw little-endian bytes.
//!
//! Weight rows come straight from a memory map and may sit at any byte offset, so they are read
//! through `from_le_bytes` unless they happen to be aligned. Activations for F16/BF16 weights are
//! converted once per row to the weight's own type, as ggml does (`vec_dot_type` = F16/BF16),
//! and the products are summed in f32.

/// `ggml_compute_fp32_to_bf16`: round to nearest even; NaNs stay NaN (quieted).
#[inline(always)]
pub fn f32_to_bf16(x: f32) -> u16 {
    let u = x.to_bits();
    if (u & 0x7fff_ffff) > 0x7f80_0000 {
        return ((u >> 16) | 64) as u16;
    }
    ((u + (0x7fff + ((u >> 16) & 1))) >> 16) as u16
}

/// BF16 is the top half of an f32.
#[inline(always)]
pub fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// Reads element `i` of a little-endian u16 row.
#[inline(always)]
fn u16_at(row: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([row[2 * i], row[2 * i + 1]])
}

/// F16 row bytes to f32.
pub fn dequantize_f16(src: &[u8], dst: &mut [f32]) {
    for (i, d) in dst.iter_mut().enumerate() {
        *d = crate::f16_to_f32(u16_at(src, i));
    }
}

/// BF16 row bytes to f32.
pub fn dequantize_bf16(src: &[u8], dst: &mut [f32]) {
    for (i, d) in dst.iter_mut().enumerate() {
        *d = bf16_to_f32(u16_at(src, i));
    }
}

/// F32 row bytes to f32.
pub fn dequantize_f32(src: &[u8], dst: &mut [f32]) {
    for (c, d) in src.chunks_exact(4).zip(dst.iter_mut()) {
        *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
}

/// f32 to F16 row bytes (round to nearest even).
pub fn quantize_f16(src: &[f32], dst: &mut [u8]) {
    for (x, d) in src.iter().zip(dst.chunks_exact_mut(2)) {
        d.copy_from_slice(&crate::f32_to_f16(*x).to_le_bytes());
    }
}

/// f32 to BF16 row bytes.
pub fn quantize_bf16(src: &[f32], dst: &mut [u8]) {
    for (x, d) in src.iter().zip(dst.chunks_exact_mut(2)) {
        d.copy_from_slice(&f32_to_bf16(*x).to_le_bytes());
    }
}

/// f32 to F32 row bytes.
pub fn quantize_f32(src: &[f32], dst: &mut [u8]) {
    for (x, d) in src.iter().zip(dst.chunks_exact_mut(4)) {
        d.copy_from_slice(&x.to_le_bytes());
    }
}

/// The shared loop of the scalar float dots: eight running sums (the lane structure of an 8-wide
/// SIMD loop), added pairwise at the end, then the tail. `w(i) * a(i)` is element i's product.
#[inline(always)]
fn dot_by(n: usize, w: impl Fn(usize) -> f32, a: impl Fn(usize) -> f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut i = 0;
    while i + 8 <= n {
        for (k, acc) in acc.iter_mut().enumerate() {
            *acc += w(i + k) * a(i + k);
        }
        i += 8;
    }
    let mut tail = 0.0f32;
    for j in i..n {
        tail += w(j) * a(j);
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Dot product of two f32 slices of equal length.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    dot_by(n, |i| a[i], |i| b[i])
}

/// F32 weight row (raw bytes, any alignment) times an f32 activation row given as bytes.
pub fn vec_dot_f32(w: &[u8], a: &[u8]) -> f32 {
    let a: &[f32] = bytemuck::cast_slice(a);
    match bytemuck::try_cast_slice::<u8, f32>(w) {
        Ok(w) => dot_f32(w, a),
        Err(_) => {
            dot_by(a.len(), |i| f32::from_le_bytes([w[4 * i], w[4 * i + 1], w[4 * i + 2], w[4 * i + 3]]), |i| a[i])
        }
    }
}

/// F16 weight row times an F16 activation row (both raw bytes), summed in f32.
pub fn vec_dot_f16(w: &[u8], a: &[u8]) -> f32 {
    dot_by(w.len() / 2, |i| crate::f16_to_f32(u16_at(w, i)), |i| crate::f16_to_f32(u16_at(a, i)))
}

/// BF16 weight row times a BF16 activation row (both raw bytes), summed in f32.
pub fn vec_dot_bf16(w: &[u8], a: &[u8]) -> f32 {
    dot_by(w.len() / 2, |i| bf16_to_f32(u16_at(w, i)), |i| bf16_to_f32(u16_at(a, i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounding() {
        assert_eq!(f32_to_bf16(1.0), 0x3f80);
        // 1 + 2^-8 is exactly halfway between two bf16 values: ties go to even (1.0).
        assert_eq!(f32_to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        // 1 + 3 * 2^-8 ties upward to the even neighbour 1 + 2^-6.
        assert_eq!(f32_to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert!(bf16_to_f32(f32_to_bf16(f32::NAN)).is_nan());
        assert_eq!(bf16_to_f32(0xc040), -3.0);
    }

    #[test]
    fn unaligned_f32_weights() {
        let vals: Vec<f32> = (0..100).map(|i| i as f32 * 0.5 - 7.0).collect();
        let mut bytes = vec![0u8; 401];
        quantize_f32(&vals, &mut bytes[1..]);
        let act: Vec<f32> = (0..100).map(|i| (i % 7) as f32).collect();
        let expect = dot_f32(&vals, &act);
        assert_eq!(vec_dot_f32(&bytes[1..], bytemuck::cast_slice(&act)), expect);
    }
}
