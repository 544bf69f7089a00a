//! indexer in Rust: an inverted index. For every word (a maximal run of
//! Unicode letters), the input files containing it. Output:
//! word<TAB>n doc1,doc2,... (docs sorted bytewise, each once), byte-identical
//! to the Go and C indexers. The combiner sends each word's distinct docs
//! once per map task, comma-separated.

use wmr::{Emitter, Job, Result, Task, Values};

#[derive(Default)]
struct Indexer {
    doc: Vec<u8>,
    docs: Vec<Vec<u8>>,
    out: Vec<u8>,
}

impl Indexer {
    /// Gathers the distinct docs among values, each a comma-separated list
    /// of names (a combiner's output) or one name.
    fn collect(&mut self, values: &mut Values) {
        self.docs.clear();
        while let Some(v) = values.next() {
            self.docs.extend(v.split(|&b| b == b',').map(|d| d.to_vec()));
            // Keep memory bounded by the number of distinct docs.
            if self.docs.len() > 4096 {
                self.docs.sort_unstable();
                self.docs.dedup();
            }
        }
        self.docs.sort_unstable();
        self.docs.dedup();
    }
}

impl Job for Indexer {
    const COMBINER: bool = true;

    fn init(&mut self, task: &Task) -> Result {
        self.doc = task.input_file.as_bytes().to_vec();
        Ok(())
    }

    fn map(&mut self, _offset: &[u8], line: &[u8], out: &mut Emitter) -> Result {
        for word in wmr::text::words(line) {
            out.emit(word, &self.doc);
        }
        Ok(())
    }

    fn combine(&mut self, word: &[u8], values: &mut Values, out: &mut Emitter) -> Result {
        self.collect(values);
        let joined = self.docs.join(&b","[..]);
        out.emit(word, &joined);
        Ok(())
    }

    fn reduce(&mut self, word: &[u8], values: &mut Values, out: &mut Emitter) -> Result {
        self.collect(values);
        self.out.clear();
        self.out.extend_from_slice(self.docs.len().to_string().as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(&self.docs.join(&b","[..]));
        out.emit(word, &self.out);
        Ok(())
    }
}

wmr::export_job!(Indexer);
