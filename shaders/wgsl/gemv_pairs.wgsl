// gemv.wgsl loading two pieces per step.
const PAIRS: bool = true;
