//! GBNF text to a [`Grammar`]: rules of alternatives of sequences, flattened into one element
//! array the matcher walks by index.
//!
//! Repetition is rewritten as llama.cpp's parser rewrites it: `x{m,n}` becomes `m` copies of
//! `x` followed by a chain of generated rules `r ::= x r' |` (or one `r ::= x r |` when there
//! is no upper bound), and a parenthesized group becomes a generated rule. Every rule's
//! shortest derivation (in UTF-8 bytes) is computed once, so a matcher state knows how many
//! bytes at least close it; a grammar with left recursion, or with a named rule that can
//! never finish, is refused here rather than looping or running away at generation time.
//! The text is hostile input: its size, rule count, element count, nesting and repetition
//! counts are all capped, and every error names its line and column.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;

use super::matcher::{self, Stack};

/// Bytes of grammar text.
pub const MAX_GRAMMAR_BYTES: usize = 64 * 1024;
/// Rules, generated ones (groups and repetitions) included.
pub const MAX_RULES: usize = 8192;
/// Elements after repetitions are expanded.
pub const MAX_ELEMS: usize = 1 << 16;
/// The largest count in `{m,n}`.
pub const MAX_REPEAT: u32 = 1000;
/// Parenthesized groups inside one another.
pub const MAX_NESTING: usize = 64;

/// A grammar that does not parse or cannot be used, with where (1-based line and column, in
/// characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrammarError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for GrammarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for GrammarError {}

/// One element of an alternative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Elem {
    /// One code point of class `classes[i]`.
    Char(u32),
    /// The rule with this id.
    Ref(u32),
    /// The end of an alternative.
    End,
}

/// A set of code points: sorted, merged, inclusive ranges, or their complement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Class {
    negated: bool,
    ranges: Vec<(u32, u32)>,
}

impl Class {
    fn new(negated: bool, mut ranges: Vec<(u32, u32)>) -> Class {
        ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        Class { negated, ranges: merged }
    }

    fn single(c: u32) -> Class {
        Class { negated: false, ranges: vec![(c, c)] }
    }

    pub(super) fn contains(&self, c: u32) -> bool {
        let i = self.ranges.partition_point(|r| r.1 < c);
        let inside = self.ranges.get(i).is_some_and(|r| r.0 <= c);
        inside != self.negated
    }

    /// Whether some code point in `lo..=hi` is in the class.
    pub(super) fn intersects(&self, lo: u32, hi: u32) -> bool {
        if !self.negated {
            let i = self.ranges.partition_point(|r| r.1 < lo);
            return self.ranges.get(i).is_some_and(|r| r.0 <= hi);
        }
        // A gap between the excluded ranges that reaches into lo..=hi.
        let mut at = lo;
        for &(a, b) in &self.ranges {
            if b < at {
                continue;
            }
            if a > at {
                return true;
            }
            match b.checked_add(1) {
                Some(n) if n <= hi => at = n,
                _ => return false,
            }
        }
        at <= hi
    }

    /// The smallest code point in the class, if any.
    fn first(&self) -> Option<u32> {
        if !self.negated {
            return self.ranges.first().map(|r| r.0);
        }
        let mut at = 0u32;
        for &(a, b) in &self.ranges {
            if a > at {
                break;
            }
            at = at.max(b.saturating_add(1));
        }
        (at <= char::MAX as u32).then_some(at)
    }
}

/// Where a rule came from, for error messages.
#[derive(Debug, Clone)]
pub(super) struct Rule {
    pub(super) name: String,
    /// The start of each alternative in [`Grammar::elems`].
    pub(super) alts: Vec<u32>,
    /// Where it is defined (or the group or repetition it was generated for).
    line: usize,
    col: usize,
    generated: Option<&'static str>,
}

/// A parsed, checked grammar, shared by every [`Matcher`](super::Matcher) over it.
#[derive(Debug, Clone)]
pub struct Grammar {
    pub(super) elems: Vec<Elem>,
    pub(super) classes: Vec<Class>,
    pub(super) rules: Vec<Rule>,
    /// Per element: the fewest UTF-8 bytes from it (inclusive) to its alternative's end.
    pub(super) rest_min: Vec<u64>,
    /// The matcher's stacks before any input.
    pub(super) start: Vec<Stack>,
}

