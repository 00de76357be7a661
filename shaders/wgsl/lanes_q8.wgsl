// The lane step of matmul_lanes.wgsl for the 32-element types against Q8_0/Q8_1 blocks (10
// words: 8 of signed bytes, d, s): the type's part decodes lane l's four weights into `wq4`.

var<private> wq4: vec4<i32>;

// Lane l's integer dot: its four weights times bytes 4l..4l+3 of the activation block at ao.
fn lane_idot(ao: u32, l: u32) -> i32 {
    let word = a[ao + l];
    return wq4.x * sx8(word & 0xffu) + wq4.y * sx8((word >> 8u) & 0xffu) + wq4.z * sx8((word >> 16u) & 0xffu)
        + wq4.w * sx8(word >> 24u);
}

fn lane_fma(ar: u32, u: u32, l: u32, acc: f32) -> f32 {
    let ao = ar + u * 10u;
    return fmaf(wd * bitcast<f32>(a[ao + 8u]), f32(lane_idot(ao, l)), acc);
}
