//! The recognizer over a [`Grammar`], in the manner of llama.cpp's llama-grammar.cpp: a set of
//! stacks, each one parse in progress.
//!
//! A stack holds element positions: its top is the next element to match (always a character
//! class once the stack is advanced), the ones below it are where to resume in each enclosing
//! rule. A rule reference on top is replaced by each of the rule's alternatives in turn (one
//! stack per alternative), and a finished alternative simply pops, so a right-recursive rule
//! (`r ::= x r |`, what repetition becomes) does not grow the stack. An empty stack is a
//! complete parse. Each code point moves every stack whose top admits it, and duplicates are
//! merged. Bytes come in tokens that may split a code point: the bytes of an unfinished code
//! point are kept, and stacks that no completion of it could satisfy are dropped at once.
//!
//! Everything is capped: live stacks ([`MAX_STACKS`]), stack depth ([`MAX_DEPTH`]) and the
//! work of expanding references per code point ([`MAX_WORK`]). Input past a cap is refused,
//! so an ambiguous or deeply nested grammar slows nothing down; it only narrows what the
//! model may write.

use std::sync::Arc;

use super::parse::{Elem, Grammar, NEVER};

/// Element positions, the top (next to match) last.
pub(super) type Stack = Vec<u32>;

/// Parses in progress at once; a step that would leave more is refused.
pub const MAX_STACKS: usize = 1024;
/// Positions on one stack (nesting of non-tail rule references); deeper parses are dropped.
pub const MAX_DEPTH: usize = 256;
/// Stacks expanded while advancing past one code point.
pub const MAX_WORK: usize = 16 * 1024;

/// A code point whose first bytes have been seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Partial {
    /// The value of the bytes so far.
    value: u32,
    /// Continuation bytes still to come.
    need: u8,
    /// Bytes in the whole code point.
    len: u8,
}

impl Partial {
    /// The code points a completion could give, or None if none is valid.
    fn range(&self) -> Option<(u32, u32)> {
        let shift = 6 * u32::from(self.need);
        let lo = (self.value << shift).max(min_of_len(self.len));
        let hi = ((self.value << shift) | ((1 << shift) - 1)).min(char::MAX as u32);
        let surrogates = (0xd800..=0xdfff).contains(&lo) && (0xd800..=0xdfff).contains(&hi);
        (lo <= hi && !surrogates).then_some((lo, hi))
    }
}

/// The smallest code point that takes `len` bytes (shorter encodings are overlong).
fn min_of_len(len: u8) -> u32 {
    match len {
        2 => 0x80,
        3 => 0x800,
        4 => 0x10000,
        _ => 0,
    }
}

/// Where generation stands in the grammar; cheap to clone for small grammars.
#[derive(Debug, Clone)]
pub struct Matcher {
    grammar: Arc<Grammar>,
    /// Sorted and without duplicates.
    stacks: Vec<Stack>,
    partial: Option<Partial>,
}

impl Matcher {
    pub fn new(grammar: Arc<Grammar>) -> Matcher {
        let stacks = grammar.start.clone();
        Matcher { grammar, stacks, partial: None }
    }

