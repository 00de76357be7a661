// The body of rms_norm.wgsl and add_rms_norm.wgsl, which supply the storage bindings and
// row_value(i), value i of the input (add_rms_norm.wgsl also writes it back).

struct Params {
    width: u32,
    eps: f32,
    rows: u32,
    // Bit 0: also write Q8 blocks of the output, bit 1: Q8_K (see norm_quant.wgsl).
    quant: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

const WG: u32 = 256u;
var<workgroup> part: array<Wide, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = wid.x + wid.y * nwg.x;
    if (t >= p.rows) {
        return;
    }
    let base = t * p.width;
    // Four values loaded per step before any is used (a workgroup per row leaves little else
    // to hide the loads' latency), summed in the same order as one at a time.
    var s = wide(0.0);
    var i = lid;
    for (; i + 3u * WG < p.width; i += 4u * WG) {
        let v = vec4<f32>(row_value(base + i), row_value(base + i + WG), row_value(base + i + 2u * WG),
            row_value(base + i + 3u * WG));
        s += wide(v.x * v.x);
        s += wide(v.y * v.y);
        s += wide(v.z * v.z);
        s += wide(v.w * v.w);
    }
    for (; i < p.width; i += WG) {
        let v = row_value(base + i);
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
    i = lid;
    for (; i + 3u * WG < p.width; i += 4u * WG) {
        let xs = vec4<f32>(x[base + i], x[base + i + WG], x[base + i + 2u * WG], x[base + i + 3u * WG]);
        let ws = vec4<f32>(weight[i], weight[i + WG], weight[i + 2u * WG], weight[i + 3u * WG]);
        let o = (xs * scale) * ws;
        out[base + i] = o.x;
        out[base + i + WG] = o.y;
        out[base + i + 2u * WG] = o.z;
        out[base + i + 3u * WG] = o.w;
    }
    for (; i < p.width; i += WG) {
        out[base + i] = (x[base + i] * scale) * weight[i];
    }
    if (p.quant != 0u) {
        quantize_out(base, t, lid);
    }
}
