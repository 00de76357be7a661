// out[t] = W · x[t] with one invocation per (weight row, activation row), for the weight types
// whose CPU order keeps a single f32 chain per row (Q4_K in llama.cpp's repacked order), so
// that the chain's roundings are the CPU's: the type's part supplies `row_dot(ro, ar, gemv)`
// (the row at byte ro times the activation row at word ar; `gemv` picks the single-row order,
// else the order of groups of four rows). The CPU takes the first `single` rows of a batch one
// at a time and the rest in groups of four (see the CPU backend's matmul).
// Workgroups: x + y * nwg.x = group of 64 weight rows, z = activation row.

// Params and bindings: matmul_params.wgsl.

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = (wid.x + wid.y * nwg.x) * 64u + lid;
    let t = wid.z;
    if (r >= p.rows || t >= p.n) {
        return;
    }
    out[t * p.out_stride + p.row0 + r] = row_dot(r * p.row_bytes, t * p.a_row, t < p.single);
}
