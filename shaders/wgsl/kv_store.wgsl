// Writes rows of keys and values into a layer's f16 cache (two halves per word), at ring
// slot (pos0 + t) % slots, rounded as the CPU backend's cache (see f16.wgsl). One invocation
// per (row, pair of values).

struct Params {
    t0: u32,
    rows: u32,
    pos0: u32,
    slots: u32,
    // Words per position: width / 2.
    k_words: u32,
    v_words: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> kc: array<u32>;
@group(0) @binding(4) var<storage, read_write> vc: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let wpr = max(p.k_words, p.v_words);
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= p.rows * wpr) {
        return;
    }
    let t = p.t0 + i / wpr;
    let j = i % wpr;
    let slot = (p.pos0 + t) % p.slots;
    if (j < p.k_words) {
        let s = t * 2u * p.k_words + 2u * j;
        kc[slot * p.k_words + j] = pack_f16(k[s], k[s + 1u]);
    }
    if (j < p.v_words) {
        let s = t * 2u * p.v_words + 2u * j;
        vc[slot * p.v_words + j] = pack_f16(v[s], v[s + 1u]);
    }
}
