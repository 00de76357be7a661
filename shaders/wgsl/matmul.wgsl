// out[t] = W · x[t] for float weights (quantized ones take gemv.wgsl or, with f64 steps,
// matmul_lanes.wgsl and matmul_serial.wgsl). It is composed after the type's part
// (mm_f32.wgsl, mm_f16.wgsl), which supplies `load_unit(ro, u)` (decode 32 weights of the row
// starting at byte ro into private registers) and `unit_dot(ar, u) -> f32` (their dot product
// with unit u of the activation row starting at word ar, in the type's activation format).
//
// One workgroup computes RPW weight rows (LANES invocations each) against a tile of TN
// activation rows, so the weights are decoded once per tile: a matrix-vector product when
// decoding (one row), a tiled product over a prompt. Workgroups are laid out as
// x + y * nwg.x = group of RPW weight rows, z = tile.

// Params and bindings: matmul_params.wgsl.

const WG: u32 = 64u;
// Invocations per weight row (they split its units), and so rows per workgroup.
const LANES: u32 = 16u;
const RPW: u32 = 4u;
const TN: u32 = 8u;
var<workgroup> part: array<f32, 512>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = (wid.x + wid.y * nwg.x) * RPW + lid / LANES;
    let lane = lid % LANES;
    let t0 = wid.z * TN;
    let nt = min(TN, p.n - t0);
    var acc: array<f32, 8>;
    if (r < p.rows) {
        for (var u = lane; u < p.units; u += LANES) {
            load_unit(r * p.row_bytes, u);
            for (var j = 0u; j < nt; j++) {
                acc[j] += unit_dot((t0 + j) * p.a_row, u);
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
    if (r < p.rows && lane < nt) {
        out[(t0 + lane) * p.out_stride + p.row0 + r] = part[lane * WG + lid - lane];
    }
}
