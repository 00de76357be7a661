// Activations to Q8_0/Q8_1 blocks (the arithmetic is q8_chunks.wgsl's): each block is written
// as 10 words: 8 of packed signed bytes, d and s = d * sum(q) (f16-rounded, for Q8_1's
// pairing with Q4_1). Eight invocations share a block, one word of four values each, so a
// decode step's few blocks are not a few serial invocations' long loops.

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
    let nb = p.cols / 32u;
    // Eight blocks per workgroup; invocation lid does word lid % 8 of block lid / 8.
    let i = (wid.x + wid.y * nwg.x) * 8u + lid / 8u;
    let part = lid % 8u;
    let live = i < nb * p.n;
    let base = (i / nb) * p.cols + (i % nb) * 32u + 4u * part;
    var v = vec4<f32>(0.0);
    if (live) {
        v = vec4<f32>(x[base], x[base + 1u], x[base + 2u], x[base + 3u]);
    }
    let r = q8_chunk(v, lid);
    if (live) {
        let o = i * 10u;
        a[o + part] = r.word;
        if (part == 0u) {
            a[o + 8u] = r.d;
            a[o + 9u] = r.s;
        }
    }
}
