// Greedy selection on the device: for each row of logits, the index of the first largest
// value, NaNs and -inf never picked, 0 when the row has nothing else. That is what the host's
// `sampler::argmax` picks, so only the id needs to be read back. One workgroup per row: a
// strided scan per invocation (its indices rise, so a strict `>` keeps the first of equal
// values), then a tree over the workgroup that takes the lower index of equal values.
// NaNs and infinities are told apart by their bits: WGSL lets the compiler assume floats
// are finite, so `x != x` could fold away.

struct Params {
    width: u32,
    rows: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

const NONE: u32 = 0xffffffffu;
const NEG_INF_BITS: u32 = 0xff800000u;

var<workgroup> best_v: array<f32, 256>;
var<workgroup> best_i: array<u32, 256>;

// Whether (v, i) goes before (w, j): a larger value, or an equal one at a lower index; a
// NONE index goes last.
fn before(v: f32, i: u32, w: f32, j: u32) -> bool {
    if (i == NONE) {
        return false;
    }
    if (j == NONE) {
        return true;
    }
    return v > w || (v == w && i < j);
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row = wid.x;
    let base = row * p.width;
    var v = 0.0;
    var i = NONE;
    for (var c = lid.x; c < p.width; c += 256u) {
        let xc = x[base + c];
        let bits = bitcast<u32>(xc);
        if ((bits & 0x7fffffffu) > 0x7f800000u || bits == NEG_INF_BITS) {
            continue;
        }
        if (i == NONE || xc > v) {
            v = xc;
            i = c;
        }
    }
    best_v[lid.x] = v;
    best_i[lid.x] = i;
    workgroupBarrier();
    for (var half = 128u; half > 0u; half >>= 1u) {
        if (lid.x < half) {
            let w = best_v[lid.x + half];
            let j = best_i[lid.x + half];
            if (before(w, j, best_v[lid.x], best_i[lid.x])) {
                best_v[lid.x] = w;
                best_i[lid.x] = j;
            }
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) {
        out[row] = select(best_i[0], 0u, best_i[0] == NONE);
    }
}
