// The functions of arith_f64.wgsl in plain f32, for adapters without f64: the same formulas,
// with the driver's fma, division, square root and exp (each within a few ulps).

alias Wide = f32;

fn wide(x: f32) -> Wide {
    return x;
}

fn narrow(x: Wide) -> f32 {
    return x;
}

fn wide_div(x: Wide, n: f32) -> f32 {
    return x / n;
}

fn fmaf(a: f32, b: f32, c: f32) -> f32 {
    return fma(a, b, c);
}

// The product a * b rounded to an integer, ties to even (the f64 product is exact).
fn round_product(a: f32, b: f32) -> f32 {
    return round(a * b);
}

fn divf(a: f32, b: f32) -> f32 {
    return a / b;
}

fn sqrtf(a: f32) -> f32 {
    return sqrt(a);
}

fn expf_libm(x: f32) -> f32 {
    return exp(x);
}
