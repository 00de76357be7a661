// Causal attention of one query head over an f16 cache plus the batch's own keys and values,
// one workgroup per (head, row). It repeats the CPU backend's flash-attention step for step
// (rollama_kernels::attention::flash_attn_head), because this model-level op amplifies any
// difference: the query rounded to f16; q·k summed in the order of ggml's AVX-512 f16 dot
// (four 16-lane accumulators over steps of 64, folded pairwise, leftovers added wide);
// scores q·k * scale (or cap * tanh(q·k * scale / cap)); an online softmax (libm's expf)
// whose running sum of values is an f16 rounded (to nearest even, see f16.wgsl) after every
// fused update. fmaf, expf_libm and the wide sum come from an arith part: with f64, every
// step but the soft-cap's tanh rounds as the CPU's.
// For the dot, invocation lid is lane lid % 16 of accumulator lid / 16; for the values it
// owns dimensions lid, lid + 64, ... of the head (at most 256 in all).

// Params and bindings: attention_params.wgsl.

const WG: u32 = 64u;
const PER: u32 = 4u;
var<workgroup> red: array<f32, 64>;

var<workgroup> qs: array<f32, 256>;

// Dimension d of position ps's key (kv head kvh), from the batch or the cache.
fn key_at(ps: u32, kvh: u32, d: u32) -> f32 {
    if (ps >= p.pos0) {
        return round_f16(k[(ps - p.pos0) * p.k_width + kvh * p.head_dim + d]);
    }
    let i = (ps % p.slots) * p.k_width + kvh * p.head_dim + d;
    return unpack_f16(kc[i >> 1u], i & 1u);
}

fn value_at(ps: u32, kvh: u32, d: u32) -> f32 {
    if (ps >= p.pos0) {
        return round_f16(v[(ps - p.pos0) * p.v_width + kvh * p.head_dim + d]);
    }
    let i = (ps % p.slots) * p.v_width + kvh * p.head_dim + d;
    return unpack_f16(vc[i >> 1u], i & 1u);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.x;
    store_row(h, lid, WG);
    let t = wid.y;
    let pos = p.pos0 + t;
    let kvh = h / p.group;
    let hd = p.head_dim;
    let first = first_seen(pos);
    let qbase = t * p.n_head * hd + h * hd;
    var acc: array<f32, 4>;
    for (var c = 0u; c < PER; c++) {
        let d = lid + c * WG;
        if (d < hd) {
            qs[d] = round_f16(q[qbase + d]);
        }
        acc[c] = 0.0;
    }
    workgroupBarrier();
    // Steps of 64 for the lanes, the rest (hd % 64) summed apart.
    let np = hd - hd % 64u;
    var sum = 0.0;
    var mx = -3.4028235e38;
    var seen = false;
    for (var ps = first; ps <= pos; ps++) {
        var lane = 0.0;
        for (var i = 0u; i < np; i += 64u) {
            let e = i + lid;
            lane = fmaf(key_at(ps, kvh, e), qs[e], lane);
        }
        red[lid] = lane;
        workgroupBarrier();
        // Every invocation folds the 64 lanes itself, in ggml's order.
        var h8: array<f32, 8>;
        for (var l = 0u; l < 8u; l++) {
            let x0 = (red[l] + red[32u + l]) + (red[16u + l] + red[48u + l]);
            let x1 = (red[l + 8u] + red[40u + l]) + (red[24u + l] + red[56u + l]);
            h8[l] = x0 + x1;
        }
        var h4: array<f32, 4>;
        for (var l = 0u; l < 4u; l++) {
            h4[l] = h8[l] + h8[l + 4u];
        }
        var dot = (h4[0] + h4[2]) + (h4[1] + h4[3]);
        if (np < hd) {
            // The CPU adds these products in f64.
            var acc2 = wide(dot);
            for (var e = np; e < hd; e++) {
                acc2 += wide(key_at(ps, kvh, e) * qs[e]);
            }
            dot = narrow(acc2);
        }
        workgroupBarrier();
        var sc = dot * p.scale;
        if (p.softcap != 0.0) {
            sc = p.softcap * tanh(dot * divf(p.scale, p.softcap));
        }
        var ms = 1.0;
        var vs = 1.0;
        if (!seen || sc > mx) {
            if (seen) {
                ms = expf_libm(mx - sc);
            } else {
                ms = 0.0;
            }
            mx = sc;
            seen = true;
            for (var c = 0u; c < PER; c++) {
                acc[c] = round_f16(acc[c] * ms);
            }
        } else {
            vs = expf_libm(sc - mx);
        }
        for (var c = 0u; c < PER; c++) {
            let d = lid + c * WG;
            if (d < hd) {
                acc[c] = round_f16(fmaf(value_at(ps, kvh, d), vs, acc[c]));
            }
        }
        sum = fmaf(sum, ms, vs);
    }
    let inv = select(0.0, divf(1.0, sum), sum != 0.0);
    for (var c = 0u; c < PER; c++) {
        let d = lid + c * WG;
        if (d < hd) {
            out[qbase + d] = acc[c] * inv;
        }
    }
}
