//! Pull and push against a real registry: Debian's `docker-registry` (the CNCF distribution
//! registry) started per test on a free loopback port with its own storage, the SmolLM2 model
//! created through the API, and a small TCP proxy in front of the registry where a test needs
//! to count, cut or share the bytes of a transfer. Skipped (with a note) where the registry
//! binary is not installed; `scripts/test.sh` installs it.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rollama_tests::{model_path, TestServer};
use serde_json::{json, Value};

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
const MODEL_DIGEST: &str = "sha256:b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
const MODEL_SIZE: u64 = 98_362_432;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A `docker-registry serve` on a free loopback port; killed and its storage removed on drop.
struct Registry {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Registry {
    /// None where the registry is not installed.
    fn start(htpasswd: Option<(&str, &str)>) -> Option<Registry> {
        Registry::start_with(htpasswd, false)
    }

    /// With `tls`, the registry serves https with a certificate for 127.0.0.1 signed by a test
    /// CA whose certificate is `ca.pem` in its directory (see [`Registry::ca`]).
    fn start_with(htpasswd: Option<(&str, &str)>, tls: bool) -> Option<Registry> {
        if !Path::new(REGISTRY_BIN).exists() {
            eprintln!("skipped: {REGISTRY_BIN} is not installed (apt-get install docker-registry)");
            return None;
        }
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rollama-registry-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("data").display()
        );
        if let Some((user, password)) = htpasswd {
            let out =
                Command::new("htpasswd").args(["-Bbn", user, password]).output().expect("htpasswd (apache2-utils)");
            assert!(out.status.success());
            std::fs::write(dir.join("htpasswd"), &out.stdout).unwrap();
            config +=
                &format!("auth:\n  htpasswd:\n    realm: rollama-test\n    path: {}\n", dir.join("htpasswd").display());
        }
        if tls {
            make_certificates(&dir);
            config += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.join("cert.pem").display(),
                dir.join("key.pem").display()
            );
        }
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting docker-registry");
        let r = Registry { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if tls {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break;
                }
            } else {
                match ureq::get(&format!("http://127.0.0.1:{port}/v2/")).call() {
                    Ok(_) | Err(ureq::Error::Status(401, _)) => break,
                    _ => {}
                }
            }
            assert!(Instant::now() < deadline, "docker-registry did not start on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(r)
    }

