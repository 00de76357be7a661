// Rotary embeddings. The host computes each row's (cos, sin) per pair exactly as the CPU
// backend does (angles by repeated multiplication, libm's cos and sin), so the rotation is
// the only arithmetic here (fused, as the CPU backend's). One invocation per (row, head, pair),
// over the heads of x and then, when n_heads_k is not 0, those of k (queries and keys of the
// same positions in one dispatch; otherwise k is a placeholder binding).

struct Params {
    n_heads: u32,
    head_dim: u32,
    n_dims: u32,
    rows: u32,
    // 1 for GPT-NeoX pairs (i, i + n_dims / 2), 0 for adjacent pairs (2i, 2i + 1).
    neox: u32,
    row0: u32,
    // Heads per row of k (0: x alone).
    n_heads_k: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> cs: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> k: array<f32>;

fn rotate_x(ia: u32, ib: u32, c: vec2<f32>) {
    let x0 = x[ia];
    let x1 = x[ib];
    x[ia] = fmaf(x0, c.x, -(x1 * c.y));
    x[ib] = fmaf(x0, c.y, x1 * c.x);
}

fn rotate_k(ia: u32, ib: u32, c: vec2<f32>) {
    let x0 = k[ia];
    let x1 = k[ib];
    k[ia] = fmaf(x0, c.x, -(x1 * c.y));
    k[ib] = fmaf(x0, c.y, x1 * c.x);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let half = p.n_dims / 2u;
    let heads = p.n_heads + p.n_heads_k;
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= p.rows * heads * half) {
        return;
    }
    let pair = i % half;
    var head = (i / half) % heads;
    let t = i / (half * heads);
    let in_k = head >= p.n_heads;
    var row_heads = p.n_heads;
    if (in_k) {
        head -= p.n_heads;
        row_heads = p.n_heads_k;
    }
    let base = (p.row0 + t) * row_heads * p.head_dim + head * p.head_dim;
    var ia = base + 2u * pair;
    var ib = ia + 1u;
    if (p.neox != 0u) {
        ia = base + pair;
        ib = ia + half;
    }
    let c = cs[t * half + pair];
    if (in_k) {
        rotate_k(ia, ib, c);
    } else {
        rotate_x(ia, ib, c);
    }
}
