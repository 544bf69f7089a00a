// wmr-sdk: write wmr map/reduce jobs in AssemblyScript (ABI v1, abi/ABI.md).
//
//   import { Bytes, Emitter, Job, Values, register, sum, WordScanner } from "wmr-sdk/assembly";
//   export * from "wmr-sdk/assembly/exports";
//
//   const ONE = Bytes.fromString("1");
//   const scan = new WordScanner();
//   class WordCount extends Job {
//     constructor() { super(); this.hasCombiner = true; }
//     map(key: Bytes, line: Bytes, out: Emitter): void {
//       scan.reset(line);
//       while (scan.next()) out.emit(scan.word, ONE);
//     }
//     reduce(key: Bytes, values: Values, out: Emitter): void { sum(key, values, out); }
//     combine(key: Bytes, values: Values, out: Emitter): void { sum(key, values, out); }
//   }
//   register(new WordCount());
//
// Keys and values are Bytes views into the SDK's buffers, reused from one
// record to the next and valid only during the call: copy (toUint8Array,
// toString) what you keep. The per-record path allocates nothing.
// To fail a task, throw: the host reports the message with the module's
// name (ABI.md 3.6, env.abort).

import { LETTER_RANGES } from "./letters";

// ---- host imports (ABI.md 3) ----

@external("wmr", "emit")
declare function hostEmit(ptr: usize, len: i32): void;
@external("wmr", "next_values")
declare function hostNextValues(ptr: usize, cap: i32): i32;
@external("wmr", "fail")
declare function hostFail(ptr: usize, len: i32): void;
@external("wmr", "log")
declare function hostLog(level: i32, ptr: usize, len: i32): void;
@external("wmr", "counter")
declare function hostCounter(ptr: usize, len: i32, delta: i64): void;

export const ABI_VERSION: i32 = 1;
const EMIT_FLUSH_SIZE: i32 = 64 << 10;

// ---- bytes ----

/** A view of bytes in linear memory: not a copy; may be empty. */
export class Bytes {
  constructor(public ptr: usize = 0, public length: i32 = 0) {}

  /** UTF-8 bytes of a string (allocates; for constants). */
  static fromString(s: string): Bytes {
    const buf = String.UTF8.encode(s);
    // Pin the buffer for the life of the module: constants live forever.
    __pin(changetype<usize>(buf));
    return new Bytes(changetype<usize>(buf), buf.byteLength);
  }

  /** A copy of bytes from a Uint8Array (allocates). */
  static fromUint8Array(a: Uint8Array): Bytes {
    const buf = new ArrayBuffer(a.length);
    memory.copy(changetype<usize>(buf), a.dataStart, a.length);
    __pin(changetype<usize>(buf));
    return new Bytes(changetype<usize>(buf), a.length);
  }

  @inline at(i: i32): u8 {
    return load<u8>(this.ptr + <usize>i);
  }

  /** The bytes decoded as UTF-8 (invalid sequences become U+FFFD). */
  toString(): string {
    return String.UTF8.decodeUnsafe(this.ptr, <usize>this.length);
  }

  /** A copy of the bytes. */
  toUint8Array(): Uint8Array {
    const a = new Uint8Array(this.length);
    memory.copy(a.dataStart, this.ptr, <usize>this.length);
    return a;
  }

  /** A view of bytes [start, end) of this one. */
  slice(start: i32, end: i32): Bytes {
    return new Bytes(this.ptr + <usize>start, end - start);
  }

  equals(o: Bytes): bool {
    return this.length == o.length && memory.compare(this.ptr, o.ptr, <usize>this.length) == 0;
  }
}

// ---- growable unmanaged buffer ----

class Buffer {
  ptr: usize = 0;
  len: i32 = 0;
  cap: i32 = 0;

  reserve(n: i32): void {
    if (this.len + n <= this.cap) return;
    let c = this.cap > 0 ? this.cap : 256;
    while (c < this.len + n) c <<= 1;
    this.ptr = this.ptr == 0 ? heap.alloc(<usize>c) : heap.realloc(this.ptr, <usize>c);
    this.cap = c;
  }

  @inline byte(b: u8): void {
    store<u8>(this.ptr + <usize>this.len, b);
    this.len++;
  }

  be32(v: u32): void {
    store<u32>(this.ptr + <usize>this.len, bswap<u32>(v));
    this.len += 4;
  }

  bytes(p: usize, n: i32): void {
    memory.copy(this.ptr + <usize>this.len, p, <usize>n);
    this.len += n;
  }

  bin(p: usize, n: i32): void {
    if (n < 256) {
      this.byte(0xc4);
      this.byte(<u8>n);
    } else if (n < 65536) {
      this.byte(0xc5);
      this.byte(<u8>(n >> 8));
      this.byte(<u8>n);
    } else {
      this.byte(0xc6);
      this.be32(<u32>n);
    }
    this.bytes(p, n);
  }
}

// ---- msgpack reading (ABI.md 4) ----

class Reader {
  p: usize = 0;
  end: usize = 0;
  bad: bool = false;

  reset(p: usize, n: i32): void {
    this.p = p;
    this.end = p + <usize>n;
    this.bad = false;
  }

  need(n: usize): bool {
    if (this.bad || this.end - this.p < n) {
      this.bad = true;
      return false;
    }
    return true;
  }

  be(n: i32): u64 {
    if (!this.need(<usize>n)) return 0;
    let v: u64 = 0;
    for (let i = 0; i < n; i++) v = (v << 8) | <u64>load<u8>(this.p + <usize>i);
    this.p += <usize>n;
    return v;
  }

