//! `pull`: the manifest, then each blob in Range parts fetched in parallel into a
//! `<blob>-partial` file beside the store, with a small JSON record of each part's progress so a
//! cut pull resumes where it stopped. A blob is hashed and renamed into the store only once
//! complete and verified; the manifest's bytes are written last, atomically, as received.
//! Concurrent pulls of one blob share a single download: the first runs it, the others watch
//! its progress.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::client::{read_capped, unexpected, Body, Client};
use super::{Options, RegistryError, Status};
use crate::store::{Digest, Layer, Manifest, Name, Store, MAX_MANIFEST_BYTES, MEDIA_TYPE_MANIFEST};

/// Smallest Range part; smaller blobs are fetched in one request.
const MIN_PART: u64 = 4 << 20;
/// Most parts a blob is split into.
const MAX_PARTS: u64 = 16;
/// Parts fetched at once.
const WORKERS: usize = 4;
/// The progress record is saved (after an fsync of the data) every this many bytes of a part.
const SAVE_EVERY: u64 = 4 << 20;
/// Tries per part (the first plus retries) before the pull fails.
const TRIES: usize = 3;
/// How often progress is reported while a blob downloads.
const TICK: Duration = Duration::from_millis(200);
const READ_BUFFER: usize = 256 << 10;

/// Pulls `name` into `store`, reporting progress through `emit`.
pub fn pull(store: &Store, name: &Name, options: &Options, emit: &mut dyn FnMut(Status)) -> Result<(), RegistryError> {
    emit(Status::new("pulling manifest"));
    let client = Client::new(name, options)?;
    let what = format!("pulling the manifest of {name}");
    let resp = client.send(
        "GET",
        &client.url(&format!("manifests/{}", name.tag())),
        &[("Accept", MEDIA_TYPE_MANIFEST)],
        &Body::Empty,
        &what,
    )?;
    match resp.status() {
        200 => {}
        404 => return Err(RegistryError::NotFound(name.display_shortest())),
        _ => return Err(unexpected(&what, resp)),
    }
    let bytes = read_capped(resp, MAX_MANIFEST_BYTES, &what)?;
    let manifest = Manifest::from_bytes(&bytes).map_err(RegistryError::BadManifest)?;

    // Ollama's order: the layers, then the config; each blob once.
    let mut blobs: Vec<&Layer> = Vec::new();
    for layer in manifest.layers.iter().chain(std::iter::once(&manifest.config)) {
        if !blobs.iter().any(|l| l.digest == layer.digest) {
            blobs.push(layer);
        }
    }
    // Pinned, a blob cannot be collected by a concurrent delete before the manifest lands.
    let pins = Pins::new(store, blobs.iter().map(|l| l.digest.clone()).collect());
    let mut fresh = Vec::new();
    for layer in &blobs {
        match download(store, &client, layer, emit) {
            Ok(true) => fresh.push(layer.digest.clone()),
            Ok(false) => {}
            Err(e) => {
                // A corrupted blob leaves nothing behind; other failures keep what was fetched.
                if matches!(e, RegistryError::DigestMismatch { .. }) {
                    drop(pins);
                    let lock = store.lock_pins();
                    let _ = store.remove_unreferenced(&lock, fresh.iter());
                }
                return Err(e);
            }
        }
    }

    emit(Status::new("verifying sha256 digest"));
    for layer in &blobs {
        if store.blob_size(&layer.digest)? != Some(layer.size) {
            return Err(RegistryError::Store(crate::store::StoreError::BlobNotFound(layer.digest.clone())));
        }
    }

    emit(Status::new("writing manifest"));
    let target = store.resolve(name)?.unwrap_or_else(|| name.clone());
    let old: Vec<Digest> = store.manifest(&target).map(|m| m.digests().cloned().collect()).unwrap_or_default();
    write_atomic(&store.manifest_path(&target), &bytes)?;
    drop(pins);

    emit(Status::new("removing any unused layers"));
    let lock = store.lock_pins();
    store.remove_unreferenced(&lock, old.iter())?;
    drop(lock);

    emit(Status::new("success"));
    Ok(())
}

