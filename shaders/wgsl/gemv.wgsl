// Matrix-vector products for decoding with f32 steps: out[t] = W · x[t] for at most four
// activation rows. A team of 32 invocations computes one weight row, four teams a workgroup.
// Lane l takes pieces l, l + 32, ... of its row (a piece: 32 weights of one block, decoded from
// a few word loads into packed signed bytes), so a team's loads sweep consecutive bytes and a
// piece's integer products are four-byte dot products (dot4I8Packed). Each lane keeps one
// partial sum per activation row; the team adds them once, at the end.
// The type part (gv_<type>.wgsl) supplies piece_load(ro, s) (the weights of piece s of the
// row starting at byte ro, into private registers) and piece_dot(ar, s) -> f32 (their product
// with the activation row starting at word ar).
// Params and bindings: matmul_params.wgsl (units = pieces per row).

const TEAM: u32 = 32u;
const TEAMS: u32 = 4u;
var<workgroup> red: array<vec4<f32>, 128>;

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = (wid.x + wid.y * nwg.x) * TEAMS + lid / TEAM;
    let lane = lid % TEAM;
    var acc = vec4<f32>(0.0);
    if (r < p.rows) {
        let ro = r * p.row_bytes;
        for (var s = lane; s < p.units; s += TEAM) {
            piece_load(ro, s);
            acc.x += piece_dot(0u, s);
            if (p.n > 1u) {
                acc.y += piece_dot(p.a_row, s);
            }
            if (p.n > 2u) {
                acc.z += piece_dot(2u * p.a_row, s);
            }
            if (p.n > 3u) {
                acc.w += piece_dot(3u * p.a_row, s);
            }
        }
    }
    red[lid] = acc;
    workgroupBarrier();
    for (var h = TEAM / 2u; h > 0u; h >>= 1u) {
        if (lane < h) {
            red[lid] += red[lid + h];
        }
        workgroupBarrier();
    }
    if (r < p.rows && lane < p.n) {
        out[lane * p.out_stride + p.row0 + r] = red[lid - lane][lane];
    }
}
