// The integer side of the quantized matmuls: 32 decoded weights `wq` times 32 signed bytes of
// an activation block (8 packed words from word ao), exactly, as ggml's integer dot products.

var<private> wq: array<i32, 32>;

fn idot(ao: u32, first: u32, count: u32) -> i32 {
    var s = 0;
    for (var k = first / 4u; k < (first + count) / 4u; k++) {
        let word = a[ao + k];
        for (var l = 0u; l < 4u; l++) {
            s += wq[4u * k + l] * sx8((word >> (8u * l)) & 0xffu);
        }
    }
    return s;
}

fn asum(ao: u32) -> i32 {
    var s = 0;
    for (var k = 0u; k < 8u; k++) {
        let word = a[ao + k];
        for (var l = 0u; l < 4u; l++) {
            s += sx8((word >> (8u * l)) & 0xffu);
        }
    }
    return s;
}
