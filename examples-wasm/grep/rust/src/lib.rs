//! grep in Rust: counts the matches of `--param pattern=REGEX`, every
//! non-overlapping match in each line under its matched text, as Go's
//! FindAllIndex finds them. Output: match<TAB>count, byte-identical to the
//! Go and C greps for patterns in the syntax of regex.rs.

mod regex;

use regex::Regex;
use wmr::{Emitter, Job, Result, Task, Values};

#[derive(Default)]
struct Grep {
    pattern: Option<Regex>,
}

impl Job for Grep {
    const COMBINER: bool = true;
    const SUM_COMBINER: bool = true; // combine is wmr::sum

    fn init(&mut self, task: &Task) -> Result {
        let p = match task.param("pattern") {
            Some(p) if !p.is_empty() => p,
            _ => return Err("grep needs --param pattern=REGEX".into()),
        };
        self.pattern = Some(Regex::new(p).map_err(|e| format!("bad pattern: {}", e))?);
        Ok(())
    }

    fn map(&mut self, _offset: &[u8], line: &[u8], out: &mut Emitter) -> Result {
        let re = self.pattern.as_mut().ok_or("no pattern")?;
        re.find_all(line, |s, e| out.emit(&line[s..e], b"1"));
        Ok(())
    }

    fn reduce(&mut self, key: &[u8], values: &mut Values, out: &mut Emitter) -> Result {
        wmr::sum(key, values, out)
    }

    fn combine(&mut self, key: &[u8], values: &mut Values, out: &mut Emitter) -> Result {
        wmr::sum(key, values, out)
    }
}

wmr::export_job!(Grep);
