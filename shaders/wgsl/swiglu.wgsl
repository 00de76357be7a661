// out = silu(gate) * up, elementwise, with ggml's SiLU (silu.wgsl).

struct Params {
    len: u32,
    // The scale factor (scale), the cap (softcap), the bias width (add_bias).
    s: f32,
    width: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.len) {
        return;
    }
    out[i] = v_silu(gate[i]) * up[i];
}
