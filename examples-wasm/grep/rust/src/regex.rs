//! A small regular-expression engine with Go's (RE2's) matching rules:
//! leftmost-first alternation, greedy and lazy repeats, runes decoded from
//! UTF-8 exactly as Go does, and `find_all` following Go's
//! `FindAllIndex` (no empty match right after a match). It is a Pike VM:
//! time linear in the input times the program, memory linear in the
//! program, whatever the line length.
//!
//! Syntax (a subset of RE2's, the same in the C grep): literals; `.`;
//! classes `[abc]`, `[^a-z]`, with `\d \w \s` inside; `\d \D \w \W \s \S`;
//! escaped punctuation and `\t \n \r \f \v`; `^` and `$` (whole line);
//! groups `( )`, `(?: )`; `|`; `* + ? {n} {n,} {n,m}`, each lazy with a
//! trailing `?`. Anything else is refused with a message.

use wmr::text::decode_rune;

#[derive(Debug, Clone)]
enum Node {
    Empty,
    /// Rune ranges, inclusive, and whether the class is negated.
    Class(Vec<(u32, u32)>, bool),
    Any,
    Bol,
    Eol,
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat { node: Box<Node>, min: u32, max: Option<u32>, greedy: bool },
}

#[derive(Debug, Clone)]
enum Inst {
    Class(Vec<(u32, u32)>, bool),
    Any,
    Bol,
    Eol,
    /// Try the first target, then the second.
    Split(usize, usize),
    Jmp(usize),
    Match,
}

const MAX_REPEAT: u32 = 1000;
const MAX_PROGRAM: usize = 100_000;

