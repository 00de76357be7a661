//! The scheduler: which models are loaded, who may use them, and when they go.
//!
//! A model loads on first use and stays for its `keep_alive` after the last request that
//! used it (negative: forever; zero: unload when that request ends). At most
//! `max_loaded` models stay resident; loading another evicts the idle one that was used
//! least recently. Requests to one model run one at a time, in arrival order (a ticket
//! queue); a request beyond `max_queue` waiting ones is refused (503). The cache of the
//! last sequence is kept with the model so a follow-up request that shares its prefix
//! (the next chat turn) skips re-reading it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rollama_engine::backend::{Backend, CpuBackend, GpuBackend};
use rollama_engine::gguf::GgufFile;

use crate::api::options::DEFAULT_NUM_CTX;
use rollama_engine::model::{self, LoadOptions, Model, ModelError, Session};

/// How long a model stays loaded after a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeepAlive {
    Forever,
    For(Duration),
}

/// What identifies a model to load: the GGUF file, a display name, and the load-time options.
#[derive(Debug, Clone)]
pub struct ModelKey {
    /// Unique per model content (the manifest digest, or the file path).
    pub id: String,
    pub name: String,
    pub path: PathBuf,
    /// Overrides of the file's settings (rope_frequency_base/scale); a model loaded with other
    /// overrides is another instance, as Ollama reloads its runner when they change.
    pub load: LoadOptions,
}

impl ModelKey {
    /// The scheduler's key for this model loaded with these options.
    pub fn slot(&self) -> String {
        if self.load.is_default() {
            self.id.clone()
        } else {
            let gpu = self.load.gpu_layers.map_or_else(String::new, |k| format!("#gpu:{k}"));
            format!("{}#rope:{:?}:{:?}{gpu}", self.id, self.load.rope_freq_base, self.load.rope_freq_scale)
        }
    }
}

/// A model in memory.
pub struct Loaded {
    pub key: ModelKey,
    pub model: Box<dyn Model>,
    pub size: u64,
    /// The share of its weights in GPU memory (0 on the CPU, 1 all on the GPU).
    pub gpu_share: f64,
    state: Mutex<LoadedState>,
    turn: Condvar,
}

struct LoadedState {
    /// Tickets: `serving` is the ticket now running; `next` the next to hand out.
    next: u64,
    serving: u64,
    /// Requests holding or waiting for the model.
    users: usize,
    last_used: Instant,
    expires: Option<Instant>,
    keep_alive: KeepAlive,
    /// The context of the last sequence made for it (what /api/ps reports, as Ollama
    /// reports its runner's num_ctx); None before the first.
    n_ctx: Option<usize>,
    /// The sequence of the last request, and the tokens in its cache.
    cache: Option<(Session, Vec<u32>)>,
}

/// Exclusive use of a loaded model; dropping it lets the next request in.
pub struct Lease {
    pub loaded: Arc<Loaded>,
    sched: Arc<SchedulerInner>,
}

struct SchedulerInner {
    backend: Arc<CpuBackend>,
    /// The GPU backend, when one was found at start (see [`GpuBackend::auto`]).
    gpu: Option<Arc<GpuBackend>>,
    /// Which backends models load on, for the startup log.
    backends: String,
    models: Mutex<HashMap<String, Arc<Loaded>>>,
    /// Serializes loads so two requests never load the same file twice.
    loading: Mutex<()>,
    max_loaded: usize,
    max_queue: usize,
}

#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<SchedulerInner>,
}

