//! The parser's errors, what each construct accepts and refuses, UTF-8 across feeds,
//! `min_close`, and the caps.

use std::sync::Arc;
use std::time::Instant;

use super::{Grammar, Matcher, MAX_REPEAT, MAX_STACKS};

fn matcher(text: &str) -> Matcher {
    Matcher::new(Arc::new(Grammar::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))))
}

/// Whether `s` is accepted whole and completes a parse.
fn accepts(g: &str, s: &str) -> bool {
    let mut m = matcher(g);
    m.feed(s.as_bytes()) && m.can_end()
}

/// Whether `s` is a valid prefix (complete or not).
fn prefix(g: &str, s: &str) -> bool {
    matcher(g).feed(s.as_bytes())
}

fn check(g: &str, good: &[&str], bad: &[&str]) {
    for s in good {
        assert!(accepts(g, s), "{g:?} should accept {s:?}");
        // Byte by byte gives the same answer as the whole string.
        let mut m = matcher(g);
        assert!(s.as_bytes().iter().all(|&b| m.feed(&[b])) && m.can_end(), "{g:?} byte by byte on {s:?}");
    }
    for s in bad {
        assert!(!accepts(g, s), "{g:?} should refuse {s:?}");
    }
}

/// The error's "line:col: message".
fn error(g: &str) -> String {
    match Grammar::parse(g) {
        Ok(_) => panic!("{g:?} should not parse"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn syntax_errors_name_line_and_column() {
    let cases: &[(&str, &str)] = &[
        ("root = \"a\"", "1:6: expected `::=`"),
        ("root ::= \"a\"\nfoo ::= \"abc", "2:9: unterminated string literal"),
        ("root ::= [a-z", "1:10: unterminated character class"),
        ("root ::= (\"a\" | \"b\"", "1:20: expected `)`"),
        ("root ::= \"a\" )", "1:14: unexpected `)`"),
        ("root ::= * \"a\"", "1:10: `*` has nothing before it to repeat"),
        ("root ::= \"a\"{2,1}", "1:13: repetition {2,1} has its maximum below its minimum"),
        ("root ::= \"a\"{x}", "1:14: expected a number"),
        ("root ::= \"a\"{2;}", "1:15: expected `,` or `}`"),
        ("root ::= \"\\q\"", "1:11: unknown escape `\\q`"),
        ("root ::= \"\\x4\"", "1:14: expected 2 hex digits after `\\x`"),
        ("root ::= \"\\uD800\"", "1:11: escape `\\u` names 0xd800, which is not a Unicode scalar value"),
        ("root ::= [z-a]", "1:11: range 0x7a-0x61 is backwards"),
        ("root ::= x\n  # a comment\nx ::= \"a\"\nx ::= \"b\"", "4:1: rule `x` is defined twice"),
        ("::= \"a\"", "1:1: expected a rule name"),
    ];
    for (g, want) in cases {
        let got = error(g);
        assert!(got.starts_with(want), "{g:?}: got {got:?}, want {want:?}");
    }
}

#[test]
fn semantic_errors_name_the_rule() {
    let e = error("root ::= item+\n\nitem ::= \"a\" | thing\n");
    assert_eq!(e, "3:16: rule `thing` is used but never defined");
    let e = error("start ::= \"a\"");
    assert_eq!(e, "1:1: grammar has no `root` rule");
    // Direct, indirect, and through a rule that can be empty.
    assert!(error("root ::= root \"a\" | \"b\"").starts_with("1:1: rule `root` is left-recursive"));
    let e = error("root ::= a\na ::= b \"x\" | \"y\"\nb ::= a \"z\"");
    assert!(e.contains("left-recursive"), "{e}");
    let e = error("root ::= e root2\nroot2 ::= e root | \"x\"\ne ::= \"\" | \"q\"");
    assert!(e.contains("left-recursive"), "{e}");
    // A repetition of something that can match nothing would loop without consuming.
    let e = error("root ::= (\"a\"?)*");
    assert!(e.starts_with("1:16: repeats something that can match the empty string"), "{e}");
    // A rule with no finite derivation.
    let e = error("root ::= \"a\" | \"a\" loop\nloop ::= \"b\" loop");
    assert!(e.starts_with("2:1: rule `loop` can never finish"), "{e}");
}

#[test]
fn caps_bound_hostile_grammars() {
    let e = error(&format!("root ::= \"a\"{{{}}}", MAX_REPEAT + 1));
    assert!(e.starts_with("1:14: repetition count 1001"), "{e}");
    let e = error(&format!("root ::= {}\"a\"{}", "(".repeat(100), ")".repeat(100)));
    assert!(e.contains("nested more than"), "{e}");
    let e = error("root ::= \"abcdefgh\"{1000}{1000}");
    assert!(e.contains("elements once repetitions are expanded"), "{e}");
    let e = error(&format!("root ::= \"{}\"", "a".repeat(70_000)));
    assert!(e.contains("bytes, more than"), "{e}");
    let e = error(&format!("root ::= {}", "(\"a\")".repeat(9000)));
    assert!(e.contains("rules"), "{e}");
    // Garbage never panics.
    for g in [
        "",
        "\u{0}",
        "root ::= \"\\",
        "root ::= [\\",
        "root ::= [^",
        "root ::= \"a\"{",
        "root ::= (",
        "|||",
        "root ::= {}",
    ] {
        let _ = Grammar::parse(g);
    }
}

#[test]
fn literals_alternatives_and_groups() {
    check(r#"root ::= "yes" | "no""#, &["yes", "no"], &["", "y", "yesno", "No", "maybe"]);
    check(
        "root ::= \"a\\\"b\\\\c\\n\\t\\x41\\u00e9\\U0001F600\"",
        &["a\"b\\c\n\tA\u{e9}\u{1F600}"],
        &["a\"b\\c\n\tA\u{e9}"],
    );
    check(
        "# leading comment\nroot ::= greeting \" \" (\"world\" | \"there\") # trailing\n\ngreeting ::= \"hello\" | \"hi\"\n",
        &["hello world", "hi there", "hi world"],
        &["hello", "hello  world", "hey there"],
    );
    // Line breaks inside groups and after `::=` and `|`.
    check("root ::=\n  (\n    \"a\"\n    | \"b\"\n  ) \"c\" |\n  \"d\"", &["ac", "bc", "d"], &["c", "a", "dc"]);
    // Empty alternatives and an empty root.
    check("root ::= \"a\" | ", &["a", ""], &["b"]);
    check("root ::= \"\"", &[""], &["a"]);
}

#[test]
fn repetitions_respect_their_bounds() {
    check(r#"root ::= "a"*"#, &["", "a", "aaaaaa"], &["b", "ab"]);
    check(r#"root ::= "ab"+"#, &["ab", "ababab"], &["", "a", "aba", "aab"]);
    check(r#"root ::= "x" "y"? "z""#, &["xz", "xyz"], &["xyyz", "x"]);
    check(r#"root ::= [0-9]{4}"#, &["2024", "0000"], &["202", "20245", "20a4"]);
    check(r#"root ::= "a"{2,}"#, &["aa", "aaaaaaa"], &["", "a"]);
    check(r#"root ::= "a"{0,3} "b""#, &["b", "ab", "aaab"], &["aaaab"]);
    check(r#"root ::= ("ab" | "c"){1,2}"#, &["ab", "c", "abc", "cab", "cc"], &["", "abcab", "ccc"]);
    check(r#"root ::= "a"{ 0 , 1 }"#, &["", "a"], &["aa"]);
    check(r#"root ::= "a"{3}{2}"#, &["aaaaaa"], &["aaa", "aaaaaaa"]);
    // Up to the cap, a bounded repetition counts exactly.
    let g = format!("root ::= \"a\"{{{}}}", MAX_REPEAT);
    assert!(accepts(&g, &"a".repeat(MAX_REPEAT as usize)));
    assert!(!accepts(&g, &"a".repeat(MAX_REPEAT as usize - 1)));
    assert!(!prefix(&g, &"a".repeat(MAX_REPEAT as usize + 1)));
}

#[test]
fn character_classes() {
    check(r#"root ::= [a-zA-Z_] [a-zA-Z0-9_]*"#, &["x", "_id9", "Abc"], &["9a", "", "a-b"]);
    check(r#"root ::= [^"\\]*"#, &["", "plain text", "é"], &["\"", "a\\b"]);
    check(r#"root ::= [\]\[\-^]+"#, &["]", "[-^]"], &["a"]);
    check(r#"root ::= [-a]"#, &["-", "a"], &["b"]);
    check(r#"root ::= [a-]"#, &["-", "a"], &["b"]);
    check(r#"root ::= [\x00-\x1f]"#, &["\n", "\u{1}"], &[" "]);
    check(r#"root ::= ."#, &["a", "\u{1F600}", "\n", "日"], &["", "ab"]);
    check(r#"root ::= [^]"#, &["z"], &[""]);
}

#[test]
fn utf8_classes_and_split_code_points() {
    let g = "root ::= [а-я]+ \" \" [😀-🙏]";
    check(g, &["привет 😀", "я 🙏"], &["hello 😀", "привет x", "привет 🚀"]);
    // A code point split across feeds: fine when some completion may match ...
    let mut m = matcher(g);
    let text = "да 😀".as_bytes();
    for chunk in text.chunks(1) {
        assert!(m.feed(chunk), "chunk {chunk:?}");
    }
    assert!(m.can_end() && m.is_done());
    // ... refused at once when none can: `a` is not in [а-я], nor is any 3-byte code point.
    let m = matcher(g);
    assert!(m.try_feed(&[0xE2]).is_none());
    assert!(m.try_feed(&[0xD0]).is_some());
    // Lead byte D0 covers U+0400..U+043F, which includes а..п; D2 (U+0480..) does not reach я.
    assert!(m.try_feed(&[0xD2]).is_none());
    // An incomplete code point is not an end.
    let mut m = matcher("root ::= .");
    assert!(m.feed(&[0xE6, 0x97]));
    assert!(!m.can_end());
    assert_eq!(m.min_close(), 1);
    assert!(m.feed(&[0xA5]) && m.can_end());
    // Invalid UTF-8: stray continuation, overlong forms, surrogates, past U+10FFFF.
    for bad in
        [&[0x80][..], &[0xC0, 0x80], &[0xE0, 0x80, 0x80], &[0xED, 0xA0, 0x80], &[0xF4, 0x90, 0x80, 0x80], &[0xFF]]
    {
        assert!(matcher("root ::= .*").try_feed(bad).is_none(), "{bad:x?}");
    }
    // A lead byte followed by something other than a continuation byte.
    assert!(matcher("root ::= .*").try_feed(&[0xC3, b'a']).is_none());
}

#[test]
fn can_end_and_is_done() {
    let mut m = matcher(r#"root ::= [0-9]+"#);
    assert!(!m.can_end() && !m.is_done());
    assert!(m.feed(b"12"));
    assert!(m.can_end() && !m.is_done());
    let mut m = matcher(r#"root ::= "yes" | "no""#);
    assert!(m.feed(b"ye") && !m.can_end());
    assert!(m.feed(b"s") && m.is_done());
    assert!(m.try_feed(b" ").is_none());
    // `a` completes one parse while another goes on: can end, not done.
    let mut m = matcher(r#"root ::= "a" | "ab""#);
    assert!(m.feed(b"a") && m.can_end() && !m.is_done());
}

#[test]
fn min_close_is_the_shortest_completion() {
    let g = r#"root ::= [0-9]{4} "-" [0-9]{2} "-" [0-9]{2}"#;
    let mut m = matcher(g);
    assert_eq!(m.min_close(), 10);
    assert!(m.feed(b"2024-0"));
    assert_eq!(m.min_close(), 4);
    assert!(m.feed(b"1-15"));
    assert_eq!(m.min_close(), 0);
    // The shortest alternative, through rules; multi-byte characters count their bytes.
    let m = matcher("root ::= \"(\" item (\",\" item)* \")\" | long\nitem ::= [0-9]+ | \"é\"\nlong ::= \"abcdefgh\"");
    assert_eq!(m.min_close(), 3);
    assert_eq!(matcher("root ::= [é-ü]").min_close(), 2);
    assert_eq!(matcher("root ::= [^\\x00-\\x7f]").min_close(), 2);
    // Nested open groups add up what each still needs.
    let mut m = matcher("root ::= \"[\" root \"]\" | \"x\"");
    assert!(m.feed(b"[[["));
    assert_eq!(m.min_close(), 4);
    // The min_close of every reachable state is a lower bound on the real completion.
    let mut m = matcher("root ::= \"ab\" \"cd\"? \"efg\" | \"q\"{5}");
    for (fed, left) in [("", 5), ("a", 4), ("ab", 3), ("abc", 4), ("abcde", 2), ("qq", 3)] {
        let mut n = m.clone();
        assert!(n.feed(fed.as_bytes()), "{fed}");
        assert_eq!(n.min_close(), left, "after {fed:?}");
    }
    assert!(m.feed(b"abefg") && m.min_close() == 0);
}

#[test]
fn expression_grammar() {
    let g = "root ::= expr\nexpr ::= term ((\"+\" | \"-\") term)*\nterm ::= factor ((\"*\" | \"/\") factor)*\n\
             factor ::= [0-9]+ | \"(\" expr \")\"";
    check(g, &["1", "1+2*3", "(1+2)*3", "((4))/2-7"], &["", "1+", "(1", "1)", "+1", "1**2"]);
}

#[test]
fn the_stack_cap_bounds_ambiguous_grammars() {
    // After k `a`s, 2^k distinct stacks (each pending `b` or `c` choice): refused past the cap.
    let g = "root ::= x\nx ::= \"a\" x \"b\" | \"a\" x \"c\" | \"\"";
    let mut m = matcher(g);
    let t0 = Instant::now();
    let mut fed = 0;
    while fed < 40 && m.feed(b"a") {
        fed += 1;
        assert!(m.n_stacks() <= MAX_STACKS);
    }
    assert!(fed < 40, "the stack cap never stopped the input");
    assert!(fed >= 8, "stopped after only {fed}");
    assert!(t0.elapsed().as_secs() < 5);
    // The matcher still works where it stands.
    assert!(m.feed(&b"b".repeat(fed)) && m.can_end());
    // Deep nesting is dropped past the depth cap rather than growing the stack without end.
    let mut m = matcher("root ::= \"(\" root \")\" | \"x\"");
    let mut depth = 0;
    while depth < 1000 && m.feed(b"(") {
        depth += 1;
    }
    assert!(depth < 1000);
}
