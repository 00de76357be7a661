// gemv.wgsl loading one piece per step.
const PAIRS: bool = false;