/// A loaded model as /api/ps reports it.
pub struct PsEntry {
    pub key: ModelKey,
    pub size: u64,
    /// Bytes in GPU memory: the model's size on the GPU, 0 on the CPU.
    pub size_vram: u64,
    pub expires_at: Option<SystemTime>,
    pub context_length: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SchedError {
    #[error("server busy, please try again.  maximum pending requests exceeded")]
    Busy,
    #[error(transparent)]
    Load(#[from] ModelError),
}

impl Scheduler {
    /// A scheduler over the CPU backend and, where [`GpuBackend::auto`] finds one, a GPU
    /// backend that models load on unless their options say `num_gpu: 0`. Logs the choice.
    pub fn new(threads: usize, max_loaded: usize, max_queue: usize) -> Scheduler {
        let threads = if threads == 0 { rollama_kernels::default_threads() } else { threads };
        let backend = Arc::new(CpuBackend::new(threads));
        let (gpu, backends) = match GpuBackend::auto() {
            Ok(g) => {
                let line = format!("models load on the GPU: {} (num_gpu N: the last N layers there, the rest on the CPU; 0: all on the CPU)", g.name());
                (Some(Arc::new(g)), line)
            }
            Err(e) => (None, format!("models load on the CPU: {} ({e})", backend.name())),
        };
        let inner = Arc::new(SchedulerInner {
            backend,
            gpu,
            backends,
            models: Mutex::new(HashMap::new()),
            loading: Mutex::new(()),
            max_loaded: max_loaded.max(1),
            max_queue: max_queue.max(1),
        });
        let reaper = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("model-reaper".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_millis(250));
                let Some(inner) = reaper.upgrade() else { return };
                inner.unload_expired();
            })
            .expect("spawning the reaper");
        Scheduler { inner }
    }

    /// Which backend models load on and why, e.g. "models load on the CPU: cpu (Avx2, 4
    /// threads) (no GPU adapter found (Vulkan))".
    pub fn backends(&self) -> &str {
        &self.inner.backends
    }

    /// Waits for exclusive use of the model, loading it first if needed.
    pub fn acquire(&self, key: &ModelKey, keep_alive: KeepAlive) -> Result<Lease, SchedError> {
        let loaded = self.inner.get_or_load(key)?;
        let ticket = {
            let mut st = loaded.state.lock().unwrap();
            if st.users >= self.inner.max_queue {
                return Err(SchedError::Busy);
            }
            st.users += 1;
            st.keep_alive = keep_alive;
            st.expires = None;
            let t = st.next;
            st.next += 1;
            t
        };
        let mut st = loaded.state.lock().unwrap();
        while st.serving != ticket {
            st = loaded.turn.wait(st).unwrap();
        }
        drop(st);
        Ok(Lease { loaded, sched: Arc::clone(&self.inner) })
    }

    /// The loaded model, loading it if needed, without queueing for its use: for requests
    /// that only read it (tokenize, embed) and never touch its cache.
    pub fn model(&self, key: &ModelKey) -> Result<Arc<Loaded>, SchedError> {
        let loaded = self.inner.get_or_load(key)?;
        let mut st = loaded.state.lock().unwrap();
        st.last_used = Instant::now();
        if st.users == 0 && st.expires.is_none() {
            st.expires = match st.keep_alive {
                KeepAlive::Forever => None,
                KeepAlive::For(d) => Some(Instant::now() + d),
            };
        }
        drop(st);
        Ok(loaded)
    }

    /// Loads (or keeps) a model without running anything; used by an empty prompt.
    pub fn preload(&self, key: &ModelKey, keep_alive: KeepAlive) -> Result<(), SchedError> {
        drop(self.acquire(key, keep_alive)?);
        Ok(())
    }

    /// Unloads every instance of a model (each set of load options) that nobody is using
    /// (keep_alive 0 on an empty request, `stop`); true if one was unloaded.
    pub fn unload(&self, id: &str) -> bool {
        let mut models = self.inner.models.lock().unwrap();
        let before = models.len();
        models.retain(|_, m| m.key.id != id || m.state.lock().unwrap().users > 0);
        models.len() < before
    }

    pub fn ps(&self) -> Vec<PsEntry> {
        let models = self.inner.models.lock().unwrap();
        let now_i = Instant::now();
        let now_s = SystemTime::now();
        let mut out: Vec<PsEntry> = models
            .values()
            .map(|m| {
                let st = m.state.lock().unwrap();
                let expires_at = match (st.users, st.keep_alive, st.expires) {
                    (_, KeepAlive::Forever, _) => None,
                    (0, _, Some(t)) => Some(now_s + t.saturating_duration_since(now_i)),
                    (_, KeepAlive::For(d), _) => Some(now_s + d),
                };
                PsEntry {
                    key: m.key.clone(),
                    size: m.size,
                    size_vram: (m.size as f64 * m.gpu_share).round() as u64,
                    expires_at,
                    context_length: st.n_ctx.unwrap_or(DEFAULT_NUM_CTX),
                }
            })
            .collect();
        out.sort_by(|a, b| a.key.name.cmp(&b.key.name));
        out
    }