  byte(): u8 {
    if (!this.need(1)) return 0;
    const c = load<u8>(this.p);
    this.p++;
    return c;
  }

  array(): u32 {
    const c = this.byte();
    if (c >= 0x90 && c <= 0x9f) return c & 0x0f;
    if (c == 0xdc) return <u32>this.be(2);
    if (c == 0xdd) return <u32>this.be(4);
    this.bad = true;
    return 0;
  }

  map(): u32 {
    const c = this.byte();
    if (c >= 0x80 && c <= 0x8f) return c & 0x0f;
    if (c == 0xde) return <u32>this.be(2);
    if (c == 0xdf) return <u32>this.be(4);
    this.bad = true;
    return 0;
  }

  /** Reads bin or str into out. */
  bytes(out: Bytes): void {
    const c = this.byte();
    let n: u64 = 0;
    if (c >= 0xa0 && c <= 0xbf) n = c & 0x1f;
    else if (c == 0xc4 || c == 0xd9) n = this.be(1);
    else if (c == 0xc5 || c == 0xda) n = this.be(2);
    else if (c == 0xc6 || c == 0xdb) n = this.be(4);
    else {
      this.bad = true;
      return;
    }
    if (!this.need(<usize>n)) return;
    out.ptr = this.p;
    out.length = <i32>n;
    this.p += <usize>n;
  }

  bool(): bool {
    const c = this.byte();
    if (c == 0xc2) return false;
    if (c == 0xc3) return true;
    this.bad = true;
    return false;
  }

  int(): i64 {
    const c = this.byte();
    if (c <= 0x7f) return <i64>c;
    if (c >= 0xe0) return <i64>(<i8>c);
    if (c == 0xcc) return <i64>this.be(1);
    if (c == 0xcd) return <i64>this.be(2);
    if (c == 0xce) return <i64>this.be(4);
    if (c == 0xcf) return <i64>this.be(8);
    if (c == 0xd0) return <i64>(<i8>this.be(1));
    if (c == 0xd1) return <i64>(<i16>this.be(2));
    if (c == 0xd2) return <i64>(<i32>this.be(4));
    if (c == 0xd3) return <i64>this.be(8);
    this.bad = true;
    return 0;
  }

  skip(depth: i32 = 0): void {
    if (depth > 64 || !this.need(1)) {
      this.bad = true;
      return;
    }
    const c = load<u8>(this.p);
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
      this.p++;
      return;
    }
    if ((c >= 0xa0 && c <= 0xbf) || (c >= 0xc4 && c <= 0xc6) || (c >= 0xd9 && c <= 0xdb)) {
      this.bytes(scratchBytes);
      return;
    }
    let items: u64 = 0;
    if ((c >= 0x90 && c <= 0x9f) || c == 0xdc || c == 0xdd) items = this.array();
    else if ((c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf) items = 2 * <u64>this.map();
    else {
      this.p++;
      let n: u64 = 0;
      if (c == 0xcc || c == 0xd0) n = 1;
      else if (c == 0xcd || c == 0xd1 || c == 0xd4) n = 2;
      else if (c == 0xd5) n = 3;
      else if (c == 0xce || c == 0xd2 || c == 0xca) n = 4;
      else if (c == 0xd6) n = 5;
      else if (c == 0xcf || c == 0xd3 || c == 0xcb) n = 8;
      else if (c == 0xd7) n = 9;
      else if (c == 0xd8) n = 17;
      else if (c == 0xc7) n = this.be(1) + 1;
      else if (c == 0xc8) n = this.be(2) + 1;
      else if (c == 0xc9) n = this.be(4) + 1;
      else {
        this.bad = true;
        return;
      }
      if (this.need(<usize>n)) this.p += <usize>n;
      return;
    }
    for (let i: u64 = 0; i < items && !this.bad; i++) this.skip(depth + 1);
  }
}

const scratchBytes = new Bytes();

// ---- the job ----

/** The task being run (ABI.md 2.3). */
export class Task {
  jobId: string = "";
  taskId: string = "";
  /** "map" or "reduce" */
  taskKind: string = "";
  attempt: i64 = 0;
  /** Map tasks: base name of the split's input file. */
  inputFile: string = "";
  splitOffset: i64 = 0;
  splitLength: i64 = 0;
  /** Reduce tasks: the partition reduced. */
  partition: i64 = 0;
  numPartitions: i64 = 0;
  params: Map<string, string> = new Map<string, string>();

  /** The value of --param name=value, or null. */
  param(name: string): string | null {
    return this.params.has(name) ? this.params.get(name) : null;
  }
}

/** A map/reduce job: extend it, override map and reduce (and combine with
 * hasCombiner = true), then register(new YourJob()). */
export abstract class Job {
  /** Whether the host should call combine on map output. With it, map
   * output is also combined inside the module first (a hash table per task,
   * flushed at an eighth of the memory cap and at the end of the task;
   * --param wmr.combine_bytes=N sets its budget). */
  hasCombiner: bool = false;
  /** Whether combine adds up decimal integers, like sum(): the table then
   * keeps one i64 per key. */
  sumCombiner: bool = false;
  /** Starts a task: read params, reset per-task state. */
  init(task: Task): void {}
  abstract map(key: Bytes, value: Bytes, out: Emitter): void;
  abstract reduce(key: Bytes, values: Values, out: Emitter): void;
  /** Must emit only key. */
  combine(key: Bytes, values: Values, out: Emitter): void {
    throw new Error("the job has no combiner");
  }
  /** The end-of-task hook (Hadoop's cleanup): after the last map of a map
   * task and the last reduce of a reduce task; may emit. */
  finish(task: Task, out: Emitter): void {}
}