const DIGIT: &[(u32, u32)] = &[(0x30, 0x39)];
const WORD: &[(u32, u32)] = &[(0x30, 0x39), (0x41, 0x5a), (0x5f, 0x5f), (0x61, 0x7a)];
const SPACE: &[(u32, u32)] = &[(0x09, 0x0a), (0x0c, 0x0d), (0x20, 0x20)];

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, what: &str) -> String {
        format!("pattern \"{}\" at byte {}: {}", String::from_utf8_lossy(self.src), self.pos, what)
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn rune(&mut self) -> u32 {
        let (r, n) = decode_rune(&self.src[self.pos..]);
        self.pos += n;
        r
    }

    fn alt(&mut self) -> Result<Node, String> {
        let mut alts = vec![self.concat()?];
        while self.peek() == Some(b'|') {
            self.pos += 1;
            alts.push(self.concat()?);
        }
        Ok(if alts.len() == 1 { alts.pop().unwrap() } else { Node::Alt(alts) })
    }

    fn concat(&mut self) -> Result<Node, String> {
        let mut items = vec![];
        while let Some(c) = self.peek() {
            if c == b'|' || c == b')' {
                break;
            }
            let atom = self.atom()?;
            items.push(self.repeats(atom)?);
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap(),
            _ => Node::Concat(items),
        })
    }

    fn number(&mut self) -> Option<u32> {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        std::str::from_utf8(&self.src[start..self.pos]).ok()?.parse().ok()
    }

    fn repeats(&mut self, mut atom: Node) -> Result<Node, String> {
        loop {
            let (min, max) = match self.peek() {
                Some(b'*') => (0, None),
                Some(b'+') => (1, None),
                Some(b'?') => (0, Some(1)),
                Some(b'{') => {
                    let save = self.pos;
                    self.pos += 1;
                    match self.counted() {
                        Some(mm) => {
                            self.pos -= 1; // back on '}' for the shared advance below
                            mm
                        }
                        None => {
                            // Not a repeat: Go takes '{' literally then.
                            self.pos = save;
                            return Ok(atom);
                        }
                    }
                }
                _ => return Ok(atom),
            };
            self.pos += 1;
            if let Node::Repeat { .. } = atom {
                return Err(self.err("invalid nested repetition operator"));
            }
            let greedy = if self.peek() == Some(b'?') {
                self.pos += 1;
                false
            } else {
                true
            };
            if min > MAX_REPEAT || max.map_or(false, |m| m > MAX_REPEAT || m < min) {
                return Err(self.err("invalid repeat count"));
            }
            atom = Node::Repeat { node: Box::new(atom), min, max, greedy };
        }
    }

    /// Parses `n}`, `n,}` or `n,m}` after '{'; leaves pos after '}'.
    fn counted(&mut self) -> Option<(u32, Option<u32>)> {
        let min = self.number()?;
        let max = if self.peek() == Some(b',') {
            self.pos += 1;
            if self.peek() == Some(b'}') {
                None
            } else {
                Some(self.number()?)
            }
        } else {
            Some(min)
        };
        if self.peek() != Some(b'}') {
            return None;
        }
        self.pos += 1;
        Some((min, max))
    }

    fn atom(&mut self) -> Result<Node, String> {
        let c = self.peek().unwrap();
        match c {
            b'(' => {
                self.pos += 1;
                if self.src[self.pos..].starts_with(b"?:") {
                    self.pos += 2;
                } else if self.peek() == Some(b'?') {
                    return Err(self.err("flags and named groups are not supported"));
                }
                let inner = self.alt()?;
                if self.peek() != Some(b')') {
                    return Err(self.err("missing closing )"));
                }
                self.pos += 1;
                Ok(inner)
            }
            b'[' => self.class(),
            b'.' => {
                self.pos += 1;
                Ok(Node::Any)
            }
            b'^' => {
                self.pos += 1;
                Ok(Node::Bol)
            }
            b'$' => {
                self.pos += 1;
                Ok(Node::Eol)
            }
            b'*' | b'+' | b'?' => Err(self.err("missing argument to repetition operator")),
            b'\\' => {
                self.pos += 1;
                let (ranges, neg) = self.escape()?;
                Ok(Node::Class(ranges, neg))
            }
            _ => {
                let r = self.rune();
                Ok(Node::Class(vec![(r, r)], false))
            }
        }
    }

    /// Parses the escape after a backslash: a Perl class or one rune.
    fn escape(&mut self) -> Result<(Vec<(u32, u32)>, bool), String> {
        let c = match self.peek() {
            None => return Err(self.err("trailing backslash")),
            Some(c) => c,
        };
        self.pos += 1;
        let one = |r: u32| Ok((vec![(r, r)], false));
        match c {
            b'd' => Ok((DIGIT.to_vec(), false)),
            b'D' => Ok((DIGIT.to_vec(), true)),
            b'w' => Ok((WORD.to_vec(), false)),
            b'W' => Ok((WORD.to_vec(), true)),
            b's' => Ok((SPACE.to_vec(), false)),
            b'S' => Ok((SPACE.to_vec(), true)),
            b't' => one(9),
            b'n' => one(10),
            b'v' => one(11),
            b'f' => one(12),
            b'r' => one(13),
            c if c.is_ascii_punctuation() => one(c as u32),
            _ => {
                self.pos -= 1;
                Err(self.err("unsupported escape"))
            }
        }
    }

    fn class(&mut self) -> Result<Node, String> {
        self.pos += 1; // '['
        let neg = if self.peek() == Some(b'^') {
            self.pos += 1;
            true
        } else {
            false
        };
        let mut ranges = vec![];
        let mut first = true;
        loop {
            let c = match self.peek() {
                None => return Err(self.err("missing closing ]")),
                Some(c) => c,
            };
            if c == b']' && !first {
                self.pos += 1;
                break;
            }
            first = false;
            if c == b'[' && self.src.get(self.pos + 1) == Some(&b':') {
                return Err(self.err("POSIX classes are not supported"));
            }
            let lo = if c == b'\\' {
                self.pos += 1;
                let (rs, n) = self.escape()?;
                if rs.len() > 1 || rs[0].0 != rs[0].1 || n {
                    if n {
                        return Err(self.err("negated Perl classes inside [] are not supported"));
                    }
                    ranges.extend(rs);
                    continue;
                }
                rs[0].0
            } else {
                self.rune()
            };
            let mut hi = lo;
            if self.peek() == Some(b'-') && self.src.get(self.pos + 1).map_or(false, |&c| c != b']') {
                self.pos += 1;
                hi = if self.peek() == Some(b'\\') {
                    self.pos += 1;
                    let (rs, n) = self.escape()?;
                    if rs.len() > 1 || rs[0].0 != rs[0].1 || n {
                        return Err(self.err("invalid character class range"));
                    }
                    rs[0].0
                } else {
                    self.rune()
                };
                if hi < lo {
                    return Err(self.err("invalid character class range"));
                }
            }
            ranges.push((lo, hi));
        }
        Ok(Node::Class(ranges, neg))
    }
}

struct Compiler {
    prog: Vec<Inst>,
}

impl Compiler {
    fn emit(&mut self, i: Inst) -> Result<usize, String> {
        if self.prog.len() >= MAX_PROGRAM {
            return Err("pattern too large".to_string());
        }
        self.prog.push(i);
        Ok(self.prog.len() - 1)
    }