/// Bytes no derivation reaches (a rule that cannot finish).
pub(super) const NEVER: u64 = u64::MAX / 4;

fn utf8_len(c: u32) -> u64 {
    match c {
        0..=0x7f => 1,
        0x80..=0x7ff => 2,
        0x800..=0xffff => 3,
        _ => 4,
    }
}

impl Grammar {
    /// Parses and checks GBNF text whose start rule is `root`.
    pub fn parse(text: &str) -> Result<Grammar, GrammarError> {
        if text.len() > MAX_GRAMMAR_BYTES {
            return Err(GrammarError {
                line: 1,
                col: 1,
                message: format!("grammar is {} bytes, more than the {MAX_GRAMMAR_BYTES} allowed", text.len()),
            });
        }
        let mut p = Parser::new(text);
        p.grammar()?;
        p.finish()
    }

    /// The number of rules, generated ones included.
    pub fn n_rules(&self) -> usize {
        self.rules.len()
    }

    pub(super) fn class_of(&self, pos: u32) -> Option<&Class> {
        match self.elems[pos as usize] {
            Elem::Char(c) => Some(&self.classes[c as usize]),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The parser
// ---------------------------------------------------------------------------------------------

/// A rule while parsing: alternatives of elements (no `End` yet), or not yet defined.
struct Draft {
    name: String,
    alts: Option<Vec<Vec<Elem>>>,
    /// Definition, or first reference while undefined.
    at: usize,
    generated: Option<&'static str>,
}

struct Parser {
    src: Vec<char>,
    pos: usize,
    rules: Vec<Draft>,
    by_name: HashMap<String, u32>,
    classes: Vec<Class>,
    /// Elements so far (copies from repetition included), against [`MAX_ELEMS`].
    n_elems: usize,
    depth: usize,
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

impl Parser {
    fn new(text: &str) -> Parser {
        Parser {
            src: text.chars().collect(),
            pos: 0,
            rules: Vec::new(),
            by_name: HashMap::new(),
            classes: Vec::new(),
            n_elems: 0,
            depth: 0,
        }
    }

    fn line_col(&self, at: usize) -> (usize, usize) {
        let (mut line, mut col) = (1, 1);
        for &c in &self.src[..at.min(self.src.len())] {
            if c == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
        }
        (line, col)
    }

    fn err_at<T>(&self, at: usize, message: impl Into<String>) -> Result<T, GrammarError> {
        let (line, col) = self.line_col(at);
        Err(GrammarError { line, col, message: message.into() })
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, GrammarError> {
        self.err_at(self.pos, message)
    }

    fn peek(&self) -> Option<char> {
        self.src.get(self.pos).copied()
    }

    fn peek_is(&self, s: &str) -> bool {
        s.chars().enumerate().all(|(i, c)| self.src.get(self.pos + i) == Some(&c))
    }

    /// Skips blanks and `#` comments, and line breaks too when `newlines`.
    fn space(&mut self, newlines: bool) {
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' => self.pos += 1,
                '#' => {
                    while self.peek().is_some_and(|c| c != '\n' && c != '\r') {
                        self.pos += 1;
                    }
                }
                '\n' | '\r' if newlines => self.pos += 1,
                _ => break,
            }
        }
    }

    fn name(&mut self) -> Result<String, GrammarError> {
        let start = self.pos;
        while self.peek().is_some_and(is_word) {
            self.pos += 1;
        }
        if start == self.pos {
            return self.err("expected a rule name");
        }
        Ok(self.src[start..self.pos].iter().collect())
    }

    fn rule_id(&mut self, name: &str, at: usize) -> Result<u32, GrammarError> {
        if let Some(&id) = self.by_name.get(name) {
            return Ok(id);
        }
        let id = self.new_rule(name.to_string(), at, None)?;
        self.by_name.insert(name.to_string(), id);
        Ok(id)
    }

    fn new_rule(&mut self, name: String, at: usize, generated: Option<&'static str>) -> Result<u32, GrammarError> {
        if self.rules.len() >= MAX_RULES {
            return self.err_at(at, format!("grammar has more than {MAX_RULES} rules (groups and repetitions count)"));
        }
        self.rules.push(Draft { name, alts: None, at, generated });
        Ok((self.rules.len() - 1) as u32)
    }

    fn count(&mut self, n: usize, at: usize) -> Result<(), GrammarError> {
        self.n_elems += n;
        if self.n_elems > MAX_ELEMS {
            return self
                .err_at(at, format!("grammar has more than {MAX_ELEMS} elements once repetitions are expanded"));
        }
        Ok(())
    }

    fn grammar(&mut self) -> Result<(), GrammarError> {
        self.space(true);
        while self.peek().is_some() {
            self.rule()?;
            self.space(true);
        }
        Ok(())
    }

    fn rule(&mut self) -> Result<(), GrammarError> {
        let at = self.pos;
        let name = self.name()?;
        self.space(false);
        if !self.peek_is("::=") {
            return self.err("expected `::=`");
        }
        self.pos += 3;
        self.space(true);
        let id = self.rule_id(&name, at)?;
        if self.rules[id as usize].alts.is_some() {
            return self.err_at(at, format!("rule `{name}` is defined twice"));
        }
        let alts = self.alternatives(false)?;
        let rule = &mut self.rules[id as usize];
        rule.alts = Some(alts);
        rule.at = at;
        match self.peek() {
            None | Some('\n') | Some('\r') => Ok(()),
            Some(c) => self.err(format!("unexpected `{c}`: expected a line break or the end of the rule")),
        }
    }

    fn alternatives(&mut self, nested: bool) -> Result<Vec<Vec<Elem>>, GrammarError> {
        let mut alts = vec![self.sequence(nested)?];
        while self.peek() == Some('|') {
            self.pos += 1;
            self.space(true);
            alts.push(self.sequence(nested)?);
        }
        Ok(alts)
    }

    fn sequence(&mut self, nested: bool) -> Result<Vec<Elem>, GrammarError> {
        let mut seq: Vec<Elem> = Vec::new();
        // Where the last item starts in `seq`, for a repetition after it.
        let mut last: Option<usize> = None;
        while let Some(c) = self.peek() {
            let at = self.pos;
            match c {
                '"' => {
                    self.pos += 1;
                    last = Some(seq.len());
                    loop {
                        match self.peek() {
                            None => return self.err_at(at, "unterminated string literal"),
                            Some('"') => {
                                self.pos += 1;
                                break;
                            }
                            Some(_) => {
                                let ch = self.any_char()?;
                                let class = self.class_id(Class::single(ch));
                                seq.push(Elem::Char(class));
                                self.count(1, at)?;
                            }
                        }
                    }
                }
                '[' => {
                    self.pos += 1;
                    let class = self.char_class(at)?;
                    last = Some(seq.len());
                    seq.push(Elem::Char(class));
                    self.count(1, at)?;
                }
                '.' => {
                    self.pos += 1;
                    let class = self.class_id(Class::new(true, Vec::new()));
                    last = Some(seq.len());
                    seq.push(Elem::Char(class));
                    self.count(1, at)?;
                }
                '(' => {
                    self.pos += 1;
                    if self.depth >= MAX_NESTING {
                        return self.err_at(at, format!("groups nested more than {MAX_NESTING} deep"));
                    }
                    self.depth += 1;
                    self.space(true);
                    let alts = self.alternatives(true)?;
                    self.depth -= 1;
                    if self.peek() != Some(')') {
                        return self.err("expected `)`");
                    }
                    self.pos += 1;
                    let id = self.new_rule(String::new(), at, Some("group"))?;
                    self.rules[id as usize].alts = Some(alts);
                    last = Some(seq.len());
                    seq.push(Elem::Ref(id));
                    self.count(1, at)?;
                }
                '*' | '+' | '?' | '{' => {
                    let Some(start) = last else {
                        return self.err(format!("`{c}` has nothing before it to repeat"));
                    };
                    self.pos += 1;
                    let (min, max) = match c {
                        '*' => (0, None),
                        '+' => (1, None),
                        '?' => (0, Some(1)),
                        _ => self.braces(nested, at)?,
                    };
                    let item = seq.split_off(start);
                    let rep = self.repeat(item, min, max, at)?;
                    seq.extend(rep);
                }
                c if is_word(c) => {
                    let name = self.name()?;
                    let id = self.rule_id(&name, at)?;
                    last = Some(seq.len());
                    seq.push(Elem::Ref(id));
                    self.count(1, at)?;
                }
                _ => break,
            }
            self.space(nested);
        }
        Ok(seq)
    }

    /// `{m}`, `{m,}` or `{m,n}` after the `{`.
    fn braces(&mut self, nested: bool, at: usize) -> Result<(u32, Option<u32>), GrammarError> {
        self.space(nested);
        let min = self.int()?;
        self.space(nested);
        let max = match self.peek() {
            Some('}') => Some(min),
            Some(',') => {
                self.pos += 1;
                self.space(nested);
                let max = if self.peek().is_some_and(|c| c.is_ascii_digit()) { Some(self.int()?) } else { None };
                self.space(nested);
                if self.peek() != Some('}') {
                    return self.err("expected `}`");
                }
                max
            }
            _ => return self.err("expected `,` or `}`"),
        };
        self.pos += 1;
        if let Some(max) = max {
            if max < min {
                return self.err_at(at, format!("repetition {{{min},{max}}} has its maximum below its minimum"));
            }
        }
        Ok((min, max))
    }

    fn int(&mut self) -> Result<u32, GrammarError> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if start == self.pos {
            return self.err("expected a number");
        }
        let digits: String = self.src[start..self.pos].iter().collect();
        match digits.parse::<u32>() {
            Ok(n) if n <= MAX_REPEAT => Ok(n),
            _ => self.err_at(start, format!("repetition count {digits} is more than the {MAX_REPEAT} allowed")),
        }
    }

    /// `item` repeated `min` to `max` (None: no limit) times.
    fn repeat(&mut self, item: Vec<Elem>, min: u32, max: Option<u32>, at: usize) -> Result<Vec<Elem>, GrammarError> {
        let n = item.len();
        let mut out = Vec::new();
        // The copies (one more than kept when min is 0 or 1: a bound, not a tally).
        self.count(min as usize * n, at)?;
        for _ in 0..min {
            out.extend_from_slice(&item);
        }
        match max {
            None => {
                // r ::= item r |
                let r = self.new_rule(String::new(), at, Some("repetition"))?;
                self.count(n + 2, at)?;
                let mut alt = item;
                alt.push(Elem::Ref(r));
                self.rules[r as usize].alts = Some(vec![alt, Vec::new()]);
                out.push(Elem::Ref(r));
            }
            Some(max) if max > min => {
                // r1 ::= item r2 | ; r2 ::= item r3 | ; ... ; rk ::= item |
                let mut next: Option<u32> = None;
                for _ in min..max {
                    let r = self.new_rule(String::new(), at, Some("repetition"))?;
                    self.count(n + 2, at)?;
                    let mut alt = item.clone();
                    alt.extend(next.map(Elem::Ref));
                    self.rules[r as usize].alts = Some(vec![alt, Vec::new()]);
                    next = Some(r);
                }
                out.extend(next.map(Elem::Ref));
            }
            _ => {}
        }
        Ok(out)
    }

    fn class_id(&mut self, class: Class) -> u32 {
        // Literals repeat the same few characters: share their classes.
        if let Some(i) = self.classes.iter().rev().take(64).position(|c| *c == class) {
            return (self.classes.len() - 1 - i) as u32;
        }
        self.classes.push(class);
        (self.classes.len() - 1) as u32
    }

    /// A class after its `[`, up to and including the `]`.
    fn char_class(&mut self, at: usize) -> Result<u32, GrammarError> {
        let negated = self.peek() == Some('^');
        if negated {
            self.pos += 1;
        }
        let mut ranges = Vec::new();
        loop {
            match self.peek() {
                None => return self.err_at(at, "unterminated character class"),
                Some(']') => {
                    self.pos += 1;
                    break;
                }
                Some(_) => {
                    let lo_at = self.pos;
                    let lo = self.any_char()?;
                    let mut hi = lo;
                    if self.peek() == Some('-') && self.src.get(self.pos + 1).is_some_and(|&c| c != ']') {
                        self.pos += 1;
                        hi = self.any_char()?;
                        if hi < lo {
                            return self.err_at(lo_at, format!("range {lo:#x}-{hi:#x} is backwards"));
                        }
                    }
                    ranges.push((lo, hi));
                }
            }
        }
        Ok(self.class_id(Class::new(negated, ranges)))
    }

    /// One character or escape sequence, as a code point.
    fn any_char(&mut self) -> Result<u32, GrammarError> {
        let at = self.pos;
        let Some(c) = self.peek() else { return self.err("unexpected end of grammar") };
        self.pos += 1;
        if c != '\\' {
            return Ok(c as u32);
        }
        let Some(e) = self.peek() else { return self.err("unexpected end of grammar after `\\`") };
        self.pos += 1;
        let digits = match e {
            'n' => return Ok('\n' as u32),
            't' => return Ok('\t' as u32),
            'r' => return Ok('\r' as u32),
            '\\' | '"' | '[' | ']' | '-' | '^' | '\'' | '/' => return Ok(e as u32),
            'x' => 2,
            'u' => 4,
            'U' => 8,
            _ => return self.err_at(at, format!("unknown escape `\\{e}`")),
        };
        let mut v: u32 = 0;
        for _ in 0..digits {
            let Some(d) = self.peek().and_then(|c| c.to_digit(16)) else {
                return self.err(format!("expected {digits} hex digits after `\\{e}`"));
            };
            v = v.saturating_mul(16).saturating_add(d);
            self.pos += 1;
        }
        if char::from_u32(v).is_none() {
            return self.err_at(at, format!("escape `\\{e}` names {v:#x}, which is not a Unicode scalar value"));
        }
        Ok(v)
    }

    // -----------------------------------------------------------------------------------------
    // Checks and flattening
    // -----------------------------------------------------------------------------------------

    fn finish(self) -> Result<Grammar, GrammarError> {
        if let Some(r) = self.rules.iter().find(|r| r.alts.is_none()) {
            return self.err_at(r.at, format!("rule `{}` is used but never defined", r.name));
        }
        let Some(&root) = self.by_name.get("root") else {
            return self.err_at(0, "grammar has no `root` rule");
        };
        let mut elems = Vec::with_capacity(self.n_elems + self.rules.len());
        let mut rules = Vec::with_capacity(self.rules.len() + 1);
        // The root is rule 0 in the flat form; ids are remapped by a swap.
        let remap = |id: u32| -> u32 {
            if id == root {
                0
            } else if id == 0 {
                root
            } else {
                id
            }
        };
        let mut order: Vec<usize> = (0..self.rules.len()).collect();
        order.swap(0, root as usize);
        for &i in &order {
            let d = &self.rules[i];
            let (line, col) = self.line_col(d.at);
            let mut alts = Vec::new();
            for alt in d.alts.as_ref().into_iter().flatten() {
                alts.push(elems.len() as u32);
                elems.extend(alt.iter().map(|e| match *e {
                    Elem::Ref(r) => Elem::Ref(remap(r)),
                    e => e,
                }));
                elems.push(Elem::End);
            }
            rules.push(Rule { name: d.name.clone(), alts, line, col, generated: d.generated });
        }
        let mut g = Grammar { elems, classes: self.classes, rules, rest_min: Vec::new(), start: Vec::new() };
        let rule_min = shortest(&g);
        g.rest_min = rest_min(&g, &rule_min);
        for (r, &m) in g.rules.iter().zip(&rule_min) {
            if m >= NEVER && r.generated.is_none() {
                return Err(GrammarError {
                    line: r.line,
                    col: r.col,
                    message: format!(
                        "rule `{}` can never finish: every alternative needs itself or matches nothing",
                        r.name
                    ),
                });
            }
        }
        left_recursion(&g, &rule_min)?;
        g.start = matcher::start(&g).ok_or_else(|| GrammarError {
            line: 1,
            col: 1,
            message: format!(
                "grammar is too ambiguous: more than {} parallel parses at the start",
                matcher::MAX_STACKS
            ),
        })?;
        Ok(g)
    }
}

fn class_min(c: &Class) -> u64 {
    c.first().map_or(NEVER, utf8_len)
}

/// Each rule's fewest UTF-8 bytes, by Knuth's generalization of Dijkstra: a rule's value is
/// final once it is the smallest tentative one, and an alternative's sum is known once every
/// rule it refers to is final.
fn shortest(g: &Grammar) -> Vec<u64> {
    let n = g.rules.len();
    let mut value = vec![NEVER; n];
    let mut done = vec![false; n];
    // Per alternative: its rule, its sum so far, and references not yet final.
    let mut alt_rule = Vec::new();
    let mut alt_sum = Vec::new();
    let mut alt_pending = Vec::new();
    // Per rule: the alternatives that refer to it (once per reference).
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut heap = BinaryHeap::new();
    for (r, rule) in g.rules.iter().enumerate() {
        for &start in &rule.alts {
            let a = alt_rule.len();
            let (mut sum, mut pending) = (0u64, 0usize);
            for e in g.elems[start as usize..].iter().take_while(|e| **e != Elem::End) {
                match *e {
                    Elem::Char(c) => sum = (sum + class_min(&g.classes[c as usize])).min(NEVER),
                    Elem::Ref(s) => {
                        users[s as usize].push(a);
                        pending += 1;
                    }
                    Elem::End => {}
                }
            }
            alt_rule.push(r);
            alt_sum.push(sum);
            alt_pending.push(pending);
            if pending == 0 && sum < NEVER {
                heap.push(Reverse((sum, r)));
            }
        }
    }
    while let Some(Reverse((v, r))) = heap.pop() {
        if done[r] {
            continue;
        }
        done[r] = true;
        value[r] = v;
        for &a in &users[r] {
            alt_sum[a] = (alt_sum[a] + v).min(NEVER);
            alt_pending[a] -= 1;
            if alt_pending[a] == 0 && alt_sum[a] < NEVER && !done[alt_rule[a]] {
                heap.push(Reverse((alt_sum[a], alt_rule[a])));
            }
        }
    }
    value
}

fn elem_min(g: &Grammar, rule_min: &[u64], e: Elem) -> u64 {
    match e {
        Elem::Char(c) => class_min(&g.classes[c as usize]),
        Elem::Ref(r) => rule_min[r as usize],
        Elem::End => 0,
    }
}

fn rest_min(g: &Grammar, rule_min: &[u64]) -> Vec<u64> {
    let mut rest = vec![0u64; g.elems.len()];
    for i in (0..g.elems.len()).rev() {
        let e = g.elems[i];
        rest[i] = if e == Elem::End { 0 } else { (elem_min(g, rule_min, e) + rest[i + 1]).min(NEVER) };
    }
    rest
}

/// Refuses a rule that can reach itself without consuming input (the matcher would expand it
/// forever): an edge r -> s for each reference to s after only nullable references.
fn left_recursion(g: &Grammar, rule_min: &[u64]) -> Result<(), GrammarError> {
    let n = g.rules.len();
    let edges: Vec<Vec<u32>> = g
        .rules
        .iter()
        .map(|rule| {
            let mut out = Vec::new();
            for &start in &rule.alts {
                for e in &g.elems[start as usize..] {
                    match *e {
                        Elem::Ref(s) => {
                            out.push(s);
                            if rule_min[s as usize] != 0 {
                                break;
                            }
                        }
                        _ => break,
                    }
                }
            }
            out
        })
        .collect();
    // Iterative depth-first search: 0 unvisited, 1 on the path, 2 finished.
    let mut color = vec![0u8; n];
    for root in 0..n {
        if color[root] != 0 {
            continue;
        }
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        color[root] = 1;
        while let Some(top) = path.last_mut() {
            let (r, i) = *top;
            if let Some(&s) = edges[r].get(i) {
                top.1 += 1;
                let s = s as usize;
                match color[s] {
                    0 => {
                        color[s] = 1;
                        path.push((s, 0));
                    }
                    1 => {
                        let rule = &g.rules[s];
                        let message = match rule.generated {
                            Some("repetition") => "repeats something that can match the empty string".to_string(),
                            Some(_) => {
                                "group is left-recursive: it can reach itself without consuming input".to_string()
                            }
                            None => format!(
                                "rule `{}` is left-recursive: it can reach itself without consuming input",
                                rule.name
                            ),
                        };
                        return Err(GrammarError { line: rule.line, col: rule.col, message });
                    }
                    _ => {}
                }
            } else {
                color[r] = 2;
                path.pop();
            }
        }
    }
    Ok(())
}
