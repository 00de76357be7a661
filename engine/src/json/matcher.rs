//! The byte-level pushdown recognizer that walks a compiled [`Schema`].
//!
//! The stack holds one [`Frame`] per open construct (object, array, string, number, literal,
//! or a value not yet begun). A container's frame is always in the state *after* the child
//! above it, so when a child completes it is simply popped. [`Matcher::min_close`] sums what
//! each frame still needs, which lets generation refuse a token that would leave the value
//! unclosable within the tokens left.

use std::sync::Arc;

use super::schema::{Node, NodeId, Schema, ANY_ARRAY, ANY_OBJECT, WORDS};

/// Consecutive whitespace bytes allowed between tokens of the value, of which at most one is a
/// line break: enough for pretty-printed JSON a few levels deep (a newline and its indent), few
/// enough that a model cannot loop on whitespace or pad the value with blank lines.
const MAX_WS: u8 = 10;
/// Frames on the stack; containers past this depth are refused.
const MAX_STACK: usize = 64;
/// Bytes in one number, so a model cannot loop on digits.
const MAX_NUMBER: u8 = 32;

#[derive(Debug, Clone, Copy, PartialEq)]
enum ObjSt {
    /// After `{`.
    Open,
    /// A key is being written (its frame is above) or has been (a `:` comes next).
    Key,
    /// After a value: `,` or `}` comes next.
    Value,
    /// After `,`: a key comes next.
    Comma,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum NumSt {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    Exp,
    ExpSign,
    ExpDigits,
    /// A second exponent digit, the last: a three-digit exponent can overflow an f64 (`1e400`),
    /// which is valid JSON that most parsers refuse.
    ExpDigits2,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Esc {
    None,
    Backslash,
    /// Inside `\uXXXX`: hex digits seen, and whether the first was `d` (a surrogate may follow).
    Hex(u8, bool),
}

#[derive(Debug, Clone, PartialEq)]
enum LitSet {
    /// The node's literals.
    Node(NodeId),
    /// The keys of object `obj` allowed from property index `from`: every property up to and
    /// including the first required one.
    Keys { obj: NodeId, from: usize },
}

#[derive(Debug, Clone, PartialEq)]
enum Frame {
    /// A value of this node, not yet begun.
    Value(NodeId),
    /// `last`: the last property written (keyed objects), or whose key was just written.
    Obj {
        node: NodeId,
        st: ObjSt,
        last: Option<usize>,
    },
    /// `open`: right after `[` (else after a value).
    Arr {
        items: NodeId,
        open: bool,
    },
    /// `need` more UTF-8 continuation bytes, the next in `lo..=hi`.
    Str {
        esc: Esc,
        need: u8,
        lo: u8,
        hi: u8,
    },
    Num {
        integer: bool,
        st: NumSt,
        len: u8,
    },
    Lit {
        set: LitSet,
        buf: Vec<u8>,
    },
}

/// Where a generation stands inside the value; cheap to clone (a clone per token checked).
#[derive(Debug, Clone)]
pub struct Matcher {
    schema: Arc<Schema>,
    stack: Vec<Frame>,
    /// Whitespace bytes in the current gap, and whether one was a line break.
    ws: u8,
    newline: bool,
}

impl Matcher {
    pub fn new(schema: Arc<Schema>) -> Matcher {
        let root = schema.root;
        Matcher { schema, stack: vec![Frame::Value(root)], ws: 0, newline: false }
    }

    /// Feeds `bytes`; false if any is not a valid continuation (the state is then garbage:
    /// check on a clone, or use [`try_feed`](Self::try_feed)).
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        bytes.iter().all(|&b| self.byte(b))
    }

    /// The state after `bytes`, if they are a valid continuation.
    pub fn try_feed(&self, bytes: &[u8]) -> Option<Matcher> {
        let mut m = self.clone();
        m.feed(bytes).then_some(m)
    }

    /// The value is closed: nothing but trailing whitespace may follow.
    pub fn is_done(&self) -> bool {
        self.stack.is_empty()
    }

    /// The text so far is a complete value (closed, or a root number or literal that could
    /// still grow, like `12` or an enum's `1` beside `12`): the end of generation may come.
    pub fn can_end(&self) -> bool {
        match self.stack.as_slice() {
            [] => true,
            [Frame::Num { st, .. }] => num_can_end(*st),
            [Frame::Lit { set, buf }] => lit_probe(&self.schema, set, buf).2.is_some(),
            _ => false,
        }
    }

    /// The fewest bytes that complete the value from here.
    pub fn min_close(&self) -> usize {
        let s = &*self.schema;
        let n = self.stack.len();
        self.stack.iter().enumerate().map(|(i, f)| frame_cost(s, f, i + 1 == n)).sum()
    }

    fn bump_ws(&mut self, b: u8) -> bool {
        let line_break = matches!(b, b'\n' | b'\r');
        if self.ws >= MAX_WS || (line_break && self.newline) {
            return false;
        }
        self.ws += 1;
        self.newline |= line_break;
        true
    }

    fn byte(&mut self, b: u8) -> bool {
        let ws = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        if !ws {
            (self.ws, self.newline) = (0, false);
        }
        loop {
            let depth = self.stack.len();
            let schema = &*self.schema;
            let Some(top) = self.stack.last_mut() else {
                return ws && self.bump_ws(b);
            };
            match top {
                Frame::Str { esc, need, lo, hi } => {
                    let Some(end) = string_byte(esc, need, lo, hi, b) else { return false };
                    if end {
                        self.stack.pop();
                    }
                    return true;
                }
                Frame::Num { integer, st, len } => match num_step(*st, *integer, b) {
                    Some(next) if *len < MAX_NUMBER => {
                        *st = next;
                        *len += 1;
                        return true;
                    }
                    Some(_) => return false,
                    None if num_can_end(*st) => {
                        self.stack.pop();
                    }
                    None => return false,
                },
                Frame::Lit { set, buf } => {
                    buf.push(b);
                    let (prefix, longer, exact) = lit_probe(schema, set, buf);
                    if prefix {
                        if exact.is_some() && !longer {
                            self.finish_literal();
                        }
                        return true;
                    }
                    buf.pop();
                    if lit_probe(schema, set, buf).2.is_none() {
                        return false;
                    }
                    // A complete literal that the byte does not extend (`1` of `[1, 12]`).
                    self.finish_literal();
                }
                Frame::Value(node) => {
                    if ws {
                        return depth > 1 && self.bump_ws(b);
                    }
                    let Some(f) = start(schema, *node, b, depth) else { return false };
                    let consumed = !matches!(f, Frame::Lit { .. });
                    *top = f;
                    if consumed {
                        return true;
                    }
                }
                Frame::Arr { items, open } => {
                    if ws {
                        return self.bump_ws(b);
                    }
                    let items = *items;
                    match b {
                        b']' => {
                            self.stack.pop();
                            return true;
                        }
                        b',' if !*open => {
                            self.stack.push(Frame::Value(items));
                            return true;
                        }
                        _ if *open => {
                            *open = false;
                            self.stack.push(Frame::Value(items));
                        }
                        _ => return false,
                    }
                }
                Frame::Obj { node, st, last } => {
                    if ws {
                        return self.bump_ws(b);
                    }
                    let Node::Object { props, free } = &schema.nodes[*node] else { return false };
                    let from = last.map_or(0, |l| l + 1);
                    match (*st, b) {
                        (ObjSt::Open | ObjSt::Value, b'}') => {
                            if props[from.min(props.len())..].iter().any(|p| p.required) {
                                return false;
                            }
                            self.stack.pop();
                            return true;
                        }
                        (ObjSt::Value, b',') => {
                            if props.is_empty() || from < props.len() {
                                *st = ObjSt::Comma;
                                return true;
                            }
                            return false;
                        }
                        (ObjSt::Open | ObjSt::Comma, b'"') => {
                            if !props.is_empty() {
                                if from >= props.len() {
                                    return false;
                                }
                                let obj = *node;
                                *st = ObjSt::Key;
                                self.stack.push(Frame::Lit { set: LitSet::Keys { obj, from }, buf: Vec::new() });
                                continue;
                            }
                            if free.is_none() {
                                return false;
                            }
                            *st = ObjSt::Key;
                            self.stack.push(Frame::Str { esc: Esc::None, need: 0, lo: 0, hi: 0 });
                            return true;
                        }
                        (ObjSt::Key, b':') => {
                            let value = match (last, free) {
                                (Some(j), _) if !props.is_empty() => props[*j].node,
                                (_, Some(f)) => *f,
                                _ => return false,
                            };
                            *st = ObjSt::Value;
                            self.stack.push(Frame::Value(value));
                            return true;
                        }
                        _ => return false,
                    }
                }
            }
        }
    }

    /// Pops a completed literal; a key tells its object which property it named.
    fn finish_literal(&mut self) {
        let Some(Frame::Lit { set, buf }) = self.stack.pop() else { return };
        let LitSet::Keys { .. } = set else { return };
        let idx = lit_probe(&self.schema, &set, &buf).2;
        if let Some(Frame::Obj { last, .. }) = self.stack.last_mut() {
            *last = idx;
        }
    }
}

/// The frame a value of `node` starts with, given its first byte.
fn start(s: &Schema, node: NodeId, b: u8, depth: usize) -> Option<Frame> {
    let container_ok = depth < MAX_STACK;
    let num = |integer| match b {
        b'-' => Some(Frame::Num { integer, st: NumSt::Minus, len: 1 }),
        b'0' => Some(Frame::Num { integer, st: NumSt::Zero, len: 1 }),
        b'1'..=b'9' => Some(Frame::Num { integer, st: NumSt::Int, len: 1 }),
        _ => None,
    };
    let string = || (b == b'"').then_some(Frame::Str { esc: Esc::None, need: 0, lo: 0, hi: 0 });
    match &s.nodes[node] {
        Node::Any => match b {
            b'{' => start(s, ANY_OBJECT, b, depth),
            b'[' => start(s, ANY_ARRAY, b, depth),
            b't' | b'f' | b'n' => start(s, WORDS, b, depth),
            b'"' => string(),
            _ => num(false),
        },
        Node::Object { .. } => (b == b'{' && container_ok).then_some(Frame::Obj { node, st: ObjSt::Open, last: None }),
        Node::Array { items } => (b == b'[' && container_ok).then_some(Frame::Arr { items: *items, open: true }),
        Node::String => string(),
        Node::Number => num(false),
        Node::Integer => num(true),
        Node::Literals(l) => {
            l.iter().any(|t| t.first() == Some(&b)).then(|| Frame::Lit { set: LitSet::Node(node), buf: Vec::new() })
        }
        Node::Union(alts) => alts.iter().find_map(|&a| start(s, a, b, depth)),
    }
}

/// One byte inside a string: None if invalid, Some(true) if it closes the string.
fn string_byte(esc: &mut Esc, need: &mut u8, lo: &mut u8, hi: &mut u8, b: u8) -> Option<bool> {
    if *need > 0 {
        if b < *lo || b > *hi {
            return None;
        }
        *need -= 1;
        (*lo, *hi) = (0x80, 0xBF);
        return Some(false);
    }
    match *esc {
        Esc::Backslash => {
            *esc = match b {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Esc::None,
                b'u' => Esc::Hex(0, false),
                _ => return None,
            };
            return Some(false);
        }
        Esc::Hex(seen, d) => {
            if !b.is_ascii_hexdigit() {
                return None;
            }
            // Surrogate escapes (\uD800-\uDFFF) are refused: a lone one is not valid JSON for
            // most parsers, and raw UTF-8 says the same thing.
            if seen == 1 && d && matches!(b, b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F') {
                return None;
            }
            *esc = if seen == 3 { Esc::None } else { Esc::Hex(seen + 1, seen == 0 && matches!(b, b'd' | b'D')) };
            return Some(false);
        }
        Esc::None => {}
    }
    let (n, l, h) = match b {
        b'"' => return Some(true),
        b'\\' => {
            *esc = Esc::Backslash;
            return Some(false);
        }
        0x00..=0x1F => return None,
        0x20..=0x7F => return Some(false),
        0xC2..=0xDF => (1, 0x80, 0xBF),
        0xE0 => (2, 0xA0, 0xBF),
        0xED => (2, 0x80, 0x9F),
        0xE1..=0xEF => (2, 0x80, 0xBF),
        0xF0 => (3, 0x90, 0xBF),
        0xF1..=0xF3 => (3, 0x80, 0xBF),
        0xF4 => (3, 0x80, 0x8F),
        _ => return None,
    };
    (*need, *lo, *hi) = (n, l, h);
    Some(false)
}

fn num_step(st: NumSt, integer: bool, b: u8) -> Option<NumSt> {
    use NumSt::*;
    let digit = b.is_ascii_digit();
    match (st, b) {
        (Minus, b'0') => Some(Zero),
        (Minus, _) if digit => Some(Int),
        (Int, _) if digit => Some(Int),
        (Zero | Int, b'.') if !integer => Some(Dot),
        (Zero | Int | Frac, b'e' | b'E') if !integer => Some(Exp),
        (Dot | Frac, _) if digit => Some(Frac),
        (Exp, b'+' | b'-') => Some(ExpSign),
        (Exp | ExpSign, _) if digit => Some(ExpDigits),
        (ExpDigits, _) if digit => Some(ExpDigits2),
        _ => None,
    }
}

fn num_can_end(st: NumSt) -> bool {
    matches!(st, NumSt::Zero | NumSt::Int | NumSt::Frac | NumSt::ExpDigits | NumSt::ExpDigits2)
}

/// For a literal prefix: (some option starts with it, some option is longer and starts with
/// it, the index of the option equal to it).
fn lit_probe(s: &Schema, set: &LitSet, buf: &[u8]) -> (bool, bool, Option<usize>) {
    let mut r = (false, false, None);
    lit_each(s, set, |i, t| {
        if t.starts_with(buf) {
            r.0 = true;
            if t.len() > buf.len() {
                r.1 = true;
            } else {
                r.2 = Some(i);
            }
        }
    });
    r
}

/// Calls `f(index, text)` for each option of a literal set.
fn lit_each(s: &Schema, set: &LitSet, mut f: impl FnMut(usize, &[u8])) {
    match set {
        LitSet::Node(n) => {
            if let Node::Literals(l) = &s.nodes[*n] {
                l.iter().enumerate().for_each(|(i, t)| f(i, t));
            }
        }
        LitSet::Keys { obj, from } => {
            if let Node::Object { props, .. } = &s.nodes[*obj] {
                for (j, p) in props.iter().enumerate().skip(*from) {
                    f(j, &p.key);
                    if p.required {
                        break;
                    }
                }
            }
        }
    }
}

/// What a frame still needs, in bytes, beyond the frames above it.
fn frame_cost(s: &Schema, f: &Frame, top: bool) -> usize {
    match f {
        Frame::Value(n) => s.min_len[*n],
        Frame::Arr { .. } => 1,
        Frame::Str { esc, need, .. } => {
            1 + *need as usize
                + match esc {
                    Esc::None => 0,
                    Esc::Backslash => 1,
                    Esc::Hex(seen, _) => 4 - *seen as usize,
                }
        }
        Frame::Num { st, .. } => usize::from(!num_can_end(*st)),
        Frame::Lit { set, buf } => {
            let mut best = usize::MAX;
            lit_each(s, set, |j, t| {
                if t.starts_with(buf) {
                    let rest = t.len() - buf.len();
                    let after = match set {
                        LitSet::Node(_) => 0,
                        LitSet::Keys { obj, .. } => key_tail(s, *obj, j),
                    };
                    best = best.min(rest + after);
                }
            });
            if best == usize::MAX {
                0
            } else {
                best
            }
        }
        Frame::Obj { node, st, last } => {
            let Node::Object { props, free } = &s.nodes[*node] else { return 0 };
            if props.is_empty() {
                let v = free.map_or(1, |f| s.min_len[f]);
                return match st {
                    ObjSt::Open | ObjSt::Value => 1,
                    ObjSt::Key => 2 + v,
                    ObjSt::Comma => 4 + v,
                };
            }
            match st {
                ObjSt::Open => s.rest_of_object(props, None),
                ObjSt::Value => s.rest_of_object(props, *last),
                // The key's literal frame counts the rest while it is being written.
                ObjSt::Key if !top => 0,
                ObjSt::Key => last.map_or(0, |j| key_tail(s, *node, j)),
                ObjSt::Comma => {
                    let mut best = usize::MAX;
                    let set = LitSet::Keys { obj: *node, from: last.map_or(0, |l| l + 1) };
                    lit_each(s, &set, |j, t| best = best.min(t.len() + key_tail(s, *node, j)));
                    if best == usize::MAX {
                        0
                    } else {
                        best
                    }
                }
            }
        }
    }
}

/// After property `j`'s key: the colon, its shortest value, and the rest of the object.
fn key_tail(s: &Schema, obj: NodeId, j: usize) -> usize {
    let Node::Object { props, .. } = &s.nodes[obj] else { return 0 };
    1 + s.min_len[props[j].node] + s.rest_of_object(props, Some(j))
}
