// The body of rms_norm.wgsl and add_rms_norm.wgsl, which supply the bindings and
// row_value(i), value i of the input (add_rms_norm.wgsl also writes it back).

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
    for (var i = lid; i < p.width; i += WG) {
        out[base + i] = (x[base + i] * scale) * weight[i];
    }
    if (p.quant != 0u) {
        quantize_out(base, t, lid);
    }
}
