// Quantized matrix products with f32 steps: out[t] = W · x[t]. A team of 32 invocations
// computes one weight row, four teams a workgroup, against a tile of up to eight activation
// rows (workgroup z is the tile: one when decoding, n / 8 over a prompt). Lane l takes pieces
// l, l + 32, ... of its row (a piece: 32 weights of one block, decoded from a few word loads
// into packed signed bytes in registers), so a team's loads sweep consecutive bytes, and each
// decoded piece is multiplied with every activation row of the tile by four-byte integer dot
// products (dot4I8Packed). Each lane keeps one partial sum per activation row; the team adds
// them once, at the end.
// The type part (gv_<type>.wgsl) supplies struct Piece, piece_load(ro, s) -> Piece (the
// weights of piece s of the row starting at byte ro) and piece_dot(pc, ar, s) -> f32 (their
// product with the activation row starting at word ar); gemv_pairs.wgsl or gemv_single.wgsl
// sets PAIRS.
// Params and bindings: matmul_params.wgsl (units = pieces per row).

// Tile rows first..first + 3 (those below nt) of piece s against the activation rows from
// word a0.
fn tile_dot(pc: Piece, a0: u32, s: u32, nt: u32, first: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if (nt > first) {
        v.x = piece_dot(pc, a0 + first * p.a_row, s);
    }
    if (nt > first + 1u) {
        v.y = piece_dot(pc, a0 + (first + 1u) * p.a_row, s);
    }
    if (nt > first + 2u) {
        v.z = piece_dot(pc, a0 + (first + 2u) * p.a_row, s);
    }
    if (nt > first + 3u) {
        v.w = piece_dot(pc, a0 + (first + 3u) * p.a_row, s);
    }
    return v;
}

const TEAM: u32 = 32u;
const TEAMS: u32 = 4u;
const TN: u32 = 8u;
var<workgroup> red: array<vec4<f32>, 256>;

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = (wid.x + wid.y * nwg.x) * TEAMS + lid / TEAM;
    let lane = lid % TEAM;
    let t0 = wid.z * TN;
    let nt = min(TN, p.n - t0);
    let a0 = t0 * p.a_row;
    var lo = vec4<f32>(0.0);
    var hi = vec4<f32>(0.0);
    if (r < p.rows) {
        let ro = r * p.row_bytes;
        var s = lane;
        // With PAIRS, two pieces per step, both loaded before either is multiplied, so each
        // invocation has twice the bytes in flight.
        if (PAIRS) {
            for (; s + TEAM < p.units; s += 2u * TEAM) {
                let pa = piece_load(ro, s);
                let pb = piece_load(ro, s + TEAM);
                lo += tile_dot(pa, a0, s, nt, 0u) + tile_dot(pb, a0, s + TEAM, nt, 0u);
                hi += tile_dot(pa, a0, s, nt, 4u) + tile_dot(pb, a0, s + TEAM, nt, 4u);
            }
        }
        for (; s < p.units; s += TEAM) {
            let pc = piece_load(ro, s);
            lo += tile_dot(pc, a0, s, nt, 0u);
            hi += tile_dot(pc, a0, s, nt, 4u);
        }
    }
    red[2u * lid] = lo;
    red[2u * lid + 1u] = hi;
    workgroupBarrier();
    for (var h = TEAM / 2u; h > 0u; h >>= 1u) {
        if (lane < h) {
            red[2u * lid] += red[2u * (lid + h)];
            red[2u * lid + 1u] += red[2u * (lid + h) + 1u];
        }
        workgroupBarrier();
    }
    if (r < p.rows && lane < nt) {
        let first = 2u * (lid - lane);
        out[(t0 + lane) * p.out_stride + p.row0 + r] = red[first + lane / 4u][lane % 4u];
    }
}
