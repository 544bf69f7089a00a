//! The guest runtime behind [`export_job!`](crate::export_job): turns the
//! ABI's export calls into calls of a [`Job`]'s methods. Not for direct use.

use crate::host;
use crate::msgpack::{self, Malformed, Reader};
use crate::text::word_at;
use crate::{Job, Task};
use std::cell::{Cell, RefCell};

const STATUS_OK: i32 = 0;
const STATUS_ERROR: i32 = -1;
const CAP_COMBINE: i32 = 1;
const CAP_PARTITIONER: i32 = 2;
const CAP_FINISH: i32 = 4;
const CAP_TEXT_BLOCKS: i32 = 8;
const NO_RECORD: i64 = -1;
const EMIT_FLUSH_SIZE: usize = 64 << 10;
const MAX_COUNTERS: usize = 1000;
const MAX_FAIL_MESSAGE: usize = 16 << 10;

/// Views an export's `(ptr, len)` argument.
///
/// # Safety
/// `ptr` must point at `len` readable bytes (the host guarantees it).
pub unsafe fn bytes<'a>(ptr: *const u8, len: i32) -> &'a [u8] {
    if len <= 0 || ptr.is_null() {
        &[]
    } else {
        std::slice::from_raw_parts(ptr, len as usize)
    }
}

thread_local! {
    static COUNTERS: RefCell<Vec<(String, i64)>> = RefCell::new(Vec::new());
    /// The record being processed, for the panic hook's report.
    static RECORD: Cell<i64> = Cell::new(NO_RECORD);
}

pub(crate) fn counter(name: &str, delta: i64) {
    if name.is_empty() || name.len() > 128 {
        return;
    }
    COUNTERS.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(e) = c.iter_mut().find(|(n, _)| n == name) {
            e.1 += delta;
        } else if c.len() < MAX_COUNTERS {
            c.push((name.to_string(), delta));
        }
    })
}

/// Reports an error through the host's `fail` and returns the error status.
fn fail(msg: &str, record: i64) -> i32 {
    let mut end = msg.len().min(MAX_FAIL_MESSAGE);
    while !msg.is_char_boundary(end) {
        end -= 1;
    }
    let mut buf = Vec::with_capacity(end + 16);
    buf.push(0x92);
    msgpack::put_str(&mut buf, &msg[..end]);
    msgpack::put_int(&mut buf, record);
    COUNTERS.with(|c| c.borrow_mut().clear());
    host::fail(&buf);
    STATUS_ERROR
}

/// Collects a function's output pairs and sends them to the host in
/// batches. Valid only during the call it is passed to.
pub struct Emitter {
    buf: Vec<u8>,
    count: u32,
    partitioner: Option<Box<dyn Fn(&[u8]) -> u64>>,
    /// In a map task of a job with a combiner: where emits go (Table).
    table: Option<Box<Table>>,
}

/// In-module combining (ABI.md 2.6): in a map task of a job with a
/// combiner, emitted pairs are kept here, combined per key, and cross to
/// the host when the table passes its budget and at the end of the task
/// (`wmr_finish`). Keys and values live in two arenas: nothing is
/// allocated per key; with `SUM_COMBINER` a key's values are one `i64`.
/// Flushes go in the order keys first came (deterministic).
struct Table {
    sum: bool,
    slots: Vec<Entry>,  // open addressing; used == 0: empty
    order: Vec<u32>,    // the slot of each key, in the order keys first came
    chains: Vec<Chain>, // each key's values, by its place in order (not SUM_COMBINER)
    keys: Vec<u8>,
    vals: Vec<u8>, // per value: [next u32 BE][len u32 BE][bytes]
    budget: usize,
    err: Option<String>,
}

/// An entry holds its key's first 16 bytes (zero-padded) and length, so
/// a lookup of a key of up to 16 bytes (nearly every word) compares two
/// words in the entry, not bytes in the arena: the table was most of a
/// word count's guest time. Entries sit in the slots themselves (32
/// bytes, two to a cache line), so a lookup misses the cache once, not
/// twice (slot, then entry), as the C and Go SDKs' tables do.
#[derive(Clone, Copy, Default)]
struct Entry {
    k0: u64,
    k1: u64,
    sum: i64,  // SUM_COMBINER: the key's sum; else its place in order
    used: u32, // the key's length + 1; 0: an empty slot
    koff: u32,
}

