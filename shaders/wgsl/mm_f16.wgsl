// F16 weights times f32 activations rounded to f16 (ggml converts them), summed in f32.
// Units of 32 columns; the last may be partial.

var<private> wf: array<f32, 32>;

fn load_unit(ro: u32, u: u32) {
    for (var j = 0u; j < 32u; j++) {
        let c = 32u * u + j;
        wf[j] = select(0.0, f16_at(ro + 2u * c), c < p.cols);
    }
}

fn unit_dot(ar: u32, u: u32) -> f32 {
    var s = 0.0;
    for (var j = 0u; j < min(32u, p.cols - 32u * u); j++) {
        s += wf[j] * round_f16(bitcast<f32>(a[ar + 32u * u + j]));
    }
    return s;
}
