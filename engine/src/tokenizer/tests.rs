//! Tests of the whole tokenizer on small vocabularies written by hand into GGUF files:
//! SentencePiece merging and byte fallback, byte-level BPE, special tokens, decoding and
//! streaming, and hostile metadata. The real models are tested in `tests/e2e/tokenize.rs`.

use super::unicode::BYTE_TO_CHAR;
use super::*;
use crate::gguf::{GgufWriter, Value, ValueType};

const NORMAL: i32 = 1;
const UNKNOWN: i32 = 2;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;
const BYTE: i32 = 6;

/// Builds a tokenizer from the metadata `f` writes.
fn build(f: impl FnOnce(&mut GgufWriter)) -> Result<Tokenizer, TokenizerError> {
    let mut w = GgufWriter::new();
    f(&mut w);
    let g = GgufFile::from_bytes(w.to_bytes()).expect("the writer makes valid files");
    Tokenizer::from_gguf(&g)
}

/// A SentencePiece vocabulary: `(text, score, type)` after the 256 byte tokens.
fn spm_vocab(extra: &[(&str, f32, i32)]) -> (Vec<String>, Vec<f32>, Vec<i32>) {
    let mut tokens = vec!["<unk>".to_string(), "<s>".into(), "</s>".into()];
    let mut scores = vec![0.0, 0.0, 0.0];
    let mut types = vec![UNKNOWN, CONTROL, CONTROL];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        scores.push(0.0);
        types.push(BYTE);
    }
    for &(t, s, ty) in extra {
        tokens.push(t.to_string());
        scores.push(s);
        types.push(ty);
    }
    (tokens, scores, types)
}

fn spm(extra: &[(&str, f32, i32)], more: impl FnOnce(&mut GgufWriter)) -> Tokenizer {
    let (tokens, scores, types) = spm_vocab(extra);
    build(|w| {
        w.add_str("tokenizer.ggml.model", "llama");
        w.add_str_array("tokenizer.ggml.tokens", &tokens.iter().map(|s| s.as_str()).collect::<Vec<_>>());
        w.add_f32_array("tokenizer.ggml.scores", &scores);
        w.add_i32_array("tokenizer.ggml.token_type", &types);
        more(w);
    })
    .expect("valid vocabulary")
}

fn id(tok: &Tokenizer, text: &str) -> TokenId {
    tok.vocab.text_to_id(text).unwrap_or_else(|| panic!("{text:?} not in the vocabulary"))
}

fn ids(tok: &Tokenizer, texts: &[&str]) -> Vec<TokenId> {
    texts.iter().map(|t| id(tok, t)).collect()
}

const HELLO_SPM: &[(&str, f32, i32)] = &[
    ("▁", -1.0, NORMAL),
    ("h", -2.0, NORMAL),
    ("e", -2.0, NORMAL),
    ("l", -2.0, NORMAL),
    ("o", -2.0, NORMAL),
    ("w", -2.0, NORMAL),
    ("r", -2.0, NORMAL),
    ("d", -2.0, NORMAL),
    ("he", -3.0, NORMAL),
    ("ll", -3.0, NORMAL),
    ("llo", -4.0, NORMAL),
    ("hello", -5.0, NORMAL),
    ("▁hello", -5.5, NORMAL),
    ("or", -3.0, NORMAL),
    ("▁w", -3.0, NORMAL),
    ("▁wor", -4.0, NORMAL),
    ("ld", -3.0, NORMAL),
    ("▁world", -5.0, NORMAL),
    ("\n\n", 0.0, USER_DEFINED),
    ("<start>", 0.0, CONTROL),
    ("<|im_end|>", 0.0, NORMAL),
];

#[test]
fn spm_merges_by_score_with_space_prefix() {
    let tok = spm(HELLO_SPM, |_| {});
    assert_eq!(tok.model_kind(), "llama");
    assert!(tok.add_bos() && !tok.add_eos());
    assert_eq!(tok.bos(), Some(1));
    let want = [vec![1], ids(&tok, &["▁hello", "▁world"])].concat();
    assert_eq!(tok.encode("hello world", true, false), want);
    assert_eq!(tok.encode("hello world", false, false), want[1..]);
    assert_eq!(tok.decode(&want, false), " hello world");
    assert_eq!(tok.decode(&want, true), "<s> hello world");
    assert_eq!(tok.encode("", true, false), [1]);
    assert!(tok.encode("", false, false).is_empty());
}

