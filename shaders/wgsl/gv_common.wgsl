// Helpers of the decode kernels (gemv.wgsl): packed-byte arithmetic on words of four bytes.

const ONES: u32 = 0x01010101u;
const NIBBLES: u32 = 0x0f0f0f0fu;

// The f16 at even byte offset o, by the hardware's conversion (f32 steps need no more).
fn half_at(o: u32) -> f32 {
    let v = w[o >> 2u];
    return unpack2x16float(select(v, v >> 16u, (o & 2u) != 0u)).x;
}

// Bytes b (each at most 127 + k) minus k each (k = 0x0k0k0k0k), as signed bytes: setting
// each top bit first keeps the subtraction from borrowing across bytes.
fn minus_bytes(b: vec4<u32>, k: u32) -> vec4<u32> {
    return ((b | vec4<u32>(0x80808080u)) - vec4<u32>(k)) ^ vec4<u32>(0x80808080u);
}

// Four weight words times activation words ao..ao + 3, summed.
fn dot4x4(q: vec4<u32>, ao: u32) -> i32 {
    return dot4I8Packed(q.x, a[ao]) + dot4I8Packed(q.y, a[ao + 1u]) + dot4I8Packed(q.z, a[ao + 2u])
        + dot4I8Packed(q.w, a[ao + 3u]);
}

// The sum of the signed bytes of activation words ao..ao + 3.
fn sum4(ao: u32) -> i32 {
    return dot4I8Packed(ONES, a[ao]) + dot4I8Packed(ONES, a[ao + 1u]) + dot4I8Packed(ONES, a[ao + 2u])
        + dot4I8Packed(ONES, a[ao + 3u]);
}