/// A key's values in vals (offset + 1, 0 for none).
#[derive(Clone, Copy, Default)]
struct Chain {
    first: u32,
    last: u32,
    n: u32,
}

impl Table {
    fn new(sum: bool, budget: usize) -> Self {
        let slots = vec![Entry::default(); 1024];
        Table { sum, slots, order: Vec::new(), chains: Vec::new(), keys: Vec::new(), vals: Vec::new(), budget, err: None }
    }

    fn bytes(&self) -> usize {
        self.keys.len()
            + self.vals.len()
            + self.slots.len() * std::mem::size_of::<Entry>()
            + self.order.capacity() * 4
            + self.chains.capacity() * std::mem::size_of::<Chain>()
    }

    fn full(&self) -> bool {
        self.bytes() > self.budget
    }

    /// Spreads the table only (the partition hash is the host's).
    #[inline(always)]
    fn hash(k0: u64, k1: u64, key: &[u8]) -> u64 {
        let mut h = (k0 ^ key.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ k1.wrapping_add(0x94d0_49bb_1331_11eb).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        for at in (16..key.len()).step_by(8) {
            h = (h ^ word_at(key, at)).wrapping_mul(0xd6e8_feb8_6659_fd93);
        }
        // The slot is the hash's low bits, and a product's low bits see only
        // its factors' low bits: fold the high half down and mix once more,
        // or keys that differ only late (user_000123, user_000124) share slots.
        h ^= h >> 32;
        h = h.wrapping_mul(0xd6e8_feb8_6659_fd93);
        h ^ h >> 32
    }

    /// Adds x to the sum of a key already in the table at the slot its
    /// probe begins at (nearly every word of a word count), inlined into
    /// the job's map; false for any other key, which `add` then takes.
    #[inline(always)]
    fn hit(&mut self, key: &[u8], x: i64) -> bool {
        if key.len() > 16 {
            return false;
        }
        let (k0, k1) = (word_at(key, 0), word_at(key, 8));
        let mask = self.slots.len() - 1;
        let e = &mut self.slots[Self::hash(k0, k1, key) as usize & mask];
        if e.k0 != k0 || e.k1 != k1 || e.used as usize != key.len() + 1 {
            return false;
        }
        e.sum = e.sum.wrapping_add(x);
        true
    }

    /// The slot of key's entry, added if new (then true).
    fn entry(&mut self, key: &[u8]) -> (usize, bool) {
        // The key's first 16 bytes as two zero-padded words.
        let (k0, k1) = (word_at(key, 0), word_at(key, 8));
        let mask = self.slots.len() - 1;
        let mut i = Self::hash(k0, k1, key) as usize & mask;
        loop {
            let e = &self.slots[i];
            if e.used == 0 {
                self.slots[i] = Entry { k0, k1, sum: 0, used: key.len() as u32 + 1, koff: self.keys.len() as u32 };
                self.keys.extend_from_slice(key);
                self.order.push(i as u32);
                if self.order.len() * 2 > self.slots.len() {
                    self.grow();
                    return (*self.order.last().unwrap() as usize, true);
                }
                return (i, true);
            }
            if e.k0 == k0
                && e.k1 == k1
                && e.used as usize == key.len() + 1
                && (key.len() <= 16 || &self.keys[e.koff as usize + 16..e.koff as usize + key.len()] == &key[16..])
            {
                return (i, false);
            }
            i = (i + 1) & mask;
        }
    }

    /// Doubles the table, moving the entries in the order keys first came.
    fn grow(&mut self) {
        let n = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![Entry::default(); n]);
        for at in self.order.iter_mut() {
            let e = old[*at as usize];
            let key = &self.keys[e.koff as usize..e.koff as usize + e.used as usize - 1];
            let mut i = Self::hash(e.k0, e.k1, key) as usize & (n - 1);
            while self.slots[i].used != 0 {
                i = (i + 1) & (n - 1);
            }
            self.slots[i] = e;
            *at = i as u32;
        }
    }

