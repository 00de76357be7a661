// out = gelu(gate) * up with GELU's tanh approximation, as ggml's CPU computes it: 0 below
// -10, the identity above 10, else gelu of the input rounded to f16, rounded to f16 (its table).

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

fn gelu(x: f32) -> f32 {
    if (x <= -10.0) {
        return 0.0;
    }
    if (x >= 10.0) {
        return x;
    }
    let h = round_f16(x);
    let inner = fma(0.044715 * h, h, 1.0);
    return round_f16(0.5 * h * (1.0 + tanh(0.7978845608028654 * h * inner)));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.len) {
        return;
    }
    out[i] = gelu(gate[i]) * up[i];
}