let registered: Job | null = null;

/** Registers the module's job; call once at the top level. */
export function register(job: Job): void {
  registered = job;
}

// ---- in-module combining (ABI.md 2.6) ----

// In a map task of a job with a combiner, emitted pairs are kept in this
// table, combined per key, and cross to the host when it passes its budget
// and at the end of the task (wmr_finish). Keys, values and entries live in
// three buffers: nothing is allocated per key; with sumCombiner a key's
// values are one i64. Flushes go in the order keys first came.
//
// An entry holds its key's first 16 bytes (zero-padded) and length, so a
// lookup of a key of up to 16 bytes (nearly every word) loads the key as
// two words, hashes them with two multiplies and compares two words: no
// byte loop, no object per lookup (FNV-1a over a Bytes made per word, and
// memory.compare, were the table's cost).
const ENTRY: i32 = 48;
const E_K0: usize = 0; // u64: the key's bytes 0-7
const E_K1: usize = 8; // u64: bytes 8-15
const E_KOFF: usize = 16; // u32: the key's offset in keys
const E_KLEN: usize = 20; // u32
const E_SUM: usize = 24; // i64
const E_FIRST: usize = 32; // u32: value chain in vals, offset + 1
const E_LAST: usize = 36; // u32
const E_N: usize = 40; // u32: values added

// load16 sets word0 and word1 to the n bytes at p (the first 16 of them),
// zero-padded: 16 bytes loaded at once where they are all below the
// memory's end, then masked; byte by byte near it. The combining table
// reads keys with it, the word scanner line tails.
let word0: u64 = 0;
let word1: u64 = 0;
function load16(p: usize, n: usize): void {
  if (n >= 16 || p + 16 <= (<usize>memory.size() << 16)) {
    const a = load<u64>(p), b = load<u64>(p, 8);
    if (n >= 16) {
      word0 = a;
      word1 = b;
    } else if (n >= 8) {
      word0 = a;
      word1 = n == 8 ? 0 : b & ((<u64>1 << (<u64>(n - 8) * 8)) - 1);
    } else {
      word0 = n == 0 ? 0 : a & ((<u64>1 << (<u64>n * 8)) - 1);
      word1 = 0;
    }
    return;
  }
  let a: u64 = 0, b: u64 = 0;
  for (let i: usize = 0; i < n; i++) {
    const c = <u64>load<u8>(p + i);
    if (i < 8) a |= c << (<u64>i * 8);
    else b |= c << (<u64>(i - 8) * 8);
  }
  word0 = a;
  word1 = b;
}

// tableHash spreads the table only (the partition hash is the host's).
function tableHash(k0: u64, k1: u64, kp: usize, kn: i32): u64 {
  let h = ((k0 ^ <u64>kn) * 0x9e3779b97f4a7c15) ^ ((k1 + 0x94d049bb133111eb) * 0xbf58476d1ce4e5b9);
  for (let i = 16; i < kn; i++) h = (h ^ <u64>load<u8>(kp + <usize>i)) * 0x100000001b3;
  // The slot is the hash's low bits, and a product's low bits see only its
  // factors' low bits: fold the high half down and mix once more, or keys
  // that differ only late (user_000123, user_000124) share slots.
  h ^= h >> 32;
  h *= 0xd6e8feb86659fd93;
  return h ^ (h >> 32);
}

/** @internal */
export class CombineTable {
  sum: bool = false;
  slots: usize = 0; // i32 each: index + 1 of an entry, 0 for empty
  nslots: i32 = 0;
  ents: Buffer = new Buffer();
  keys: Buffer = new Buffer();
  vals: Buffer = new Buffer(); // per value: [next u32][len u32][bytes]
  budget: i32 = 16 << 20;

  constructor(sum: bool, budget: i32) {
    this.sum = sum;
    this.budget = budget;
    this.grow();
  }

  count(): i32 {
    return this.ents.len / ENTRY;
  }

  full(): bool {
    return this.keys.len + this.vals.len + this.ents.len + this.nslots * 4 > this.budget;
  }

  grow(): void {
    const n = this.nslots > 0 ? this.nslots * 2 : 1024;
    const s = heap.alloc(<usize>n * 4);
    memory.fill(s, 0, <usize>n * 4);
    const mask = <u64>(n - 1);
    const count = this.count();
    for (let k = 0; k < count; k++) {
      const e = this.ents.ptr + <usize>(k * ENTRY);
      const h = tableHash(load<u64>(e, E_K0), load<u64>(e, E_K1), this.keys.ptr + <usize>load<u32>(e, E_KOFF), <i32>load<u32>(e, E_KLEN));
      let i = h & mask;
      while (load<i32>(s + <usize>(i * 4)) != 0) i = (i + 1) & mask;
      store<i32>(s + <usize>(i * 4), k + 1);
    }
    if (this.slots != 0) heap.free(this.slots);
    this.slots = s;
    this.nslots = n;
  }