    /// The key of the entry at slot i.
    fn key(&self, i: usize) -> &[u8] {
        let e = &self.slots[i];
        &self.keys[e.koff as usize..e.koff as usize + e.used as usize - 1]
    }

    #[inline(never)]
    fn add(&mut self, key: &[u8], value: &[u8]) {
        if self.sum {
            let x = if value.len() == 1 && value[0].wrapping_sub(b'0') <= 9 {
                Ok((value[0] - b'0') as i64)
            } else {
                crate::parse_int(value)
            };
            match x {
                Ok(x) => self.add_int(key, x),
                Err(err) => {
                    if self.err.is_none() {
                        self.err = Some(err.message().to_string());
                    }
                }
            }
            return;
        }
        let off = self.vals.len() as u32;
        self.vals.extend_from_slice(&0u32.to_be_bytes());
        self.vals.extend_from_slice(&(value.len() as u32).to_be_bytes());
        self.vals.extend_from_slice(value);
        let (i, added) = self.entry(key);
        if added {
            self.slots[i].sum = self.chains.len() as i64;
            self.chains.push(Chain::default());
        }
        let c = &mut self.chains[self.slots[i].sum as usize];
        let prev = c.last;
        if prev == 0 {
            c.first = off + 1;
        }
        c.last = off + 1;
        c.n += 1;
        if prev != 0 {
            let p = prev as usize - 1;
            self.vals[p..p + 4].copy_from_slice(&(off + 1).to_be_bytes());
        }
    }

    fn add_int(&mut self, key: &[u8], n: i64) {
        let (i, _) = self.entry(key);
        self.slots[i].sum = self.slots[i].sum.wrapping_add(n);
    }

    fn next_of(&self, r: u32) -> u32 {
        let p = r as usize - 1;
        u32::from_be_bytes(self.vals[p..p + 4].try_into().unwrap())
    }

    fn value(&self, r: u32) -> &[u8] {
        let p = r as usize - 1;
        let n = u32::from_be_bytes(self.vals[p + 4..p + 8].try_into().unwrap()) as usize;
        &self.vals[p + 8..p + 8 + n]
    }

    fn clear(&mut self) {
        self.order.clear();
        self.chains.clear();
        self.keys.clear();
        self.vals.clear();
        self.slots.iter_mut().for_each(|e| *e = Entry::default());
    }
}


impl Emitter {
    fn new() -> Self {
        let mut e = Emitter { buf: Vec::with_capacity(EMIT_FLUSH_SIZE + 1024), count: 0, partitioner: None, table: None };
        e.reset();
        e
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(&[0xdd, 0, 0, 0, 0]);
        self.count = 0;
    }

    fn flush(&mut self) {
        if self.count == 0 {
            return;
        }
        self.buf[1..5].copy_from_slice(&self.count.to_be_bytes());
        host::emit(&self.buf);
        self.reset();
    }

    /// Emits one output pair.
    #[inline]
    pub fn emit(&mut self, key: &[u8], value: &[u8]) {
        if let Some(t) = self.table.as_mut() {
            if t.sum && value.len() == 1 && value[0].wrapping_sub(b'0') <= 9 && t.hit(key, (value[0] - b'0') as i64) {
                return;
            }
            return t.add(key, value);
        }
        if let Some(p) = &self.partitioner {
            let p = p(key);
            return self.emit_to(p, key, value);
        }
        if self.buf.len() + key.len() + value.len() + 11 > EMIT_FLUSH_SIZE {
            self.flush();
        }
        self.buf.push(0x92);
        msgpack::put_bin(&mut self.buf, key);
        msgpack::put_bin(&mut self.buf, value);
        self.count += 1;
    }

