// Causal attention with f32 steps, one workgroup per (query head, row), its 128 invocations
// spread over positions: per block of 128 positions each scores one (q·k * scale, or
// cap * tanh(q·k * scale / cap)), the block's max and sum of exps are reduced in shared
// memory (an online softmax across blocks), then each invocation adds the block's weighted
// values for its dimensions (lid and lid + 128). The exact kernel (attention.wgsl) instead
// follows the CPU's order position by position, two barriers each; this one needs about
// sixteen per 128 positions. Keys and values from the batch are rounded to f16 as the cache
// holds them.

// Params and bindings: attention_params.wgsl.

const WG: u32 = 128u;
const LOWEST: f32 = -3.4028235e38;
var<workgroup> qs: array<f32, 256>;
var<workgroup> weights: array<f32, 128>;
var<workgroup> red: array<f32, 128>;

fn as_f16(x: f32) -> f32 {
    return unpack2x16float(pack2x16float(vec2<f32>(x, 0.0))).x;
}

// q · key of position ps (kv head kvh), from the batch or the cache.
fn key_dot(ps: u32, kvh: u32) -> f32 {
    var s = 0.0;
    if (ps >= p.pos0) {
        let b = (ps - p.pos0) * p.k_width + kvh * p.head_dim;
        for (var d = 0u; d < p.head_dim; d++) {
            s += as_f16(k[b + d]) * qs[d];
        }
        return s;
    }
    // Rows start at even values (widths and head_dim are even), so words hold pairs. Four
    // words per step, loaded before any is used: one invocation's loop is latency-bound.
    let b = ((ps % p.slots) * p.k_width + kvh * p.head_dim) >> 1u;
    let words = p.head_dim / 2u;
    var j = 0u;
    var s4 = vec4<f32>(0.0);
    for (; j + 4u <= words; j += 4u) {
        let w = vec4<u32>(kc[b + j], kc[b + j + 1u], kc[b + j + 2u], kc[b + j + 3u]);
        let k01 = vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
        let k23 = vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w));
        let e = 2u * j;
        s4 += k01 * vec4<f32>(qs[e], qs[e + 1u], qs[e + 2u], qs[e + 3u]);
        s4 += k23 * vec4<f32>(qs[e + 4u], qs[e + 5u], qs[e + 6u], qs[e + 7u]);
    }
    s = (s4.x + s4.y) + (s4.z + s4.w);
    for (; j < words; j++) {
        let kv = unpack2x16float(kc[b + j]);
        s += kv.x * qs[2u * j] + kv.y * qs[2u * j + 1u];
    }
    return s;
}

fn value_at(ps: u32, kvh: u32, d: u32) -> f32 {
    if (ps >= p.pos0) {
        return as_f16(v[(ps - p.pos0) * p.v_width + kvh * p.head_dim + d]);
    }
    let i = (ps % p.slots) * p.v_width + kvh * p.head_dim + d;
    let pair = unpack2x16float(vc[i >> 1u]);
    return select(pair.x, pair.y, (i & 1u) != 0u);
}

fn reduce_max(x: f32, lid: u32) -> f32 {
    red[lid] = x;
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h >>= 1u) {
        if (lid < h) {
            red[lid] = max(red[lid], red[lid + h]);
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

fn reduce_sum(x: f32, lid: u32) -> f32 {
    red[lid] = x;
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h >>= 1u) {
        if (lid < h) {
            red[lid] += red[lid + h];
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.x;
    store_row(h, lid, WG);
    let t = wid.y;
    let pos = p.pos0 + t;
    let kvh = h / p.group;
    let hd = p.head_dim;
    let first = first_seen(pos);
    let qbase = t * p.n_head * hd + h * hd;
    for (var d = lid; d < hd; d += WG) {
        qs[d] = as_f16(q[qbase + d]);
    }
    workgroupBarrier();
    var m = LOWEST;
    var sum = 0.0;
    var acc0 = 0.0;
    var acc1 = 0.0;
    for (var c = first; c <= pos; c += WG) {
        let ps = c + lid;
        var s = LOWEST;
        if (ps <= pos) {
            let dot = key_dot(ps, kvh);
            s = dot * p.scale;
            if (p.softcap != 0.0) {
                s = p.softcap * tanh(dot * (p.scale / p.softcap));
            }
        }
        let mn = max(m, reduce_max(s, lid));
        let e = select(0.0, exp(s - mn), ps <= pos);
        weights[lid] = e;
        // reduce_sum's barriers also publish weights[].
        let block = reduce_sum(e, lid);
        let corr = exp(m - mn);
        sum = sum * corr + block;
        acc0 *= corr;
        acc1 *= corr;
        m = mn;
        let count = min(WG, pos + 1u - c);
        // Four positions per step, their values loaded before any is used.
        var j = 0u;
        for (; j + 4u <= count; j += 4u) {
            let wj = vec4<f32>(weights[j], weights[j + 1u], weights[j + 2u], weights[j + 3u]);
            if (lid < hd) {
                let vs = vec4<f32>(value_at(c + j, kvh, lid), value_at(c + j + 1u, kvh, lid),
                    value_at(c + j + 2u, kvh, lid), value_at(c + j + 3u, kvh, lid));
                acc0 += dot(wj, vs);
            }
            if (lid + WG < hd) {
                let d = lid + WG;
                let vs = vec4<f32>(value_at(c + j, kvh, d), value_at(c + j + 1u, kvh, d),
                    value_at(c + j + 2u, kvh, d), value_at(c + j + 3u, kvh, d));
                acc1 += dot(wj, vs);
            }
        }
        for (; j < count; j++) {
            let wj = weights[j];
            if (lid < hd) {
                acc0 += wj * value_at(c + j, kvh, lid);
            }
            if (lid + WG < hd) {
                acc1 += wj * value_at(c + j, kvh, lid + WG);
            }
        }
        workgroupBarrier();
    }
    let inv = select(0.0, 1.0 / sum, sum != 0.0);
    if (lid < hd) {
        out[qbase + lid] = acc0 * inv;
    }
    if (lid + WG < hd) {
        out[qbase + lid + WG] = acc1 * inv;
    }
}