#[test]
fn spm_prefers_the_higher_score() {
    let tok = spm(
        &[("a", -1.0, NORMAL), ("b", -1.0, NORMAL), ("c", -1.0, NORMAL), ("ab", -2.0, NORMAL), ("bc", -1.5, NORMAL)],
        |w| {
            w.add_bool("tokenizer.ggml.add_space_prefix", false);
        },
    );
    assert_eq!(tok.encode("abc", false, false), ids(&tok, &["a", "bc"]));
    // Equal scores: the leftmost pair first.
    let tok = spm(&[("a", -1.0, NORMAL), ("ab", -2.0, NORMAL), ("ba", -2.0, NORMAL), ("b", -1.0, NORMAL)], |w| {
        w.add_bool("tokenizer.ggml.add_space_prefix", false);
    });
    assert_eq!(tok.encode("aba", false, false), ids(&tok, &["ab", "a"]));
}

#[test]
fn spm_byte_fallback_and_stream_decoding() {
    let tok = spm(HELLO_SPM, |w| {
        w.add_bool("tokenizer.ggml.add_space_prefix", false);
    });
    let got = tok.encode("h🦙", false, false);
    let want = [vec![id(&tok, "h")], "🦙".bytes().map(|b| 3 + b as TokenId).collect()].concat();
    assert_eq!(got, want);
    assert_eq!(tok.decode(&got, false), "h🦙");

    // The character split over four byte tokens comes out whole, once.
    let mut dec = StreamDecoder::new();
    let pieces: Vec<String> = got.iter().map(|&t| dec.push(&tok, t)).collect();
    assert_eq!(pieces, ["h", "", "", "", "🦙"]);
    assert_eq!(dec.finish(), "");

    // A sequence that can never complete is replaced at once; a dangling start at the end.
    let mut dec = StreamDecoder::new();
    assert_eq!(dec.push(&tok, 3 + 0xF0), "");
    assert_eq!(dec.push(&tok, id(&tok, "h")), "\u{FFFD}h");
    assert_eq!(dec.push(&tok, 3 + 0xE6), "");
    assert_eq!(dec.push(&tok, 3 + 0x97), "");
    assert_eq!(dec.finish(), "\u{FFFD}");
    assert_eq!(dec.push(&tok, 3 + 0x41), "A");
}

#[test]
fn spm_user_defined_always_control_only_when_parsed() {
    let tok = spm(HELLO_SPM, |_| {});
    let nn = id(&tok, "\n\n");
    let start = id(&tok, "<start>");
    // User-defined: matched whole even without parse_special; like any special token, it
    // makes the text after it start with the space prefix again.
    let hello = id(&tok, "▁hello");
    assert_eq!(tok.encode("hello\n\nhello", false, false), [hello, nn, hello]);
    // Control: only with parse_special; the text after it gets the space prefix again.
    assert_eq!(tok.encode("<start>hello", false, true), [start, id(&tok, "▁hello")]);
    let plain = tok.encode("<start>hello", false, false);
    assert!(!plain.contains(&start));
    assert_eq!(tok.decode(&plain, false), " <start>hello");
    // Control tokens render only on request; user-defined ones always.
    assert!(tok.token_bytes(start, false).is_empty());
    assert_eq!(&*tok.token_bytes(start, true), b"<start>");
    assert_eq!(&*tok.token_bytes(nn, false), b"\n\n");
}

#[test]
fn end_of_generation_tokens() {
    let tok = spm(HELLO_SPM, |_| {});
    // "<|im_end|>" is typed normal in this file; llama.cpp makes it a control EOG token.
    let im_end = id(&tok, "<|im_end|>");
    assert!(tok.is_eog(im_end) && tok.is_control(im_end));
    assert!(tok.is_eog(2)); // EOS
    assert!(!tok.is_eog(1) && !tok.is_eog(id(&tok, "h")));
    assert!(tok.token_bytes(im_end, false).is_empty());
    assert_eq!(tok.encode("<|im_end|>", false, true), [im_end]);
}

