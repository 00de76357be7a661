//! A persistent thread pool whose dispatches cost well under a microsecond, for the ~200
//! matmuls of a decode step.
//!
//! `ThreadPool::new(n)` starts `n - 1` workers; the thread that calls `run` is the n-th. All job
//! state that workers race on lives in one atomic word, `(epoch, n_tasks, next)`: a dispatch
//! publishes a new epoch, and any thread claims task `next` by compare-and-swap, which succeeds
//! only while that epoch's job is still open. `run` therefore waits for its *tasks*, never for
//! its workers: a worker the OS has descheduled (common on a small, busy machine) simply finds
//! nothing left to claim when it wakes, instead of stalling the caller.
//!
//! Idle workers spin on the word for a short while after each job (so back-to-back matmuls find
//! them awake) and then park on a condition variable (so an idle server burns no CPU).
//!
//! A request may use fewer threads than the pool has (Ollama's `num_thread`):
//! [`with_thread_limit`] caps, for the calling thread, how many threads its dispatches use;
//! workers numbered at or above the cap leave that job's tasks to the others.

use std::cell::Cell;
use std::cell::UnsafeCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker polls for the next job before it parks.
const SPIN: Duration = Duration::from_micros(500);

// The job word: epoch in the top 24 bits, task count in the middle 20, next task in the low 20.
const IDX_BITS: u32 = 20;
const IDX_MASK: u64 = (1 << IDX_BITS) - 1;
const EPOCH_SHIFT: u32 = 2 * IDX_BITS;
/// Most tasks one dispatch can carry; `run` splits larger counts.
const MAX_TASKS: usize = IDX_MASK as usize;

fn epoch_of(w: u64) -> u64 {
    w >> EPOCH_SHIFT
}
fn n_of(w: u64) -> usize {
    ((w >> IDX_BITS) & IDX_MASK) as usize
}
fn next_of(w: u64) -> usize {
    (w & IDX_MASK) as usize
}
fn pack(epoch: u64, n: usize, next: usize) -> u64 {
    (epoch << EPOCH_SHIFT) | ((n as u64) << IDX_BITS) | next as u64
}

type TaskFn = dyn Fn(usize) + Sync;

struct Shared {
    /// `(epoch, n_tasks, next)`; see the module docs.
    word: AtomicU64,
    /// The current job's closure, lifetime erased. Written by the dispatcher only while no task
    /// of the previous job is unfinished; read by a thread only after it claimed a task of the
    /// current job (so the job cannot finish, and the closure cannot change, under it).
    job: UnsafeCell<*const TaskFn>,
    /// Tasks of the current job that have finished (run or panicked).
    completed: AtomicUsize,
    /// How many threads (the caller included) may claim the current job's tasks: worker `i`
    /// (numbered from 1) joins only if `i < active`. Written before the epoch is published.
    active: AtomicUsize,
    /// Workers parked (or about to park) on `wake`.
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
    shutdown: AtomicBool,
    /// Set when a task panicked on a worker; `run` re-raises it on the caller.
    panicked: AtomicBool,
}

// SAFETY: every field but `job` is Sync; `job` follows the claim protocol described on it.
unsafe impl Sync for Shared {}
// SAFETY: the closure pointer is only dereferenced while `run`, which borrows the closure, is
// waiting for the claimed task, and the closure is `Sync`.
unsafe impl Send for Shared {}

impl Shared {
    /// Claims and runs tasks of `epoch` until none are left. `on_panic` decides what a panicking
    /// task does: workers record it, the caller keeps the first payload to re-raise.
    fn work(&self, epoch: u64, on_panic: &mut dyn FnMut(Box<dyn std::any::Any + Send>)) {
        let mut cur = self.word.load(Ordering::SeqCst);
        loop {
            if epoch_of(cur) != epoch || next_of(cur) >= n_of(cur) {
                return;
            }
            match self.word.compare_exchange_weak(cur, cur + 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => {
                    // SAFETY: we hold an unfinished task of this epoch, so `run` is still waiting
                    // and the closure it lent is alive and published (see `job`).
                    let f = unsafe { &**self.job.get() };
                    if let Err(p) = panic::catch_unwind(AssertUnwindSafe(|| f(next_of(cur)))) {
                        on_panic(p);
                    }
                    self.completed.fetch_add(1, Ordering::Release);
                    cur = self.word.load(Ordering::SeqCst);
                }
                Err(actual) => cur = actual,
            }
        }
    }
}