    /// Emits a pair to a chosen partition (0 <= partition < R); jobs with
    /// `PARTITIONER` get this from `emit` already.
    pub fn emit_to(&mut self, partition: u64, key: &[u8], value: &[u8]) {
        if self.buf.len() + key.len() + value.len() + 20 > EMIT_FLUSH_SIZE {
            self.flush();
        }
        self.buf.push(0x93);
        msgpack::put_bin(&mut self.buf, key);
        msgpack::put_bin(&mut self.buf, value);
        self.buf.push(0xcf);
        self.buf.extend_from_slice(&partition.to_be_bytes());
        self.count += 1;
    }

    /// Emits a pair whose value is a decimal integer.
    pub fn emit_int(&mut self, key: &[u8], value: i64) {
        if let Some(t) = self.table.as_mut() {
            if t.sum {
                return t.add_int(key, value);
            }
        }
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut u = value.unsigned_abs();
        loop {
            i -= 1;
            digits[i] = b'0' + (u % 10) as u8;
            u /= 10;
            if u == 0 {
                break;
            }
        }
        if value < 0 {
            i -= 1;
            digits[i] = b'-';
        }
        self.emit(key, &digits[i..]);
    }
}

/// The values of one key, streamed from the host: a key may have more
/// values than fit in memory. Read them with `while let Some(v) =
/// values.next()`; a value is valid until the next call.
pub struct Values<'r, 'a> {
    chunk: &'r mut Reader<'a>,
    in_chunk: u32,
    more: bool,
    cont: &'r mut Vec<u8>,
    cont_pos: usize,
    cont_end: usize,
    in_cont: u32,
    bad: bool,
}

impl<'r, 'a> Values<'r, 'a> {
    /// The next value, or `None` when the key has no more.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<&[u8]> {
        loop {
            if self.bad {
                return None;
            }
            if self.in_chunk > 0 {
                self.in_chunk -= 1;
                match self.chunk.bytes() {
                    Ok(v) => return Some(v),
                    Err(_) => {
                        self.bad = true;
                        return None;
                    }
                }
            }
            if self.in_cont > 0 {
                self.in_cont -= 1;
                match msgpack::bytes_range(&self.cont[..self.cont_end], self.cont_pos) {
                    Ok((start, end)) => {
                        self.cont_pos = end;
                        return Some(&self.cont[start..end]);
                    }
                    Err(_) => {
                        self.bad = true;
                        return None;
                    }
                }
            }
            if !self.more || !self.refill() {
                return None;
            }
        }
    }

    /// Adds up the remaining values, each a decimal integer.
    pub fn sum_ints(&mut self) -> crate::Result<i64> {
        let mut total: i64 = 0;
        while let Some(v) = self.next() {
            total = total.wrapping_add(crate::parse_int(v)?);
        }
        Ok(total)
    }

    /// Asks the host for the next values of a continuing group.
    fn refill(&mut self) -> bool {
        if self.cont.is_empty() {
            self.cont.resize(64 << 10, 0);
        }
        loop {
            let n = host::next_values(self.cont);
            if n == 0 {
                self.more = false;
                return false;
            }
            if n < 0 {
                self.cont.resize((-(n as i64)) as usize, 0);
                continue;
            }
            let msg = &self.cont[..n as usize];
            let mut r = Reader::new(msg);
            let parsed = (|| -> Result<(bool, u32), Malformed> {
                if r.array()? != 2 {
                    return Err(Malformed);
                }
                Ok((r.boolean()?, r.array()?))
            })();
            match parsed {
                Ok((more, count)) => {
                    self.more = more;
                    self.in_cont = count;
                    self.cont_pos = r.position();
                    self.cont_end = n as usize;
                    return true;
                }
                Err(_) => {
                    self.bad = true;
                    self.more = false;
                    return false;
                }
            }
        }
    }

    /// Skips the values of the group left in the chunk.
    fn skip_rest(&mut self) -> bool {
        while self.in_chunk > 0 {
            self.in_chunk -= 1;
            if self.chunk.bytes().is_err() {
                return false;
            }
        }
        !self.bad
    }
}

/// One module instance's state around a job value.
pub struct Guest<J: Job> {
    job: J,
    task: Task,
    input: Vec<u8>,
    emitter: Emitter,
    cont: Vec<u8>,
}

