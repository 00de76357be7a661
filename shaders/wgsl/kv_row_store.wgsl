// With p.store (a decode step: one row, whose ring slot no position in the window reads),
// the first query head of each kv head also writes that head's key and value row into the
// cache, as kv_store.wgsl would, sparing the decode step a dispatch.
fn store_row(h: u32, lid: u32, wg: u32) {
    if (p.store == 0u || h % p.group != 0u) {
        return;
    }
    let kvh = h / p.group;
    let slot = p.pos0 % p.slots;
    for (var j = lid; j < p.head_dim / 2u; j += wg) {
        let s = kvh * p.head_dim + 2u * j;
        kc[(slot * p.k_width + s) >> 1u] = pack_f16(k[s], k[s + 1u]);
        vc[(slot * p.v_width + s) >> 1u] = pack_f16(v[s], v[s + 1u]);
    }
}
