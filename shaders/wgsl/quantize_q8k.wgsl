// Activations to Q8_K blocks, as ggml's quantize_row_q8_K_ref: per 256 values the signed
// extreme maps to -127, q = min(round_half_even(x * -127 / max), 127), d = 1 / iscale. One
// invocation per block, which it writes as 65 words: 64 of packed signed bytes, then d.
// (The k-quant kernels sum the bytes of a group themselves instead of reading bsums.)

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
    let nb = p.cols / 256u;
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= nb * p.n) {
        return;
    }
    let base = (i / nb) * p.cols + (i % nb) * 256u;
    let o = i * 65u;
    var amax = 0.0;
    var mx = 0.0;
    for (var j = 0u; j < 256u; j++) {
        let v = x[base + j];
        if (abs(v) > amax) {
            amax = abs(v);
            mx = v;
        }
    }
    if (amax == 0.0) {
        for (var k = 0u; k < 65u; k++) {
            a[o + k] = 0u;
        }
        return;
    }
    let iscale = divf(-127.0, mx);
    for (var k = 0u; k < 64u; k++) {
        var word = 0u;
        for (var l = 0u; l < 4u; l++) {
            let q = min(i32(round(iscale * x[base + 4u * k + l])), 127);
            word |= (u32(q) & 0xffu) << (8u * l);
        }
        a[o + k] = word;
    }
    a[o + 64u] = bitcast<u32>(divf(1.0, iscale));
}