/// Pins a set of blobs for its lifetime.
struct Pins<'s> {
    store: &'s Store,
    digests: Vec<Digest>,
}

impl<'s> Pins<'s> {
    fn new(store: &'s Store, digests: Vec<Digest>) -> Pins<'s> {
        for d in &digests {
            store.pin(d);
        }
        Pins { store, digests }
    }
}

impl Drop for Pins<'_> {
    fn drop(&mut self) {
        for d in &self.digests {
            self.store.unpin(d);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shared downloads
// ---------------------------------------------------------------------------------------------

/// One blob being downloaded, watched by every pull that wants it.
struct Shared {
    total: u64,
    completed: AtomicU64,
    /// `Some` once finished: the error's message on failure.
    done: Mutex<Option<Result<(), String>>>,
    cv: Condvar,
}

impl Shared {
    fn finish(&self, result: Result<(), String>) {
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        self.cv.notify_all();
    }
}

/// Downloads in flight, by blob path (which names both the store and the digest).
fn in_flight() -> &'static Mutex<HashMap<PathBuf, Arc<Shared>>> {
    static MAP: OnceLock<Mutex<HashMap<PathBuf, Arc<Shared>>>> = OnceLock::new();
    MAP.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Makes sure `layer`'s blob is in the store. True if this call downloaded it.
fn download(
    store: &Store,
    client: &Client,
    layer: &Layer,
    emit: &mut dyn FnMut(Status),
) -> Result<bool, RegistryError> {
    let digest = &layer.digest;
    if store.blob_size(digest)? == Some(layer.size) {
        emit(Status::progress("pulling", digest, layer.size, layer.size));
        return Ok(false);
    }
    let key = store.blob_path(digest);
    let (shared, leader) = {
        let mut map = in_flight().lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&key) {
            Some(s) => (s.clone(), false),
            None => {
                let s = Arc::new(Shared {
                    total: layer.size,
                    completed: AtomicU64::new(0),
                    done: Mutex::new(None),
                    cv: Condvar::new(),
                });
                map.insert(key.clone(), s.clone());
                (s, true)
            }
        }
    };
    if !leader {
        return watch(&shared, digest, emit).map(|()| false);
    }
    // The entry goes away however the download ends, so a later pull starts afresh.
    struct Leave(PathBuf);
    impl Drop for Leave {
        fn drop(&mut self) {
            in_flight().lock().unwrap_or_else(|e| e.into_inner()).remove(&self.0);
        }
    }
    let _leave = Leave(key);
    let result = fetch_blob(store, client, layer, &shared, emit);
    shared.finish(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
    result.map(|()| true)
}

/// Reports another pull's download of `digest` until it ends.
fn watch(shared: &Shared, digest: &Digest, emit: &mut dyn FnMut(Status)) -> Result<(), RegistryError> {
    let mut done = shared.done.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(result) = done.as_ref() {
            emit(Status::progress("pulling", digest, shared.total, shared.completed.load(Ordering::Relaxed)));
            return result.clone().map_err(|reason| RegistryError::Network {
                what: format!("pulling {digest} (shared with another pull)"),
                reason,
            });
        }
        emit(Status::progress("pulling", digest, shared.total, shared.completed.load(Ordering::Relaxed)));
        done = shared.cv.wait_timeout(done, TICK).unwrap_or_else(|e| e.into_inner()).0;
    }
}

// ---------------------------------------------------------------------------------------------
// One blob, in parts
// ---------------------------------------------------------------------------------------------

/// What `<blob>-partial.json` records: the blob's size, the part size, and how many bytes of
/// each part are on disk (fsynced before the record is saved).
#[derive(Serialize, Deserialize, PartialEq, Eq)]
struct Record {
    total: u64,
    part_size: u64,
    done: Vec<u64>,
}

fn fetch_blob(
    store: &Store,
    client: &Client,
    layer: &Layer,
    shared: &Shared,
    emit: &mut dyn FnMut(Status),
) -> Result<(), RegistryError> {
    let digest = &layer.digest;
    let total = layer.size;
    let what = format!("pulling {digest}");
    // HEAD for the size and the URL the data is at, after any redirect to blob storage.
    let (resp, url) = client.send_following("HEAD", &client.url(&format!("blobs/{digest}")), &[], &what)?;
    match resp.status() {
        200 => {}
        404 => {
            return Err(RegistryError::Unexpected { what, status: 404, body: "blob unknown to the registry".into() })
        }
        _ => return Err(unexpected(&what, resp)),
    }
    if let Some(len) = resp.header("Content-Length").and_then(|v| v.parse::<u64>().ok()) {
        if len != total {
            return Err(RegistryError::BadManifest(format!("{digest} is {len} bytes on the registry, not {total}")));
        }
    }

    let blob = store.blob_path(digest);
    let partial = PathBuf::from(format!("{}-partial", blob.display()));
    let record_path = PathBuf::from(format!("{}-partial.json", blob.display()));
    let part_size = MIN_PART.max(total.div_ceil(MAX_PARTS)).max(1);
    let n_parts = total.div_ceil(part_size) as usize;
    let record = load_record(&partial, &record_path, total, part_size, n_parts);
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&partial)
        .map_err(|e| RegistryError::io(&partial, e))?;
    file.set_len(total).map_err(|e| RegistryError::io(&partial, e))?;

    let done: Vec<AtomicU64> = record.done.iter().map(|&d| AtomicU64::new(d)).collect();
    shared.completed.store(record.done.iter().sum(), Ordering::Relaxed);
    emit(Status::progress("pulling", digest, total, shared.completed.load(Ordering::Relaxed)));
    let ctx = Parts {
        client,
        url: &url,
        file: &file,
        partial: &partial,
        record_path: &record_path,
        total,
        part_size,
        done: &done,
        shared,
        next: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
        save_lock: Mutex::new(()),
        what: &what,
    };
    let finished = AtomicUsize::new(0);
    let workers = WORKERS.min(n_parts).max(1);
    let mut errors: Vec<RegistryError> = Vec::new();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let r = ctx.work();
                    finished.fetch_add(1, Ordering::Release);
                    r
                })
            })
            .collect();
        // Progress while the workers run; the loop ends when the last one does.
        while finished.load(Ordering::Acquire) < workers {
            std::thread::sleep(TICK);
            emit(Status::progress("pulling", digest, total, shared.completed.load(Ordering::Relaxed)));
        }
        for h in handles {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(e),
                Err(_) => errors
                    .push(RegistryError::Network { what: what.clone(), reason: "a download thread panicked".into() }),
            }
        }
    });
    ctx.save();
    drop(file);
    if let Some(e) = errors.into_iter().next() {
        return Err(e);
    }

    // Verified while it is copied into the store: a mismatch leaves nothing visible, and
    // nothing here either, since the data cannot be trusted for a resume.
    let reader = File::open(&partial).map_err(|e| RegistryError::io(&partial, e))?;
    let result = store.write_blob_from_reader(Some(digest), reader);
    if result.is_ok() || matches!(result, Err(crate::store::StoreError::DigestMismatch { .. })) {
        let _ = fs::remove_file(&partial);
        let _ = fs::remove_file(&record_path);
    }
    result?;
    emit(Status::progress("pulling", digest, total, total));
    Ok(())
}

