//! terasort in Rust: each 100-byte record under its 10-byte key, written
//! back once per occurrence; byte-identical to the Go terasort (run with
//! --input-format fixed:100 --partitioner range --output-format fixed:100).

use wmr::{Emitter, Job, Result, Values};

#[derive(Default)]
struct TeraSort;

impl Job for TeraSort {
    fn map(&mut self, _offset: &[u8], rec: &[u8], out: &mut Emitter) -> Result {
        if rec.len() >= 10 {
            out.emit(&rec[..10], rec);
        }
        Ok(())
    }

    fn reduce(&mut self, key: &[u8], values: &mut Values, out: &mut Emitter) -> Result {
        while let Some(v) = values.next() {
            out.emit(key, v);
        }
        Ok(())
    }
}

wmr::export_job!(TeraSort);
