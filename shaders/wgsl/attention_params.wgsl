// The params and bindings of both attention kernels (attention.wgsl, attention_f32.wgsl),
// mirrored by rollama_shaders::AttentionParams.

struct Params {
    n_head: u32,
    head_dim: u32,
    // Query heads per kv head.
    group: u32,
    pos0: u32,
    // Values per position in the cache and in k, v (n_head_kv * head_dim).
    k_width: u32,
    v_width: u32,
    slots: u32,
    // 0 for full attention.
    window: u32,
    scale: f32,
    // 0 for none.
    softcap: f32,
    // 1: also store the row's key and value (see kv_row_store.wgsl).
    store: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> kc: array<u32>;
@group(0) @binding(5) var<storage, read_write> vc: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

// The first position that the query at position pos sees (its window's start).
fn first_seen(pos: u32) -> u32 {
    if (p.window != 0u && pos + 1u > p.window) {
        return pos + 1u - p.window;
    }
    return 0u;
}