/// The saved record if it matches this blob and the partial file, else a fresh one.
fn load_record(partial: &Path, record_path: &Path, total: u64, part_size: u64, n_parts: usize) -> Record {
    let fresh = Record { total, part_size, done: vec![0; n_parts] };
    let Ok(bytes) = fs::read(record_path) else { return fresh };
    let Ok(r) = serde_json::from_slice::<Record>(&bytes) else { return fresh };
    let partial_ok = fs::metadata(partial).is_ok_and(|m| m.len() == total);
    let parts_ok = r.done.len() == n_parts
        && r.done.iter().enumerate().all(|(i, &d)| d <= part_size.min(total - i as u64 * part_size));
    if r.total == total && r.part_size == part_size && partial_ok && parts_ok {
        r
    } else {
        fresh
    }
}

/// What the part workers share.
struct Parts<'a> {
    client: &'a Client,
    url: &'a str,
    file: &'a File,
    partial: &'a Path,
    record_path: &'a Path,
    total: u64,
    part_size: u64,
    done: &'a [AtomicU64],
    shared: &'a Shared,
    next: AtomicUsize,
    failed: AtomicBool,
    save_lock: Mutex<()>,
    what: &'a str,
}

impl Parts<'_> {
    /// Takes parts until none is left or one has failed.
    fn work(&self) -> Result<(), RegistryError> {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.done.len() || self.failed.load(Ordering::Relaxed) {
                return Ok(());
            }
            let mut tries = 0;
            loop {
                tries += 1;
                match self.part(i) {
                    Ok(()) => break,
                    Err(e) if tries >= TRIES || !matches!(e, RegistryError::Network { .. }) => {
                        self.failed.store(true, Ordering::Relaxed);
                        self.save();
                        return Err(e);
                    }
                    Err(_) => self.save(),
                }
            }
        }
    }

    /// Fetches the rest of part `i`.
    fn part(&self, i: usize) -> Result<(), RegistryError> {
        let start = i as u64 * self.part_size;
        let end = (start + self.part_size).min(self.total);
        let mut pos = start + self.done[i].load(Ordering::Relaxed);
        if pos >= end {
            return Ok(());
        }
        let range = format!("bytes={pos}-{}", end - 1);
        let (resp, _) = self.client.send_following("GET", self.url, &[("Range", &range)], self.what)?;
        let whole = resp.status() == 200 && pos == 0 && end == self.total;
        if resp.status() != 206 && !whole {
            return Err(unexpected(self.what, resp));
        }
        let mut reader = resp.into_reader().take(end - pos);
        let mut buf = vec![0u8; READ_BUFFER];
        let mut unsaved = 0u64;
        while pos < end {
            if self.failed.load(Ordering::Relaxed) {
                return Ok(());
            }
            let n = match reader.read(&mut buf) {
                Ok(0) => {
                    return Err(RegistryError::Network {
                        what: self.what.to_string(),
                        reason: format!("the connection closed {} bytes early", end - pos),
                    })
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(RegistryError::Network { what: self.what.to_string(), reason: e.to_string() }),
            };
            write_at(self.file, &buf[..n], pos).map_err(|e| RegistryError::io(self.partial, e))?;
            pos += n as u64;
            self.done[i].fetch_add(n as u64, Ordering::Relaxed);
            self.shared.completed.fetch_add(n as u64, Ordering::Relaxed);
            unsaved += n as u64;
            if unsaved >= SAVE_EVERY {
                self.save();
                unsaved = 0;
            }
        }
        Ok(())
    }

    /// Saves the progress record, after making the data it vouches for durable. Failing to
    /// save only costs a resume some bytes, so errors are ignored.
    fn save(&self) {
        let _guard = self.save_lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.file.sync_data().is_err() {
            return;
        }
        let record = Record {
            total: self.total,
            part_size: self.part_size,
            done: self.done.iter().map(|d| d.load(Ordering::Relaxed)).collect(),
        };
        let _ = write_atomic(self.record_path, &serde_json::to_vec(&record).unwrap_or_default());
    }
}

#[cfg(unix)]
fn write_at(file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

#[cfg(windows)]
fn write_at(file: &File, mut buf: &[u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_write(file, buf, offset)?;
        buf = &buf[n..];
        offset += n as u64;
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file in the same directory, fsynced and
/// renamed, so readers see the old content or the new, never a mix.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    let dir = path.parent().ok_or_else(|| RegistryError::io(path, std::io::ErrorKind::InvalidInput.into()))?;
    fs::create_dir_all(dir).map_err(|e| RegistryError::io(dir, e))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // `.tmp-` is the store's prefix for temporaries, so a crash's leftovers are pruned.
    let tmp = dir
        .join(format!(".tmp-{name}-{}-{:?}", std::process::id(), std::thread::current().id()).replace(['(', ')'], ""));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e: std::io::Error| {
        let _ = fs::remove_file(&tmp);
        RegistryError::io(path, e)
    })
}
