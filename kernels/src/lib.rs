//! Quantized blocks, dot products, matmul and the thread pool.