    /// Feeds `bytes`; false if they are not a valid continuation (the state is then
    /// unchanged).
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        match self.try_feed(bytes) {
            Some(m) => {
                *self = m;
                true
            }
            None => false,
        }
    }

    /// The state after `bytes`, if they are a valid continuation. A refused token usually
    /// costs one look at each stack's top: nothing is copied until a stack admits a byte.
    pub fn try_feed(&self, bytes: &[u8]) -> Option<Matcher> {
        let Some((&first, rest)) = bytes.split_first() else { return Some(self.clone()) };
        let mut m = self.byte(first)?;
        for &b in rest {
            m = m.byte(b)?;
        }
        Some(m)
    }

    /// Some parse is complete: the end of generation may come.
    pub fn can_end(&self) -> bool {
        self.partial.is_none() && self.stacks.iter().any(Vec::is_empty)
    }

    /// Every parse is complete: nothing more may follow.
    pub fn is_done(&self) -> bool {
        self.partial.is_none() && self.stacks.iter().all(Vec::is_empty)
    }

    /// The fewest bytes that complete some parse from here (a lower bound in bytes, so also
    /// one in tokens: each token is at least one byte).
    pub fn min_close(&self) -> usize {
        let g = &*self.grammar;
        let need = self.partial.map_or(0, |p| u64::from(p.need));
        let best = self
            .stacks
            .iter()
            .map(|s| {
                let mut sum: u64 = s.iter().map(|&p| g.rest_min[p as usize]).sum();
                if let (Some(&top), true) = (s.last(), self.partial.is_some()) {
                    // The code point on top is under way: what is left of it, then the rest.
                    sum = sum - g.rest_min[top as usize] + need + g.rest_min[top as usize + 1];
                }
                sum
            })
            .min()
            .unwrap_or(NEVER);
        usize::try_from(best.min(NEVER)).unwrap_or(usize::MAX)
    }

    /// The number of parses in progress.
    pub fn n_stacks(&self) -> usize {
        self.stacks.len()
    }

    fn byte(&self, b: u8) -> Option<Matcher> {
        match self.partial {
            None if b < 0x80 => self.advance(&self.stacks, u32::from(b)),
            None => {
                let (len, value) = match b {
                    0xc2..=0xdf => (2, b & 0x1f),
                    0xe0..=0xef => (3, b & 0x0f),
                    0xf0..=0xf4 => (4, b & 0x07),
                    _ => return None,
                };
                self.begin(Partial { value: u32::from(value), need: len - 1, len })
            }
            Some(p) => {
                if b & 0xc0 != 0x80 {
                    return None;
                }
                let value = (p.value << 6) | u32::from(b & 0x3f);
                if p.need == 1 {
                    // Overlong forms, surrogates and values past U+10FFFF are not text.
                    if value < min_of_len(p.len) || char::from_u32(value).is_none() {
                        return None;
                    }
                    return self.advance(&self.stacks, value);
                }
                self.begin(Partial { value, need: p.need - 1, len: p.len })
            }
        }
    }

    /// Keeps the stacks that some completion of `p` could move.
    fn begin(&self, p: Partial) -> Option<Matcher> {
        let (lo, hi) = p.range()?;
        let g = &*self.grammar;
        let stacks: Vec<Stack> = self
            .stacks
            .iter()
            .filter(|s| s.last().and_then(|&top| g.class_of(top)).is_some_and(|c| c.intersects(lo, hi)))
            .cloned()
            .collect();
        if stacks.is_empty() {
            return None;
        }
        Some(Matcher { grammar: self.grammar.clone(), stacks, partial: Some(p) })
    }

    /// The matcher after code point `c` from stacks `from` (this matcher's, or those kept
    /// while the code point's bytes came in).
    fn advance(&self, from: &[Stack], c: u32) -> Option<Matcher> {
        let g = &*self.grammar;
        let mut out = Vec::new();
        let mut work = 0;
        for s in from {
            let Some(&top) = s.last() else { continue };
            if !g.class_of(top).is_some_and(|cl| cl.contains(c)) {
                continue;
            }
            let mut next = s.clone();
            next.pop();
            if g.elems[top as usize + 1] != Elem::End {
                next.push(top + 1);
            }
            expand(g, next, &mut out, &mut work)?;
        }
        if out.is_empty() {
            return None;
        }
        out.sort_unstable();
        out.dedup();
        if out.len() > MAX_STACKS {
            return None;
        }
        Some(Matcher { grammar: self.grammar.clone(), stacks: out, partial: None })
    }
}

/// The stacks before any input, or None past the caps.
pub(super) fn start(g: &Grammar) -> Option<Vec<Stack>> {
    let mut out = Vec::new();
    let mut work = 0;
    for &alt in &g.rules[0].alts {
        let s = if g.elems[alt as usize] == Elem::End { Vec::new() } else { vec![alt] };
        expand(g, s, &mut out, &mut work)?;
    }
    out.sort_unstable();
    out.dedup();
    (out.len() <= MAX_STACKS).then_some(out)
}

/// Replaces rule references on top of `stack` by their alternatives until every resulting
/// stack has a character class on top (or is empty), appending those to `out`. None past
/// [`MAX_WORK`]; stacks past [`MAX_DEPTH`] are dropped.
fn expand(g: &Grammar, stack: Stack, out: &mut Vec<Stack>, work: &mut usize) -> Option<()> {
    let mut todo = vec![stack];
    while let Some(mut s) = todo.pop() {
        *work += 1;
        if *work > MAX_WORK {
            return None;
        }
        let Some(&top) = s.last() else {
            out.push(s);
            continue;
        };
        let Elem::Ref(r) = g.elems[top as usize] else {
            out.push(s);
            continue;
        };
        s.pop();
        if g.elems[top as usize + 1] != Elem::End {
            s.push(top + 1);
        }
        for &alt in &g.rules[r as usize].alts {
            let mut n = s.clone();
            if g.elems[alt as usize] != Elem::End {
                if n.len() >= MAX_DEPTH {
                    continue;
                }
                n.push(alt);
            }
            todo.push(n);
        }
    }
    Some(())
}
