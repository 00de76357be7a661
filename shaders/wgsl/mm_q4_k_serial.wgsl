// Q4_K weights (144-byte super-blocks of 256: d, dmin, 12 bytes of 6-bit scales and mins,
// 128 bytes of nibbles) times Q8_K activations (65 words: 64 of signed bytes, d) for
// matmul_serial.wgsl, in the orders of llama.cpp's repacked x86 kernels (rollama_kernels::
// quant::q4_k::vec_dot and vec_dot_x4_gemm): per super-block (gemv) or per 64 elements
// (gemm), the exact sums sc * q * q8 and m * sum(q8), each folded into its own f32 chain by an
// FMA with d_w * d_a (dmin_w * d_a); the chains subtracted at the end.

fn row_dot(ro: u32, ar: u32, gemv: bool) -> f32 {
    var acc = 0.0;
    var acc_m = 0.0;
    for (var u = 0u; u < p.units; u++) {
        let o = ro + u * 144u;
        let dw = f16_at(o);
        let dmin = f16_at(o + 2u);
        let ao = ar + u * 65u;
        let da = bitcast<f32>(a[ao + 64u]);
        var sumi = 0;
        var summ = 0;
        for (var c = 0u; c < 4u; c++) {
            var lo = 0;
            var hi = 0;
            for (var k = 0u; k < 8u; k++) {
                let qw = w[((o + 16u) >> 2u) + 8u * c + k];
                let al = a[ao + 16u * c + k];
                let ah = a[ao + 16u * c + 8u + k];
                for (var b = 0u; b < 4u; b++) {
                    lo += i32((qw >> (8u * b)) & 15u) * sx8((al >> (8u * b)) & 0xffu);
                    hi += i32((qw >> (8u * b + 4u)) & 15u) * sx8((ah >> (8u * b)) & 0xffu);
                }
            }
            var bs = vec4<i32>(0);
            for (var k = 0u; k < 4u; k++) {
                bs += vec4<i32>(
                    byte_sum(a[ao + 16u * c + k]),
                    byte_sum(a[ao + 16u * c + 4u + k]),
                    byte_sum(a[ao + 16u * c + 8u + k]),
                    byte_sum(a[ao + 16u * c + 12u + k]),
                );
            }
            let s0 = q4k_scale_min(o + 4u, 2u * c);
            let s1 = q4k_scale_min(o + 4u, 2u * c + 1u);
            let sc = i32(s0.x) * lo + i32(s1.x) * hi;
            let mn = i32(s0.y) * (bs.x + bs.y) + i32(s1.y) * (bs.z + bs.w);
            if (gemv) {
                sumi += sc;
                summ += mn;
            } else {
                acc = fmaf(f32(sc), dw * da, acc);
                acc_m = fmaf(f32(mn), dmin * da, acc_m);
            }
        }
        if (gemv) {
            acc = fmaf(f32(sumi), dw * da, acc);
            acc_m = fmaf(f32(summ), dmin * da, acc_m);
        }
    }
    return acc - acc_m;
}
