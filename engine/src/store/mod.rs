//! The model store: Ollama's on-disk layout, read and written compatibly, so a user's existing
//! `~/.ollama/models` works unchanged.
//!
//! ```text
//! $OLLAMA_MODELS/
//!   manifests/<host>/<namespace>/<model>/<tag>   a Manifest (JSON) per model name
//!   blobs/sha256-<hex>                           content-addressed layers and configs
//! ```
//!
//! A [`Name`] maps to a manifest path; a [`Manifest`] lists [`Layer`]s by [`Digest`]; a digest
//! maps to a blob path. Names and digests are validated when they are parsed, so no path is
//! ever built from unchecked input. Every write is atomic (temporary file, fsync, rename, fsync
//! of the directory) and a blob becomes visible only once its sha256 has been verified.
//! Deleting a model removes the blobs no other manifest references. [`ModelBuilder`] (in
//! `create.rs`) assembles a new model from a GGUF file and text layers.

mod create;
mod digest;
mod error;
mod manifest;
mod name;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use sha2::{Digest as _, Sha256};

pub use create::{file_type_name, human_number, validate_create_file_path, Message, ModelBuilder};
pub use digest::Digest;
pub use error::{ErrorClass, StoreError};
pub use manifest::*;
pub use name::{validate_part, Name, PartKind, DEFAULT_HOST, DEFAULT_NAMESPACE, DEFAULT_SCHEME, DEFAULT_TAG};

/// Temporary files left by a crash are removed by [`Store::prune`] once this old; a file still
/// being written keeps a fresh modification time.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);
const TEMP_PREFIX: &str = ".tmp-";
const COPY_BUFFER: usize = 1 << 20;

/// One model of the store, as `/api/tags` lists it.
#[derive(Clone, Debug)]
pub struct ModelEntry {
    /// The name as stored on disk (its case may differ from the one asked for).
    pub name: Name,
    /// sha256 of the manifest file's bytes.
    pub digest: Digest,
    /// Config plus layers, in bytes.
    pub size: u64,
    /// The manifest file's modification time.
    pub modified_at: SystemTime,
    pub manifest: Manifest,
}

/// What [`Store::prune`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub blobs_removed: usize,
    pub bytes_removed: u64,
}

/// A model store rooted at a directory.
pub struct Store {
    root: PathBuf,
    /// Blobs that a model under construction has written or chosen but no manifest references
    /// yet, with a count per holder. The lock also serializes garbage collection, so a blob
    /// cannot be collected between being pinned and its manifest being written.
    pins: Mutex<HashMap<Digest, usize>>,
}

impl Store {
    /// `$OLLAMA_MODELS`, or `~/.ollama/models`.
    pub fn default_root() -> Result<PathBuf, StoreError> {
        if let Some(dir) = std::env::var_os("OLLAMA_MODELS").filter(|v| !v.is_empty()) {
            return Ok(PathBuf::from(dir));
        }
        let home = std::env::var_os("HOME")
            .or_else(|| std::env::var_os("USERPROFILE"))
            .filter(|v| !v.is_empty())
            .ok_or_else(|| StoreError::NoRoot("neither OLLAMA_MODELS nor HOME is set".into()))?;
        Ok(PathBuf::from(home).join(".ollama").join("models"))
    }

