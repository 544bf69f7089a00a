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

export function parse(p: usize, n: i32): i64 {
  return parseInt64(new Bytes(p, n));
}
