// wordcount in AssemblyScript: words are maximal runs of Unicode letters
// (the same letters as Go's unicode.IsLetter), case-sensitive. Output:
// word<TAB>count, byte-identical to the Go, Rust and C word counts.
import { Bytes, Emitter, Job, Values, WordScanner, register, sum } from "../../../sdk/assemblyscript/assembly/index";
export * from "../../../sdk/assemblyscript/assembly/exports";

const ONE = Bytes.fromString("1");
const scan = new WordScanner();

class WordCount extends Job {
  constructor() {
    super();
    this.hasCombiner = true;
    this.sumCombiner = true; // combine is sum()
  }

  map(key: Bytes, line: Bytes, out: Emitter): void {
    scan.reset(line);
    while (scan.next()) out.emit(scan.word, ONE);
  }

  reduce(key: Bytes, values: Values, out: Emitter): void {
    sum(key, values, out);
  }

  combine(key: Bytes, values: Values, out: Emitter): void {
    sum(key, values, out);
  }
}

register(new WordCount());
