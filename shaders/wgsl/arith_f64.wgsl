// Float arithmetic that rounds as the CPU backend does, for adapters with f64 (wgpu's
// SHADER_F64). Vulkan lets a driver evaluate WGSL's fma() as a multiply and an add (lavapipe
// does), and leaves exp, division and sqrt a few ulps loose; the CPU backend reproduces
// ggml's x86 build, whose results this file reproduces from exact f64 steps:
// - an f32 product is exact in f64, so f32(a * b + c) in f64 is the fused multiply-add (but
//   for a double rounding once in ~2^29 inputs whose f64 sum is inexact);
// - an f32 quotient or square root computed in f64 and rounded once is the correctly
//   rounded one (the exact result is never within an f64 ulp of an f32 midpoint);
// - `expf_libm` is glibc's expf step for step (equal to it on all but 2 of the 2.2e9 floats
//   below 110 in magnitude), `v_expf` ggml's vectorized expf.
// The other arith part, arith_f32.wgsl, gives the same functions in plain f32.

// A wide accumulator, for sums the CPU takes in f64.
alias Wide = f64;

fn wide(x: f32) -> Wide {
    return f64(x);
}

fn narrow(x: Wide) -> f32 {
    return f32(x);
}

// x / n, rounded to f32 once.
fn wide_div(x: Wide, n: f32) -> f32 {
    return f32(x / f64(n));
}

fn fmaf(a: f32, b: f32, c: f32) -> f32 {
    return f32(f64(a) * f64(b) + f64(c));
}

// The product a * b rounded to an integer, ties to even (the f64 product is exact).
fn round_product(a: f32, b: f32) -> f32 {
    return f32(round(f64(a) * f64(b)));
}

fn divf(a: f32, b: f32) -> f32 {
    return f32(f64(a) / f64(b));
}

fn sqrtf(a: f32) -> f32 {
    return f32(sqrt(f64(a)));
}

// 2^(i/32), correctly rounded (glibc's __exp2f_data.tab before its exponent adjustment).
var<private> EXP2_TAB: array<f64, 32> = array<f64, 32>(
    1.0lf, 1.0218971486541166lf, 1.0442737824274138lf, 1.0671404006768237lf,
    1.0905077326652577lf, 1.1143867425958924lf, 1.1387886347566916lf, 1.1637248587775775lf,
    1.189207115002721lf, 1.215247359980469lf, 1.241857812073484lf, 1.2690509571917332lf,
    1.2968395546510096lf, 1.3252366431597413lf, 1.3542555469368927lf, 1.383909881963832lf,
    1.4142135623730951lf, 1.4451808069770467lf, 1.4768261459394993lf, 1.5091644275934228lf,
    1.5422108254079407lf, 1.5759808451078865lf, 1.6104903319492543lf, 1.645755478153965lf,
    1.681792830507429lf, 1.718619298122478lf, 1.7562521603732995lf, 1.7947090750031072lf,
    1.8340080864093424lf, 1.8741676341103lf, 1.9152065613971474lf, 1.9571441241754002lf,
);

// glibc's expf (sysdeps/ieee754/flt-32/e_expf.c): x * 32/ln2 = k + r, exp(x) = 2^(k/32) *
// (a cubic in r), in f64, rounded once.
fn expf_libm(x: f32) -> f32 {
    let bits = bitcast<u32>(x);
    let abstop = (bits >> 20u) & 0x7ffu;
    if (abstop >= 0x42bu) {
        // |x| >= 88, infinite or NaN.
        if (bits == 0xff800000u) {
            return 0.0;
        }
        if (abstop >= 0x7f8u) {
            return x + x;
        }
        if (x > bitcast<f32>(0x42b17217u)) {
            return bitcast<f32>(0x7f800000u);
        }
        if (x < -bitcast<f32>(0x42cff1b4u)) {
            return 0.0;
        }
    }
    // 0x1.71547652b82fep+0 * 32, and the cubic's coefficients 0x1.c6af84b912394p-5 / 32^3,
    // 0x1.ebfce50fac4f3p-3 / 32^2, 0x1.62e42ff0c52d6p-1 / 32.
    let z = 46.16624130844683lf * f64(x);
    let kd = round(z);
    let k = i32(kd);
    let r = z - kd;
    let s = ldexp(EXP2_TAB[k & 31], k >> 5u);
    let c = 1.6938359250920212e-6lf * r + 0.00023459809789509004lf;
    let y = c * (r * r) + (0.021660849396613134lf * r + 1.0lf);
    return f32(y * s);
}
