// out[t] = row ids[t] of the table w, dequantized: one invocation per output element.

struct Params {
    cols: u32,
    n: u32,
    row_bytes: u32,
    ty: u32,
    out0: u32,
    // This part of the table holds rows row0..row0 + part_rows; other ids are another part's.
    row0: u32,
    part_rows: u32,
    _pad0: u32,
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
    let id = ids[t];
    if (id < p.row0 || id - p.row0 >= p.part_rows) {
        return;
    }
    out[p.out0 + i] = dequant(p.ty, (id - p.row0) * p.row_bytes, i % p.cols);
}