    /// Whether a model is loaded now with the key's options.
    pub fn is_loaded(&self, key: &ModelKey) -> bool {
        self.inner.models.lock().unwrap().contains_key(&self.inner.effective(key).slot())
    }
}

impl SchedulerInner {
    /// The key as this server loads it: without a GPU, `num_gpu` changes nothing, so it
    /// does not make another instance.
    fn effective(&self, key: &ModelKey) -> ModelKey {
        let mut key = key.clone();
        if self.gpu.is_none() {
            key.load.gpu_layers = None;
        }
        key
    }

    fn get_or_load(&self, key: &ModelKey) -> Result<Arc<Loaded>, SchedError> {
        let key = &self.effective(key);
        let slot = key.slot();
        if let Some(m) = self.models.lock().unwrap().get(&slot) {
            return Ok(Arc::clone(m));
        }
        let _loading = self.loading.lock().unwrap();
        if let Some(m) = self.models.lock().unwrap().get(&slot) {
            return Ok(Arc::clone(m));
        }
        self.make_room();
        let (model, gpu_share) = self.load(key)?;
        let size = std::fs::metadata(&key.path).map(|m| m.len()).unwrap_or(0);
        let loaded = Arc::new(Loaded {
            key: key.clone(),
            model,
            size,
            gpu_share,
            state: Mutex::new(LoadedState {
                next: 0,
                serving: 0,
                users: 0,
                last_used: Instant::now(),
                expires: None,
                keep_alive: KeepAlive::For(Duration::from_secs(300)),
                n_ctx: None,
                cache: None,
            }),
            turn: Condvar::new(),
        });
        self.models.lock().unwrap().insert(slot, Arc::clone(&loaded));
        Ok(loaded)
    }

    /// Loads the model on the GPU, or as many of its layers as `num_gpu` asks with the rest on
    /// the CPU, unless there is no GPU or `num_gpu` is 0. A model the GPU backend cannot hold
    /// (a weight type without a shader, heads wider than its attention, a row over the
    /// device's largest binding) loads on the CPU instead. Returns the share on the GPU.
    fn load(&self, key: &ModelKey) -> Result<(Box<dyn Model>, f64), ModelError> {
        if let Some(gpu) = self.gpu.as_ref().filter(|_| key.load.gpu_layers != Some(0)) {
            let loaded = GgufFile::open(&key.path).map_err(ModelError::from).and_then(|file| {
                model::load_offloaded(Arc::new(file), &self.backend, gpu, key.load.gpu_layers, &key.load)
            });
            match loaded {
                Ok((m, share)) => {
                    eprintln!("rollama: {} loaded on {}", key.name, m.backend_name());
                    return Ok((m, share));
                }
                Err(e) => eprintln!("rollama: {} stays on the CPU: {e}", key.name),
            }
        }
        Ok((model::load_with(&key.path, Arc::clone(&self.backend), &key.load)?, 0.0))
    }

    /// Evicts idle models, least recently used first, until one more fits.
    fn make_room(&self) {
        let mut models = self.models.lock().unwrap();
        while models.len() >= self.max_loaded {
            let victim = models
                .iter()
                .filter_map(|(id, m)| {
                    let st = m.state.lock().unwrap();
                    (st.users == 0).then(|| (id.clone(), st.last_used))
                })
                .min_by_key(|(_, t)| *t)
                .map(|(id, _)| id);
            match victim {
                Some(id) => {
                    models.remove(&id);
                }
                // Everything is busy: load anyway rather than deadlock; the extra model goes
                // when its keep_alive runs out.
                None => break,
            }
        }
    }

    fn unload_expired(&self) {
        let now = Instant::now();
        self.models.lock().unwrap().retain(|_, m| {
            let st = m.state.lock().unwrap();
            !(st.users == 0 && st.expires.is_some_and(|t| t <= now))
        });
    }
}

