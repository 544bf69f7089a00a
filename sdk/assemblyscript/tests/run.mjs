// The AssemblyScript SDK's tests: build tests/job.ts, run it in Node with a
// fake host that records what the SDK sends, and check the results.
import { execFileSync } from "node:child_process";
import { readFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import assert from "node:assert/strict";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "..", "..", "build", "sdk-as-test.wasm");
mkdirSync(dirname(out), { recursive: true });
execFileSync(join(here, "..", "node_modules", ".bin", "asc"), [join(here, "job.ts"), "-o", out, "-O3"], { stdio: "inherit" });

let inst;
const mem = () => new Uint8Array(inst.exports.memory.buffer);
const host = { emits: [], fails: [], counters: [], aborts: [], continuations: [] };
const imports = {
  wmr: {
    emit: (p, n) => host.emits.push(mem().slice(p, p + n)),
    fail: (p, n) => host.fails.push(mem().slice(p, p + n)),
    log: () => {},
    counter: (p, n, d) => host.counters.push([Buffer.from(mem().slice(p, p + n)).toString(), d]),
    next_values: (p, cap) => {
      const c = host.continuations[0];
      if (!c) return 0;
      if (c.length > cap) return -c.length;
      host.continuations.shift();
      mem().set(c, p);
      return c.length;
    },
  },
  env: { abort: (msg) => host.aborts.push(msg) || (() => { throw new Error("abort"); })() },
};
inst = (await WebAssembly.instantiate(readFileSync(out), imports)).instance;
const x = inst.exports;

function reset() {
  host.emits = []; host.fails = []; host.counters = []; host.aborts = []; host.continuations = [];
}

// msgpack building
const bin = (s) => { const b = Buffer.from(s); const h = Buffer.alloc(5); h[0] = 0xc6; h.writeUInt32BE(b.length, 1); return Buffer.concat([h, b]); };
const str = (s) => Buffer.concat([Buffer.from([0xa0 | s.length]), Buffer.from(s)]);
const arr32 = (n) => { const h = Buffer.alloc(5); h[0] = 0xdd; h.writeUInt32BE(n, 1); return h; };
function call(fn, msg) {
  const p = x.wmr_alloc(msg.length);
  mem().set(msg, p);
  return fn(p, msg.length);
}
// emitted pairs as "k=v;"
function emitted() {
  let s = "";
  for (const e of host.emits) {
    let i = 0;
    assert.equal(e[i], 0xdd); const n = Buffer.from(e).readUInt32BE(1); i = 5;
    for (let r = 0; r < n; r++) {
      assert.equal(e[i++], 0x92);
      for (const sep of ["=", ";"]) {
        assert.equal(e[i], 0xc4); const len = e[i + 1];
        s += Buffer.from(e.slice(i + 2, i + 2 + len)).toString() + sep; i += 2 + len;
      }
    }
    assert.equal(i, e.length);
  }
  return s;
}

const init = Buffer.concat([Buffer.from([0x84]), str("task_kind"), str("map"), str("future"), Buffer.from([0x92, 1, 0xc0]),
  str("num_partitions"), Buffer.from([3]), str("params"), Buffer.from([0x81]), str("prefix"), str("7")]);

let failed = 0;
function test(name, fn) {
  reset();
  try { fn(); console.log("ok   " + name); } catch (e) { failed++; console.log("FAIL " + name + ": " + e.message); }
}

