// out = gelu(gate) * up with GELU's tanh approximation, as ggml's CPU computes it: 0 below
// -10, the identity above 10, else gelu of the input rounded to f16, rounded to f16: the entry
// of ggml's table for the input's f16 bits, which the host computes as the CPU backend does
// and uploads once (65536 values widened to f32), so results equal the CPU's to the bit.

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
@group(0) @binding(3) var<storage, read> table: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn gelu(x: f32) -> f32 {
    if (x <= -10.0) {
        return 0.0;
    }
    if (x >= 10.0) {
        return x;
    }
    return table[f16_bits(x)];
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.len) {
        return;
    }
    out[i] = gelu(gate[i]) * up[i];
}
