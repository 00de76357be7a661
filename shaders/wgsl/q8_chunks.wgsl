// The block arithmetic of the activation quantizers, shared by quantize_q8.wgsl,
// quantize_q8k.wgsl and the norms that quantize their output in the same pass
// (norm_quant.wgsl). Workgroups of up to 256 invocations; each holds four consecutive values
// and produces one packed word, so 8 invocations make a Q8 block (32 values) and 64 a Q8_K
// block (256). Callers keep control flow uniform: every invocation calls, live or not.

struct Q8Word {
    word: u32,
    // Q8: d and s = d * sum(q), f16-rounded, as f32 bits; Q8_K: d.
    d: u32,
    s: u32,
}

var<workgroup> q_mag: array<f32, 256>;
var<workgroup> q_val: array<f32, 256>;
var<workgroup> q_idx: array<u32, 256>;
var<workgroup> q_sum: array<i32, 256>;

fn pack_q(q: vec4<i32>) -> u32 {
    let b = vec4<u32>(q) & vec4<u32>(0xffu);
    return b.x | (b.y << 8u) | (b.z << 16u) | (b.w << 24u);
}

// As ggml's x86 quantize_row_q8_0/1: per 32 values, d = amax / 127,
// q = round_half_even(x * 127 / amax). Invocation lid holds word lid % 8 of its block.
fn q8_chunk(v: vec4<f32>, lid: u32) -> Q8Word {
    let part = lid % 8u;
    let av = abs(v);
    q_mag[lid] = max(max(av.x, av.y), max(av.z, av.w));
    workgroupBarrier();
    for (var h = 4u; h > 0u; h >>= 1u) {
        if (part < h) {
            q_mag[lid] = max(q_mag[lid], q_mag[lid + h]);
        }
        workgroupBarrier();
    }
    let amax = q_mag[lid - part];
    let d = divf(amax, 127.0);
    let id = select(0.0, divf(127.0, amax), amax != 0.0);
    let q = vec4<i32>(round(v * id));
    q_sum[lid] = q.x + q.y + q.z + q.w;
    workgroupBarrier();
    for (var h = 4u; h > 0u; h >>= 1u) {
        if (part < h) {
            q_sum[lid] += q_sum[lid + h];
        }
        workgroupBarrier();
    }
    let sum = q_sum[lid - part];
    // The shared arrays are read above; the next call may overwrite them.
    workgroupBarrier();
    return Q8Word(pack_q(q), bitcast<u32>(round_f16(d)), bitcast<u32>(round_f16(d * f32(sum))));
}

// As ggml's quantize_row_q8_K_ref: per 256 values the signed extreme (the first of largest
// magnitude) maps to -127, q = min(round_half_even(x * -127 / max), 127), d = 1 / iscale;
// an all-zero block is all zeros. Invocation lid holds word lid % 64 of its block.
fn q8k_chunk(v: vec4<f32>, lid: u32) -> Q8Word {
    let part = lid % 64u;
    var mag = 0.0;
    var val = 0.0;
    var idx = 4u * part;
    for (var l = 0u; l < 4u; l++) {
        if (abs(v[l]) > mag) {
            mag = abs(v[l]);
            val = v[l];
            idx = 4u * part + l;
        }
    }
    q_mag[lid] = mag;
    q_val[lid] = val;
    q_idx[lid] = idx;
    workgroupBarrier();
    for (var h = 32u; h > 0u; h >>= 1u) {
        if (part < h) {
            let m2 = q_mag[lid + h];
            if (m2 > q_mag[lid] || (m2 == q_mag[lid] && m2 > 0.0 && q_idx[lid + h] < q_idx[lid])) {
                q_mag[lid] = m2;
                q_val[lid] = q_val[lid + h];
                q_idx[lid] = q_idx[lid + h];
            }
        }
        workgroupBarrier();
    }
    let first = lid - part;
    let zero = q_mag[first] == 0.0;
    let mx = q_val[first];
    workgroupBarrier();
    if (zero) {
        return Q8Word(0u, 0u, 0u);
    }
    let iscale = divf(-127.0, mx);
    let q = min(vec4<i32>(round(iscale * v)), vec4<i32>(127));
    return Q8Word(pack_q(q), bitcast<u32>(divf(1.0, iscale)), 0u);
}
