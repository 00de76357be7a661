// Activations to Q8_0/Q8_1 blocks, as ggml's x86 quantize_row_q8_0/1: per 32 values,
// d = amax / 127, q = round_half_even(x * 127 / amax). Each block is written as 10 words: 8
// of packed signed bytes, d (f16-rounded, as f32 bits) and s = d * sum(q) (f16-rounded, for
// Q8_1's pairing with Q4_1), rounded by f16.wgsl. Eight invocations share a block, one word
// of four values each; the block's amax and sum(q) are reduced in shared memory (a decode
// step's few blocks would otherwise be a few serial invocations' long loops).

struct Params {
    cols: u32,
    n: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<u32>;

var<workgroup> amaxes: array<f32, 64>;
var<workgroup> sums: array<i32, 64>;

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
    let av = abs(v);
    amaxes[lid] = max(max(av.x, av.y), max(av.z, av.w));
    workgroupBarrier();
    for (var h = 4u; h > 0u; h >>= 1u) {
        if (part < h) {
            amaxes[lid] = max(amaxes[lid], amaxes[lid + h]);
        }
        workgroupBarrier();
    }
    let amax = amaxes[lid - part];
    let d = divf(amax, 127.0);
    let id = select(0.0, divf(127.0, amax), amax != 0.0);
    let q = vec4<i32>(round(v * id));
    sums[lid] = q.x + q.y + q.z + q.w;
    workgroupBarrier();
    for (var h = 4u; h > 0u; h >>= 1u) {
        if (part < h) {
            sums[lid] += sums[lid + h];
        }
        workgroupBarrier();
    }
    if (!live) {
        return;
    }
    let o = i * 10u;
    let b = vec4<u32>(q) & vec4<u32>(0xffu);
    a[o + part] = b.x | (b.y << 8u) | (b.z << 16u) | (b.w << 24u);
    if (part == 0u) {
        a[o + 8u] = bitcast<u32>(round_f16(d));
        a[o + 9u] = bitcast<u32>(round_f16(d * f32(sums[lid])));
    }
}