    /// The certificate of the CA that signed an https registry's certificate.
    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The registry's file of a blob.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir.join(format!("data/docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A test CA (`ca.pem`) and a certificate for 127.0.0.1 it signed (`cert.pem`, `key.pem`),
/// made with the openssl command.
fn make_certificates(dir: &Path) {
    let run = |args: &str| {
        let out = Command::new("openssl").args(args.split(' ')).current_dir(dir).output().expect("running openssl");
        assert!(out.status.success(), "openssl {args}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let leaf_ext = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
        extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n";
    std::fs::write(dir.join("leaf.ext"), leaf_ext).unwrap();
    run("req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=rollama-test-CA \
         -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign");
    run("req -newkey rsa:2048 -nodes -keyout key.pem -out leaf.csr -subj /CN=127.0.0.1");
    run("x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 2 -extfile leaf.ext");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A TCP proxy on loopback in front of a registry. It counts the bytes it forwards from the
/// registry and, once armed with a budget, stops forwarding (and drops every connection) when
/// the budget is spent: a network cut in the middle of a blob.
struct Proxy {
    port: u16,
    forwarded: Arc<AtomicU64>,
    /// 0: no cut.
    cut_at: Arc<AtomicU64>,
    /// A pause after each chunk forwarded, in microseconds, to make a download last.
    delay_us: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let p = Proxy {
            port,
            forwarded: Arc::new(AtomicU64::new(0)),
            cut_at: Arc::new(AtomicU64::new(0)),
            delay_us: Arc::new(AtomicU64::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (forwarded, cut_at, delay, stop) =
            (p.forwarded.clone(), p.cut_at.clone(), p.delay_us.clone(), p.stop.clone());
        std::thread::spawn(move || {
            // Ends when the proxy is dropped (or after ten minutes at most).
            let deadline = Instant::now() + Duration::from_secs(600);
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let (forwarded, cut_at, delay, stop) = (forwarded.clone(), cut_at.clone(), delay.clone(), stop.clone());
                std::thread::spawn(move || relay(client, upstream, &forwarded, &cut_at, &delay, &stop));
            }
        });
        p
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn relay(
    client: TcpStream,
    upstream: u16,
    forwarded: &AtomicU64,
    cut_at: &AtomicU64,
    delay: &AtomicU64,
    stop: &AtomicBool,
) {
    let cut = |n: u64| {
        let c = cut_at.load(Ordering::SeqCst);
        c != 0 && n >= c
    };
    if cut(forwarded.load(Ordering::SeqCst)) {
        return;
    }
    let _ = client.set_nonblocking(false);
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
    let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut s_write);
        let _ = s_write.shutdown(Shutdown::Write);
    });
    let (mut s_read, mut c_write) = (server, client);
    let _ = s_read.set_read_timeout(Some(Duration::from_secs(60)));
    let mut buf = vec![0u8; 64 << 10];
    while !stop.load(Ordering::SeqCst) {
        let Ok(n) = s_read.read(&mut buf) else { break };
        if n == 0 {
            break;
        }
        let before = forwarded.fetch_add(n as u64, Ordering::SeqCst);
        let c = cut_at.load(Ordering::SeqCst);
        let send = if c != 0 && before + n as u64 > c { c.saturating_sub(before) as usize } else { n };
        if c_write.write_all(&buf[..send]).is_err() || send < n {
            break;
        }
        std::thread::sleep(Duration::from_micros(delay.load(Ordering::SeqCst)));
    }
    let _ = c_write.shutdown(Shutdown::Both);
    let _ = s_read.shutdown(Shutdown::Both);
}

/// A token-auth front for a registry, on loopback: requests without its bearer token get a 401
/// with a `Bearer` challenge naming its `/token` realm, which hands the token out for the right
/// Basic credentials; authorized requests (bodiless: pulls only) go on to the registry.
struct TokenFront {
    port: u16,
    token_requests: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

const TOKEN: &str = "t0k3n";

impl TokenFront {
    /// `realm_host` overrides the realm's host (to test that another host is refused).
    fn start(upstream: u16, realm_host: Option<&str>) -> TokenFront {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let realm = format!("http://{}/token", realm_host.map_or(format!("127.0.0.1:{port}"), str::to_string));
        let f =
            TokenFront { port, token_requests: Arc::new(AtomicU64::new(0)), stop: Arc::new(AtomicBool::new(false)) };
        let (tokens, stop) = (f.token_requests.clone(), f.stop.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(600);
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let (tokens, realm) = (tokens.clone(), realm.clone());
                std::thread::spawn(move || serve_front(client, upstream, &realm, &tokens));
            }
        });
        f
    }
}

impl Drop for TokenFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve_front(client: TcpStream, upstream: u16, realm: &str, tokens: &AtomicU64) {
    use std::io::BufRead;
    let _ = client.set_nonblocking(false);
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = std::io::BufReader::new(client.try_clone().unwrap());
    let mut out = client;
    // "rollama:s3cret" in base64.
    let basic = "Basic cm9sbGFtYTpzM2NyZXQ=";
    for _ in 0..1000 {
        let mut lines: Vec<String> = Vec::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = line.trim_end().to_string();
            if line.is_empty() {
                break;
            }
            if lines.len() > 100 {
                return;
            }
            lines.push(line);
        }
        let header = |name: &str| {
            lines.iter().skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        let path = lines[0].split(' ').nth(1).unwrap_or("").to_string();
        let auth = header("Authorization").unwrap_or_default();
        let reply = |out: &mut TcpStream, status: &str, extra: &str, body: &str| {
            let _ = write!(out, "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\n\r\n{body}", body.len());
        };
        if path.starts_with("/token") {
            tokens.fetch_add(1, Ordering::SeqCst);
            if auth == basic {
                reply(&mut out, "200 OK", "Content-Type: application/json\r\n", &format!("{{\"token\":\"{TOKEN}\"}}"));
            } else {
                reply(&mut out, "401 Unauthorized", "", "");
            }
            continue;
        }
        if auth != format!("Bearer {TOKEN}") {
            let challenge = format!(
                "WWW-Authenticate: Bearer realm=\"{realm}\",service=\"test\",scope=\"repository:library/smol:pull\"\r\n"
            );
            reply(&mut out, "401 Unauthorized", &challenge, "");
            continue;
        }
        // Forwarded on a connection of its own, closed after the answer.
        let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
        let mut head = String::new();
        for l in &lines {
            if !l.to_ascii_lowercase().starts_with("connection:") {
                head += l;
                head += "\r\n";
            }
        }
        head += "Connection: close\r\n\r\n";
        if up.write_all(head.as_bytes()).is_err() {
            return;
        }
        let _ = std::io::copy(&mut up, &mut out);
        return;
    }
}

/// (status, body) of a POST; any status is returned.
fn post(s: &TestServer, path: &str, body: &Value) -> (u16, String) {
    match ureq::post(&s.url(path)).timeout(Duration::from_secs(300)).send_json(body.clone()) {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("POST {path}: {e}"),
    }
}

fn ndjson(text: &str) -> Vec<Value> {
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The distinct statuses in order, with every `pulling <hex>` / `pushing <hex>` folded to one.
fn status_sequence(lines: &[Value]) -> Vec<String> {
    let mut seq: Vec<String> = Vec::new();
    for l in lines {
        let s = l["status"].as_str().unwrap_or("").to_string();
        let s = if l.get("digest").is_some() { format!("{} <blob>", s.split(' ').next().unwrap()) } else { s };
        if seq.last() != Some(&s) {
            seq.push(s);
        }
    }
    seq
}

/// Uploads SmolLM2 and creates `name` from it.
fn create_smollm2(s: &TestServer, name: &str) {
    let url = s.url(&format!("/api/blobs/{MODEL_DIGEST}"));
    if ureq::head(&url).call().is_err() {
        let resp = ureq::post(&url).send(std::fs::File::open(model_path("smollm2")).unwrap()).unwrap();
        assert_eq!(resp.status(), 201);
    }
    let (code, text) = post(s, "/api/create", &json!({"model": name, "files": {"model.gguf": MODEL_DIGEST}}));
    assert_eq!(code, 200, "{text}");
    assert_eq!(ndjson(&text).last().unwrap()["status"], "success", "{text}");
}

fn push(s: &TestServer, name: &str) -> Vec<Value> {
    let (code, text) = post(s, "/api/push", &json!({"model": name, "insecure": true}));
    assert_eq!(code, 200, "{text}");
    let lines = ndjson(&text);
    assert_eq!(lines.last().unwrap()["status"], "success", "{text}");
    lines
}

fn pull(s: &TestServer, name: &str) -> Vec<Value> {
    let (code, text) = post(s, "/api/pull", &json!({"model": name, "insecure": true}));
    assert_eq!(code, 200, "{text}");
    ndjson(&text)
}

fn delete(s: &TestServer, name: &str) {
    let resp = ureq::request("DELETE", &s.url("/api/delete")).send_json(json!({"model": name})).unwrap();
    assert_eq!(resp.status(), 200);
}

/// The digest `/api/tags` lists for `name`.
fn tag_digest(s: &TestServer, name: &str) -> Option<String> {
    let tags: Value = ureq::get(&s.url("/api/tags")).call().unwrap().into_json().unwrap();
    tags["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .map(|m| m["digest"].as_str().unwrap().to_string())
}

/// The blob files (complete or partial) in a server's store.
fn blob_files(s: &TestServer) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(s.models_dir.join("blobs"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.retain(|n| n.starts_with("sha256"));
    v.sort();
    v
}

/// Creates the model, pushes it to `port` as `<host>/library/smol:latest` and deletes it
/// locally. Returns the name and its manifest digest.
fn push_and_forget(s: &TestServer, port: u16) -> (String, String) {
    let name = format!("127.0.0.1:{port}/library/smol:latest");
    create_smollm2(s, &name);
    let digest = tag_digest(s, &name).expect("created model listed");
    push(s, &name);
    delete(s, &name);
    assert!(blob_files(s).is_empty(), "{:?}", blob_files(s));
    (name, digest)
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn push_then_pull_round_trips() {
    let Some(reg) = Registry::start(None) else { return };
    let s = TestServer::start();
    let name = format!("127.0.0.1:{}/library/smol:latest", reg.port);
    create_smollm2(&s, &name);
    let digest = tag_digest(&s, &name).unwrap();
    let (_, show_before) = post(&s, "/api/show", &json!({"model": name}));

    let lines = push(&s, &name);
    assert_eq!(status_sequence(&lines), ["retrieving manifest", "pushing <blob>", "pushing manifest", "success"]);
    assert!(lines.iter().any(|l| l["digest"] == MODEL_DIGEST && l["completed"] == MODEL_SIZE), "{lines:?}");
    // A second push finds every blob present.
    push(&s, &name);

    delete(&s, &name);
    assert!(tag_digest(&s, &name).is_none());
    let lines = pull(&s, &name);
    assert_eq!(
        status_sequence(&lines),
        [
            "pulling manifest",
            "pulling <blob>",
            "verifying sha256 digest",
            "writing manifest",
            "removing any unused layers",
            "success"
        ],
        "{lines:?}"
    );
    let model = lines.iter().rev().find(|l| l["digest"] == MODEL_DIGEST).unwrap();
    assert_eq!((model["total"].as_u64(), model["completed"].as_u64()), (Some(MODEL_SIZE), Some(MODEL_SIZE)));
    assert_eq!(tag_digest(&s, &name).as_deref(), Some(digest.as_str()));
    let (_, show_after) = post(&s, "/api/show", &json!({"model": name}));
    let (a, b): (Value, Value) =
        (serde_json::from_str(&show_before).unwrap(), serde_json::from_str(&show_after).unwrap());
    for key in ["modelfile", "parameters", "template", "details", "model_info"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert!(blob_files(&s).iter().all(|f| !f.contains("partial")));

    // stream:false answers the last status only; a pull of what is present downloads nothing.
    let (code, text) = post(&s, "/api/pull", &json!({"model": name, "insecure": true, "stream": false}));
    assert_eq!((code, serde_json::from_str::<Value>(&text).unwrap()), (200, json!({"status": "success"})));

    // An unknown tag is Ollama's not-found; an http registry needs `insecure`.
    let ghost = format!("127.0.0.1:{}/library/ghost:latest", reg.port);
    let (code, text) = post(&s, "/api/pull", &json!({"model": ghost, "insecure": true, "stream": false}));
    assert_eq!(code, 404, "{text}");
    assert!(text.contains(&format!("model '{ghost}' not found")), "{text}");
    let (code, text) = post(&s, "/api/pull", &json!({"model": format!("http://{name}"), "stream": false}));
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("insecure"), "{text}");
}

#[test]
fn cut_pull_resumes_where_it_stopped() {
    let Some(reg) = Registry::start(None) else { return };
    let proxy = Proxy::start(reg.port);
    let s = TestServer::start();
    let (name, digest) = push_and_forget(&s, proxy.port);

    // The network dies 30 MB into the model's blob.
    let cut = 30 << 20;
    proxy.forwarded.store(0, Ordering::SeqCst);
    proxy.cut_at.store(cut, Ordering::SeqCst);
    let lines = pull(&s, &name);
    let last = lines.last().unwrap();
    assert!(last["error"].as_str().is_some_and(|e| e.contains("pulling sha256:")), "{last}");
    assert!(tag_digest(&s, &name).is_none());
    let hex = &MODEL_DIGEST[7..];
    let files = blob_files(&s);
    assert!(files.contains(&format!("sha256-{hex}-partial")), "{files:?}");
    assert!(!files.contains(&format!("sha256-{hex}")), "{files:?}");
    let kept: u64 = {
        let record: Value = serde_json::from_slice(
            &std::fs::read(s.models_dir.join(format!("blobs/sha256-{hex}-partial.json"))).unwrap(),
        )
        .unwrap();
        record["done"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).sum()
    };
    assert!(kept > 0 && kept < MODEL_SIZE, "{kept}");

    // The network is back: the second pull starts from what was kept and fetches the rest.
    proxy.cut_at.store(0, Ordering::SeqCst);
    proxy.forwarded.store(0, Ordering::SeqCst);
    let lines = pull(&s, &name);
    assert_eq!(lines.last().unwrap()["status"], "success", "{lines:?}");
    let first = lines.iter().find(|l| l["digest"] == MODEL_DIGEST).unwrap();
    assert!(first["completed"].as_u64().unwrap() >= kept, "{first}");
    let fetched = proxy.forwarded.load(Ordering::SeqCst);
    eprintln!("cut after {cut} bytes: {kept} kept, {fetched} fetched again");
    assert!(fetched < MODEL_SIZE - kept + (1 << 20), "fetched {fetched} bytes again, {kept} were kept");
    assert_eq!(tag_digest(&s, &name).as_deref(), Some(digest.as_str()));
    assert!(blob_files(&s).iter().all(|f| !f.contains("partial")), "{:?}", blob_files(&s));
}

#[test]
fn corrupted_blob_is_refused_and_nothing_is_kept() {
    let Some(reg) = Registry::start(None) else { return };
    let s = TestServer::start();
    let (name, _) = push_and_forget(&s, reg.port);
    // Flip one byte of the model's blob in the registry's storage.
    let file = reg.blob_file(MODEL_DIGEST);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[MODEL_SIZE as usize / 2] ^= 0x5a;
    std::fs::write(&file, bytes).unwrap();

    let lines = pull(&s, &name);
    let last = lines.last().unwrap();
    assert!(last["error"].as_str().is_some_and(|e| e.contains("digest mismatch")), "{last}");
    assert!(tag_digest(&s, &name).is_none());
    assert!(!s.models_dir.join("manifests").join(format!("127.0.0.1:{}", reg.port)).exists());
    assert!(blob_files(&s).is_empty(), "{:?}", blob_files(&s));
}

#[test]
fn concurrent_pulls_share_one_download() {
    let Some(reg) = Registry::start(None) else { return };
    let proxy = Proxy::start(reg.port);
    let s = TestServer::start();
    let (name, digest) = push_and_forget(&s, proxy.port);
    proxy.forwarded.store(0, Ordering::SeqCst);
    // Slowed down to about a second, so the two pulls surely overlap.
    proxy.delay_us.store(2000, Ordering::SeqCst);
    let results: Vec<Vec<Value>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2).map(|_| scope.spawn(|| pull(&s, &name))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for lines in &results {
        assert_eq!(lines.last().unwrap()["status"], "success", "{lines:?}");
        assert!(lines.iter().any(|l| l["digest"] == MODEL_DIGEST && l["completed"] == MODEL_SIZE));
        // Each pull watched the download in progress: the second shared the first's.
        let partway = |l: &&Value| {
            l["digest"] == MODEL_DIGEST && l["completed"].as_u64().is_some_and(|c| c > 0 && c < MODEL_SIZE)
        };
        assert!(lines.iter().any(|l| partway(&l)), "{lines:?}");
    }
    let fetched = proxy.forwarded.load(Ordering::SeqCst);
    eprintln!("two concurrent pulls fetched {fetched} bytes");
    assert!(fetched < MODEL_SIZE + MODEL_SIZE / 4, "two pulls fetched {fetched} bytes for a {MODEL_SIZE}-byte model");
    assert_eq!(tag_digest(&s, &name).as_deref(), Some(digest.as_str()));
}

#[test]
fn registry_that_wants_credentials() {
    let Some(reg) = Registry::start(Some(("rollama", "s3cret"))) else { return };
    let with = TestServer::start_with(&[("ROLLAMA_REGISTRY_USER", "rollama"), ("ROLLAMA_REGISTRY_PASSWORD", "s3cret")]);
    let (name, digest) = push_and_forget(&with, reg.port);
    let lines = pull(&with, &name);
    assert_eq!(lines.last().unwrap()["status"], "success", "{lines:?}");
    assert_eq!(tag_digest(&with, &name).as_deref(), Some(digest.as_str()));

    let without = TestServer::start();
    let (code, text) = post(&without, "/api/pull", &json!({"model": name, "insecure": true, "stream": false}));
    assert_eq!(code, 401, "{text}");
    assert!(text.contains("unauthorized") && text.contains("ROLLAMA_REGISTRY_USER"), "{text}");
    let wrong = TestServer::start_with(&[("ROLLAMA_REGISTRY_USER", "rollama"), ("ROLLAMA_REGISTRY_PASSWORD", "wrong")]);
    let (code, text) = post(&wrong, "/api/pull", &json!({"model": name, "insecure": true, "stream": false}));
    assert_eq!(code, 401, "{text}");
    assert!(tag_digest(&without, &name).is_none() && tag_digest(&wrong, &name).is_none());
}

#[test]
fn bearer_token_challenge() {
    let Some(reg) = Registry::start(None) else { return };
    let with = TestServer::start_with(&[("ROLLAMA_REGISTRY_USER", "rollama"), ("ROLLAMA_REGISTRY_PASSWORD", "s3cret")]);
    // Pushed straight to the registry, then pulled through the token front: the same repository.
    let (_, digest) = push_and_forget(&with, reg.port);
    let front = TokenFront::start(reg.port, None);
    let name = format!("127.0.0.1:{}/library/smol:latest", front.port);
    let lines = pull(&with, &name);
    assert_eq!(lines.last().unwrap()["status"], "success", "{lines:?}");
    assert_eq!(tag_digest(&with, &name).as_deref(), Some(digest.as_str()));
    assert!(front.token_requests.load(Ordering::SeqCst) >= 1);

    let without = TestServer::start();
    let (code, text) = post(&without, "/api/pull", &json!({"model": name, "insecure": true, "stream": false}));
    assert_eq!(code, 401, "{text}");
    assert!(text.contains("ROLLAMA_REGISTRY_USER"), "{text}");

    // A realm on another host never sees a request, let alone the credentials.
    let elsewhere = TokenFront::start(reg.port, Some("localhost:9"));
    let name = format!("127.0.0.1:{}/library/smol:latest", elsewhere.port);
    let (code, text) = post(&with, "/api/pull", &json!({"model": name, "insecure": true, "stream": false}));
    assert_eq!(code, 401, "{text}");
    assert!(text.contains("not on the registry's host"), "{text}");
    assert_eq!(elsewhere.token_requests.load(Ordering::SeqCst), 0);
}

/// Over https (no `insecure`): a registry whose certificate a test CA signed. Trusting that CA
/// (SSL_CERT_FILE, read like the system's store) push and pull round-trip; without it the pull
/// fails with a certificate error and writes nothing.
#[test]
fn https_registry_with_a_trusted_certificate() {
    let Some(reg) = Registry::start_with(None, true) else { return };
    let ca = reg.ca();
    let s = TestServer::start_with(&[("SSL_CERT_FILE", ca.to_str().unwrap())]);
    let name = format!("127.0.0.1:{}/library/smol:latest", reg.port);
    create_smollm2(&s, &name);
    let digest = tag_digest(&s, &name).unwrap();
    let (code, text) = post(&s, "/api/push", &json!({"model": name}));
    assert_eq!(code, 200, "{text}");
    assert_eq!(ndjson(&text).last().unwrap()["status"], "success", "{text}");
    delete(&s, &name);
    let (code, text) = post(&s, "/api/pull", &json!({"model": name}));
    assert_eq!(code, 200, "{text}");
    assert_eq!(ndjson(&text).last().unwrap()["status"], "success", "{text}");
    assert_eq!(tag_digest(&s, &name).as_deref(), Some(digest.as_str()));

    // A server that does not trust the test CA refuses the registry's certificate.
    let untrusting = TestServer::start();
    let (code, text) = post(&untrusting, "/api/pull", &json!({"model": name, "stream": false}));
    assert_ne!(code, 200, "{text}");
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    assert!(tag_digest(&untrusting, &name).is_none());
    assert!(blob_files(&untrusting).is_empty(), "{:?}", blob_files(&untrusting));
}