  /** The address of key's entry, added if new. */
  entry(kp: usize, kn: i32): usize {
    load16(kp, <usize>kn);
    const k0 = word0, k1 = word1;
    const mask = <u64>(this.nslots - 1);
    let i = tableHash(k0, k1, kp, kn) & mask;
    while (true) {
      const s = load<i32>(this.slots + <usize>(i * 4));
      if (s == 0) {
        this.ents.reserve(ENTRY);
        const e = this.ents.ptr + <usize>this.ents.len;
        memory.fill(e, 0, ENTRY);
        store<u64>(e, k0, E_K0);
        store<u64>(e, k1, E_K1);
        store<u32>(e, <u32>this.keys.len, E_KOFF);
        store<u32>(e, <u32>kn, E_KLEN);
        this.ents.len += ENTRY;
        this.keys.reserve(kn);
        this.keys.bytes(kp, kn);
        store<i32>(this.slots + <usize>(i * 4), this.count());
        if (this.count() * 2 > this.nslots) this.grow();
        return this.ents.ptr + <usize>(this.ents.len - ENTRY);
      }
      const e = this.ents.ptr + <usize>((s - 1) * ENTRY);
      if (load<u64>(e, E_K0) == k0 && load<u64>(e, E_K1) == k1 && load<u32>(e, E_KLEN) == <u32>kn &&
        (kn <= 16 || memory.compare(this.keys.ptr + <usize>load<u32>(e, E_KOFF) + 16, kp + 16, <usize>(kn - 16)) == 0)) return e;
      i = (i + 1) & mask;
    }
  }

  add(kp: usize, kn: i32, vp: usize, vn: i32): void {
    if (this.sum) {
      let x: i64;
      if (vn == 1 && <u32>(load<u8>(vp) - 48) <= 9) x = <i64>(load<u8>(vp) - 48);
      else x = parseInt64(new Bytes(vp, vn)); // throws on a value that is not an integer
      const e = this.entry(kp, kn);
      store<i64>(e, load<i64>(e, E_SUM) + x, E_SUM);
      store<u32>(e, load<u32>(e, E_N) + 1, E_N);
      return;
    }
    const off = <u32>this.vals.len;
    this.vals.reserve(8 + vn);
    this.vals.be32(0);
    this.vals.be32(<u32>vn);
    this.vals.bytes(vp, vn);
    const e = this.entry(kp, kn);
    const last = load<u32>(e, E_LAST);
    if (last != 0) store<u32>(this.vals.ptr + <usize>(last - 1), bswap<u32>(off + 1));
    else store<u32>(e, off + 1, E_FIRST);
    store<u32>(e, off + 1, E_LAST);
    store<u32>(e, load<u32>(e, E_N) + 1, E_N);
  }

  addInt(kp: usize, kn: i32, n: i64): void {
    const e = this.entry(kp, kn);
    store<i64>(e, load<i64>(e, E_SUM) + n, E_SUM);
    store<u32>(e, load<u32>(e, E_N) + 1, E_N);
  }

  clear(): void {
    this.ents.len = 0;
    this.keys.len = 0;
    this.vals.len = 0;
    memory.fill(this.slots, 0, <usize>this.nslots * 4);
  }
}

// ---- output ----

/** Collects output pairs and sends them to the host in batches. */
export class Emitter {
  buf: Buffer = new Buffer();
  count: u32 = 0;
  /** @internal In a map task of a job with a combiner: where emits go. */
  table: CombineTable | null = null;

  constructor() {
    this.reset();
  }

  reset(): void {
    this.buf.reserve(5);
    this.buf.len = 0;
    this.buf.byte(0xdd);
    this.buf.be32(0);
    this.count = 0;
  }

  flush(): void {
    if (this.count == 0) return;
    store<u32>(this.buf.ptr + 1, bswap<u32>(this.count));
    hostEmit(this.buf.ptr, this.buf.len);
    this.reset();
  }

  /** Emits raw bytes (ptr, len) as key and value. */
  emitRaw(kp: usize, kn: i32, vp: usize, vn: i32): void {
    const t = this.table;
    if (t !== null) {
      t.add(kp, kn, vp, vn);
      return;
    }
    const need = kn + vn + 11;
    if (this.buf.len + need > EMIT_FLUSH_SIZE) this.flush();
    this.buf.reserve(need);
    this.buf.byte(0x92);
    this.buf.bin(kp, kn);
    this.buf.bin(vp, vn);
    this.count++;
  }

  emit(key: Bytes, value: Bytes): void {
    this.emitRaw(key.ptr, key.length, value.ptr, value.length);
  }

  emitBytes(key: Uint8Array, value: Uint8Array): void {
    this.emitRaw(key.dataStart, key.length, value.dataStart, value.length);
  }

  emitString(key: string, value: string): void {
    const k = String.UTF8.encode(key);
    const v = String.UTF8.encode(value);
    this.emitRaw(changetype<usize>(k), k.byteLength, changetype<usize>(v), v.byteLength);
  }

  /** Emits value as a decimal integer. */
  emitInt(key: Bytes, value: i64): void {
    const t = this.table;
    if (t !== null && t.sum) {
      t.addInt(key.ptr, key.length, value);
      return;
    }
    const n = formatInt(digits, value);
    this.emitRaw(key.ptr, key.length, digits + <usize>(24 - n), n);
  }
}

const digits: usize = heap.alloc(24);

/** Writes value in decimal to the end of the 24-byte buffer at p; returns
 * its length. */
function formatInt(p: usize, value: i64): i32 {
  let u: u64 = value < 0 ? <u64>(0 - value) : <u64>value;
  let i = 24;
  do {
    i--;
    store<u8>(p + <usize>i, <u8>(48 + <i32>(u % 10)));
    u /= 10;
  } while (u != 0);
  if (value < 0) {
    i--;
    store<u8>(p + <usize>i, 45);
  }
  return 24 - i;
}

// ---- values ----

/** The values of one key, streamed from the host (a key may have more
 * values than fit in memory): while (values.next()) use(values.value). */