/// A fixed set of worker threads that run indexed tasks.
pub struct ThreadPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// Serializes `run` calls made from several threads at once.
    dispatch: Mutex<()>,
}

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPool").field("n_threads", &self.n_threads()).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // No code panics while these mutexes are held, but poisoning must never wedge the pool.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ThreadPool {
    /// A pool of `n_threads` threads in all, the caller of `run` included (`0` is taken as `1`).
    pub fn new(n_threads: usize) -> ThreadPool {
        let noop: &'static TaskFn = &|_| {};
        let shared = Arc::new(Shared {
            word: AtomicU64::new(0),
            job: UnsafeCell::new(noop as *const TaskFn),
            completed: AtomicUsize::new(0),
            active: AtomicUsize::new(n_threads.max(1)),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            shutdown: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
        });
        let workers = (1..n_threads.max(1))
            .map(|i| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("rollama-worker-{i}"))
                    .spawn(move || worker(&shared, i))
                    .expect("spawning a thread pool worker")
            })
            .collect();
        ThreadPool { shared, workers, dispatch: Mutex::new(()) }
    }

    /// Threads that run the calling thread's tasks, the caller included: the pool's size,
    /// capped by [`with_thread_limit`].
    pub fn n_threads(&self) -> usize {
        let all = self.workers.len() + 1;
        match THREAD_LIMIT.get() {
            0 => all,
            cap => cap.min(all),
        }
    }

    /// Threads in the pool, the caller included, whatever the limit.
    pub fn size(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `f(i)` for every `i` in `0..n_tasks`, spread over the pool's threads and the calling
    /// thread, and returns when all have finished. Each index runs exactly once. If a task
    /// panics, the panic is raised here once every task has finished.
    pub fn run(&self, n_tasks: usize, f: &(dyn Fn(usize) + Sync)) {
        if self.n_threads() == 1 || n_tasks <= 1 {
            (0..n_tasks).for_each(f);
            return;
        }
        let mut base = 0;
        while base < n_tasks {
            let n = (n_tasks - base).min(MAX_TASKS);
            if base == 0 && n == n_tasks {
                self.run_one(n, f);
            } else {
                self.run_one(n, &|i| f(base + i));
            }
            base += n;
        }
    }

    /// Runs `f(i, chunk)` for each `chunk_len`-long chunk `i` of `data` (the last may be
    /// shorter), spread over the threads: safe parallel writes to disjoint parts of one
    /// buffer. Each chunk sits behind its own (never contended) lock.
    pub fn run_chunks_mut<T: Send>(&self, data: &mut [T], chunk_len: usize, f: &(dyn Fn(usize, &mut [T]) + Sync)) {
        let chunks: Vec<Mutex<&mut [T]>> = data.chunks_mut(chunk_len.max(1)).map(Mutex::new).collect();
        self.run(chunks.len(), &|i| f(i, &mut lock(&chunks[i])));
    }

    fn run_one(&self, n_tasks: usize, f: &(dyn Fn(usize) + Sync)) {
        let _serial = lock(&self.dispatch);
        let shared = &*self.shared;
        // SAFETY: only the lifetime is erased. Threads dereference the pointer only while they
        // hold an unfinished task, and we wait below until every task has finished.
        let f_static: *const TaskFn =
            unsafe { std::mem::transmute::<*const (dyn Fn(usize) + Sync + '_), *const TaskFn>(f) };
        // SAFETY: every task of the previous job finished before its `run` returned, and a
        // thread reads `job` only while holding an unfinished task, so nobody reads it now.
        unsafe { *shared.job.get() = f_static };
        shared.completed.store(0, Ordering::Relaxed);
        shared.active.store(self.n_threads(), Ordering::Relaxed);
        let epoch = (epoch_of(shared.word.load(Ordering::Relaxed)) + 1) & ((1 << (64 - EPOCH_SHIFT)) - 1);
        // SeqCst pairs with the `sleepers` check so that a worker about to park either sees the
        // new epoch or is counted in `sleepers` and gets notified.
        shared.word.store(pack(epoch, n_tasks, 0), Ordering::SeqCst);
        if shared.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = lock(&shared.lock);
            shared.wake.notify_all();
        }

        let mut mine = None;
        shared.work(epoch, &mut |p| {
            mine.get_or_insert(p);
        });

        // Tasks other threads claimed may still be running, and they borrow from our caller.
        // The clock is read every 64 polls only: a decode step waits here hundreds of times,
        // and reading it on every poll showed up as 2-3% of a profile (clock_gettime).
        let start = Instant::now();
        let (mut polls, mut spinning) = (0u32, true);
        while shared.completed.load(Ordering::Acquire) < n_tasks {
            polls = polls.wrapping_add(1);
            if spinning && polls.is_multiple_of(64) {
                spinning = start.elapsed() < SPIN;
            }
            if spinning {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        let worker_panicked = shared.panicked.swap(false, Ordering::Relaxed);
        if let Some(p) = mine {
            panic::resume_unwind(p);
        }
        if worker_panicked {
            panic!("a thread pool task panicked");
        }
    }
}

/// Worker `index` (1-based; the dispatching thread is 0) of the pool.
fn worker(shared: &Shared, index: usize) {
    let mut seen = 0u64;
    loop {
        seen = wait_for_epoch(shared, seen);
        if shared.shutdown.load(Ordering::Acquire) {
            return;
        }
        // `active` was stored before the epoch we just read (SeqCst store, Acquire load).
        if index >= shared.active.load(Ordering::Relaxed) {
            continue;
        }
        shared.work(seen, &mut |_| shared.panicked.store(true, Ordering::Relaxed));
    }
}

/// Waits until the epoch differs from `seen` and returns it: spinning first, then parking.
fn wait_for_epoch(shared: &Shared, seen: u64) -> u64 {
    let start = Instant::now();
    let mut spins = 0u32;
    loop {
        let e = epoch_of(shared.word.load(Ordering::Acquire));
        if e != seen {
            return e;
        }
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(128) && start.elapsed() > SPIN {
            break;
        }
        std::hint::spin_loop();
    }
    let mut guard = lock(&shared.lock);
    shared.sleepers.fetch_add(1, Ordering::SeqCst);
    loop {
        let e = epoch_of(shared.word.load(Ordering::SeqCst));
        if e != seen {
            shared.sleepers.fetch_sub(1, Ordering::SeqCst);
            return e;
        }
        guard = shared.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        let shared = &*self.shared;
        shared.shutdown.store(true, Ordering::SeqCst);
        // A new epoch with no tasks wakes everyone without giving them work.
        let epoch = epoch_of(shared.word.load(Ordering::Relaxed)) + 1;
        shared.word.store(pack(epoch & ((1 << (64 - EPOCH_SHIFT)) - 1), 0, 0), Ordering::SeqCst);
        {
            let _g = lock(&shared.lock);
            shared.wake.notify_all();
        }
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

thread_local! {
    /// The calling thread's cap on threads per dispatch; 0 for none.
    static THREAD_LIMIT: Cell<usize> = const { Cell::new(0) };
}

/// Runs `f` with dispatches from this thread using at most `threads` of any pool's threads
/// (0: no cap), the per-request `num_thread` option. Results do not depend on the thread
/// count: every output element is computed by one task in a fixed order.
pub fn with_thread_limit<R>(threads: usize, f: impl FnOnce() -> R) -> R {
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREAD_LIMIT.set(self.0);
        }
    }
    let _restore = Restore(THREAD_LIMIT.replace(threads));
    f()
}

/// The number of physical cores this process may use: distinct (package, core) pairs under
/// `/sys/devices/system/cpu`, capped by `available_parallelism` (which honours affinity masks and
/// cgroup quotas). Hyper-threads share a core's SIMD units, so matmuls gain little from them.
pub fn default_threads() -> usize {
    let logical = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    match physical_cores() {
        Some(p) if p > 0 => p.min(logical),
        _ => logical,
    }
}

fn physical_cores() -> Option<usize> {
    let mut cores = std::collections::HashSet::new();
    for entry in std::fs::read_dir("/sys/devices/system/cpu").ok()? {
        let entry = entry.ok()?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Some(num) = name.strip_prefix("cpu") else {
            continue;
        };
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let topo = entry.path().join("topology");
        let read = |f: &str| std::fs::read_to_string(topo.join(f)).ok().map(|s| s.trim().to_string());
        let (Some(pkg), Some(core)) = (read("physical_package_id"), read("core_id")) else {
            continue;
        };
        cores.insert((pkg, core));
    }
    Some(cores.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_once(pool: &ThreadPool, n_tasks: usize) {
        let hits: Vec<AtomicUsize> = (0..n_tasks).map(|_| AtomicUsize::new(0)).collect();
        pool.run(n_tasks, &|i| {
            hits[i].fetch_add(1, Ordering::Relaxed);
        });
        for (i, h) in hits.iter().enumerate() {
            assert_eq!(h.load(Ordering::Relaxed), 1, "task {i} of {n_tasks} on {} threads", pool.n_threads());
        }
    }

    #[test]
    fn thread_limit_caps_the_threads_that_run_tasks() {
        let pool = ThreadPool::new(3);
        assert_eq!(pool.n_threads(), 3);
        for cap in [1, 2, 3, 7] {
            with_thread_limit(cap, || {
                assert_eq!(pool.n_threads(), cap.min(3));
                let seen = Mutex::new(std::collections::HashSet::new());
                for _ in 0..50 {
                    pool.run(64, &|_| {
                        lock(&seen).insert(std::thread::current().id());
                        std::hint::black_box((0..200).sum::<u64>());
                    });
                }
                let n = lock(&seen).len();
                assert!(n <= cap.min(3), "cap {cap}: {n} threads ran tasks");
            });
            check_once(&pool, 100);
        }
        assert_eq!(pool.n_threads(), 3, "the limit ends with the closure");
    }

    #[test]
    fn run_chunks_mut_hands_each_chunk_to_one_task() {
        for threads in [1, 2, 3] {
            let pool = ThreadPool::new(threads);
            let mut data = vec![0usize; 103];
            pool.run_chunks_mut(&mut data, 10, &|i, chunk| {
                for v in chunk.iter_mut() {
                    *v += i + 1;
                }
            });
            let want: Vec<usize> = (0..103).map(|k| k / 10 + 1).collect();
            assert_eq!(data, want, "{threads} threads");
        }
    }

    #[test]
    fn every_task_runs_exactly_once() {
        for threads in [1, 2, 3, 5] {
            let pool = ThreadPool::new(threads);
            assert_eq!(pool.n_threads(), threads);
            for n_tasks in [0, 1, 2, 3, 7, 64, 1000] {
                check_once(&pool, n_tasks);
            }
            // Many back-to-back epochs, as in a decode step.
            for round in 0..2000 {
                check_once(&pool, 1 + round % 9);
            }
        }
        assert_eq!(ThreadPool::new(0).n_threads(), 1);
        // More tasks than one dispatch word can count are split over several dispatches.
        check_once(&ThreadPool::new(2), MAX_TASKS + 5);
    }

    #[test]
    fn parked_workers_wake_up() {
        let pool = ThreadPool::new(3);
        check_once(&pool, 10);
        std::thread::sleep(SPIN * 4);
        check_once(&pool, 10);
    }

    #[test]
    fn concurrent_callers_share_one_pool() {
        let pool = ThreadPool::new(3);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for n in 0..300 {
                        check_once(&pool, n % 13);
                    }
                });
            }
        });
    }

    #[test]
    fn a_panicking_task_panics_run_and_the_pool_survives() {
        let pool = ThreadPool::new(3);
        for bad in [0, 5, 63] {
            let r = panic::catch_unwind(AssertUnwindSafe(|| {
                pool.run(64, &|i| {
                    if i == bad {
                        panic!("task {i} fails on purpose");
                    }
                })
            }));
            assert!(r.is_err());
            check_once(&pool, 100);
        }
    }

    #[test]
    fn default_threads_is_sane() {
        let n = default_threads();
        assert!(n >= 1);
        println!("default_threads = {n}");
    }

    #[test]
    fn dispatch_cost() {
        for threads in [1, 2] {
            let pool = ThreadPool::new(threads);
            let sink = AtomicUsize::new(0);
            let task = |i: usize| {
                sink.fetch_add(i, Ordering::Relaxed);
            };
            for _ in 0..1000 {
                pool.run(threads * 4, &task);
            }
            let rounds = 20_000;
            let t = Instant::now();
            for _ in 0..rounds {
                pool.run(threads * 4, &task);
            }
            let us = t.elapsed().as_secs_f64() * 1e6 / rounds as f64;
            println!("pool dispatch cost: {us:.2} us per run ({threads} threads, {} near-empty tasks)", threads * 4);
        }
    }
}