impl Lease {
    /// A session for `tokens`, reusing the cached one's common prefix. Returns the session
    /// and how many leading tokens it already holds; an error where a new one's cache does
    /// not fit in memory.
    pub fn session_for(&self, tokens: &[u32], n_ctx: usize) -> Result<(Session, usize), ModelError> {
        let cached = {
            let mut st = self.loaded.state.lock().unwrap();
            st.n_ctx = Some(n_ctx);
            st.cache.take()
        };
        if let Some((mut session, seen)) = cached {
            if session.n_ctx() == n_ctx {
                // Keep at least one token to feed, so the forward pass yields logits.
                let common =
                    seen.iter().zip(tokens).take_while(|(a, b)| a == b).count().min(tokens.len().saturating_sub(1));
                session.truncate(common);
                // A cache with sliding-window rings may not be able to go back that far and
                // then forgets more: what it still holds is its position, not `common`.
                let kept = session.pos();
                return Ok((session, kept));
            }
        }
        Ok((self.loaded.model.try_new_session(n_ctx)?, 0))
    }

    /// Keeps a finished sequence for the next request.
    pub fn keep_session(&self, session: Session, tokens: Vec<u32>) {
        self.loaded.state.lock().unwrap().cache = Some((session, tokens));
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let unload_now = {
            let mut st = self.loaded.state.lock().unwrap();
            st.users -= 1;
            st.serving += 1;
            st.last_used = Instant::now();
            if st.users == 0 {
                st.expires = match st.keep_alive {
                    KeepAlive::Forever => None,
                    KeepAlive::For(d) => Some(Instant::now() + d),
                };
            }
            self.loaded.turn.notify_all();
            st.users == 0 && st.keep_alive == KeepAlive::For(Duration::ZERO)
        };
        if unload_now {
            let mut models = self.sched.models.lock().unwrap();
            let slot = self.loaded.key.slot();
            let still_idle = models.get(&slot).is_some_and(|m| m.state.lock().unwrap().users == 0);
            if still_idle {
                models.remove(&slot);
            }
        }
    }
}

/// Parses `keep_alive` as Ollama does: a number of seconds (negative: forever) or a Go
/// duration string ("5m", "1h30m", "-1m"); a bare numeric string is an error.
pub fn parse_keep_alive(v: &serde_json::Value) -> Result<KeepAlive, String> {
    match v {
        serde_json::Value::Number(n) => {
            let secs = n.as_f64().ok_or("keep_alive is not a number")?;
            Ok(if secs < 0.0 { KeepAlive::Forever } else { KeepAlive::For(Duration::from_secs_f64(secs.min(1e12))) })
        }
        serde_json::Value::String(s) => parse_go_duration(s),
        _ => Err("keep_alive must be a number or a duration string".into()),
    }
}

fn parse_go_duration(s: &str) -> Result<KeepAlive, String> {
    let bad = || format!("time: invalid duration \"{s}\"");
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(KeepAlive::For(Duration::ZERO));
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    Ok(if neg && total > 0.0 { KeepAlive::Forever } else { KeepAlive::For(Duration::from_secs_f64(total.min(1e12))) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keep_alive_parses_like_ollama() {
        assert_eq!(parse_keep_alive(&json!(30)), Ok(KeepAlive::For(Duration::from_secs(30))));
        assert_eq!(parse_keep_alive(&json!(-1)), Ok(KeepAlive::Forever));
        assert_eq!(parse_keep_alive(&json!(0)), Ok(KeepAlive::For(Duration::ZERO)));
        assert_eq!(parse_keep_alive(&json!("5m")), Ok(KeepAlive::For(Duration::from_secs(300))));
        assert_eq!(parse_keep_alive(&json!("1h30m")), Ok(KeepAlive::For(Duration::from_secs(5400))));
        assert_eq!(parse_keep_alive(&json!("-1m")), Ok(KeepAlive::Forever));
        assert_eq!(parse_keep_alive(&json!("0")), Ok(KeepAlive::For(Duration::ZERO)));
        assert!(parse_keep_alive(&json!("10")).is_err());
        assert!(parse_keep_alive(&json!("5 minutes")).is_err());
        assert!(parse_keep_alive(&json!(true)).is_err());
    }
}
