// The params and bindings of every matmul body (matmul.wgsl, matmul_lanes.wgsl,
// matmul_serial.wgsl), mirrored by rollama_shaders::MatmulParams.

struct Params {
    rows: u32,
    cols: u32,
    n: u32,
    row_bytes: u32,
    units: u32,
    a_row: u32,
    // Leading activation rows that take the single-row order (matmul_serial.wgsl only).
    single: u32,
    // Out[t * out_stride + row0 + r] for row r of this part of the weights.
    row0: u32,
    out_stride: u32,
    _pad1: u32,
    _pad2: u32,
    _pad3: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> a: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
