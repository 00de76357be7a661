// gemv.wgsl's reduction through shared memory, for adapters without subgroups: a tree of
// five steps over each team's 32 lanes, a barrier after each.

var<workgroup> red: array<vec4<f32>, 256>;

// Lane t (< 8) of lid's team: the team's sum of component t of (lo, hi).
fn team_total(lid: u32, lo: vec4<f32>, hi: vec4<f32>) -> f32 {
    let lane = lid % TEAM;
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
    let t = min(lane, TN - 1u);
    return red[2u * (lid - lane) + t / 4u][t % 4u];
}

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    gemv(wid, nwg, lid);
}