#[test]
fn out_of_range_ids_are_harmless() {
    let tok = spm(HELLO_SPM, |_| {});
    let n = tok.n_vocab() as TokenId;
    for bad in [n, n + 1, u32::MAX] {
        assert!(tok.token_bytes(bad, true).is_empty());
        assert_eq!(tok.token_text(bad), None);
        assert!(!tok.is_eog(bad) && !tok.is_control(bad));
        assert_eq!(StreamDecoder::new().push(&tok, bad), "");
    }
    assert_eq!(tok.decode(&[u32::MAX, id(&tok, "▁hello"), n], false), " hello");
    assert_eq!(tok.token_text(0), Some("<unk>"));
}

/// A byte-level BPE vocabulary: the 256 byte characters, then `extra`, with `merges`.
fn bpe(pre: &str, extra: &[(&str, i32)], merges: &[&str]) -> Result<Tokenizer, TokenizerError> {
    let mut tokens: Vec<String> = BYTE_TO_CHAR.iter().map(|c| c.to_string()).collect();
    let mut types = vec![NORMAL; 256];
    for &(t, ty) in extra {
        tokens.push(t.to_string());
        types.push(ty);
    }
    build(|w| {
        w.add_str("tokenizer.ggml.model", "gpt2");
        w.add_str("tokenizer.ggml.pre", pre);
        w.add_str_array("tokenizer.ggml.tokens", &tokens.iter().map(|s| s.as_str()).collect::<Vec<_>>());
        w.add_i32_array("tokenizer.ggml.token_type", &types);
        w.add_str_array("tokenizer.ggml.merges", merges);
        w.add_u32("tokenizer.ggml.bos_token_id", 256);
        w.add_u32("tokenizer.ggml.eos_token_id", 257);
    })
}

const HELLO_BPE_TOKENS: &[(&str, i32)] = &[
    ("<|endoftext|>", CONTROL),
    ("<|im_end|>", CONTROL),
    ("he", NORMAL),
    ("ll", NORMAL),
    ("hell", NORMAL),
    ("hello", NORMAL),
    ("Ġw", NORMAL),
    ("or", NORMAL),
    ("Ġwor", NORMAL),
    ("ld", NORMAL),
    ("Ġworld", NORMAL),
    ("<tool>", USER_DEFINED),
];
const HELLO_BPE_MERGES: &[&str] = &["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"];

#[test]
fn bpe_merges_by_rank() {
    let tok = bpe("gpt2", HELLO_BPE_TOKENS, HELLO_BPE_MERGES).unwrap();
    assert_eq!(tok.model_kind(), "gpt2");
    assert!(!tok.add_bos());
    let got = tok.encode("hello world", true, false);
    assert_eq!(got, ids(&tok, &["hello", "Ġworld"]));
    assert_eq!(tok.decode(&got, false), "hello world");
    assert_eq!(tok.token_text(got[1]), Some("Ġworld"));
    assert_eq!(&*tok.token_bytes(got[1], false), b" world");
    // Unmerged bytes come out as their byte characters and decode back.
    let text = "hé 🦙\n\tx";
    assert_eq!(tok.decode(&tok.encode(text, false, false), false), text);
    assert_eq!(tok.encode("ll", false, false), ids(&tok, &["ll"]));
}

#[test]
fn bpe_special_tokens() {
    let tok = bpe("gpt2", HELLO_BPE_TOKENS, HELLO_BPE_MERGES).unwrap();
    let eot = id(&tok, "<|endoftext|>");
    let tool = id(&tok, "<tool>");
    assert_eq!(tok.encode("hello<|endoftext|>", false, true), [id(&tok, "hello"), eot]);
    assert_eq!(tok.encode("hello<|endoftext|>", false, false).len(), 1 + "<|endoftext|>".len());
    assert_eq!(tok.encode("<tool>hello", false, false), [tool, id(&tok, "hello")]);
    assert!(tok.is_eog(eot) && tok.is_eog(id(&tok, "<|im_end|>")) && tok.is_eog(257));
}

