//! Generation options through the HTTP API on SmolLM2: seeded sampling that does not depend
//! on the thread count, the repetition penalty's effect, the context shift past a tiny
//! `num_ctx`, `num_predict` -2, cutting a prompt longer than the context, and option types.

use rollama_tests::{model_path, rollama, TestServer};
use serde_json::{json, Value};

fn post(s: &TestServer, path: &str, body: Value) -> (u16, Value) {
    let resp = ureq::post(&s.url(path)).send_json(body);
    let (code, text) = match resp {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{path}: {e}"),
    };
    (code, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Creates `smollm2` from the GGUF by path (a Modelfile FROM), with a PARAMETER to check the
/// params layer takes the new options.
fn server(threads: &str) -> TestServer {
    let s = TestServer::start_with(&[("OLLAMA_NUM_THREADS", threads)]);
    let path = model_path("smollm2");
    let modelfile = format!("FROM {}\nPARAMETER repeat_last_n 32\nPARAMETER min_p 0.0\n", path.display());
    let (code, body) = post(&s, "/api/create", json!({"model": "smollm2", "modelfile": modelfile, "stream": false}));
    assert_eq!(code, 200, "{body}");
    s
}

fn generate(s: &TestServer, prompt: &str, options: Value) -> Value {
    let (code, body) = post(
        &s,
        "/api/generate",
        json!({"model": "smollm2", "prompt": prompt, "raw": true, "stream": false, "options": options}),
    );
    assert_eq!(code, 200, "{body}");
    body
}

const STORY: &str = "Once upon a time, in a small village by the sea, there lived";

#[test]
fn options_seed_penalties_and_the_context_shift() {
    let s = server("2");

    // The same seed and options give the same text whatever the thread count: a second
    // server whose pool has one thread (OLLAMA_NUM_THREADS), and a request's num_thread.
    let sampled = |s: &TestServer, seed: i64| {
        let o = json!({"temperature": 1.0, "top_k": 50, "top_p": 0.95, "min_p": 0.02, "repeat_penalty": 1.1,
            "seed": seed, "num_predict": 24});
        generate(s, STORY, o)["response"].as_str().unwrap().to_string()
    };
    let two = sampled(&s, 42);
    assert_eq!(two, sampled(&s, 42), "seed 42 twice");
    assert_ne!(two, sampled(&s, 43), "seeds 42 and 43 drew the same 24 tokens");
    {
        let s1 = server("1");
        assert_eq!(two, sampled(&s1, 42), "seed 42 on 1 and 2 threads");
    }
    // A request's num_thread caps the threads it computes on: on one thread the server uses
    // at most about one core's worth of CPU time while it generates, and the text is the same.
    let one = |s: &TestServer| {
        let o = json!({"temperature": 1.0, "top_k": 50, "top_p": 0.95, "min_p": 0.02, "repeat_penalty": 1.1,
            "seed": 42, "num_predict": 24, "num_thread": 1});
        generate(s, STORY, o)["response"].as_str().unwrap().to_string()
    };
    assert_eq!(two, one(&s), "seed 42 with num_thread 1 in the request");
    let cpu_secs = || {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", s.pid())).unwrap();
        // Fields after the parenthesized command name; utime and stime are the 14th and 15th.
        let rest: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        let ticks: f64 = rest[11].parse::<f64>().unwrap() + rest[12].parse::<f64>().unwrap();
        ticks / 100.0 // USER_HZ is 100 on Linux
    };
    let (c0, t0) = (cpu_secs(), std::time::Instant::now());
    generate(&s, STORY, json!({"temperature": 0, "num_predict": 160, "num_thread": 1}));
    let (cpu, wall) = (cpu_secs() - c0, t0.elapsed().as_secs_f64());
    eprintln!("num_thread 1: {cpu:.2} s CPU in {wall:.2} s");
    assert!(cpu <= 1.2 * wall + 0.05, "num_thread 1 used {cpu:.2} s of CPU in {wall:.2} s");
    // And through the CLI's -o num_thread.
    let model = model_path("smollm2");
    let cli = |threads: &str| {
        let t = format!("num_thread={threads}");
        let args = [
            "run",
            model.to_str().unwrap(),
            "--raw",
            "-o",
            "temperature=1",
            "-o",
            "seed=5",
            "-o",
            "typical_p=0.9",
            "-o",
            "num_predict=16",
            "-o",
            &t,
            STORY,
        ];
        let (ok, out, err) = rollama(&args);
        assert!(ok, "{err}");
        out
    };
    assert_eq!(cli("1"), cli("2"));

    // A strong repetition penalty changes a greedy continuation (which repeats itself).
    let greedy = |extra: Value| {
        let mut o = json!({"temperature": 0, "num_predict": 40});
        o.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        generate(&s, STORY, o)["response"].as_str().unwrap().to_string()
    };
    let plain = greedy(json!({}));
    assert_eq!(plain, greedy(json!({"repeat_penalty": 1.0, "presence_penalty": 0.0, "typical_p": 1.0})));
    assert_ne!(plain, greedy(json!({"repeat_penalty": 1.8, "repeat_last_n": 64})));
    assert_ne!(plain, greedy(json!({"frequency_penalty": 2.0})));
    // A Modelfile PARAMETER is a default the request can override.
    let modelfile = format!("FROM {}\nPARAMETER repeat_penalty 1.8\n", model_path("smollm2").display());
    let (code, body) = post(&s, "/api/create", json!({"model": "smollm2-rp", "modelfile": modelfile, "stream": false}));
    assert_eq!(code, 200, "{body}");
    let from_params = |extra: Value| {
        let mut o = json!({"temperature": 0, "num_predict": 40});
        o.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let (code, body) = post(
            &s,
            "/api/generate",
            json!({"model": "smollm2-rp", "prompt": STORY, "raw": true,
            "stream": false, "options": o}),
        );
        assert_eq!(code, 200, "{body}");
        body["response"].as_str().unwrap().to_string()
    };
    assert_eq!(from_params(json!({})), greedy(json!({"repeat_penalty": 1.8, "repeat_last_n": 64})));
    assert_eq!(from_params(json!({"repeat_penalty": 1.0})), plain);

    // Past a 32-token context: generation goes on to num_predict, shifting the context.
    let long = generate(&s, STORY, json!({"temperature": 0, "num_ctx": 32, "num_predict": 100}));
    assert_eq!((long["eval_count"].as_u64(), long["done_reason"].as_str()), (Some(100), Some("length")), "{long}");
    // -2 fills the context and stops there.
    let fill = generate(&s, STORY, json!({"temperature": 0, "num_ctx": 32, "num_predict": -2}));
    let (p, e) = (fill["prompt_eval_count"].as_u64().unwrap(), fill["eval_count"].as_u64().unwrap());
    assert!(p + e <= 33 && e > 0 && fill["done_reason"] == "length", "{fill}");
    // `shift: false` stops at the context's end too.
    let (code, noshift) = post(
        &s,
        "/api/generate",
        json!({"model": "smollm2", "prompt": STORY, "raw": true, "stream": false,
        "shift": false, "options": {"temperature": 0, "num_ctx": 32, "num_predict": 100}}),
    );
    assert_eq!(code, 200);
    assert!(noshift["eval_count"].as_u64().unwrap() < 32, "{noshift}");
    // A prompt longer than the context is cut from the front (keeping num_keep) and answered.
    let prompt = STORY.repeat(8);
    let cut = generate(&s, &prompt, json!({"temperature": 0, "num_ctx": 32, "num_predict": 8, "num_keep": 4}));
    assert!(cut["prompt_eval_count"].as_u64().unwrap() < 32 && cut["eval_count"] == 8, "{cut}");

    // Mirostat samples, and every accepted-and-ignored option is accepted.
    let m = generate(
        &s,
        STORY,
        json!({"mirostat": 2, "mirostat_tau": 4.0, "mirostat_eta": 0.2, "seed": 1, "num_predict": 8,
        "tfs_z": 0.9, "penalize_newline": false, "numa": false, "num_batch": 8, "num_gqa": 1, "num_gpu": 0, "main_gpu": 0,
        "low_vram": false, "f16_kv": true, "logits_all": false, "vocab_only": false, "use_mmap": true, "use_mlock": false,
        "embedding_only": false, "rope_frequency_base": 10000.0, "rope_frequency_scale": 1.0}),
    );
    assert!(m["eval_count"].as_u64().unwrap() > 0, "{m}");

    // A wrong type is a 400 naming the option.
    for (key, bad) in [
        ("repeat_penalty", json!("x")),
        ("mirostat", json!(1.5)),
        ("min_p", json!(true)),
        ("penalize_newline", json!(1)),
    ] {
        let (code, body) =
            post(&s, "/api/generate", json!({"model": "smollm2", "prompt": "hi", "options": {key: bad}}));
        assert_eq!(code, 400, "{key}: {body}");
        assert!(body["error"].as_str().unwrap().contains(key), "{body}");
    }

    // logprobs: one entry per generated token, each with top_logprobs alternatives; the chosen
    // greedy token is the most likely one.
    let (code, lp) = post(
        &s,
        "/api/generate",
        json!({"model": "smollm2", "prompt": STORY, "raw": true, "stream": false,
        "logprobs": true, "top_logprobs": 3, "options": {"temperature": 0, "num_predict": 5}}),
    );
    assert_eq!(code, 200, "{lp}");
    let list = lp["logprobs"].as_array().unwrap();
    assert_eq!(list.len(), 5, "{lp}");
    let text: String = list.iter().map(|e| e["token"].as_str().unwrap()).collect();
    assert_eq!(text, lp["response"].as_str().unwrap());
    for e in list {
        let top = e["top_logprobs"].as_array().unwrap();
        assert_eq!(top.len(), 3);
        assert_eq!(top[0]["token"], e["token"]);
        assert!(e["logprob"].as_f64().unwrap() <= 0.0 && e["bytes"].is_array());
    }
    let (code, chat) = post(
        &s,
        "/api/chat",
        json!({"model": "smollm2", "messages": [{"role": "user", "content": "hi"}],
        "stream": false, "logprobs": true, "options": {"num_predict": 3}}),
    );
    assert_eq!(code, 200, "{chat}");
    assert!(chat["logprobs"].as_array().is_some_and(|l| !l.is_empty() && l[0]["top_logprobs"] == json!([])), "{chat}");
    let (code, _) =
        post(&s, "/api/generate", json!({"model": "smollm2", "prompt": "hi", "logprobs": true, "top_logprobs": 21}));
    assert_eq!(code, 400);
}

/// rope_frequency_base/scale load the model again with the file's RoPE settings replaced: the
/// file's own base gives the same text, another base or a scale a different one, and a model
/// loaded with overrides is a separate instance (the plain one stays as it was).
#[test]
fn rope_overrides_reload_the_model() {
    let s = server("2");
    let (code, show) = post(&s, "/api/show", json!({"model": "smollm2"}));
    assert_eq!(code, 200, "{show}");
    let base = show["model_info"]["llama.rope.freq_base"].as_f64().expect("the file's rope base");
    let greedy = |extra: Value| {
        let mut o = json!({"temperature": 0, "num_predict": 24});
        o.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        generate(&s, STORY, o)["response"].as_str().unwrap().to_string()
    };
    let plain = greedy(json!({}));
    assert_eq!(plain, greedy(json!({"rope_frequency_base": base})), "the file's own base");
    assert_eq!(plain, greedy(json!({"rope_frequency_base": 0, "rope_frequency_scale": 0})), "0 means unset");
    let low = greedy(json!({"rope_frequency_base": 500.0}));
    assert_ne!(plain, low, "a base of 500 instead of {base}");
    let scaled = greedy(json!({"rope_frequency_scale": 0.25}));
    assert_ne!(plain, scaled, "positions scaled by 1/4");
    assert_eq!(plain, greedy(json!({})), "the plain instance is unchanged");
    let (code, body) = post(
        &s,
        "/api/generate",
        json!({"model": "smollm2", "prompt": "x", "options": {"rope_frequency_base": "high"}}),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("rope_frequency_base"), "{body}");
}
