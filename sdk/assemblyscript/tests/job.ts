// The job the SDK's tests drive (tests/run.mjs).
import { Bytes, Emitter, Job, Task, Values, WordScanner, counter, register, sum, parseInt64 } from "../assembly/index";
export * from "../assembly/exports";

const scan = new WordScanner();
let prefix: Bytes = new Bytes();

class TestJob extends Job {
  constructor() {
    super();
    this.hasCombiner = true;
  }
  init(task: Task): void {
    const p = task.param("prefix");
    prefix = p === null ? new Bytes() : Bytes.fromString(p);
  }
  map(key: Bytes, line: Bytes, out: Emitter): void {
    if (key.length == 8) {
      seenKeys.push(<i64>bswap<u64>(load<u64>(key.ptr)));
      seenLens.push(line.length);
    }
    if (line.toString() == "boom") throw new Error("cannot map boom");
    scan.reset(line);
    while (scan.next()) out.emit(scan.word, prefix);
  }
  reduce(key: Bytes, values: Values, out: Emitter): void {
    counter("keys", 1);
    sum(key, values, out);
  }
  combine(key: Bytes, values: Values, out: Emitter): void {
    sum(key, values, out);
  }
}

register(new TestJob());

// The keys and value lengths map got, for the tests to read.
const seenKeys = new Array<i64>();
const seenLens = new Array<i32>();
export function seenCount(): i32 {
  return seenKeys.length;
}
export function seenKey(i: i32): i64 {
  return seenKeys[i];
}
export function seenLen(i: i32): i32 {
  return seenLens[i];
}
export function clearSeen(): void {
  seenKeys.length = 0;
  seenLens.length = 0;
}

export function parse(p: usize, n: i32): i64 {
  return parseInt64(new Bytes(p, n));
}
