//! The HTTP layer: a tiny_http server drained by a fixed pool of worker threads, request
//! bodies read under a size limit, and replies written as JSON, text or streamed NDJSON.
//!
//! Replies that take long (generation) run on a thread of their own, so the fixed workers
//! stay free for quick requests (tags, show, ps) however many generations wait; the number
//! of such threads is capped, and a request beyond the cap is answered 503 at once.
//!
//! Streaming bypasses tiny_http's response writer, which buffers chunked bodies in 8 KiB
//! pieces: a streamed reply takes the raw connection and writes each NDJSON line as its own
//! HTTP chunk, flushed at once, so a client sees every token as it is generated and a
//! client that goes away is noticed at the next write.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use serde_json::Value;

use super::error::ApiError;

/// Largest JSON request body accepted (prompts, messages, Modelfiles).
pub const MAX_JSON_BODY: u64 = 32 << 20;

/// A request as handlers see it.
pub struct Request {
    inner: tiny_http::Request,
}

/// A writer of NDJSON lines to a streaming client.
pub trait LineSink {
    /// Sends one JSON object as a line; false once the client has gone away.
    fn send(&mut self, v: &Value) -> bool;
}

/// What a handler answers.
pub enum Reply {
    Json(u16, Value),
    Text(u16, String),
    /// Status only (HEAD, 200 with no body).
    Empty(u16),
    /// NDJSON, produced by the closure as it goes, on a thread of its own.
    Stream(Box<dyn FnOnce(&mut dyn LineSink) + Send>),
    /// A reply computed on a thread of its own (a non-streamed generation).
    Later(Box<dyn FnOnce() -> Reply + Send>),
}

/// Most replies running on their own threads at once.
pub const MAX_BACKGROUND: usize = 512;

impl Request {
    pub fn method(&self) -> &tiny_http::Method {
        self.inner.method()
    }

    /// The path without the query string.
    pub fn path(&self) -> &str {
        let url = self.inner.url();
        url.split_once('?').map_or(url, |(p, _)| p)
    }

    /// The body, up to `limit` bytes; more is a 413.
    pub fn body(&mut self, limit: u64) -> Result<Vec<u8>, ApiError> {
        if let Some(len) = self.inner.body_length() {
            if len as u64 > limit {
                return Err(ApiError::new(413, format!("request body of {len} bytes exceeds the limit of {limit}")));
            }
        }
        let mut buf = Vec::new();
        let read = self.inner.as_reader().take(limit + 1).read_to_end(&mut buf);
        read.map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        if buf.len() as u64 > limit {
            return Err(ApiError::new(413, format!("request body exceeds the limit of {limit} bytes")));
        }
        Ok(buf)
    }

    /// The body parsed as a JSON object.
    pub fn json(&mut self) -> Result<serde_json::Map<String, Value>, ApiError> {
        let body = self.body(MAX_JSON_BODY)?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("missing request body"));
        }
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(ApiError::bad_request("request body must be a JSON object")),
            Err(e) => Err(ApiError::bad_request(format!("invalid JSON: {e}"))),
        }
    }

    /// The body as a stream (blob uploads), with its declared length if any.
    pub fn reader(&mut self) -> (&mut dyn Read, Option<usize>) {
        let len = self.inner.body_length();
        (self.inner.as_reader(), len)
    }
}

/// A running server; it stops with the process.
pub struct Server {
    workers: Vec<JoinHandle<()>>,
    pub addr: SocketAddr,
}

impl Server {
    /// Binds `addr` and starts `n_workers` threads, each handing requests to `handle`.
    pub fn start(
        addr: &str,
        n_workers: usize,
        handle: Arc<dyn Fn(&mut Request) -> Result<Reply, ApiError> + Send + Sync>,
    ) -> std::io::Result<Server> {
        let http =
            tiny_http::Server::http(addr).map_err(|e| std::io::Error::other(format!("listening on {addr}: {e}")))?;
        let addr = http
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("the server is not listening on an IP address"))?;
        let http = Arc::new(http);
        let background = Arc::new(AtomicUsize::new(0));
        let workers = (0..n_workers.max(1))
            .map(|i| {
                let http = Arc::clone(&http);
                let handle = Arc::clone(&handle);
                let background = Arc::clone(&background);
                std::thread::Builder::new()
                    .name(format!("http-{i}"))
                    .spawn(move || {
                        while let Ok(req) = http.recv() {
                            serve_one(req, &*handle, &background);
                        }
                    })
                    .expect("spawning an HTTP worker")
            })
            .collect();
        Ok(Server { workers, addr })
    }

    /// Blocks until the server stops.
    pub fn wait(self) {
        for w in self.workers {
            let _ = w.join();
        }
    }
}

