//! The GPU's read bandwidth, for the benchmarks: what a decode step, which reads each weight
//! once, can reach at best. A buffer-to-buffer copy (`time_copies`) may run on a copy engine
//! or at another clock than compute kernels, so it is measured apart too.

use rollama_shaders as sh;

use super::device::{Bind, Recorder};
use super::profile::Timing;
use super::GpuBackend;

/// Workgroups of the read kernel: enough to fill any GPU, few enough that each invocation
/// has several loads to keep in flight.
const READ_GROUPS: u32 = 4096;

impl GpuBackend {
    /// `reps` reads of a `bytes`-byte device buffer by a compute kernel, in one submission.
    pub fn time_reads(&self, bytes: u64, reps: usize) -> Timing {
        let bytes = bytes.min(self.max_buffer_size()).min(self.device.limits().max_storage_buffer_binding_size);
        let bytes = bytes / 256 * 256;
        let src = self.storage(bytes);
        let dst = self.storage(256);
        let (src_id, dst_id) = (super::device::next_id(), super::device::next_id());
        {
            let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
            // Random-looking contents are not needed: nothing compresses device memory here,
            // but a cleared buffer is written once so the first read is not a first touch.
            rec.encoder(&self.device).clear_buffer(&src, 0, None);
        }
        self.finish();
        let p = sh::ReadSumParams { len: (bytes / 16) as u32, magic: 0x9e37_79b9, _pad: [0; 2] };
        let record = |rec: &mut Recorder| {
            for _ in 0..reps {
                let binds = [Bind::Buf(&src, src_id), Bind::Buf(&dst, dst_id)];
                let k = &self.kernels.read_sum;
                rec.dispatch(&self.device, &self.queue, k, bytemuck::bytes_of(&p), &binds, [READ_GROUPS, 1, 1]);
            }
        };
        self.time_submission(record)
    }
}
