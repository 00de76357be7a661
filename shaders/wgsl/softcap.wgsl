// x = cap * tanh(x / cap), as ggml's graph for gemma 2 computes it (scale by 1/cap, tanh,
// scale by cap).

struct Params {
    len: u32,
    // The scale factor (scale), the cap (softcap), the bias width (add_bias).
    s: f32,
    width: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.len) {
        return;
    }
    x[i] = tanh(x[i] * (1.0 / p.s)) * p.s;
}
