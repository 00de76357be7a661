// out[t] = row ids[t] of the table w, dequantized: one invocation per output element.

struct Params {
    cols: u32,
    n: u32,
    row_bytes: u32,
    ty: u32,
    out0: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.cols * p.n) {
        return;
    }
    let t = i / p.cols;
    out[p.out0 + i] = dequant(p.ty, ids[t] * p.row_bytes, i % p.cols);
}
