// For the norms (norm_body.wgsl) of a decode step: once the row is in `out`, its Q8 blocks
// (10 words per 32 values) go to q8 when bit 0 of p.quant is set and its Q8_K blocks (65 words
// per 256) to q8k when bit 1 is, as quantize_q8.wgsl and quantize_q8k.wgsl would write them
// (q8_chunks.wgsl), so the products that follow need no quantizing dispatch.
// Values 4i .. 4i + 3 of the row at base (zeros where not live).
fn out_word(base: u32, i: u32, live: bool) -> vec4<f32> {
    if (!live) {
        return vec4<f32>(0.0);
    }
    let o = base + 4u * i;
    return vec4<f32>(out[o], out[o + 1u], out[o + 2u], out[o + 3u]);
}

fn quantize_out(base: u32, t: u32, lid: u32) {
    // Other invocations wrote the values this one reads.
    storageBarrier();
    let words = p.width / 4u;
    if ((p.quant & 1u) != 0u) {
        let row = t * (p.width / 32u) * 10u;
        for (var c = 0u; c < words; c += 256u) {
            let i = c + lid;
            let live = i < words;
            let v = out_word(base, i, live);
            let r = q8_chunk(v, lid);
            if (live) {
                let o = row + (i / 8u) * 10u;
                q8[o + i % 8u] = r.word;
                if (i % 8u == 0u) {
                    q8[o + 8u] = r.d;
                    q8[o + 9u] = r.s;
                }
            }
        }
    }
    if ((p.quant & 2u) != 0u) {
        let row = t * (p.width / 256u) * 65u;
        for (var c = 0u; c < words; c += 256u) {
            let i = c + lid;
            let live = i < words;
            let v = out_word(base, i, live);
            let r = q8k_chunk(v, lid);
            if (live) {
                let o = row + (i / 64u) * 65u;
                q8k[o + i % 64u] = r.word;
                if (i % 64u == 0u) {
                    q8k[o + 64u] = r.d;
                }
            }
        }
    }
}
