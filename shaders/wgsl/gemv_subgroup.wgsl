// gemv.wgsl's reduction by subgroup shuffles, for adapters with subgroups: a butterfly over
// runs of w = min(subgroup size, 32) lanes leaves each run's sums in all its lanes; where a
// subgroup is narrower than a team (lavapipe's 8, Intel's 8 or 16) the runs' first lanes meet
// in shared memory. One barrier instead of the shared tree's six. It assumes, as every
// Vulkan driver lays them out, that a one-dimensional workgroup's subgroups are consecutive
// runs of invocations (subgroup_invocation_id = local_invocation_index % subgroup_size).

var<workgroup> red: array<vec4<f32>, 64>;
var<private> sg_size: u32;

// Lane t (< 8) of lid's team: the team's sum of component t of (lo, hi).
fn team_total(lid: u32, lo_in: vec4<f32>, hi_in: vec4<f32>) -> f32 {
    var lo = lo_in;
    var hi = hi_in;
    let w = min(sg_size, TEAM);
    for (var h = 1u; h < w; h <<= 1u) {
        lo += subgroupShuffleXor(lo, h);
        hi += subgroupShuffleXor(hi, h);
    }
    let lane = lid % TEAM;
    if (lid % w == 0u) {
        red[2u * (lid / w)] = lo;
        red[2u * (lid / w) + 1u] = hi;
    }
    workgroupBarrier();
    let t = min(lane, TN - 1u);
    let runs = TEAM / w;
    let first = (lid - lane) / w;
    var total = 0.0;
    for (var c = 0u; c < runs; c++) {
        total += red[2u * (first + c) + t / 4u][t % 4u];
    }
    return total;
}

@compute @workgroup_size(128)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_size) size: u32,
) {
    sg_size = size;
    gemv(wid, nwg, lid);
}
