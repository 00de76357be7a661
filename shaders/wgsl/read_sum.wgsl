// Reads a buffer once, for the benchmarks' read bandwidth (the bound of a decode step, whose
// weights are read once): a grid-stride loop of 16-byte loads, four in flight per invocation,
// folded by xor into a word that is written only if it equals a value it never does in
// practice (so the loads are not optimized away).

struct Params {
    // 16-byte words in src.
    len: u32,
    magic: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let stride = nwg.x * 256u;
    var acc = vec4<u32>(0u);
    var i = gid.x;
    for (; i + 3u * stride < p.len; i += 4u * stride) {
        acc ^= (src[i] ^ src[i + stride]) ^ (src[i + 2u * stride] ^ src[i + 3u * stride]);
    }
    for (; i < p.len; i += stride) {
        acc ^= src[i];
    }
    let folded = acc.x ^ acc.y ^ acc.z ^ acc.w;
    if (folded == p.magic) {
        dst[gid.x % 64u] = folded;
    }
}
