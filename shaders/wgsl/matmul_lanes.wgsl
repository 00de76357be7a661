// out[t] = W · x[t] for the weight types whose ggml x86 dot product keeps eight f32 lanes:
// Q4_0, Q4_1, Q5_0, Q8_0 (against Q8_0/Q8_1 activations) and Q6_K (against Q8_K). There,
// lane l of a row's accumulator takes, block after block, fma(d_w * d_a, (the lane's exact
// integer sum over the block), lane), and the row's result is the lanes' sum in the order of
// `hsum_float_8` ((l + l+4), then (0 + 2) + (1 + 3)), plus Q4_1's sum of m_w * s_a. This
// kernel does the same: invocation l of a row's eight is lane l, and the tree below is that
// order, so with an exact fmaf (arith_f64.wgsl) each result is the CPU backend's to the bit.
//
// The type's part supplies `load_lane(ro, u, l)` (lane l's weights of block u of the row at
// byte ro, into private registers), `lane_fma(ar, u, l, acc)` (the lane's update for the
// activation row at word ar) and `unit_extra(ar, u, e)` (Q4_1's offset term; the others
// return e); lanes_q8.wgsl has the last two for the 32-element types. One workgroup computes
// RPW weight rows against a tile of TN activation rows, so the weights are decoded once per
// tile.

// Params and bindings: matmul_params.wgsl.

const WG: u32 = 64u;
const LANES: u32 = 8u;
const RPW: u32 = 8u;
const TN: u32 = 8u;
var<workgroup> part: array<f32, 512>;

var<private> wd: f32;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = (wid.x + wid.y * nwg.x) * RPW + lid / LANES;
    let lane = lid % LANES;
    let t0 = wid.z * TN;
    let nt = min(TN, p.n - t0);
    var acc: array<f32, 8>;
    var extra: array<f32, 8>;
    if (r < p.rows) {
        for (var u = 0u; u < p.units; u++) {
            load_lane(r * p.row_bytes, u, lane);
            for (var j = 0u; j < nt; j++) {
                let ar = (t0 + j) * p.a_row;
                acc[j] = lane_fma(ar, u, lane, acc[j]);
                extra[j] = unit_extra(ar, u, extra[j]);
            }
        }
    }
    for (var j = 0u; j < TN; j++) {
        part[j * WG + lid] = acc[j];
    }
    workgroupBarrier();
    for (var s = LANES / 2u; s > 0u; s >>= 1u) {
        if (lane < s) {
            for (var j = 0u; j < TN; j++) {
                part[j * WG + lid] += part[j * WG + lid + s];
            }
        }
        workgroupBarrier();
    }
    // Lane j writes activation row j's result (every lane has the same `extra`).
    if (r < p.rows && lane < nt) {
        out[(t0 + lane) * p.out_stride + p.row0 + r] = part[lane * WG + lid - lane] + extra[lane];
    }
}