export class Values {
  /** The current value, valid until the next call of next(). */
  value: Bytes = new Bytes();
  chunk: Reader = new Reader();
  inChunk: u32 = 0;
  more: bool = false;
  cont: Buffer = new Buffer();
  contReader: Reader = new Reader();
  inCont: u32 = 0;
  bad: bool = false;

  next(): bool {
    while (true) {
      if (this.bad) return false;
      if (this.inChunk > 0) {
        this.inChunk--;
        this.chunk.bytes(this.value);
        if (this.chunk.bad) {
          this.bad = true;
          return false;
        }
        return true;
      }
      if (this.inCont > 0) {
        this.inCont--;
        this.contReader.bytes(this.value);
        if (this.contReader.bad) {
          this.bad = true;
          return false;
        }
        return true;
      }
      if (!this.more || !this.refill()) return false;
    }
  }

  refill(): bool {
    if (this.cont.cap == 0) this.cont.reserve(64 << 10);
    while (true) {
      const n = hostNextValues(this.cont.ptr, this.cont.cap);
      if (n == 0) {
        this.more = false;
        return false;
      }
      if (n < 0) {
        this.cont.reserve(-n);
        continue;
      }
      const r = this.contReader;
      r.reset(this.cont.ptr, n);
      const fields = r.array();
      this.more = r.bool();
      this.inCont = r.array();
      if (fields != 2 || r.bad) {
        this.bad = true;
        this.more = false;
        this.inCont = 0;
        return false;
      }
      return true;
    }
  }

  /** Adds up the remaining values, each a decimal integer. */
  sumInts(): i64 {
    let total: i64 = 0;
    while (this.next()) total += parseInt64(this.value);
    return total;
  }
}

/** A ready-made reduce and combine: the sum of decimal values. */
export function sum(key: Bytes, values: Values, out: Emitter): void {
  out.emitInt(key, values.sumInts());
}

/** Parses a decimal integer with an optional sign; throws if b is not one. */
export function parseInt64(b: Bytes): i64 {
  const n = b.length;
  if (n == 0) throw new Error("empty string is not an integer");
  let i = 0;
  let neg = false;
  const c0 = b.at(0);
  if (c0 == 45 || c0 == 43) {
    neg = c0 == 45;
    i = 1;
    if (n == 1) throw new Error('"' + b.toString() + '" is not an integer');
  }
  let u: u64 = 0;
  for (; i < n; i++) {
    const d = <u32>b.at(i) - 48;
    if (d > 9) throw new Error('"' + b.toString() + '" is not an integer');
    if (u > (U64.MAX_VALUE - 9) / 10) throw new Error('"' + b.toString() + '" overflows a 64-bit integer');
    u = u * 10 + <u64>d;
  }
  if (neg ? u > (<u64>1 << 63) : u > <u64>I64.MAX_VALUE) {
    throw new Error('"' + b.toString() + '" overflows a 64-bit integer');
  }
  return neg ? <i64>(0 - u) : <i64>u;
}

/** Decodes a text record's key: the line's byte offset in its file. */
export function offset(key: Bytes): i64 {
  if (key.length != 8) return -1;
  return <i64>bswap<u64>(load<u64>(key.ptr));
}

// ---- counters and logs ----

const counterNames: string[] = [];
const counterDeltas: i64[] = [];

/** Adds delta to a job counter (summed over the job, shown in its summary). */
export function counter(name: string, delta: i64): void {
  const i = counterNames.indexOf(name);
  if (i >= 0) {
    counterDeltas[i] += delta;
  } else if (counterNames.length < 1000 && name.length > 0) {
    counterNames.push(name);
    counterDeltas.push(delta);
  }
}

/** Sends a message to the job log: level 0 debug, 1 info, 2 warn, 3 error. */
export function log(level: i32, msg: string): void {
  const b = String.UTF8.encode(msg);
  hostLog(level, changetype<usize>(b), b.byteLength);
}

// ---- text helpers shared by all SDKs ----

/** U+FFFD, returned for invalid UTF-8. */
export const RUNE_ERROR: i32 = 0xfffd;

let decodedSize: i32 = 0;

/** Decodes the UTF-8 sequence at p (n > 0 bytes available) exactly like Go's
 * utf8.DecodeRune; its length is then in lastRuneSize(). Invalid or short
 * sequences give U+FFFD with length 1. */
export function decodeRune(p: usize, n: i32): i32 {
  const c = <i32>load<u8>(p);
  decodedSize = 1;
  if (c < 0x80) return c;
  let size = 0;
  let r = 0;
  let lo = 0x80;
  let hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    size = 2;
    r = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    size = 3;
    r = c & 0x0f;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    size = 4;
    r = c & 0x07;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else return RUNE_ERROR;
  if (n < 2) return RUNE_ERROR;
  const c1 = <i32>load<u8>(p + 1);
  if (c1 < lo || c1 > hi) return RUNE_ERROR;
  r = (r << 6) | (c1 & 0x3f);
  for (let i = 2; i < size; i++) {
    if (n <= i) return RUNE_ERROR;
    const ci = <i32>load<u8>(p + <usize>i);
    if (ci < 0x80 || ci > 0xbf) return RUNE_ERROR;
    r = (r << 6) | (ci & 0x3f);
  }
  decodedSize = size;
  return r;
}

/** The length of the sequence the last decodeRune call read. */
export function lastRuneSize(): i32 {
  return decodedSize;
}