    /// Opens (creating if needed) the store at `root`, and renames blobs that very old Ollama
    /// versions named `sha256:<hex>` to the current `sha256-<hex>`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let store = Store { root: root.into(), pins: Mutex::new(HashMap::new()) };
        for dir in [store.blobs_dir(), store.manifests_dir()] {
            fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        }
        store.fix_legacy_blob_names()?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs")
    }
    pub fn manifests_dir(&self) -> PathBuf {
        self.root.join("manifests")
    }

    // ---------------------------------------------------------------------------------------
    // Blobs
    // ---------------------------------------------------------------------------------------

    /// `blobs/sha256-<hex>`: one plain file name, since a [`Digest`] is always valid.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs_dir().join(digest.file_name())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// The blob's size, or `None` if it is absent.
    pub fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, StoreError> {
        let path = self.blob_path(digest);
        match fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(path, e)),
        }
    }

    /// Streams `reader` into the store, hashing as it goes. The data lands in a temporary file
    /// that is fsynced and checked against `expected` before it is renamed into place, so on a
    /// mismatch (or a read error) nothing is left behind. Returns the digest and byte count.
    pub fn write_blob_from_reader(
        &self,
        expected: Option<&Digest>,
        reader: impl Read,
    ) -> Result<(Digest, u64), StoreError> {
        let w = self.write_blob(expected, reader, None, false)?;
        Ok((w.digest, w.size))
    }

    /// Stores bytes as a blob.
    pub fn write_blob_bytes(&self, bytes: &[u8]) -> Result<(Digest, u64), StoreError> {
        self.write_blob_from_reader(None, bytes)
    }

    /// The work of [`Store::write_blob_from_reader`]. `source` names the file being read, so
    /// that its read errors are ours (500) rather than the client's (400). With `pin`, the blob
    /// is pinned (see [`Store::unpin`]) before garbage collection can see it.
    pub(crate) fn write_blob(
        &self,
        expected: Option<&Digest>,
        mut reader: impl Read,
        source: Option<&Path>,
        pin: bool,
    ) -> Result<BlobWrite, StoreError> {
        let dir = self.blobs_dir();
        let (tmp, mut file) = create_temp(&dir)?;
        let guard = TempFile(Some(tmp.clone()));
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; COPY_BUFFER];
        let mut size = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(match source {
                        Some(p) => StoreError::io(p, e),
                        None => StoreError::Read(e),
                    })
                }
            };
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).map_err(|e| StoreError::io(&tmp, e))?;
            size += n as u64;
        }
        file.sync_all().map_err(|e| StoreError::io(&tmp, e))?;
        drop(file);
        let digest = Digest::from_hasher(hasher);
        if let Some(expected) = expected {
            if *expected != digest {
                return Err(StoreError::DigestMismatch { expected: expected.clone(), actual: digest });
            }
        }
        let dest = self.blob_path(&digest);
        let mut pins = self.lock_pins();
        // A blob of the right size is the same content (its name is its hash); one of another
        // size was damaged outside our control and is replaced.
        let existed = fs::metadata(&dest).is_ok_and(|m| m.is_file() && m.len() == size);
        if !existed {
            fs::rename(&tmp, &dest).map_err(|e| StoreError::io(&dest, e))?;
            guard.disarm();
            sync_dir(&dir)?;
        }
        if pin {
            *pins.entry(digest.clone()).or_insert(0) += 1;
        }
        Ok(BlobWrite { digest, size, existed })
    }

    /// Reads a small blob (a template, system prompt, license, params or messages layer) as
    /// text, refusing blobs over `max_bytes`.
    pub fn read_blob_string(&self, digest: &Digest, max_bytes: u64) -> Result<String, StoreError> {
        let bytes = self.read_blob_bytes(digest, max_bytes)?;
        Ok(String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    fn read_blob_bytes(&self, digest: &Digest, max_bytes: u64) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StoreError::BlobNotFound(digest.clone())),
            Err(e) => return Err(StoreError::io(path, e)),
        };
        let mut bytes = Vec::new();
        file.take(max_bytes.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| StoreError::io(&path, e))?;
        if bytes.len() as u64 > max_bytes {
            return Err(StoreError::CorruptBlob {
                digest: digest.clone(),
                reason: format!("larger than the limit of {max_bytes} bytes"),
            });
        }
        Ok(bytes)
    }

    /// Reads and parses a manifest's config blob.
    pub fn read_config(&self, manifest: &Manifest) -> Result<ModelConfig, StoreError> {
        let digest = &manifest.config.digest;
        let bytes = self.read_blob_bytes(digest, MAX_CONFIG_BYTES)?;
        ModelConfig::from_bytes(&bytes).map_err(|reason| StoreError::CorruptBlob { digest: digest.clone(), reason })
    }

    pub(crate) fn lock_pins(&self) -> MutexGuard<'_, HashMap<Digest, usize>> {
        // A panic elsewhere while holding the lock leaves the map consistent (every update is
        // a single insert or decrement), so a poisoned lock is still usable.
        self.pins.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn pin(&self, digest: &Digest) {
        *self.lock_pins().entry(digest.clone()).or_insert(0) += 1;
    }

    pub(crate) fn unpin(&self, digest: &Digest) {
        let mut pins = self.lock_pins();
        if let Some(n) = pins.get_mut(digest) {
            *n -= 1;
            if *n == 0 {
                pins.remove(digest);
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Manifests
    // ---------------------------------------------------------------------------------------

    /// `manifests/<host>/<namespace>/<model>/<tag>`, in the name's own case.
    pub fn manifest_path(&self, name: &Name) -> PathBuf {
        self.manifests_dir().join(name.manifest_rel_path())
    }

    /// The stored name that `name` refers to: itself if its manifest exists, otherwise the
    /// one stored name equal to it ignoring case, otherwise `None`.
    pub fn resolve(&self, name: &Name) -> Result<Option<Name>, StoreError> {
        if self.manifest_path(name).is_file() {
            return Ok(Some(name.clone()));
        }
        Ok(self.walk_manifests()?.into_iter().map(|(n, _)| n).find(|n| n.eq_fold(name)))
    }

    /// The model `name` refers to (matched ignoring case).
    pub fn model(&self, name: &Name) -> Result<ModelEntry, StoreError> {
        let stored = self.resolve(name)?.ok_or_else(|| StoreError::ModelNotFound(name.display_shortest()))?;
        let path = self.manifest_path(&stored);
        self.read_entry(stored, &path)
    }

    /// The manifest of the model `name` refers to.
    pub fn manifest(&self, name: &Name) -> Result<Manifest, StoreError> {
        Ok(self.model(name)?.manifest)
    }

    /// Every model, newest first. Manifests that cannot be read are skipped, as Ollama skips
    /// them, so one damaged file does not hide the others; [`Store::scan`] reports them.
    pub fn list(&self) -> Result<Vec<ModelEntry>, StoreError> {
        Ok(self.scan()?.0)
    }

    /// Every model (newest first) and the error of every manifest that could not be read.
    pub fn scan(&self) -> Result<(Vec<ModelEntry>, Vec<StoreError>), StoreError> {
        let mut entries = Vec::new();
        let mut errors = Vec::new();
        for (name, path) in self.walk_manifests()? {
            match self.read_entry(name, &path) {
                Ok(e) => entries.push(e),
                Err(e) => errors.push(e),
            }
        }
        entries.sort_by(|a, b| {
            b.modified_at.cmp(&a.modified_at).then_with(|| a.name.to_string().cmp(&b.name.to_string()))
        });
        Ok((entries, errors))
    }

    /// Writes `manifest` under `name` atomically, after checking that every blob it references
    /// is present. If a model with the same name in another case exists, its name is kept (as
    /// Ollama does), so the store never holds two names differing only in case. Returns the
    /// name written and the manifest's digest.
    pub fn write_manifest(&self, name: &Name, manifest: &Manifest) -> Result<(Name, Digest), StoreError> {
        if manifest.layers.len() > MAX_LAYERS {
            return Err(StoreError::InvalidInput(format!(
                "a manifest may have at most {MAX_LAYERS} layers, not {}",
                manifest.layers.len()
            )));
        }
        for digest in manifest.digests() {
            if !self.has_blob(digest) {
                return Err(StoreError::BlobNotFound(digest.clone()));
            }
        }
        self.write_manifest_bytes(name, &manifest.to_bytes())
    }

    fn write_manifest_bytes(&self, name: &Name, bytes: &[u8]) -> Result<(Name, Digest), StoreError> {
        let target = self.resolve(name)?.unwrap_or_else(|| name.clone());
        write_atomic(&self.manifest_path(&target), bytes)?;
        Ok((target, Digest::of_bytes(bytes)))
    }

    /// Copies the model `src` to `dst` (both matched ignoring case), keeping the manifest's
    /// bytes, and so its digest, as Ollama does. Returns the name written.
    pub fn copy(&self, src: &Name, dst: &Name) -> Result<Name, StoreError> {
        let stored = self.resolve(src)?.ok_or_else(|| StoreError::ModelNotFound(src.display_shortest()))?;
        let path = self.manifest_path(&stored);
        let (bytes, _) = read_manifest_file(&path)?;
        Ok(self.write_manifest_bytes(dst, &bytes)?.0)
    }

    /// Deletes the model `name` refers to, then every blob of it that no other manifest
    /// references, then the directories left empty. A damaged manifest is deleted too; its
    /// blobs are left for [`Store::prune`].
    pub fn delete(&self, name: &Name) -> Result<(), StoreError> {
        let stored = self.resolve(name)?.ok_or_else(|| StoreError::ModelNotFound(name.display_shortest()))?;
        let path = self.manifest_path(&stored);
        let candidates: Vec<Digest> = match read_manifest_file(&path) {
            Ok((_, m)) => m.digests().cloned().collect(),
            Err(StoreError::CorruptManifest { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        let pins = self.lock_pins();
        fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
        self.remove_empty_dirs(&path);
        self.remove_unreferenced(&pins, candidates.iter())?;
        Ok(())
    }

    /// Removes those of `candidates` that no manifest references and no builder has pinned.
    /// The caller holds the pins lock for the whole scan-and-remove.
    pub(crate) fn remove_unreferenced<'a>(
        &self,
        pins: &HashMap<Digest, usize>,
        candidates: impl Iterator<Item = &'a Digest>,
    ) -> Result<PruneReport, StoreError> {
        let referenced = self.referenced_digests()?;
        let mut report = PruneReport::default();
        let mut seen = HashSet::new();
        for d in candidates {
            if !seen.insert(d) || referenced.contains(d) || pins.contains_key(d) {
                continue;
            }
            let path = self.blob_path(d);
            let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            match fs::remove_file(&path) {
                Ok(()) => {
                    report.blobs_removed += 1;
                    report.bytes_removed += size;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(path, e)),
            }
        }
        Ok(report)
    }

    /// Removes every blob no manifest references (except pinned ones), and temporary files a
    /// crash left behind. Files that are not blobs (Ollama's `-partial` downloads) are kept.
    pub fn prune(&self) -> Result<PruneReport, StoreError> {
        let pins = self.lock_pins();
        let dir = self.blobs_dir();
        let mut candidates = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))? {
            let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
            let Some(file_name) = entry.file_name().to_str().map(str::to_string) else { continue };
            if file_name.starts_with(TEMP_PREFIX) {
                let path = entry.path();
                let stale = fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > STALE_TEMP_AGE);
                if stale {
                    let _ = fs::remove_file(&path);
                }
            } else if file_name.starts_with("sha256-") && entry.path().is_file() {
                if let Ok(d) = Digest::parse(&file_name) {
                    candidates.push(d);
                }
            }
        }
        self.remove_unreferenced(&pins, candidates.iter())
    }

    /// Every digest any manifest references. A manifest that does not parse (a format newer
    /// than this code, say) still protects every `sha256:<hex>` it contains, so collecting
    /// garbage never deletes a blob some model might use.
    fn referenced_digests(&self) -> Result<HashSet<Digest>, StoreError> {
        let mut set = HashSet::new();
        for (_, path) in self.walk_manifests()? {
            let mut bytes = Vec::new();
            File::open(&path)
                .and_then(|f| f.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut bytes))
                .map_err(|e| StoreError::io(&path, e))?;
            match Manifest::from_bytes(&bytes) {
                Ok(m) => set.extend(m.digests().cloned()),
                Err(_) => set.extend(scan_digests(&bytes)),
            }
        }
        Ok(set)
    }

    /// Every `(name, path)` under `manifests/` that is exactly four valid name parts deep.
    /// Anything else there (temporary files, stray files, odd names) is not a model.
    fn walk_manifests(&self) -> Result<Vec<(Name, PathBuf)>, StoreError> {
        let mut out = Vec::new();
        let root = self.manifests_dir();
        for (host, host_dir) in subdirs(&root, true)? {
            for (ns, ns_dir) in subdirs(&host_dir, true)? {
                for (model, model_dir) in subdirs(&ns_dir, true)? {
                    for (tag, path) in subdirs(&model_dir, false)? {
                        if let Ok(name) = Name::from_parts(&host, &ns, &model, &tag) {
                            out.push((name, path));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    fn read_entry(&self, name: Name, path: &Path) -> Result<ModelEntry, StoreError> {
        let (bytes, manifest) = read_manifest_file(path)?;
        let modified_at = fs::metadata(path).and_then(|m| m.modified()).map_err(|e| StoreError::io(path, e))?;
        Ok(ModelEntry { name, digest: Digest::of_bytes(&bytes), size: manifest.total_size(), modified_at, manifest })
    }

    /// Removes the manifest's parent directories up to `manifests/` while they are empty.
    fn remove_empty_dirs(&self, manifest_path: &Path) {
        let stop = self.manifests_dir();
        let mut dir = manifest_path.parent();
        while let Some(d) = dir {
            if d == stop || !d.starts_with(&stop) || fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }

    /// Renames `blobs/sha256:<hex>` (written by Ollama before 0.1.x fixed Windows paths) to
    /// `blobs/sha256-<hex>`.
    fn fix_legacy_blob_names(&self) -> Result<(), StoreError> {
        let dir = self.blobs_dir();
        for entry in fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))? {
            let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
            let Some(file_name) = entry.file_name().to_str().map(str::to_string) else { continue };
            if !file_name.starts_with("sha256:") {
                continue;
            }
            if let Ok(d) = Digest::parse(&file_name) {
                let dest = self.blob_path(&d);
                if !dest.exists() {
                    fs::rename(entry.path(), &dest).map_err(|e| StoreError::io(&dest, e))?;
                }
            }
        }
        Ok(())
    }
}

/// The outcome of [`Store::write_blob`].
pub(crate) struct BlobWrite {
    pub digest: Digest,
    pub size: u64,
    /// Whether the blob was already in the store.
    pub existed: bool,
}

/// Reads and parses a manifest file, bounded by [`MAX_MANIFEST_BYTES`].
fn read_manifest_file(path: &Path) -> Result<(Vec<u8>, Manifest), StoreError> {
    let corrupt = |reason: String| StoreError::CorruptManifest { path: path.to_path_buf(), reason };
    let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut bytes).map_err(|e| StoreError::io(path, e))?;
    let manifest = Manifest::from_bytes(&bytes).map_err(corrupt)?;
    Ok((bytes, manifest))
}

/// Every valid digest spelled anywhere in `bytes`.
fn scan_digests(bytes: &[u8]) -> Vec<Digest> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(pos) = bytes[i..].windows(6).position(|w| w == b"sha256") {
        let start = i + pos;
        if let Some(candidate) = bytes.get(start..start + 71) {
            if let Ok(d) = std::str::from_utf8(candidate).map_err(|_| ()).and_then(|s| Digest::parse(s).map_err(|_| ()))
            {
                out.push(d);
            }
        }
        i = start + 6;
    }
    out
}

/// The entries of `dir` that are directories (`want_dirs`) or files, with UTF-8 names.
/// A missing directory has no entries.
fn subdirs(dir: &Path, want_dirs: bool) -> Result<Vec<(String, PathBuf)>, StoreError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let path = entry.path();
        let ok = if want_dirs { path.is_dir() } else { path.is_file() };
        if let (true, Some(name)) = (ok, entry.file_name().to_str()) {
            out.push((name.to_string(), path));
        }
    }
    Ok(out)
}

/// Creates a new temporary file in `dir` (never an existing one, never through a symlink).
fn create_temp(dir: &Path) -> Result<(PathBuf, File), StoreError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{TEMP_PREFIX}{}-{n}-{nanos}", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(StoreError::io(path, e)),
        }
    }
}

/// Removes its file when dropped unless disarmed: every early return cleans up.
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename, fsync of
/// the directory. Readers see the old file or the new one, never a partial one.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().ok_or_else(|| StoreError::InvalidInput(format!("{} has no parent", path.display())))?;
    fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    let (tmp, mut file) = create_temp(dir)?;
    let guard = TempFile(Some(tmp.clone()));
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| StoreError::io(&tmp, e))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| StoreError::io(path, e))?;
    guard.disarm();
    sync_dir(dir)
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(dir, e))
    }
    // Windows cannot open a directory as a file; its renames are journaled by NTFS.
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}