#[test]
fn bpe_prefers_the_lower_rank_and_the_left_on_ties() {
    // "a b" ranks before "b c", so "abc" is "ab" + "c".
    let tok = bpe("gpt2", &[("ab", NORMAL), ("bc", NORMAL)], &["a b", "b c"]).unwrap();
    assert_eq!(tok.encode("abc", false, false), ids(&tok, &["ab", "c"]));
    let tok = bpe("gpt2", &[("ab", NORMAL), ("bc", NORMAL)], &["b c", "a b"]).unwrap();
    assert_eq!(tok.encode("abc", false, false), ids(&tok, &["a", "bc"]));
    let tok = bpe("gpt2", &[("aa", NORMAL)], &["a a"]).unwrap();
    assert_eq!(tok.encode("aaa", false, false), ids(&tok, &["aa", "a"]));
}

#[test]
fn llama3_pre_tokenizer_ignores_merges_for_whole_words_and_adds_bos() {
    let tok = bpe("llama-bpe", &[("<|begin_of_text|>", CONTROL), ("hello", NORMAL)], &[]).unwrap();
    assert!(tok.add_bos());
    assert_eq!(tok.encode("hello", true, false), [256, id(&tok, "hello")]);
}

#[test]
fn long_input_is_not_quadratic() {
    let tok = bpe("qwen2", HELLO_BPE_TOKENS, HELLO_BPE_MERGES).unwrap();
    let text = "hello world, hello\n\n  world 12345 <tool> ".repeat(2500);
    let t = std::time::Instant::now();
    let ids = tok.encode(&text, false, true);
    assert_eq!(tok.decode(&ids, true), text);
    // One long word (a single pre-token) merges in O(n log n).
    let word = "l".repeat(100_000);
    assert_eq!(tok.encode(&word, false, false).len(), 50_000);
    eprintln!("{} + 100000 bytes in {:?}", text.len(), t.elapsed());
}

// ---- hostile metadata ----