    fn compile(&mut self, n: &Node) -> Result<(), String> {
        match n {
            Node::Empty => {}
            Node::Class(r, neg) => {
                self.emit(Inst::Class(r.clone(), *neg))?;
            }
            Node::Any => {
                self.emit(Inst::Any)?;
            }
            Node::Bol => {
                self.emit(Inst::Bol)?;
            }
            Node::Eol => {
                self.emit(Inst::Eol)?;
            }
            Node::Concat(items) => {
                for i in items {
                    self.compile(i)?;
                }
            }
            Node::Alt(alts) => {
                let mut jumps = vec![];
                for (k, a) in alts.iter().enumerate() {
                    if k + 1 < alts.len() {
                        let split = self.emit(Inst::Split(0, 0))?;
                        self.compile(a)?;
                        jumps.push(self.emit(Inst::Jmp(0))?);
                        let next = self.prog.len();
                        self.prog[split] = Inst::Split(split + 1, next);
                    } else {
                        self.compile(a)?;
                    }
                }
                let end = self.prog.len();
                for j in jumps {
                    self.prog[j] = Inst::Jmp(end);
                }
            }
            Node::Repeat { node, min, max, greedy } => {
                for _ in 0..*min {
                    self.compile(node)?;
                }
                match max {
                    None => {
                        // L: split body, out; body; jmp L
                        let split = self.emit(Inst::Split(0, 0))?;
                        self.compile(node)?;
                        self.emit(Inst::Jmp(split))?;
                        let out = self.prog.len();
                        self.prog[split] = self.split(split + 1, out, *greedy);
                    }
                    Some(max) => {
                        // (x(x(x)?)?)?: each optional copy may skip to the end.
                        let mut splits = vec![];
                        for _ in *min..*max {
                            splits.push(self.emit(Inst::Split(0, 0))?);
                            self.compile(node)?;
                        }
                        let end = self.prog.len();
                        for s in splits {
                            self.prog[s] = self.split(s + 1, end, *greedy);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn split(&self, body: usize, out: usize, greedy: bool) -> Inst {
        if greedy {
            Inst::Split(body, out)
        } else {
            Inst::Split(out, body)
        }
    }
}

/// A compiled pattern.
pub struct Regex {
    prog: Vec<Inst>,
    // Pike VM state, reused between searches.
    clist: Vec<(usize, usize)>,
    nlist: Vec<(usize, usize)>,
    mark: Vec<u32>,
    generation: u32,
    stack: Vec<usize>,
}

impl Regex {
    pub fn new(pattern: &str) -> Result<Regex, String> {
        let mut p = Parser { src: pattern.as_bytes(), pos: 0 };
        let node = p.alt()?;
        if p.pos != p.src.len() {
            return Err(p.err("unexpected )"));
        }
        let mut c = Compiler { prog: vec![] };
        c.compile(&node)?;
        c.emit(Inst::Match)?;
        let n = c.prog.len();
        Ok(Regex { prog: c.prog, clist: vec![], nlist: vec![], mark: vec![0; n], generation: 0, stack: vec![] })
    }

    /// Adds the thread (pc, start) at text position pos to list, following
    /// empty-width instructions in priority order.
    fn add(&mut self, to_next: bool, pc: usize, start: usize, pos: usize, len: usize) {
        self.stack.clear();
        self.stack.push(pc);
        while let Some(pc) = self.stack.pop() {
            if self.mark[pc] == self.generation {
                continue;
            }
            self.mark[pc] = self.generation;
            match self.prog[pc] {
                Inst::Jmp(x) => self.stack.push(x),
                Inst::Split(x, y) => {
                    self.stack.push(y);
                    self.stack.push(x);
                }
                Inst::Bol => {
                    if pos == 0 {
                        self.stack.push(pc + 1)
                    }
                }
                Inst::Eol => {
                    if pos == len {
                        self.stack.push(pc + 1)
                    }
                }
                _ => {
                    if to_next {
                        self.nlist.push((pc, start))
                    } else {
                        self.clist.push((pc, start))
                    }
                }
            }
        }
    }

    fn next_generation(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.mark.iter_mut().for_each(|m| *m = 0);
            self.generation = 1;
        }
    }

    /// The leftmost-first match in text starting at or after from.
    pub fn find_at(&mut self, text: &[u8], from: usize) -> Option<(usize, usize)> {
        let len = text.len();
        let mut matched: Option<(usize, usize)> = None;
        self.clist.clear();
        self.next_generation();
        let mut pos = from;
        loop {
            if self.clist.is_empty() && matched.is_some() {
                break;
            }
            if matched.is_none() {
                // A new thread starting here, at the lowest priority.
                self.add(false, 0, pos, pos, len);
            }
            let (r, w) = if pos < len { decode_rune(&text[pos..]) } else { (u32::MAX, 0) };
            self.next_generation();
            self.nlist.clear();
            let clist = std::mem::take(&mut self.clist);
            for &(pc, start) in &clist {
                let ok = match &self.prog[pc] {
                    Inst::Match => {
                        matched = Some((start, pos));
                        break; // cut the lower-priority threads
                    }
                    Inst::Any => pos < len,
                    Inst::Class(ranges, neg) => pos < len && ranges.iter().any(|&(lo, hi)| lo <= r && r <= hi) != *neg,
                    _ => false,
                };
                if ok {
                    self.add(true, pc + 1, start, pos + w, len);
                }
            }
            self.clist = clist;
            std::mem::swap(&mut self.clist, &mut self.nlist);
            if pos >= len {
                break;
            }
            pos += w;
        }
        matched
    }

    /// Calls f with every match of text, as Go's FindAllIndex reports them.
    pub fn find_all(&mut self, text: &[u8], mut f: impl FnMut(usize, usize)) {
        let mut pos = 0;
        let mut prev_end: Option<usize> = None;
        while pos <= text.len() {
            let (s, e) = match self.find_at(text, pos) {
                Some(m) => m,
                None => break,
            };
            let mut accept = true;
            if e == pos {
                // An empty match: not allowed right after the previous match.
                if prev_end == Some(s) {
                    accept = false;
                }
                pos += if pos < text.len() { decode_rune(&text[pos..]).1 } else { 1 };
            } else {
                pos = e;
            }
            prev_end = Some(e);
            if accept {
                f(s, e);
            }
        }
    }
}