impl<J: Job> Guest<J> {
    pub fn new() -> Self {
        std::panic::set_hook(Box::new(|info| {
            // Panics abort on wasm32 (a trap); report the message first so
            // the user sees it rather than "unreachable".
            let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
                s.to_string()
            } else if let Some(s) = info.payload().downcast_ref::<String>() {
                s.clone()
            } else {
                "panic".to_string()
            };
            let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
            fail(&format!("panicked: {}{}", msg, at), RECORD.with(|r| r.get()));
        }));
        Guest { job: J::default(), task: Task::default(), input: Vec::new(), emitter: Emitter::new(), cont: Vec::new() }
    }

    pub fn alloc(&mut self, size: i32) -> *mut u8 {
        let size = size.max(1) as usize;
        if size > self.input.len() {
            // Drop the old region first so the memory cap bounds one input.
            self.input = Vec::new();
            self.input.resize(size, 0);
        }
        self.input.as_mut_ptr()
    }

    fn failed(&mut self, msg: &str, record: i64) -> i32 {
        self.emitter.reset();
        fail(msg, record)
    }

    fn finish_call(&mut self, status: i32) -> i32 {
        RECORD.with(|r| r.set(NO_RECORD));
        self.emitter.flush();
        COUNTERS.with(|c| {
            for (name, delta) in c.borrow_mut().drain(..) {
                host::counter(name.as_bytes(), delta);
            }
        });
        status
    }

    pub fn init(&mut self, msg: &[u8]) -> i32 {
        let task = match decode_init(msg) {
            Ok(t) => t,
            Err(Malformed) => return self.failed("reading the host's init message: malformed msgpack", NO_RECORD),
        };
        self.task = task;
        COUNTERS.with(|c| c.borrow_mut().clear());
        self.emitter.reset();
        self.emitter.partitioner = None;
        if J::PARTITIONER {
            let n = self.task.num_partitions.max(1) as u64;
            // The job value lives as long as the guest; the emitter asks it
            // for partitions through a raw pointer to avoid a borrow of
            // self.job across map calls that also borrow it mutably.
            let job: *const J = &self.job;
            self.emitter.partitioner = Some(Box::new(move |k| unsafe { (*job).partition(k, n) }));
        }
        // Combine in the module only when the host will call wmr_finish
        // to flush the table (older hosts never do).
        self.emitter.table = None;
        if J::COMBINER && self.task.host_finishes && self.task.task_kind == "map" {
            let mut budget = if self.task.memory_limit > 0 { (self.task.memory_limit / 8).clamp(1 << 20, 64 << 20) } else { 16 << 20 };
            if let Some(n) = self.task.param("wmr.combine_bytes").and_then(|s| s.parse::<i64>().ok()).filter(|n| *n > 0) {
                budget = n;
            }
            self.emitter.table = Some(Box::new(Table::new(J::SUM_COMBINER, budget as usize)));
        }
        if let Err(e) = self.job.init(&self.task) {
            return self.failed(&format!("init: {}", e.message()), NO_RECORD);
        }
        self.finish_call(STATUS_OK);
        // Text blocks: the module splits the lines (ABI.md 4.5).
        let blocks = if self.task.text_blocks { CAP_TEXT_BLOCKS } else { 0 };
        (if J::COMBINER { CAP_COMBINE } else { 0 }) | (if J::PARTITIONER { CAP_PARTITIONER } else { 0 }) | CAP_FINISH | blocks
    }

    /// Emits what the combining table holds and empties it.
    fn flush_table(&mut self) -> std::result::Result<(), String> {
        let mut t = match self.emitter.table.take() {
            Some(t) => t,
            None => return Ok(()),
        };
        let mut res = match t.err.take() {
            Some(e) => Err(e),
            None => Ok(()),
        };
        let mut chunk = Vec::new();
        for (k, &at) in t.order.iter().enumerate() {
            if res.is_err() {
                break;
            }
            let key = t.key(at as usize);
            let e = &t.slots[at as usize];
            if t.sum {
                self.emitter.emit_int(key, e.sum);
                continue;
            }
            let e = t.chains[k];
            if e.n == 1 {
                self.emitter.emit(key, t.value(e.first));
            } else {
                // The combiner reads the values as the host would hand
                // them over: a reduce chunk of one group.
                chunk.clear();
                chunk.extend_from_slice(&[0xdd, 0, 0, 0, 1, 0x93]);
                msgpack::put_bin(&mut chunk, key);
                chunk.extend_from_slice(&[0xc2, 0xdd]);
                chunk.extend_from_slice(&e.n.to_be_bytes());
                let mut r = e.first;
                while r != 0 {
                    msgpack::put_bin(&mut chunk, t.value(r));
                    r = t.next_of(r);
                }
                let mut rd = Reader::new(&chunk);
                let head = (|| -> Result<(&[u8], u32), Malformed> {
                    rd.array()?;
                    rd.array()?;
                    let k = rd.bytes()?;
                    rd.boolean()?;
                    Ok((k, rd.array()?))
                })();
                let (k, count) = head.map_err(|_| "combining: malformed chunk".to_string())?;
                let mut values =
                    Values { chunk: &mut rd, in_chunk: count, more: false, cont: &mut self.cont, cont_pos: 0, cont_end: 0, in_cont: 0, bad: false };
                if let Err(err) = self.job.combine(k, &mut values, &mut self.emitter) {
                    res = Err(format!("combining key {:?}: {}", String::from_utf8_lossy(k), err.message()));
                }
            }
        }
        t.clear();
        self.emitter.table = Some(t);
        res
    }

    /// The end-of-task call (`wmr_finish`): the table's last flush, then
    /// the job's `finish`.
    pub fn finish(&mut self) -> i32 {
        if self.emitter.table.is_some() {
            let res = self.flush_table();
            self.emitter.table = None; // finish emits straight to the host
            if let Err(m) = res {
                return self.failed(&m, NO_RECORD);
            }
        }
        if let Err(e) = self.job.finish(&self.task, &mut self.emitter) {
            return self.failed(&format!("finish: {}", e.message()), NO_RECORD);
        }
        self.finish_call(STATUS_OK)
    }

    pub fn map(&mut self, batch: &[u8]) -> i32 {
        if self.task.text_blocks {
            return self.map_text(batch);
        }
        let mut r = Reader::new(batch);
        let n = match r.array() {
            Ok(n) => n,
            Err(_) => return self.failed("reading the host's batch: malformed msgpack", NO_RECORD),
        };
        for i in 0..n {
            let rec = (|| -> Result<(&[u8], &[u8]), Malformed> {
                if r.array()? != 2 {
                    return Err(Malformed);
                }
                Ok((r.bytes()?, r.bytes()?))
            })();
            let (key, value) = match rec {
                Ok(kv) => kv,
                Err(_) => return self.failed("reading the host's batch: malformed record", i as i64),
            };
            if let Err(status) = self.map_record(i as i64, key, value) {
                return status;
            }
        }
        if !r.at_end() {
            return self.failed("reading the host's batch: trailing bytes", NO_RECORD);
        }
        self.finish_call(STATUS_OK)
    }

    /// wmr_map on a text block (ABI.md 4.5): `[offset, lines]`, whole
    /// lines as in the file. Each line is a record: key its offset (8
    /// bytes big-endian), value the line without "\n" or "\r\n".
    fn map_text(&mut self, block: &[u8]) -> i32 {
        let mut r = Reader::new(block);
        let head = (|| -> Result<(i64, &[u8]), Malformed> {
            if r.array()? != 2 {
                return Err(Malformed);
            }
            Ok((r.int()?, r.bytes()?))
        })();
        let (at, lines) = match head {
            Ok(h) if r.at_end() => h,
            _ => return self.failed("reading the host's text block: malformed msgpack", NO_RECORD),
        };
        let (mut start, mut i) = (0, 0);
        while start < lines.len() {
            let (end, next) = match crate::text::find_newline(lines, start) {
                Some(nl) if nl > start && lines[nl - 1] == b'\r' => (nl - 1, nl + 1),
                Some(nl) => (nl, nl + 1),
                None => (lines.len(), lines.len()),
            };
            let key = (at as u64 + start as u64).to_be_bytes();
            if let Err(status) = self.map_record(i, &key, &lines[start..end]) {
                return status;
            }
            start = next;
            i += 1;
        }
        self.finish_call(STATUS_OK)
    }

    /// The job's map on record i of the call, then the table's checks.
    /// Out of line on purpose: inlined into both the batch loop and the
    /// text block loop, the job's map compiled worse into each (a word
    /// count took 10% more CPU); a call per record costs far less.
    #[inline(never)]
    fn map_record(&mut self, i: i64, key: &[u8], value: &[u8]) -> std::result::Result<(), i32> {
        RECORD.with(|c| c.set(i));
        if let Err(e) = self.job.map(key, value, &mut self.emitter) {
            return Err(self.failed(e.message(), i));
        }
        if let Some(t) = self.emitter.table.as_ref() {
            if let Some(m) = t.err.clone() {
                return Err(self.failed(&m, i));
            }
            if t.full() {
                if let Err(m) = self.flush_table() {
                    return Err(self.failed(&m, i));
                }
            }
        }
        Ok(())
    }

    pub fn reduce(&mut self, chunk: &[u8], combine: bool) -> i32 {
        if combine && !J::COMBINER {
            return self.failed("the module has no combiner", NO_RECORD);
        }
        let mut r = Reader::new(chunk);
        let n = match r.array() {
            Ok(n) => n,
            Err(_) => return self.failed("reading the host's chunk: malformed msgpack", NO_RECORD),
        };
        for i in 0..n {
            RECORD.with(|c| c.set(i as i64));
            let head = (|| -> Result<(&[u8], bool, u32), Malformed> {
                if r.array()? != 3 {
                    return Err(Malformed);
                }
                Ok((r.bytes()?, r.boolean()?, r.array()?))
            })();
            let (key, more, count) = match head {
                Ok(h) => h,
                Err(_) => return self.failed("reading the host's chunk: malformed group", i as i64),
            };
            let mut values =
                Values { chunk: &mut r, in_chunk: count, more, cont: &mut self.cont, cont_pos: 0, cont_end: 0, in_cont: 0, bad: false };
            let res = if combine {
                self.job.combine(key, &mut values, &mut self.emitter)
            } else {
                self.job.reduce(key, &mut values, &mut self.emitter)
            };
            if let Err(e) = res {
                return self.failed(e.message(), i as i64);
            }
            if !values.skip_rest() {
                return self.failed("reading values from the host: malformed msgpack", i as i64);
            }
        }
        if !r.at_end() {
            return self.failed("reading the host's chunk: trailing bytes", NO_RECORD);
        }
        self.finish_call(STATUS_OK)
    }

    /// The partition the module gives a key (the optional `wmr_partition`
    /// export, for conformance checks).
    pub fn partition(&self, key: &[u8], num_partitions: i32) -> i32 {
        if num_partitions <= 0 {
            return -1;
        }
        let n = num_partitions as u64;
        let p = if J::PARTITIONER { self.job.partition(key, n) } else { crate::partition_hash(key) % n };
        p as i32
    }
}

