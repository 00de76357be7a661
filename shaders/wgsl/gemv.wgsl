// Quantized matrix products with f32 steps: out[t] = W · x[t]. A team of 32 invocations
// computes one weight row, four teams a workgroup, against a tile of up to eight activation
// rows (workgroup z is the tile: one when decoding, n / 8 over a prompt). Lane l takes pieces
// l, l + 32, ... of its row (a piece: 32 weights of one block, decoded from a few word loads
// into packed signed bytes in registers), so a team's loads sweep consecutive bytes, and each
// decoded piece is multiplied with every activation row of the tile by four-byte integer dot
// products (dot4I8Packed). Each lane keeps one partial sum per activation row; the team adds
// them once, at the end: the reduction part that follows this body supplies the entry point
// and team_total(), through shared memory (gemv_shared.wgsl) or subgroup shuffles
// (gemv_subgroup.wgsl, where the adapter has subgroups).
// The type part (gv_<type>.wgsl) supplies piece_load(ro, s) (the weights of piece s of the
// row starting at byte ro, into private registers) and piece_dot(ar, s) -> f32 (their product
// with the activation row starting at word ar).
// Params and bindings: matmul_params.wgsl (units = pieces per row).

const TEAM: u32 = 32u;
const TEAMS: u32 = 4u;
const TN: u32 = 8u;

fn gemv(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) {
    let r = (wid.x + wid.y * nwg.x) * TEAMS + lid / TEAM;
    let lane = lid % TEAM;
    let t0 = wid.z * TN;
    let nt = min(TN, p.n - t0);
    let a0 = t0 * p.a_row;
    var lo = vec4<f32>(0.0);
    var hi = vec4<f32>(0.0);
    if (r < p.rows) {
        let ro = r * p.row_bytes;
        for (var s = lane; s < p.units; s += TEAM) {
            piece_load(ro, s);
            lo.x += piece_dot(a0, s);
            if (nt > 1u) {
                lo.y += piece_dot(a0 + p.a_row, s);
            }
            if (nt > 2u) {
                lo.z += piece_dot(a0 + 2u * p.a_row, s);
            }
            if (nt > 3u) {
                lo.w += piece_dot(a0 + 3u * p.a_row, s);
            }
            if (nt > 4u) {
                hi.x += piece_dot(a0 + 4u * p.a_row, s);
            }
            if (nt > 5u) {
                hi.y += piece_dot(a0 + 5u * p.a_row, s);
            }
            if (nt > 6u) {
                hi.z += piece_dot(a0 + 6u * p.a_row, s);
            }
            if (nt > 7u) {
                hi.w += piece_dot(a0 + 7u * p.a_row, s);
            }
        }
    }
    // Lane t of the team gets activation row t's total.
    let total = team_total(lid, lo, hi);
    if (r < p.rows && lane < nt) {
        out[(t0 + lane) * p.out_stride + p.row0 + r] = total;
    }
}