/** Whether r is a letter, exactly as Go's unicode.IsLetter. */
export function isLetter(r: i32): bool {
  if (r < 0x80) return <u32>((r | 0x20) - 97) < 26;
  let lo = 0;
  let hi = LETTER_RANGES.length >> 1;
  const u = <u32>r;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (u > unchecked(LETTER_RANGES[2 * mid + 1])) lo = mid + 1;
    else if (u < unchecked(LETTER_RANGES[2 * mid])) hi = mid;
    else return true;
  }
  return false;
}

// letters16 sets scanLetters and scanHigh to bitmasks of the 16 bytes from
// p: its ASCII letters and its bytes >= 0x80 (bytes at or past end are
// neither). Where all 16 bytes are below the memory's end it loads them at
// once (SIMD with asc --enable simd, else two 64-bit words); near the end,
// byte by byte.
let scanLetters: u32 = 0;
let scanHigh: u32 = 0;
// @ts-ignore: decorator
@inline function highBits(x: u64): u32 {
  return <u32>((((x >> 7) & 0x0101010101010101) * 0x0102040810204080) >> 56);
}
// @ts-ignore: decorator
@inline function asciiLetters(x: u64): u32 {
  const t = (x & ~(<u64>0x8080808080808080)) | 0x2020202020202020; // 0x20..0x7f: no carry below
  const geA = t + 0x1f1f1f1f1f1f1f1f; // 0x80 - 'a' in every byte
  const gtZ = t + 0x0505050505050505; // 0x80 - 'z' - 1
  return highBits(geA & ~gtZ & ~x);
}
/** The first "\n" in [p, end), or end: sixteen bytes at a time. */
function findNewline(p: usize, end: usize): usize {
  if (ASC_FEATURE_SIMD) {
    for (; p + 16 <= end; p += 16) {
      const m = i8x16.bitmask(i8x16.eq(v128.load(p), i8x16.splat(10)));
      if (m != 0) return p + <usize>ctz(m);
    }
  }
  for (; p < end; p++) if (load<u8>(p) == 10) return p;
  return end;
}

function letters16(p: usize, end: usize): void {
  const left = end - p;
  const valid: u32 = left < 16 ? (<u32>1 << <u32>left) - 1 : 0xffff;
  if (ASC_FEATURE_SIMD) {
    // With asc --enable simd (wmr runs SIMD): one load, a compare, two masks.
    if (p + 16 <= (<usize>memory.size() << 16)) {
      const v = v128.load(p);
      const t = i8x16.sub(v128.or(v, i8x16.splat(0x20)), i8x16.splat(97));
      scanLetters = i8x16.bitmask(i8x16.lt_u(t, i8x16.splat(26))) & valid;
      scanHigh = i8x16.bitmask(v) & valid;
      return;
    }
  }
  load16(p, left < 16 ? left : 16); // zero past the end: neither
  scanLetters = asciiLetters(word0) | (asciiLetters(word1) << 8);
  scanHigh = highBits(word0) | (highBits(word1) << 8);
}

/** Finds the words of a line: maximal runs of letters (isLetter).
 *   scan.reset(line); while (scan.next()) use(scan.word); */
export class WordScanner {
  word: Bytes = new Bytes();
  p: usize = 0;
  end: usize = 0;

  reset(line: Bytes): void {
    this.p = line.ptr;
    this.end = line.ptr + <usize>line.length;
  }

  /** Looks at 16 bytes at a time (two 64-bit words); only where a
   * non-ASCII byte matters does it decode runes one at a time. A byte loop
   * was half of a word count's guest time. */
  next(): bool {
    const end = this.end;
    let i = this.p;
    let first: u32 = 0;
    while (true) {
      // The word's first byte.
      if (i >= end) {
        this.p = end;
        return false;
      }
      letters16(i, end);
      const before: u32 = scanHigh != 0 ? (scanHigh & (0 - scanHigh)) - 1 : 0xffff;
      if ((scanLetters & before) != 0) {
        first = ctz(scanLetters & before);
        break;
      }
      if (scanHigh != 0) {
        this.p = i + <usize>ctz(scanHigh);
        return this.nextRunes(false, 0);
      }
      i += 16;
    }
    // The word's end, its first non-letter, is looked for in the same 16
    // bytes first (most words end there), then 16 at a time.
    const start = i + <usize>first;
    while (true) {
      const left = end - i;
      const ends = ~scanLetters & (left < 16 ? (<u32>1 << <u32>left) - 1 : 0xffff) & (<u32>0xffffffff << first);
      if (ends != 0) {
        i += <usize>ctz(ends);
        if (load<u8>(i) >= 0x80) {
          this.p = i;
          return this.nextRunes(true, start);
        }
        this.word.ptr = start;
        this.word.length = <i32>(i - start);
        this.p = i + 1;
        return true;
      }
      if (left <= 16) {
        this.word.ptr = start;
        this.word.length = <i32>(end - start);
        this.p = end;
        return true;
      }
      i += 16;
      first = 0;
      letters16(i, end);
    }
  }

  /** The rune-at-a-time scan from p, in a word begun at start if inWord. */
  nextRunes(inWord: bool, start: usize): bool {
    while (this.p < this.end) {
      const c = <i32>load<u8>(this.p);
      let letter: bool;
      let size = 1;
      if (c < 0x80) {
        letter = <u32>((c | 0x20) - 97) < 26;
      } else {
        letter = isLetter(decodeRune(this.p, <i32>(this.end - this.p)));
        size = decodedSize;
      }
      if (letter) {
        if (!inWord) {
          start = this.p;
          inWord = true;
        }
      } else if (inWord) {
        this.word.ptr = start;
        this.word.length = <i32>(this.p - start);
        this.p += <usize>size;
        return true;
      }
      this.p += <usize>size;
    }
    if (inWord) {
      this.word.ptr = start;
      this.word.length = <i32>(this.end - start);
      return true;
    }
    return false;
  }
}

