// x[t] += y[t], then out[t] = x[t] / rms(x[t]) * weight (the body is norm_body.wgsl): a
// residual add and the norm after it in one pass. Each invocation reads back only the values
// it wrote itself, so the rows need no barrier between the add and the scaling.
// The norm rounds as rms_norm.wgsl's.

// Params: norm_body.wgsl.
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> q8: array<u32>;
@group(0) @binding(6) var<storage, read_write> q8k: array<u32>;

fn row_value(i: u32) -> f32 {
    let v = x[i] + y[i];
    x[i] = v;
    return v;
}
