// Activations to Q8_K blocks (the arithmetic is q8_chunks.wgsl's): each block is written as
// 65 words: 64 of packed signed bytes, then d. (The k-quant kernels sum the bytes of a group
// themselves instead of reading bsums.) One workgroup per block, one word of four values per
// invocation.

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
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let nb = p.cols / 256u;
    let i = wid.x + wid.y * nwg.x;
    if (i >= nb * p.n) {
        return;
    }
    let base = (i / nb) * p.cols + (i % nb) * 256u + 4u * lid;
    let r = q8k_chunk(vec4<f32>(x[base], x[base + 1u], x[base + 2u], x[base + 3u]), lid);
    let o = i * 65u;
    a[o + lid] = r.word;
    if (lid == 0u) {
        a[o + 64u] = r.d;
    }
}