/** The ABI's partition hash, 64-bit FNV-1a (ABI.md 6). */
export function partitionHash(key: Bytes): u64 {
  let h: u64 = 0xcbf29ce484222325;
  for (let i = 0; i < key.length; i++) {
    h ^= <u64>key.at(i);
    h *= 0x100000001b3;
  }
  return h;
}

// ---- the runtime behind the exports (exports.ts) ----

/** @internal */
export class Runtime {
  input: usize = 0;
  inputCap: i32 = 0;
  emitter: Emitter = new Emitter();
  values: Values = new Values();
  key: Bytes = new Bytes();
  value: Bytes = new Bytes();
  reader: Reader = new Reader();
  task: Task = new Task();
  failBuf: Buffer = new Buffer();
  table: CombineTable | null = null;
  chunk: Buffer = new Buffer();
  chunkReader: Reader = new Reader();
  /** This task's wmr_map calls get text blocks (abi/ABI.md 4.5). */
  textBlocks: bool = false;
  lines: Bytes = new Bytes();
  keyBuf: usize = heap.alloc(8);

  job(): Job {
    const j = registered;
    if (j === null) throw new Error("the module registered no job: call register(new YourJob()) at the top level");
    return j;
  }

  alloc(size: i32): usize {
    if (size + 1 > this.inputCap) {
      if (this.input != 0) heap.free(this.input);
      this.input = heap.alloc(<usize>(size + 1));
      this.inputCap = size + 1;
    }
    return this.input;
  }

  fail(msg: string, record: i64): i32 {
    this.emitter.reset();
    counterNames.length = 0;
    counterDeltas.length = 0;
    const m = String.UTF8.encode(msg);
    const b = this.failBuf;
    b.len = 0;
    b.reserve(m.byteLength + 16);
    b.byte(0x92);
    b.byte(0xdb);
    b.be32(<u32>m.byteLength);
    b.bytes(changetype<usize>(m), m.byteLength);
    b.byte(0xd3);
    b.be32(<u32>(<u64>record >> 32));
    b.be32(<u32>record);
    hostFail(b.ptr, b.len);
    return -1;
  }

  finish(): i32 {
    this.emitter.flush();
    for (let i = 0; i < counterNames.length; i++) {
      const b = String.UTF8.encode(counterNames[i]);
      hostCounter(changetype<usize>(b), b.byteLength, counterDeltas[i]);
    }
    counterNames.length = 0;
    counterDeltas.length = 0;
    return 0;
  }

  str(r: Reader): string {
    r.bytes(scratchBytes);
    return r.bad ? "" : scratchBytes.toString();
  }

  init(ptr: usize, len: i32): i32 {
    const job = this.job();
    const r = this.reader;
    r.reset(ptr, len);
    const t = new Task();
    let memoryLimit: i64 = 0;
    let hostFinishes = false;
    let textBlocks = false;
    const n = r.map();
    const k = new Bytes();
    for (let i: u32 = 0; i < n && !r.bad; i++) {
      r.bytes(k);
      const key = k.toString();
      if (key == "job_id") t.jobId = this.str(r);
      else if (key == "task_id") t.taskId = this.str(r);
      else if (key == "task_kind") t.taskKind = this.str(r);
      else if (key == "input_file") t.inputFile = this.str(r);
      else if (key == "attempt") t.attempt = r.int();
      else if (key == "split_offset") t.splitOffset = r.int();
      else if (key == "split_length") t.splitLength = r.int();
      else if (key == "partition") t.partition = r.int();
      else if (key == "num_partitions") t.numPartitions = r.int();
      else if (key == "memory_limit") memoryLimit = r.int();
      else if (key == "finish") hostFinishes = r.bool();
      else if (key == "text_blocks") textBlocks = r.bool();
      else if (key == "params" && r.p < r.end && load<u8>(r.p) != 0xc0) {
        const np = r.map();
        for (let j: u32 = 0; j < np && !r.bad; j++) {
          const name = this.str(r);
          t.params.set(name, this.str(r));
        }
      } else r.skip();
    }
    if (r.bad || r.p != r.end) return this.fail("reading the host's init message: malformed msgpack", -1);
    this.task = t;
    counterNames.length = 0;
    counterDeltas.length = 0;
    this.emitter.reset();
    // Combine in the module only when the host will call wmr_finish to
    // flush the table (older hosts never do).
    this.table = null;
    if (job.hasCombiner && hostFinishes && t.taskKind == "map") {
      let budget: i64 = memoryLimit > 0 ? min(max(memoryLimit / 8, 1 << 20), 64 << 20) : 16 << 20;
      const p = t.param("wmr.combine_bytes");
      if (p !== null) {
        const x = I64.parseInt(p);
        if (x > 0) budget = x;
      }
      this.table = new CombineTable(job.sumCombiner, <i32>budget);
    }
    this.emitter.table = this.table;
    job.init(t);
    this.finish();
    this.textBlocks = textBlocks; // the module splits lines itself
    return (job.hasCombiner ? 1 : 0) | 4 | (textBlocks ? 8 : 0);
  }

