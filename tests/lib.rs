//! Shared helpers for the end-to-end tests: where the real models and the llama.cpp
//! reference files are, and how to run the `rollama` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The folder of llama.cpp reference outputs: `$ROLLAMA_REFERENCE_DIR`, or `../shared/reference`
/// beside the repository (where the project's shared files are laid out).
pub fn reference_dir() -> PathBuf {
    match std::env::var_os("ROLLAMA_REFERENCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => repo_root().join("../shared/reference"),
    }
}

/// One reference file (`smollm2-135m`, `gemma3-270m`, `qwen2.5-coder-0.5b`) parsed.
pub fn reference(name: &str) -> serde_json::Value {
    let path = reference_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// The path of a real model (`smollm2`, `gemma3`, `qwen2`), fetched and verified by
/// `scripts/fetch_models.py` on first use (quiet and fast when cached).
pub fn model_path(name: &str) -> PathBuf {
    let out = Command::new("python3")
        .arg(repo_root().join("scripts/fetch_models.py"))
        .arg(name)
        .output()
        .expect("running scripts/fetch_models.py");
    assert!(out.status.success(), "fetch_models.py {name} failed: {}", String::from_utf8_lossy(&out.stderr));
    let path = String::from_utf8(out.stdout).expect("utf-8 path");
    PathBuf::from(path.trim())
}

/// The model file name of a reference (`smollm2-135m` -> `smollm2`).
pub fn model_for_reference(reference: &str) -> &'static str {
    match reference {
        "smollm2-135m" => "smollm2",
        "gemma3-270m" => "gemma3",
        "qwen2.5-coder-0.5b" => "qwen2",
        other => panic!("unknown reference {other}"),
    }
}

/// The `rollama` binary built alongside the tests.
pub fn rollama_bin() -> PathBuf {
    // Integration tests of this crate cannot use CARGO_BIN_EXE_rollama (another package's
    // binary), so find it next to the test executable: target/<profile>/rollama.
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/..");
    let bin = profile_dir.join(format!("rollama{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} not built: run `cargo build --release -p rollama` first", bin.display());
    bin
}

/// Runs `rollama ARGS...`; returns (exit success, stdout, stderr).
pub fn rollama(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(rollama_bin()).args(args).output().expect("running rollama");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The reference perplexity of a model, from the table in reference/README.md.
pub fn reference_ppl(reference: &str) -> f64 {
    let readme = std::fs::read_to_string(reference_dir().join("README.md")).expect("reference README");
    for line in readme.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() > 2 && cells[1] == reference {
            if let Some(v) = cells[2].split_whitespace().next().and_then(|v| v.parse().ok()) {
                return v;
            }
        }
    }
    panic!("no perplexity for {reference} in the reference README")
}

/// A `rollama serve` started for one test on a free loopback port, with its own empty
/// model store; killed when dropped.
pub struct TestServer {
    child: std::process::Child,
    pub base: String,
    pub models_dir: PathBuf,
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::start_with(&[])
    }

    /// Starts with extra environment variables.
    pub fn start_with(env: &[(&str, &str)]) -> TestServer {
        use std::io::BufRead;
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let models_dir = std::env::temp_dir().join(format!("rollama-store-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&models_dir);
        std::fs::create_dir_all(&models_dir).unwrap();
        let mut cmd = Command::new(rollama_bin());
        cmd.arg("serve")
            .env("OLLAMA_HOST", "127.0.0.1:0")
            .env("OLLAMA_MODELS", &models_dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        // Test servers run on the CPU (a software Vulkan device would be slow, a real GPU
        // would change the rounding that golden tests check) unless a test asks for the GPU.
        cmd.env("ROLLAMA_GPU", "0");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("starting rollama serve");
        // The first line on stderr says where it listens.
        let stderr = child.stderr.take().unwrap();
        let mut lines = std::io::BufReader::new(stderr).lines();
        // (Vulkan drivers may print warnings before it.)
        let first = lines.by_ref().map_while(Result::ok).find(|l| l.contains(" listening on ")).unwrap_or_default();
        let addr = first
            .split_whitespace()
            .skip_while(|w| *w != "on")
            .nth(1)
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_string();
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        TestServer { child, base: format!("http://{addr}"), models_dir }
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.models_dir);
    }
}

/// The two most likely token ids and their log-probabilities.
pub fn top2(logits: &[f32]) -> [(u32, f64); 2] {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let z = logits.iter().map(|&l| (l as f64 - max).exp()).sum::<f64>().ln() + max;
    let mut best = [(0u32, f64::NEG_INFINITY); 2];
    for (i, &l) in logits.iter().enumerate() {
        let lp = l as f64 - z;
        if lp > best[0].1 {
            best[1] = best[0];
            best[0] = (i as u32, lp);
        } else if lp > best[1].1 {
            best[1] = (i as u32, lp);
        }
    }
    best
}
