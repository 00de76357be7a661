//! `push`: every blob the registry lacks (a HEAD tells), uploaded monolithically (`POST
//! .../blobs/uploads/`, then `PUT <location>?digest=`), then the manifest's stored bytes.

use std::cell::RefCell;
use std::fs;
use std::io::Read;

use super::client::{unexpected, Body, Client};
use super::{Options, RegistryError, Status};
use crate::store::{Layer, Manifest, Name, Store, MAX_MANIFEST_BYTES, MEDIA_TYPE_MANIFEST};

/// Pushes the model `name` from `store` to its registry, reporting progress through `emit`.
pub fn push(store: &Store, name: &Name, options: &Options, emit: &mut dyn FnMut(Status)) -> Result<(), RegistryError> {
    emit(Status::new("retrieving manifest"));
    let stored = store.resolve(name)?.ok_or_else(|| RegistryError::NotFound(name.display_shortest()))?;
    let path = store.manifest_path(&stored);
    let mut bytes = Vec::new();
    fs::File::open(&path)
        .and_then(|f| f.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| RegistryError::io(&path, e))?;
    let manifest = Manifest::from_bytes(&bytes).map_err(RegistryError::BadManifest)?;
    let client = Client::new(name, options)?;

    let mut blobs: Vec<&Layer> = Vec::new();
    for layer in manifest.layers.iter().chain(std::iter::once(&manifest.config)) {
        if !blobs.iter().any(|l| l.digest == layer.digest) {
            blobs.push(layer);
        }
    }
    for layer in blobs {
        upload(store, &client, layer, emit)?;
    }

    emit(Status::new("pushing manifest"));
    let what = format!("pushing the manifest of {name}");
    let media_type = if manifest.media_type.is_empty() { MEDIA_TYPE_MANIFEST } else { manifest.media_type.as_str() };
    let resp = client.send(
        "PUT",
        &client.url(&format!("manifests/{}", name.tag())),
        &[("Content-Type", media_type)],
        &Body::Bytes(&bytes),
        &what,
    )?;
    if !(200..300).contains(&resp.status()) {
        return Err(unexpected(&what, resp));
    }
    emit(Status::new("success"));
    Ok(())
}

fn upload(store: &Store, client: &Client, layer: &Layer, emit: &mut dyn FnMut(Status)) -> Result<(), RegistryError> {
    let digest = &layer.digest;
    let what = format!("pushing {digest}");
    emit(Status::progress("pushing", digest, layer.size, 0));
    let resp = client.send("HEAD", &client.url(&format!("blobs/{digest}")), &[], &Body::Empty, &what)?;
    if resp.status() == 200 {
        emit(Status::progress("pushing", digest, layer.size, layer.size));
        return Ok(());
    }
    let path = store.blob_path(digest);
    let size = store.blob_size(digest)?.ok_or_else(|| crate::store::StoreError::BlobNotFound(digest.clone()))?;
    let resp = client.send("POST", &client.url("blobs/uploads/"), &[], &Body::Empty, &what)?;
    if resp.status() != 202 {
        return Err(unexpected(&what, resp));
    }
    let location = resp.header("Location").ok_or_else(|| RegistryError::Unexpected {
        what: what.clone(),
        status: 202,
        body: "no Location header".into(),
    })?;
    let mut url = client.resolve(location);
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str("digest=");
    url.push_str(&digest.to_string().replace(':', "%3A"));
    let mut report = |sent: u64| emit(Status::progress("pushing", digest, layer.size, sent.min(layer.size)));
    let report: RefCell<&mut dyn FnMut(u64)> = RefCell::new(&mut report);
    let body = Body::File(path, size, Some(&report));
    let resp = client.send("PUT", &url, &[("Content-Type", "application/octet-stream")], &body, &what)?;
    drop(body);
    if !(200..300).contains(&resp.status()) {
        return Err(unexpected(&what, resp));
    }
    emit(Status::progress("pushing", digest, layer.size, layer.size));
    Ok(())
}
