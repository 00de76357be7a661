//! The HTTP API over real HTTP: a `rollama serve` on a free loopback port with its own
//! store, the real SmolLM2 model created through the API, and every endpoint and status
//! code the server answers.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rollama_tests::{model_path, reference, TestServer};
use serde_json::{json, Value};

/// (status, body) of a request; any status is returned, never an Err.
fn call(method: &str, url: &str, body: Option<&Value>) -> (u16, String) {
    let req = ureq::request(method, url);
    let resp = match body {
        Some(b) => req.send_json(b.clone()),
        None => req.call(),
    };
    match resp {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

fn post(s: &TestServer, path: &str, body: Value) -> (u16, Value) {
    let (code, text) = call("POST", &s.url(path), Some(&body));
    (code, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Parses an NDJSON body into its objects.
fn ndjson(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

/// Uploads the SmolLM2 GGUF as a blob and creates `name` from it (the current create form).
fn create_smollm2(s: &TestServer, name: &str) -> Vec<Value> {
    let path = model_path("smollm2");
    let digest = "sha256:b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
    let (code, _) = call("HEAD", &s.url(&format!("/api/blobs/{digest}")), None);
    if code == 404 {
        let resp =
            ureq::post(&s.url(&format!("/api/blobs/{digest}"))).send(std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(resp.status(), 201);
    }
    let (code, text) =
        call("POST", &s.url("/api/create"), Some(&json!({"model": name, "files": {"model.gguf": digest}})));
    assert_eq!(code, 200, "{text}");
    let lines = ndjson(&text);
    assert_eq!(lines.last().unwrap()["status"], "success", "{text}");
    lines
}

#[test]
fn basics_and_error_statuses() {
    let s = TestServer::start();
    assert_eq!(call("GET", &s.url("/"), None), (200, "Ollama is running".into()));
    assert_eq!(call("HEAD", &s.url("/"), None).0, 200);
    let (code, v) = call("GET", &s.url("/api/version"), None);
    assert_eq!(code, 200);
    assert!(serde_json::from_str::<Value>(&v).unwrap()["version"].is_string());
    assert_eq!(call("GET", &s.url("/api/nope"), None), (404, "404 page not found".into()));
    assert_eq!(call("GET", &s.url("/api/generate"), None), (405, "405 method not allowed".into()));
    assert_eq!(call("POST", &s.url("/api/tags"), Some(&json!({}))).0, 405);
    // Bad JSON, missing body, unknown model, bad option type, bad name.
    let resp = ureq::post(&s.url("/api/generate")).send_string("{not json");
    let Err(ureq::Error::Status(400, r)) = resp else { panic!("bad JSON must be a 400") };
    assert!(r.into_string().unwrap().contains("\"error\""));
    let resp = ureq::post(&s.url("/api/generate")).send_string("");
    let Err(ureq::Error::Status(400, r)) = resp else { panic!("an empty body must be a 400") };
    assert!(r.into_string().unwrap().contains("missing request body"));
    assert_eq!(
        post(&s, "/api/generate", json!({"model": "ghost"})),
        (404, json!({"error": "model 'ghost' not found"}))
    );
    assert_eq!(post(&s, "/api/chat", json!({"messages": []})).0, 400);
    assert_eq!(post(&s, "/api/show", json!({"model": "ghost"})).0, 404);
    assert_eq!(post(&s, "/api/copy", json!({"source": "ghost", "destination": "x"})).0, 404);
    assert_eq!(call("DELETE", &s.url("/api/delete"), Some(&json!({"model": "ghost"}))).0, 404);
    assert_eq!(post(&s, "/api/create", json!({"model": "bad/name/x/y/z", "from": "ghost"})).0, 400);
    assert_eq!(post(&s, "/api/create", json!({"model": "m"})).1["error"], "neither 'from' or 'files' was specified");
    let (code, v) = call("GET", &s.url("/api/tags"), None);
    assert_eq!((code, serde_json::from_str::<Value>(&v).unwrap()), (200, json!({"models": []})));
    // JSON bodies have a size limit (32 MiB).
    let huge = format!("{{\"model\": \"m\", \"prompt\": \"{}\"}}", "x".repeat(33 << 20));
    match ureq::post(&s.url("/api/generate")).send_string(&huge) {
        Err(ureq::Error::Status(413, _)) => {}
        other => panic!("an oversized body must be refused, got {:?}", other.map(|r| r.status())),
    }
}

#[test]
fn blobs_are_verified_before_they_are_kept() {
    let s = TestServer::start();
    let data = b"some bytes";
    let good = "sha256:fc62a8a5b8a8d7f2b8b9a88d19cf0f10f0e8e3d3b6d1a3a1e1d39ec1d1c2c04e";
    // The right digest of `data`, computed here.
    let right = {
        let out = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn();
        let mut child = out.unwrap();
        child.stdin.take().unwrap().write_all(data).unwrap();
        let o = child.wait_with_output().unwrap();
        format!("sha256:{}", String::from_utf8(o.stdout).unwrap().split_whitespace().next().unwrap())
    };
    assert_eq!(call("HEAD", &s.url(&format!("/api/blobs/{right}")), None).0, 404);
    let Err(ureq::Error::Status(400, r)) = ureq::post(&s.url(&format!("/api/blobs/{good}"))).send_bytes(data) else {
        panic!("a digest mismatch must be a 400")
    };
    assert!(r.into_string().unwrap().contains("digest mismatch"));
    assert_eq!(call("HEAD", &s.url(&format!("/api/blobs/{good}")), None).0, 404, "nothing kept on mismatch");
    assert_eq!(ureq::post(&s.url(&format!("/api/blobs/{right}"))).send_bytes(data).unwrap().status(), 201);
    assert_eq!(call("HEAD", &s.url(&format!("/api/blobs/{right}")), None).0, 200);
    assert_eq!(call("HEAD", &s.url("/api/blobs/sha256:123"), None).0, 400);
    assert_eq!(call("HEAD", &s.url("/api/blobs/sha256-..%2f..%2fetc%2fpasswd"), None).0, 400);
}

#[test]
fn create_generate_and_chat_with_smollm2() {
    let s = TestServer::start();
    let statuses = create_smollm2(&s, "smollm2");
    let statuses: Vec<&str> = statuses.iter().map(|v| v["status"].as_str().unwrap()).collect();
    assert!(statuses.contains(&"using autodetected template chatml"), "{statuses:?}");
    assert!(statuses.contains(&"writing manifest"), "{statuses:?}");

    let (code, tags) = call("GET", &s.url("/api/tags"), None);
    assert_eq!(code, 200);
    let tags: Value = serde_json::from_str(&tags).unwrap();
    let m = &tags["models"][0];
    assert_eq!(m["name"], "smollm2:latest");
    assert_eq!(m["details"]["family"], "llama");
    assert_eq!(m["details"]["quantization_level"], "Q4_1");
    assert_eq!(m["digest"].as_str().unwrap().len(), 64);

    let (code, show) = post(&s, "/api/show", json!({"model": "SmolLM2"}));
    assert_eq!(code, 200, "names match case-insensitively");
    assert!(show["template"].as_str().unwrap().contains("<|im_start|>"));
    assert!(show["modelfile"].as_str().unwrap().starts_with("# Modelfile generated by \"ollama show\""));
    assert_eq!(show["model_info"]["general.architecture"], "llama");
    assert_eq!(show["details"]["parameter_size"], "134.52M");

    // Raw greedy generation equals llama.cpp's, streamed or not.
    let r = reference("smollm2-135m");
    let case = &r["greedy"][0];
    let body = json!({"model": "smollm2", "prompt": case["prompt"], "raw": true, "stream": false,
                      "options": {"temperature": 0, "num_predict": 32}});
    let (code, v) = post(&s, "/api/generate", body.clone());
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["response"], case["text"]);
    assert_eq!(
        (v["done"].as_bool(), v["done_reason"].as_str(), v["eval_count"].as_u64()),
        (Some(true), Some("length"), Some(32))
    );
    assert!(v["total_duration"].as_u64().unwrap() > 0 && v["prompt_eval_count"].as_u64().unwrap() > 0);
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let resp = ureq::post(&s.url("/api/generate")).send_json(streamed).unwrap();
    assert_eq!(resp.header("Content-Type"), Some("application/x-ndjson"));
    let lines = ndjson(&resp.into_string().unwrap());
    let text: String = lines.iter().map(|l| l["response"].as_str().unwrap_or("")).collect();
    assert_eq!(text, case["text"].as_str().unwrap());
    assert!(lines[..lines.len() - 1].iter().all(|l| l["done"] == false));
    assert_eq!(lines.last().unwrap()["done"], true);

    // Templated generation returns the conversation's tokens as `context`, which continues it.
    let (code, v) = post(
        &s,
        "/api/generate",
        json!({"model": "smollm2", "prompt": "Say hello.", "stream": false,
                                                      "options": {"temperature": 0, "num_predict": 8}}),
    );
    assert_eq!(code, 200);
    let context = v["context"].as_array().unwrap().clone();
    assert!(context.len() > 8);
    let (code, v2) = post(
        &s,
        "/api/generate",
        json!({"model": "smollm2", "prompt": "Again.", "context": context, "stream": false,
                                                       "options": {"temperature": 0, "num_predict": 8}}),
    );
    assert_eq!(code, 200, "{v2}");
    assert!(v2["context"].as_array().unwrap().len() > context.len());
    assert_eq!(
        post(&s, "/api/generate", json!({"model": "smollm2", "prompt": "x", "raw": true, "system": "s"})).0,
        400
    );

    // Chat, streamed and not; a stop string cuts the answer.
    let chat = json!({"model": "smollm2", "messages": [{"role": "user", "content": "What is 2+2?"}],
                      "stream": false, "options": {"temperature": 0, "num_predict": 24}});
    let (code, v) = post(&s, "/api/chat", chat.clone());
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["message"]["role"], "assistant");
    let answer = v["message"]["content"].as_str().unwrap().to_string();
    assert!(!answer.is_empty());
    let mut streamed = chat.clone();
    streamed["stream"] = json!(true);
    let (_, text) = call("POST", &s.url("/api/chat"), Some(&streamed));
    let joined: String = ndjson(&text).iter().map(|l| l["message"]["content"].as_str().unwrap_or("")).collect();
    assert_eq!(joined, answer, "streamed and collected chats agree");
    let word = answer.split_whitespace().nth(2).unwrap_or("2").to_string();
    let mut stopped = chat.clone();
    stopped["options"]["stop"] = json!([word]);
    let (_, v) = post(&s, "/api/chat", stopped);
    let cut = v["message"]["content"].as_str().unwrap();
    assert!(!cut.contains(&word) && answer.starts_with(cut), "stop {word:?}: {cut:?} vs {answer:?}");
    assert_eq!(v["done_reason"], "stop");

    // Tokenize and detokenize.
    let (code, v) = post(&s, "/api/tokenize", json!({"model": "smollm2", "content": "Hello world"}));
    assert_eq!((code, v["tokens"].clone()), (200, json!([19556, 905])));
    let (code, v) = post(&s, "/api/detokenize", json!({"model": "smollm2", "tokens": [19556, 905]}));
    assert_eq!((code, v["content"].clone()), (200, json!("Hello world")));

    // ps lists the loaded model with the context of its last request (Ollama's runner's
    // num_ctx) and where it runs; an empty prompt with keep_alive 0 unloads it.
    // num_gpu changes nothing on this server without a GPU, so it loads no second instance.
    let options = json!({"num_ctx": 1000, "num_predict": 1, "num_gpu": 3});
    let body = json!({"model": "smollm2", "prompt": "Hi", "options": options, "stream": false});
    assert_eq!(post(&s, "/api/generate", body).0, 200);
    let (_, ps) = call("GET", &s.url("/api/ps"), None);
    let ps: Value = serde_json::from_str(&ps).unwrap();
    assert_eq!(ps["models"][0]["name"], "smollm2:latest");
    assert_eq!(ps["models"][0]["context_length"], 1000, "{ps}");
    assert_eq!(ps["models"].as_array().unwrap().len(), 1, "{ps}");
    // A context past the model's training context is capped to it (SmolLM2: 8192), as
    // Ollama does, rather than sizing a cache of a trillion positions.
    let options = json!({"num_ctx": 1_000_000_000_000u64, "num_predict": 1});
    let body = json!({"model": "smollm2", "prompt": "Hi", "options": options, "stream": false});
    assert_eq!(post(&s, "/api/generate", body).0, 200);
    let (_, ps) = call("GET", &s.url("/api/ps"), None);
    assert_eq!(serde_json::from_str::<Value>(&ps).unwrap()["models"][0]["context_length"], 8192, "{ps}");
    let (code, v) = post(&s, "/api/generate", json!({"model": "smollm2", "keep_alive": 0}));
    assert_eq!((code, v["done_reason"].clone()), (200, json!("unload")));
    let (_, ps) = call("GET", &s.url("/api/ps"), None);
    assert_eq!(serde_json::from_str::<Value>(&ps).unwrap(), json!({"models": []}));
    let (code, v) = post(&s, "/api/generate", json!({"model": "smollm2"}));
    assert_eq!((code, v["done_reason"].clone()), (200, json!("load")));
}

#[test]
fn modelfile_create_copy_and_delete() {
    let s = TestServer::start();
    let gguf = model_path("smollm2");
    let modelfile = format!(
        "# a comment\nFROM {}\nSYSTEM \"\"\"You are Mario from Super Mario Bros.\"\"\"\nPARAMETER temperature 0\nPARAMETER stop \"<|im_end|>\"\nPARAMETER stop \"Luigi\"\n",
        gguf.display()
    );
    let (code, text) = call("POST", &s.url("/api/create"), Some(&json!({"name": "mario", "modelfile": modelfile})));
    assert_eq!(code, 200, "{text}");
    let statuses = ndjson(&text);
    assert_eq!(statuses[0]["status"], "parsing modelfile");
    assert_eq!(statuses.last().unwrap()["status"], "success");
    let (code, v) =
        post(&s, "/api/create", json!({"name": "bad", "modelfile": "FROM x\nPARAMETER nonsense 1", "stream": false}));
    assert_eq!(code, 400, "{v}");
    let (code, show) = post(&s, "/api/show", json!({"model": "mario"}));
    assert_eq!(code, 200);
    assert_eq!(show["system"], "You are Mario from Super Mario Bros.");
    let params = show["parameters"].as_str().unwrap();
    assert!(params.contains("temperature") && params.contains("\"Luigi\""), "{params}");
    // A model created from another keeps its layers; copies share blobs; deleting one keeps the other.
    let (code, _) = post(
        &s,
        "/api/create",
        json!({"model": "mario2", "from": "mario", "system": "You are Luigi.", "stream": false}),
    );
    assert_eq!(code, 200);
    let (code, _) =
        call("POST", &s.url("/api/copy"), Some(&json!({"source": "mario", "destination": "mario-copy:v1"})));
    assert_eq!(code, 200);
    let (_, tags) = call("GET", &s.url("/api/tags"), None);
    let names: Vec<String> = serde_json::from_str::<Value>(&tags).unwrap()["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&"mario-copy:v1".to_string()));
    assert_eq!(call("DELETE", &s.url("/api/delete"), Some(&json!({"model": "mario"}))).0, 200);
    assert_eq!(call("DELETE", &s.url("/api/delete"), Some(&json!({"model": "mario"}))).0, 404);
    let (code, v) = post(
        &s,
        "/api/generate",
        json!({"model": "mario-copy:v1", "prompt": "Hi", "stream": false, "options": {"num_predict": 2}}),
    );
    assert_eq!(code, 200, "{v}");
    let (code, v) = post(&s, "/api/show", json!({"model": "mario2"}));
    assert_eq!((code, v["system"].clone()), (200, json!("You are Luigi.")));
}

/// Sends a streaming request on a raw socket and returns it after the first `lines` lines.
fn start_stream(s: &TestServer, body: &Value, lines: usize) -> TcpStream {
    let addr = s.base.trim_start_matches("http://");
    let mut sock = TcpStream::connect(addr).unwrap();
    let body = body.to_string();
    write!(sock, "POST /api/generate HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut r = BufReader::new(sock.try_clone().unwrap());
    let mut seen = 0;
    let mut line = String::new();
    while seen < lines {
        line.clear();
        assert!(r.read_line(&mut line).unwrap() > 0, "the stream ended early");
        if line.starts_with('{') {
            seen += 1;
        }
    }
    sock
}

#[test]
fn a_client_that_disconnects_stops_its_generation_and_the_queue_is_bounded() {
    let s = TestServer::start_with(&[("OLLAMA_MAX_QUEUE", "1")]);
    create_smollm2(&s, "smollm2");
    let long = json!({"model": "smollm2", "prompt": "Count to one thousand:", "raw": true, "options": {"num_predict": 3000, "temperature": 0}});
    // While one request holds the model, a second is over the queue limit of 1: 503.
    let sock = start_stream(&s, &long, 2);
    let (code, v) = post(
        &s,
        "/api/generate",
        json!({"model": "smollm2", "prompt": "hi", "stream": false, "options": {"num_predict": 1}}),
    );
    assert_eq!(code, 503, "{v}");
    assert!(v["error"].as_str().unwrap().contains("maximum pending requests exceeded"));
    // Quick endpoints stay responsive meanwhile.
    assert_eq!(call("GET", &s.url("/api/tags"), None).0, 200);
    // Hang up: the generation must stop at once, freeing the model for the next request
    // (3000 tokens would take minutes).
    drop(sock);
    let t = Instant::now();
    let mut code = 503;
    while code == 503 && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
        code = post(
            &s,
            "/api/generate",
            json!({"model": "smollm2", "prompt": "hi", "stream": false, "options": {"num_predict": 1}}),
        )
        .0;
    }
    assert_eq!(code, 200);
    assert!(t.elapsed() < Duration::from_secs(10), "the abandoned generation kept the model for {:?}", t.elapsed());
}

#[test]
fn the_three_real_models_chat_with_nothing_but_from() {
    let s = TestServer::start();
    for (name, file, instruct) in [("smollm2", "smollm2", true), ("qwen", "qwen2", true), ("gemma", "gemma3", false)] {
        let modelfile = format!("FROM {}\n", model_path(file).display());
        let (code, v) = post(&s, "/api/create", json!({"model": name, "modelfile": modelfile, "stream": false}));
        assert_eq!((code, v["status"].clone()), (200, json!("success")), "{name}: {v}");
        let (_, show) = post(&s, "/api/show", json!({"model": name}));
        let chat = json!({"model": name, "messages": [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}],
                          "stream": false, "options": {"temperature": 0, "num_predict": 48}});
        let (code, v) = post(&s, "/api/chat", chat);
        assert_eq!(code, 200, "{name}: {v}");
        let answer = v["message"]["content"].as_str().unwrap();
        if instruct {
            // Instruction-tuned files carry a chat template; the detected one must frame the
            // turn so the model answers and ends its turn by itself.
            assert!(answer.contains("Paris"), "{name}: {answer:?}");
            assert_eq!(v["done_reason"], "stop", "{name}: {v}");
        } else {
            // The Gemma 3 270M file is a base model without a chat template: like Ollama, the
            // plain default template, and a continuation of the text.
            assert!(show["template"].as_str().unwrap().contains("{{ .Prompt }}"), "{show}");
            assert!(!answer.is_empty());
        }
    }
}

#[test]
fn templates_can_be_overridden_and_loaded_models_are_capped() {
    let s = TestServer::start_with(&[("OLLAMA_MAX_LOADED_MODELS", "1")]);
    create_smollm2(&s, "a");
    let (code, _) = post(&s, "/api/copy", json!({"source": "a", "destination": "b"}));
    assert_eq!(code, 200);
    // A request's template replaces the model's: with a bare one, chat is a raw continuation,
    // the same as generate with raw.
    let raw = post(
        &s,
        "/api/generate",
        json!({"model": "a", "prompt": "The capital of France is", "raw": true, "stream": false,
                                               "options": {"temperature": 0, "num_predict": 6}}),
    )
    .1;
    let chat = post(
        &s,
        "/api/chat",
        json!({"model": "a", "template": "{{ range .Messages }}{{ .Content }}{{ end }}", "stream": false,
                                            "messages": [{"role": "user", "content": "The capital of France is"}],
                                            "options": {"temperature": 0, "num_predict": 6}}),
    )
    .1;
    assert_eq!(chat["message"]["content"], raw["response"], "{chat}");
    let (code, v) = post(
        &s,
        "/api/chat",
        json!({"model": "a", "template": "{{ .Broken", "messages": [{"role": "user", "content": "x"}]}),
    );
    assert_eq!(code, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains(":1:"), "the error names the position: {v}");
    // Two models (different digests are not needed: a copy has the same one, so make b
    // differ) and a cap of one: loading the second unloads the idle first.
    let (code, _) = post(&s, "/api/create", json!({"model": "b", "from": "a", "system": "Other.", "stream": false}));
    assert_eq!(code, 200);
    assert_eq!(post(&s, "/api/generate", json!({"model": "a"})).0, 200);
    assert_eq!(post(&s, "/api/generate", json!({"model": "b"})).0, 200);
    let (_, ps) = call("GET", &s.url("/api/ps"), None);
    let ps: Value = serde_json::from_str(&ps).unwrap();
    let names: Vec<&str> = ps["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["b:latest"], "{ps}");
}