test("abi version", () => assert.equal(x.wmr_abi_version(), 1));
test("init declares the combiner and the end-of-task call", () => assert.equal(call(x.wmr_init, init), 5));
test("map emits words", () => {
  assert.equal(call(x.wmr_init, init), 5);
  const batch = Buffer.concat([arr32(2), Buffer.from([0x92]), bin("\0\0\0\0\0\0\0\0"), bin(Buffer.from("h\xc3\xa9llo, w\xffo", "latin1")),
    Buffer.from([0x92]), bin("k"), bin("")]);
  assert.equal(call(x.wmr_map, batch), 0);
  assert.equal(emitted(), "h\u00e9llo=7;w=7;o=7;");
});
test("with a host that calls wmr_finish, map output is combined in the module until then", () => {
  const withFinish = Buffer.concat([Buffer.from([0x84]), str("task_kind"), str("map"), str("finish"), Buffer.from([0xc3]),
    str("num_partitions"), Buffer.from([3]), str("params"), Buffer.from([0x81]), str("prefix"), str("2")]);
  assert.equal(call(x.wmr_init, withFinish), 5);
  for (let b = 0; b < 2; b++) {
    const batch = Buffer.concat([arr32(2), Buffer.from([0x92]), bin("\0\0\0\0\0\0\0\0"), bin("a b a"),
      Buffer.from([0x92]), bin("\0\0\0\0\0\0\0\x06"), bin("b c")]);
    assert.equal(call(x.wmr_map, batch), 0);
  }
  assert.equal(host.emits.length, 0);
  assert.equal(x.wmr_finish(), 0);
  assert.equal(emitted(), "a=8;b=8;c=4;");
});
test("a text block is split into the records of a batch", () => {
  const offer = Buffer.concat([Buffer.from([0x83]), str("task_kind"), str("map"), str("text_blocks"), Buffer.from([0xc3]),
    str("params"), Buffer.from([0x81]), str("prefix"), str("7")]);
  assert.equal(call(x.wmr_init, offer), 5 | 8);
  // lines around the 16-byte scan, CRLF, a lone "\r", no final newline
  const text = "a\r\n\n" + "z".repeat(20) + "\n\r\nb\rc\n" + "y".repeat(40) + "\r\nend";
  const block = (at, s) => { const h = Buffer.alloc(10); h[0] = 0x92; h[1] = 0xcf; h.writeBigUInt64BE(BigInt(at), 2); return Buffer.concat([h, bin(s)]); };
  x.clearSeen();
  assert.equal(call(x.wmr_map, block(500, text)), 0);
  const got = [];
  for (let i = 0; i < x.seenCount(); i++) got.push([Number(x.seenKey(i)), x.seenLen(i)]);
  assert.deepEqual(got, [[500, 1], [503, 0], [504, 20], [525, 0], [527, 3], [531, 40], [573, 3]]);
  assert.equal(emitted(), "a=7;" + "z".repeat(20) + "=7;b=7;c=7;" + "y".repeat(40) + "=7;end=7;");
  assert.equal(call(x.wmr_map, block(0, "x").subarray(0, 12)), -1); // short
  assert.equal(host.fails.length, 1);
});
test("malformed batch fails through wmr.fail", () => {
  call(x.wmr_init, init);
  assert.equal(call(x.wmr_map, Buffer.concat([arr32(0), Buffer.from([0])])), -1);
  assert.equal(host.fails.length, 1);
});
test("reduce streams values across continuations, growing its buffer", () => {
  call(x.wmr_init, init);
  const chunk = Buffer.concat([arr32(2),
    Buffer.from([0x93]), bin("a"), Buffer.from([0xc2]), arr32(2), bin("1"), bin("2"),
    Buffer.from([0x93]), bin("b"), Buffer.from([0xc3]), arr32(1), bin("10")]);
  host.continuations.push(Buffer.concat([Buffer.from([0x92, 0xc3, 0x91]), bin("100")]));
  host.continuations.push(Buffer.concat([Buffer.from([0x92, 0xc2, 0x91]), bin("0".repeat(100000) + "5")]));
  assert.equal(call(x.wmr_reduce, chunk), 0);
  assert.equal(emitted(), "a=3;b=115;");
  assert.deepEqual(host.counters, [["keys", 2n]]);
  assert.equal(host.continuations.length, 0);
});
test("parseInt64 edges", () => {
  const p = x.wmr_alloc(32);
  const put = (s) => { mem().set(Buffer.from(s), p); return s.length; };
  assert.equal(x.parse(p, put("-9223372036854775808")), -9223372036854775808n);
  assert.equal(x.parse(p, put("+42")), 42n);
  assert.throws(() => x.parse(p, put("9223372036854775808")));
  assert.throws(() => x.parse(p, put("1x")));
});
test("partition hash matches the ABI's FNV-1a vectors", () => {
  const v = JSON.parse(readFileSync(join(here, "..", "..", "..", "abi", "testdata", "partition_vectors.json")));
  for (const vec of v.vectors) {
    const key = Buffer.from(vec.key_hex, "hex");
    const p = x.wmr_alloc(key.length);
    mem().set(key, p);
    for (const [r, want] of Object.entries(vec.partitions)) assert.equal(x.wmr_partition(p, key.length, Number(r)), want, `key ${vec.key_hex} R=${r}`);
  }
});
if (failed) { console.log(`sdk/assemblyscript: ${failed} test(s) failed`); process.exit(1); }
console.log("sdk/assemblyscript: all tests passed");