impl<J: Job> Default for Guest<J> {
    fn default() -> Self {
        Self::new()
    }
}

fn string(r: &mut Reader<'_>) -> Result<String, Malformed> {
    Ok(String::from_utf8_lossy(r.bytes()?).into_owned())
}

fn decode_init(msg: &[u8]) -> Result<Task, Malformed> {
    let mut r = Reader::new(msg);
    let mut t = Task::default();
    let n = r.map()?;
    for _ in 0..n {
        let key = r.bytes()?;
        match key {
            b"job_id" => t.job_id = string(&mut r)?,
            b"task_id" => t.task_id = string(&mut r)?,
            b"task_kind" => t.task_kind = string(&mut r)?,
            b"input_file" => t.input_file = string(&mut r)?,
            b"attempt" => t.attempt = r.int()?,
            b"split_offset" => t.split_offset = r.int()?,
            b"split_length" => t.split_length = r.int()?,
            b"partition" => t.partition = r.int()?,
            b"num_partitions" => t.num_partitions = r.int()?,
            b"memory_limit" => t.memory_limit = r.int()?,
            b"finish" => t.host_finishes = r.boolean()?,
            b"text_blocks" => t.text_blocks = r.boolean()?,
            b"params" if r.peek() == Some(0xc0) => r.skip()?,
            b"params" => {
                let np = r.map()?;
                for _ in 0..np {
                    let k = string(&mut r)?;
                    let v = string(&mut r)?;
                    t.params.push((k, v));
                }
            }
            _ => r.skip()?,
        }
    }
    if !r.at_end() {
        return Err(Malformed);
    }
    Ok(t)
}

