//! wordcount in Rust: words are maximal runs of Unicode letters (the same
//! letters as Go's unicode.IsLetter), case-sensitive. Output: word<TAB>count,
//! byte-identical to the Go, C and AssemblyScript word counts.

use wmr::{Emitter, Job, Result, Values};

#[derive(Default)]
struct WordCount;

impl Job for WordCount {
    const COMBINER: bool = true;
    const SUM_COMBINER: bool = true; // combine is wmr::sum

    fn map(&mut self, _offset: &[u8], line: &[u8], out: &mut Emitter) -> Result {
        for word in wmr::text::words(line) {
            out.emit(word, b"1");
        }
        Ok(())
    }

    fn reduce(&mut self, word: &[u8], counts: &mut Values, out: &mut Emitter) -> Result {
        wmr::sum(word, counts, out)
    }

    fn combine(&mut self, word: &[u8], counts: &mut Values, out: &mut Emitter) -> Result {
        wmr::sum(word, counts, out)
    }
}

wmr::export_job!(WordCount);
