// Q6_K weights (210-byte super-blocks of 256: ql[128], qh[64], 16 signed scales, d) times
// Q8_K activations, one quarter-half of 32 values (two scales) per unit.

var<private> wd: f32;
var<private> wsc: vec2<i32>;

fn load_unit(ro: u32, u: u32) {
    let o = ro + (u / 8u) * 210u;
    let g = u % 8u;
    let h = g / 4u;
    let quarter = g % 4u;
    wd = f16_at(o + 208u);
    let sc = o + 192u + 8u * h + 2u * quarter;
    wsc = vec2<i32>(sx8(byte_at(sc)), sx8(byte_at(sc + 1u)));
    let ql = o + 64u * h + (quarter & 1u) * 32u;
    let qh = o + 128u + 32u * h;
    let nshift = select(0u, 4u, quarter >= 2u);
    for (var k = 0u; k < 8u; k++) {
        let lw = u32_at(ql + 4u * k);
        let hw = u32_at(qh + 4u * k);
        for (var l = 0u; l < 4u; l++) {
            let lo = (lw >> (8u * l + nshift)) & 15u;
            let hb = (hw >> (8u * l + 2u * quarter)) & 3u;
            wq[4u * k + l] = i32(lo | (hb << 4u)) - 32;
        }
    }
}

fn unit_dot(ar: u32, u: u32) -> f32 {
    let ab = ar + (u / 8u) * 65u;
    let ao = ab + (u % 8u) * 8u;
    let da = bitcast<f32>(a[ab + 64u]);
    let s = wsc.x * idot(ao, 0u, 16u) + wsc.y * idot(ao, 16u, 16u);
    return (da * wd) * f32(s);
}