fn serve_one(
    req: tiny_http::Request,
    handle: &(dyn Fn(&mut Request) -> Result<Reply, ApiError> + Send + Sync),
    background: &Arc<AtomicUsize>,
) {
    let mut req = Request { inner: req };
    let reply = catch(|| handle(&mut req));
    if matches!(reply, Reply::Stream(_) | Reply::Later(_)) {
        if background.fetch_add(1, Ordering::SeqCst) >= MAX_BACKGROUND {
            background.fetch_sub(1, Ordering::SeqCst);
            let busy = ApiError::new(503, "server busy, please try again.  maximum pending requests exceeded");
            let _ = send(req, Reply::Json(503, busy.body()));
            return;
        }
        let background = Arc::clone(background);
        let spawned = std::thread::Builder::new().name("reply".into()).spawn(move || {
            let reply = match reply {
                Reply::Later(compute) => catch(|| Ok(compute())),
                other => other,
            };
            let _ = send(req, reply);
            background.fetch_sub(1, Ordering::SeqCst);
        });
        if spawned.is_err() {
            // The reply (and the request) went with the failed spawn; nothing more to do.
            eprintln!("rollama: could not start a reply thread");
        }
        return;
    }
    // The client may have gone away; nothing to tell it.
    let _ = send(req, reply);
}

/// Runs a handler, turning its error, or a panic, into a reply: a bug costs one request,
/// never a worker thread.
fn catch(f: impl FnOnce() -> Result<Reply, ApiError>) -> Reply {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => Reply::Json(e.status, e.body()),
        Err(_) => Reply::Json(500, ApiError::internal("internal error").body()),
    }
}

fn send(req: Request, reply: Reply) -> std::io::Result<()> {
    let head_only = *req.method() == tiny_http::Method::Head;
    let result = match reply {
        Reply::Json(status, v) => {
            let body = serde_json::to_vec(&v).unwrap_or_default();
            respond(req, status, "application/json; charset=utf-8", body, head_only)
        }
        Reply::Text(status, text) => respond(req, status, "text/plain; charset=utf-8", text.into_bytes(), head_only),
        Reply::Empty(status) => respond(req, status, "text/plain; charset=utf-8", Vec::new(), true),
        Reply::Stream(produce) => stream(req, produce),
        Reply::Later(compute) => send(req, compute()),
    };
    result
}

fn respond(req: Request, status: u16, content_type: &str, body: Vec<u8>, head_only: bool) -> std::io::Result<()> {
    let header = tiny_http::Header::from_bytes("Content-Type", content_type).expect("a valid header");
    let len = body.len();
    let data: Box<dyn Read + Send> =
        if head_only { Box::new(std::io::empty()) } else { Box::new(std::io::Cursor::new(body)) };
    let resp = tiny_http::Response::new(tiny_http::StatusCode(status), vec![header], data, Some(len), None);
    req.inner.respond(resp)
}

/// Writes each line as one HTTP/1.1 chunk on the raw connection.
struct ChunkedLines {
    out: Box<dyn Write + Send>,
    open: bool,
}

impl LineSink for ChunkedLines {
    fn send(&mut self, v: &Value) -> bool {
        if !self.open {
            return false;
        }
        let mut line = serde_json::to_vec(v).unwrap_or_default();
        line.push(b'\n');
        let ok = write!(self.out, "{:x}\r\n", line.len())
            .and_then(|_| self.out.write_all(&line))
            .and_then(|_| self.out.write_all(b"\r\n"))
            .and_then(|_| self.out.flush());
        self.open = ok.is_ok();
        self.open
    }
}

fn stream(req: Request, produce: Box<dyn FnOnce(&mut dyn LineSink) + Send>) -> std::io::Result<()> {
    let mut out = req.inner.into_writer();
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )?;
    out.flush()?;
    let mut sink = ChunkedLines { out, open: true };
    produce(&mut sink);
    if sink.open {
        sink.out.write_all(b"0\r\n\r\n")?;
        sink.out.flush()?;
    }
    Ok(())
}
