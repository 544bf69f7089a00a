//! sort in Rust: every input line as a key with an empty value, written
//! back once per occurrence. With `--partitioner range` the part files read
//! in order are the input lines in bytewise order, byte-identical to the Go
//! sort and to `LC_ALL=C sort`.

use wmr::{Emitter, Job, Result, Values};

#[derive(Default)]
struct Sort;

impl Job for Sort {
    fn map(&mut self, _offset: &[u8], line: &[u8], out: &mut Emitter) -> Result {
        out.emit(line, b"");
        Ok(())
    }

    fn reduce(&mut self, key: &[u8], values: &mut Values, out: &mut Emitter) -> Result {
        while values.next().is_some() {
            out.emit(key, b"");
        }
        Ok(())
    }
}

wmr::export_job!(Sort);