/// Runs a job natively over text lines: map (with the combiner, if any,
/// left out), group by key in bytewise order, reduce. For unit tests of a
/// job's logic with `cargo test`; not available on wasm32.
#[cfg(not(target_arch = "wasm32"))]
pub fn run_local<J: Job>(params: &[(&str, &str)], lines: &[&[u8]]) -> std::result::Result<Vec<(Vec<u8>, Vec<u8>)>, String> {
    use crate::host::imp::FAKE;
    use std::collections::BTreeMap;

    fn take_output() -> std::result::Result<Vec<(Vec<u8>, Vec<u8>)>, String> {
        FAKE.with(|f| {
            let mut f = f.borrow_mut();
            if let Some(msg) = f.fails.pop() {
                let mut r = Reader::new(&msg);
                let _ = r.array();
                return Err(String::from_utf8_lossy(r.bytes().unwrap_or(b"?")).into_owned());
            }
            let mut out = vec![];
            for e in f.emits.drain(..) {
                let mut r = Reader::new(&e);
                let n = r.array().map_err(|_| "malformed emit")?;
                for _ in 0..n {
                    let fields = r.array().map_err(|_| "malformed emit")?;
                    let k = r.bytes().map_err(|_| "malformed emit")?.to_vec();
                    let v = r.bytes().map_err(|_| "malformed emit")?.to_vec();
                    if fields == 3 {
                        r.int().map_err(|_| "malformed emit")?;
                    }
                    out.push((k, v));
                }
            }
            Ok(out)
        })
    }

    FAKE.with(|f| *f.borrow_mut() = Default::default());
    let mut init = vec![0x84];
    msgpack::put_str(&mut init, "finish");
    init.push(0xc3);
    msgpack::put_str(&mut init, "task_kind");
    msgpack::put_str(&mut init, "map");
    msgpack::put_str(&mut init, "num_partitions");
    init.push(1);
    msgpack::put_str(&mut init, "params");
    init.push(0xdf);
    init.extend_from_slice(&(params.len() as u32).to_be_bytes());
    for (k, v) in params {
        msgpack::put_str(&mut init, k);
        msgpack::put_str(&mut init, v);
    }
    let mut g = Guest::<J>::new();
    if g.init(&init) < 0 {
        return take_output().and(Err("init failed".into()));
    }
    let mut batch = vec![0xdd];
    batch.extend_from_slice(&(lines.len() as u32).to_be_bytes());
    let mut offset = 0u64;
    for l in lines {
        batch.push(0x92);
        msgpack::put_bin(&mut batch, &offset.to_be_bytes());
        msgpack::put_bin(&mut batch, l);
        offset += l.len() as u64 + 1;
    }
    g.map(&batch);
    g.finish();
    let mut groups: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = BTreeMap::new();
    for (k, v) in take_output()? {
        groups.entry(k).or_default().push(v);
    }
    let mut chunk = vec![0xdd];
    chunk.extend_from_slice(&(groups.len() as u32).to_be_bytes());
    for (k, vs) in &groups {
        chunk.push(0x93);
        msgpack::put_bin(&mut chunk, k);
        chunk.push(0xc2);
        chunk.push(0xdd);
        chunk.extend_from_slice(&(vs.len() as u32).to_be_bytes());
        for v in vs {
            msgpack::put_bin(&mut chunk, v);
        }
    }
    g.reduce(&chunk, false);
    take_output()
}