fn err(r: Result<Tokenizer, TokenizerError>) -> TokenizerError {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

#[test]
fn hostile_vocabularies_are_errors() {
    let base = |w: &mut GgufWriter| {
        w.add_str("tokenizer.ggml.model", "llama");
    };
    // Missing or mistyped tokens.
    assert!(matches!(err(build(base)), TokenizerError::Invalid(_)));
    assert!(matches!(
        err(build(|w| {
            base(w);
            w.add_i32_array("tokenizer.ggml.tokens", &[1, 2]);
        })),
        TokenizerError::Gguf(_)
    ));
    // Fewer scores or types than tokens.
    assert!(matches!(
        err(build(|w| {
            base(w);
            w.add_str_array("tokenizer.ggml.tokens", &["a", "b", "c"]);
            w.add_f32_array("tokenizer.ggml.scores", &[0.0, 0.0]);
        })),
        TokenizerError::Invalid(_)
    ));
    assert!(matches!(
        err(build(|w| {
            base(w);
            w.add_str_array("tokenizer.ggml.tokens", &["a", "b", "c"]);
            w.add_i32_array("tokenizer.ggml.token_type", &[1]);
        })),
        TokenizerError::Invalid(_)
    ));
    // Duplicate and huge tokens.
    assert!(matches!(
        err(build(|w| {
            base(w);
            w.add_str_array("tokenizer.ggml.tokens", &["a", "b", "a"]);
        })),
        TokenizerError::Invalid(_)
    ));
    let huge = "x".repeat(vocab::MAX_TOKEN_LEN + 1);
    assert!(matches!(
        err(build(|w| {
            base(w);
            w.add_str_array("tokenizer.ggml.tokens", &["a", &huge, "b"]);
        })),
        TokenizerError::Invalid(_)
    ));
    // Unknown models and pre-tokenizers.
    assert!(matches!(
        err(build(|w| {
            w.add_str("tokenizer.ggml.model", "bert");
        })),
        TokenizerError::Unsupported { model } if model == "bert"
    ));
    assert!(matches!(err(bpe("tekken", &[], &[])), TokenizerError::UnsupportedPre { pre } if pre == "tekken"));
    // A normal token outside the byte alphabet renders as llama.cpp does, within a bound.
    let weird = "▁".repeat(vocab::MAX_TOKEN_LEN / 3);
    let tok = bpe("gpt2", &[("▁x", NORMAL), (&weird, NORMAL)], &[]).unwrap();
    assert_eq!(&*tok.token_bytes(256, false), "[UNK_BYTE_0xe29681▁x]x".as_bytes());
    assert_eq!(tok.token_bytes(257, false).len(), 4 * vocab::MAX_TOKEN_LEN);
    // Bad merges.
    assert!(matches!(err(bpe("gpt2", &[], &["ab"])), TokenizerError::Invalid(_)));
    assert!(matches!(err(bpe("gpt2", &[], &[""])), TokenizerError::Invalid(_)));
    // Merges of pieces that are not tokens are accepted and simply never produce a token.
    let tok = bpe("gpt2", &[], &["a b", "ab c", "Ġ Ġ Ġ"]).unwrap();
    let got = tok.encode("abc  ", false, false);
    assert_eq!(got, ids(&tok, &["a", "b", "c", "Ġ", "Ġ"]));
    // BOS required but missing: the BPE default BOS (11) does not exist in a 3-token vocabulary.
    assert!(matches!(
        err(build(|w| {
            w.add_str("tokenizer.ggml.model", "gpt2");
            w.add_str_array("tokenizer.ggml.tokens", &["a", "b", "c"]);
            w.add_str_array("tokenizer.ggml.merges", &["a b"]);
            w.add_bool("tokenizer.ggml.add_bos_token", true);
        })),
        TokenizerError::Invalid(_)
    ));
    // A special id of the wrong type.
    assert!(matches!(
        err(build(|w| {
            base(w);
            w.add_str_array("tokenizer.ggml.tokens", &["a", "b", "c"]);
            w.add_str("tokenizer.ggml.bos_token_id", "1");
        })),
        TokenizerError::Invalid(_)
    ));
}

#[test]
fn odd_but_tolerated_metadata() {
    // Out-of-range and negative special ids fall back to the defaults; empty tokens get a name.
    let tok = build(|w| {
        w.add_str("tokenizer.ggml.model", "llama");
        w.add_str_array("tokenizer.ggml.tokens", &["<unk>", "<s>", "", "▁a"]);
        w.add_u32("tokenizer.ggml.bos_token_id", 99);
        w.add("tokenizer.ggml.eos_token_id", Value::I32(-1));
        w.add(
            "tokenizer.ggml.token_type",
            Value::Array {
                elem: ValueType::I32,
                items: vec![Value::I32(2), Value::I32(3), Value::I32(77), Value::I32(1)],
            },
        );
    })
    .unwrap();
    assert_eq!(tok.bos(), Some(1));
    assert_eq!(tok.eos(), Some(2));
    assert_eq!(tok.token_text(2), Some("[EMPTY_2]"));
    // An undefined type renders as nothing, like llama.cpp.
    assert!(tok.token_bytes(2, true).is_empty());
    // No byte tokens: each byte of an unknown character becomes <unk> (llama.cpp would throw).
    assert_eq!(tok.encode("a b", false, false), [3, 0, 0, 0, 0]);
}

#[test]
fn hostile_texts_do_not_panic() {
    let spm_tok = spm(HELLO_SPM, |_| {});
    let bpe_tok = bpe("smollm", HELLO_BPE_TOKENS, HELLO_BPE_MERGES).unwrap();
    let texts = [
        "\u{0}\u{1}\u{7f}\u{80}\u{10FFFF}\u{FFFD}",
        "<start<start>>",
        "\n\n\n\n\n",
        "<tool><tool><|endoftext|<|endoftext|>>",
        " \u{2028}\u{3000}\u{85} ' 's  '",
        "٣٤٥ ½ ⅷ",
    ];
    for text in texts {
        for tok in [&spm_tok, &bpe_tok] {
            for parse in [false, true] {
                let ids = tok.encode(text, true, parse);
                assert!(ids.iter().all(|&i| (i as usize) < tok.n_vocab()));
                let _ = tok.decode(&ids, true);
            }
        }
    }
    assert_eq!(bpe_tok.decode(&bpe_tok.encode(texts[0], false, false), false), texts[0]);
}
