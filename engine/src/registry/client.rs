//! An HTTP client bound to one registry host: builds `/v2/...` URLs from a model name, sends
//! requests with whatever authorization the registry asked for, and follows redirects by hand
//! so that credentials never travel to another host.

use std::cell::RefCell;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use super::auth;
use super::{Options, RegistryError};
use crate::store::Name;

/// Most redirects followed for one request.
const MAX_REDIRECTS: usize = 5;
/// Most bytes of an error body quoted in a message.
const MAX_ERROR_BODY: u64 = 4096;

/// What a request carries. Every kind can be sent again, so a request can be retried once
/// after answering an authentication challenge.
pub(crate) enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// A whole file, with its length, and a callback told the bytes sent so far.
    File(PathBuf, u64, Option<&'a RefCell<&'a mut dyn FnMut(u64)>>),
}

/// Reads a file for an upload, reporting progress every [`PROGRESS_EVERY`] bytes.
struct Counting<'a, R> {
    inner: R,
    sent: u64,
    reported: u64,
    progress: Option<&'a RefCell<&'a mut dyn FnMut(u64)>>,
}

/// How often an upload reports its progress.
const PROGRESS_EVERY: u64 = 1 << 20;

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sent += n as u64;
        if self.sent - self.reported >= PROGRESS_EVERY || n == 0 {
            self.reported = self.sent;
            if let Some(p) = self.progress {
                if let Ok(mut f) = p.try_borrow_mut() {
                    f(self.sent);
                }
            }
        }
        Ok(n)
    }
}

pub(crate) struct Client {
    agent: ureq::Agent,
    /// `http://host[:port]` or `https://host[:port]`.
    base: String,
    host: String,
    namespace: String,
    model: String,
    options: Options,
    /// The `Authorization` header value earned from the last challenge.
    authorization: Mutex<Option<String>>,
}

impl Client {
    pub(crate) fn new(name: &Name, options: &Options) -> Result<Client, RegistryError> {
        // Ollama's rule: `insecure` switches to plain http; a name written `http://` needs it.
        let scheme = if options.insecure { "http" } else { name.scheme() };
        if scheme == "http" && !options.insecure {
            return Err(RegistryError::InsecureNotAllowed);
        }
        let agent = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout_connect(Duration::from_secs(10))
            // Stall detection: a part that sends nothing for this long is retried later.
            .timeout_read(Duration::from_secs(30))
            .timeout_write(Duration::from_secs(60))
            .user_agent(concat!("rollama/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent,
            base: format!("{scheme}://{}", name.host()),
            host: name.host().to_ascii_lowercase(),
            namespace: name.namespace().to_string(),
            model: name.model().to_string(),
            options: options.clone(),
            authorization: Mutex::new(None),
        })
    }

    /// `<base>/v2/<namespace>/<model>/<rest>`.
    pub(crate) fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{}/{rest}", self.base, self.namespace, self.model)
    }

    /// Resolves a `Location` header against the registry.
    pub(crate) fn resolve(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            format!("{}/{location}", self.base)
        }
    }

    fn same_host(&self, url: &str) -> bool {
        host_of(url).is_some_and(|h| h.eq_ignore_ascii_case(&self.host))
    }

    /// Sends one request to `url` (any status is an `Ok`), answering one 401 challenge when
    /// the target is the registry's own host. Redirects are returned, not followed.
    pub(crate) fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &Body<'_>,
        what: &str,
    ) -> Result<ureq::Response, RegistryError> {
        let same_host = self.same_host(url);
        let mut retried = false;
        loop {
            let mut req = self.agent.request(method, url);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            if same_host {
                if let Some(a) = self.authorization.lock().unwrap_or_else(|e| e.into_inner()).as_deref() {
                    req = req.set("Authorization", a);
                }
            }
            let result = match body {
                Body::Empty => req.call(),
                Body::Bytes(b) => req.send_bytes(b),
                Body::File(path, len, progress) => {
                    let file = std::fs::File::open(path).map_err(|e| RegistryError::io(path, e))?;
                    let reader = Counting { inner: file.take(*len), sent: 0, reported: 0, progress: *progress };
                    req.set("Content-Length", &len.to_string()).send(reader)
                }
            };
            let resp = match result {
                Ok(r) | Err(ureq::Error::Status(_, r)) => r,
                Err(ureq::Error::Transport(t)) => {
                    return Err(RegistryError::Network { what: what.to_string(), reason: t.to_string() })
                }
            };
            if resp.status() != 401 || !same_host || retried {
                if resp.status() == 401 {
                    return Err(RegistryError::Unauthorized(format!(
                        "{what}: the registry refused {}",
                        if self.options.credentials.is_some() {
                            "the credentials in ROLLAMA_REGISTRY_USER / ROLLAMA_REGISTRY_PASSWORD"
                        } else {
                            "anonymous access; set ROLLAMA_REGISTRY_USER and ROLLAMA_REGISTRY_PASSWORD"
                        }
                    )));
                }
                return Ok(resp);
            }
            let challenge = resp.header("WWW-Authenticate").unwrap_or("").to_string();
            let authorization = auth::answer(&self.agent, &self.host, &challenge, self.options.credentials.as_ref())?;
            *self.authorization.lock().unwrap_or_else(|e| e.into_inner()) = Some(authorization);
            retried = true;
        }
    }

    /// Sends a bodiless request and follows redirects (to at most [`MAX_REDIRECTS`] hops),
    /// sending authorization only to the registry's host. Returns the final response and URL.
    pub(crate) fn send_following(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        what: &str,
    ) -> Result<(ureq::Response, String), RegistryError> {
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let resp = self.send(method, &url, headers, &Body::Empty, what)?;
            if !(300..400).contains(&resp.status()) {
                return Ok((resp, url));
            }
            let Some(location) = resp.header("Location") else { return Ok((resp, url)) };
            url = self.resolve(location);
        }
        Err(RegistryError::Network { what: what.to_string(), reason: format!("more than {MAX_REDIRECTS} redirects") })
    }
}

/// `host[:port]` of an absolute URL.
pub(crate) fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..end];
    // Drop any userinfo, which must never decide where credentials go.
    Some(host.rsplit_once('@').map_or(host, |(_, h)| h))
}

/// An error for a response the protocol does not allow here, quoting the start of its body.
pub(crate) fn unexpected(what: &str, resp: ureq::Response) -> RegistryError {
    let status = resp.status();
    let mut body = String::new();
    let _ = resp.into_reader().take(MAX_ERROR_BODY).read_to_string(&mut body);
    RegistryError::Unexpected { what: what.to_string(), status, body: body.trim().to_string() }
}

/// Reads a response body of at most `max` bytes.
pub(crate) fn read_capped(resp: ureq::Response, max: u64, what: &str) -> Result<Vec<u8>, RegistryError> {
    let mut bytes = Vec::new();
    resp.into_reader()
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| RegistryError::Network { what: what.to_string(), reason: e.to_string() })?;
    if bytes.len() as u64 > max {
        return Err(RegistryError::Network { what: what.to_string(), reason: format!("answer over {max} bytes") });
    }
    Ok(bytes)
}
