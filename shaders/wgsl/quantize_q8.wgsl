// Activations to Q8_0/Q8_1 blocks, as ggml's x86 quantize_row_q8_0/1: per 32 values,
// d = amax / 127, q = round_half_even(x * 127 / amax). One invocation per block, which it
// writes as 10 words: 8 of packed signed bytes, d (f16-rounded, as f32 bits) and
// s = d * sum(q) (f16-rounded, for Q8_1's pairing with Q4_1), rounded by f16.wgsl.

struct Params {
    cols: u32,
    n: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let nb = p.cols / 32u;
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= nb * p.n) {
        return;
    }
    let base = (i / nb) * p.cols + (i % nb) * 32u;
    var amax = 0.0;
    for (var j = 0u; j < 32u; j++) {
        amax = max(amax, abs(x[base + j]));
    }
    let d = divf(amax, 127.0);
    let id = select(0.0, divf(127.0, amax), amax != 0.0);
    var sum = 0;
    let o = i * 10u;
    for (var k = 0u; k < 8u; k++) {
        var word = 0u;
        for (var l = 0u; l < 4u; l++) {
            let q = i32(round(x[base + 4u * k + l] * id));
            sum += q;
            word |= (u32(q) & 0xffu) << (8u * l);
        }
        a[o + k] = word;
    }
    a[o + 8u] = bitcast<u32>(round_f16(d));
    a[o + 9u] = bitcast<u32>(round_f16(d * f32(sum)));
}
