// out[t] = x[t] / rms(x[t]) * weight: one workgroup per row, the sum of squares reduced in
// shared memory. As ggml: the squares rounded to f32, summed wide (f64 where the arith part
// has it: then the mean rounds to the f32 of the CPU's sequential f64 sum but for inputs
// within ~2^-44 of an f32 midpoint), scale = 1 / sqrt(mean + eps), then x * scale * weight.

struct Params {
    width: u32,
    eps: f32,
    rows: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;
var<workgroup> part: array<Wide, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = wid.x + wid.y * nwg.x;
    if (t >= p.rows) {
        return;
    }
    let base = t * p.width;
    var s = wide(0.0);
    for (var i = lid; i < p.width; i += WG) {
        let v = x[base + i];
        s += wide(v * v);
    }
    part[lid] = s;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k >>= 1u) {
        if (lid < k) {
            part[lid] += part[lid + k];
        }
        workgroupBarrier();
    }
    let mean = wide_div(part[0], f32(p.width));
    let scale = divf(1.0, sqrtf(mean + p.eps));
    for (var i = lid; i < p.width; i += WG) {
        out[base + i] = (x[base + i] * scale) * weight[i];
    }
}
