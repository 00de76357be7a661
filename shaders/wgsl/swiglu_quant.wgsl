// out = silu(gate) * up as swiglu.wgsl, for a decode step's few rows, with the result also
// quantized in the same pass: Q8 blocks (10 words per 32 values) into q8 when bit 0 of
// p.quant is set, Q8_K blocks (65 words per 256) into q8k when bit 1 is, as quantize_q8.wgsl
// and quantize_q8k.wgsl would write them for rows of a width that the block divides (the
// blocks of consecutive rows are consecutive). Each invocation computes four consecutive
// values, a workgroup 1024.

struct Params {
    len: u32,
    quant: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> q8: array<u32>;
@group(0) @binding(5) var<storage, read_write> q8k: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    // Word i: values 4i .. 4i + 3 (len is a multiple of 32).
    let i = (wid.x + wid.y * nwg.x) * 256u + lid;
    let live = 4u * i < p.len;
    var v = vec4<f32>(0.0);
    if (live) {
        for (var l = 0u; l < 4u; l++) {
            v[l] = v_silu(gate[4u * i + l]) * up[4u * i + l];
            out[4u * i + l] = v[l];
        }
    }
    if ((p.quant & 1u) != 0u) {
        let r = q8_chunk(v, lid);
        if (live) {
            let o = (i / 8u) * 10u;
            q8[o + i % 8u] = r.word;
            if (i % 8u == 0u) {
                q8[o + 8u] = r.d;
                q8[o + 9u] = r.s;
            }
        }
    }
    if ((p.quant & 2u) != 0u) {
        let r = q8k_chunk(v, lid);
        if (live) {
            let o = (i / 64u) * 65u;
            q8k[o + i % 64u] = r.word;
            if (i % 64u == 0u) {
                q8k[o + 64u] = r.d;
            }
        }
    }
}
