// Activations to Q8_K blocks, as ggml's quantize_row_q8_K_ref: per 256 values the signed
// extreme (the first of largest magnitude) maps to -127,
// q = min(round_half_even(x * -127 / max), 127), d = 1 / iscale. Each block is written as 65
// words: 64 of packed signed bytes, then d. (The k-quant kernels sum the bytes of a group
// themselves instead of reading bsums.) One workgroup per block, one word of four values per
// invocation; the extreme is reduced in shared memory, ties to the lower index as in ggml's
// loop.

struct Params {
    cols: u32,
    n: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<u32>;

// Per invocation: the magnitude and value of its extreme, and its index in the block.
var<workgroup> mags: array<f32, 64>;
var<workgroup> vals: array<f32, 64>;
var<workgroup> idxs: array<u32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let nb = p.cols / 256u;
    let i = wid.x + wid.y * nwg.x;
    if (i >= nb * p.n) {
        return;
    }
    let base = (i / nb) * p.cols + (i % nb) * 256u + 4u * lid;
    let v = array<f32, 4>(x[base], x[base + 1u], x[base + 2u], x[base + 3u]);
    var mag = 0.0;
    var val = 0.0;
    var idx = 4u * lid;
    for (var l = 0u; l < 4u; l++) {
        if (abs(v[l]) > mag) {
            mag = abs(v[l]);
            val = v[l];
            idx = 4u * lid + l;
        }
    }
    mags[lid] = mag;
    vals[lid] = val;
    idxs[lid] = idx;
    workgroupBarrier();
    for (var h = 32u; h > 0u; h >>= 1u) {
        if (lid < h) {
            let m2 = mags[lid + h];
            if (m2 > mags[lid] || (m2 == mags[lid] && m2 > 0.0 && idxs[lid + h] < idxs[lid])) {
                mags[lid] = m2;
                vals[lid] = vals[lid + h];
                idxs[lid] = idxs[lid + h];
            }
        }
        workgroupBarrier();
    }
    let o = i * 65u;
    if (mags[0] == 0.0) {
        a[o + lid] = 0u;
        if (lid == 0u) {
            a[o + 64u] = 0u;
        }
        return;
    }
    let iscale = divf(-127.0, vals[0]);
    var word = 0u;
    for (var l = 0u; l < 4u; l++) {
        let q = min(i32(round(iscale * v[l])), 127);
        word |= (u32(q) & 0xffu) << (8u * l);
    }
    a[o + lid] = word;
    if (lid == 0u) {
        a[o + 64u] = bitcast<u32>(divf(1.0, iscale));
    }
}
