// out[t] = x[t] / rms(x[t]) * weight (the body is norm_body.wgsl): one workgroup per row, the
// sum of squares reduced in shared memory. As ggml: the squares rounded to f32, summed wide
// (f64 where the arith part has it: then the mean rounds to the f32 of the CPU's sequential
// f64 sum but for inputs within ~2^-44 of an f32 midpoint), scale = 1 / sqrt(mean + eps),
// then x * scale * weight.

// Params: norm_body.wgsl.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> q8: array<u32>;
@group(0) @binding(5) var<storage, read_write> q8k: array<u32>;

fn row_value(i: u32) -> f32 {
    return x[i];
}
