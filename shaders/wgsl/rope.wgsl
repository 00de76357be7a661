// Rotary embeddings. The host computes each row's (cos, sin) per pair exactly as the CPU
// backend does (angles by repeated multiplication, libm's cos and sin), so the rotation is
// the only arithmetic here (fused, as the CPU backend's). One invocation per (row, head, pair).

struct Params {
    n_heads: u32,
    head_dim: u32,
    n_dims: u32,
    rows: u32,
    // 1 for GPT-NeoX pairs (i, i + n_dims / 2), 0 for adjacent pairs (2i, 2i + 1).
    neox: u32,
    row0: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> cs: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let half = p.n_dims / 2u;
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= p.rows * p.n_heads * half) {
        return;
    }
    let pair = i % half;
    let head = (i / half) % p.n_heads;
    let t = i / (half * p.n_heads);
    let base = (p.row0 + t) * p.n_heads * p.head_dim + head * p.head_dim;
    var ia = base + 2u * pair;
    var ib = ia + 1u;
    if (p.neox != 0u) {
        ia = base + pair;
        ib = ia + half;
    }
    let c = cs[t * half + pair];
    let x0 = x[ia];
    let x1 = x[ib];
    x[ia] = fmaf(x0, c.x, -(x1 * c.y));
    x[ib] = fmaf(x0, c.y, x1 * c.x);
}