  /** Emits what the combining table holds and empties it. */
  flushTable(job: Job): void {
    const t = this.table;
    if (t === null) return;
    const out = this.emitter;
    out.table = null; // what the combiner emits goes to the host
    const key = new Bytes();
    const count = t.count();
    for (let k = 0; k < count; k++) {
      const e = t.ents.ptr + <usize>(k * ENTRY);
      key.ptr = t.keys.ptr + <usize>load<u32>(e, E_KOFF);
      key.length = <i32>load<u32>(e, E_KLEN);
      const n = load<u32>(e, E_N);
      if (t.sum) {
        out.emitInt(key, load<i64>(e, E_SUM));
        continue;
      }
      const first = load<u32>(e, E_FIRST);
      if (n == 1) {
        const p = t.vals.ptr + <usize>(first - 1);
        out.emitRaw(key.ptr, key.length, p + 8, <i32>bswap<u32>(load<u32>(p, 4)));
        continue;
      }
      // The combiner reads the values as the host hands them over: a
      // reduce chunk of one group.
      const b = this.chunk;
      b.len = 0;
      b.reserve(16 + key.length);
      b.byte(0xdd);
      b.be32(1);
      b.byte(0x93);
      b.bin(key.ptr, key.length);
      b.byte(0xc2);
      b.byte(0xdd);
      b.be32(n);
      for (let ref = first; ref != 0; ) {
        const p = t.vals.ptr + <usize>(ref - 1);
        const vn = <i32>bswap<u32>(load<u32>(p, 4));
        b.reserve(vn + 5);
        b.bin(p + 8, vn);
        ref = bswap<u32>(load<u32>(t.vals.ptr + <usize>(ref - 1)));
      }
      const r = this.chunkReader;
      r.reset(b.ptr, b.len);
      r.array();
      r.array();
      const k2 = new Bytes();
      r.bytes(k2);
      r.bool();
      const v = this.values;
      v.chunk = r;
      v.inChunk = r.array();
      v.more = false;
      v.inCont = 0;
      v.bad = false;
      job.combine(k2, v, out);
    }
    t.clear();
    out.table = t;
  }

  /** The end-of-task call (wmr_finish): the table's last flush, then the
   * job's finish hook. */
  endTask(): i32 {
    const job = this.job();
    if (this.table !== null) {
      this.flushTable(job);
      this.table = null;
      this.emitter.table = null; // finish emits straight to the host
    }
    job.finish(this.task, this.emitter);
    return this.finish();
  }

  map(ptr: usize, len: i32): i32 {
    if (this.textBlocks) return this.mapText(ptr, len);
    const job = this.job();
    const r = this.reader;
    r.reset(ptr, len);
    const n = r.array();
    const key = this.key;
    const value = this.value;
    const out = this.emitter;
    for (let i: u32 = 0; i < n; i++) {
      const fields = r.array();
      r.bytes(key);
      r.bytes(value);
      if (r.bad || fields != 2) return this.fail("reading the host's batch: malformed record", i);
      job.map(key, value, out);
      const t = this.table;
      if (t !== null && t.full()) this.flushTable(job);
    }
    if (r.bad || r.p != r.end) return this.fail("reading the host's batch: malformed msgpack", -1);
    return this.finish();
  }

  /** wmr_map on a text block (abi/ABI.md 4.5): each line is a record,
   * key its offset (8 bytes big-endian), value the line without "\n" or
   * "\r\n". */
  mapText(ptr: usize, len: i32): i32 {
    const job = this.job();
    const r = this.reader;
    r.reset(ptr, len);
    const fields = r.array();
    const at = r.int();
    const lines = this.lines;
    r.bytes(lines);
    if (r.bad || fields != 2 || r.p != r.end) return this.fail("reading the host's text block: malformed msgpack", -1);
    const key = this.key;
    const value = this.value;
    const out = this.emitter;
    const start = lines.ptr;
    const end = start + <usize>lines.length;
    for (let p = start; p < end; ) {
      const nl = findNewline(p, end);
      const stop = nl < end && nl > p && load<u8>(nl - 1) == 13 ? nl - 1 : nl;
      store<u64>(this.keyBuf, bswap<u64>(<u64>at + <u64>(p - start)));
      key.ptr = this.keyBuf;
      key.length = 8;
      value.ptr = p;
      value.length = <i32>(stop - p);
      job.map(key, value, out);
      const t = this.table;
      if (t !== null && t.full()) this.flushTable(job);
      p = nl < end ? nl + 1 : end;
    }
    return this.finish();
  }

  reduce(ptr: usize, len: i32, combine: bool): i32 {
    const job = this.job();
    if (combine && !job.hasCombiner) return this.fail("the module has no combiner", -1);
    const r = this.reader;
    r.reset(ptr, len);
    const v = this.values;
    v.chunk = r;
    const key = this.key;
    const n = r.array();
    for (let i: u32 = 0; i < n; i++) {
      const fields = r.array();
      r.bytes(key);
      const more = r.bool();
      const count = r.array();
      if (r.bad || fields != 3) return this.fail("reading the host's chunk: malformed group", i);
      v.inChunk = count;
      v.more = more;
      v.inCont = 0;
      v.bad = false;
      if (combine) job.combine(key, v, this.emitter);
      else job.reduce(key, v, this.emitter);
      if (v.bad) return this.fail("reading values from the host: malformed msgpack", i);
      while (v.inChunk > 0 && !r.bad) {
        v.inChunk--;
        r.bytes(scratchBytes);
      }
    }
    if (r.bad || r.p != r.end) return this.fail("reading the host's chunk: malformed msgpack", -1);
    return this.finish();
  }

  partition(ptr: usize, len: i32, numPartitions: i32): i32 {
    if (numPartitions <= 0) return -1;
    return <i32>(partitionHash(new Bytes(ptr, len)) % <u64>numPartitions);
  }
}

/** @internal */
export const runtime = new Runtime();
