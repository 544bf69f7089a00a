//! Write wmr map/reduce jobs in Rust.
//!
//! A job is a type implementing [`Job`]; [`export_job!`] exports it as a
//! wmr module speaking ABI v1 (`abi/ABI.md`):
//!
//! ```ignore
//! use wmr::{Emitter, Job, Result, Values};
//!
//! #[derive(Default)]
//! struct WordCount;
//!
//! impl Job for WordCount {
//!     const COMBINER: bool = true;
//!     fn map(&mut self, _key: &[u8], line: &[u8], out: &mut Emitter) -> Result {
//!         for word in wmr::text::words(line) {
//!             out.emit(word, b"1");
//!         }
//!         Ok(())
//!     }
//!     fn reduce(&mut self, key: &[u8], values: &mut Values, out: &mut Emitter) -> Result {
//!         wmr::sum(key, values, out)
//!     }
//!     fn combine(&mut self, key: &[u8], values: &mut Values, out: &mut Emitter) -> Result {
//!         wmr::sum(key, values, out)
//!     }
//! }
//!
//! wmr::export_job!(WordCount);
//! ```
//!
//! Keys and values are byte slices valid only during the call; copy what
//! you keep. Emitting appends to one reusable buffer that goes to the host
//! in batches, so the per-record path does not allocate.

mod host;
mod letters;
mod msgpack;
#[doc(hidden)]
pub mod rt;
pub mod text;

pub use rt::{Emitter, Values};
#[cfg(not(target_arch = "wasm32"))]
pub use rt::run_local;

/// The ABI version this SDK speaks.
pub const ABI_VERSION: i32 = 1;

/// A job's error: a message for the user. Any `Display` error converts
/// into it, so `?` works on parse errors and `Err("why".into())` on text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl<E: std::fmt::Display> From<E> for Error {
    fn from(e: E) -> Self {
        Error(e.to_string())
    }
}

/// What job functions return.
pub type Result<T = ()> = std::result::Result<T, Error>;

/// The task being run (ABI.md 2.3).
#[derive(Debug, Default, Clone)]
pub struct Task {
    pub job_id: String,
    pub task_id: String,
    /// "map" or "reduce".
    pub task_kind: String,
    /// 1 for the first attempt, 2 for the first retry, ...
    pub attempt: i64,
    /// Map tasks: base name of the split's input file.
    pub input_file: String,
    pub split_offset: i64,
    pub split_length: i64,
    /// Reduce tasks: the partition reduced (0-based).
    pub partition: i64,
    /// R, the number of reducers.
    pub num_partitions: i64,
    /// The job's `--param name=value` pairs, in the host's order.
    pub params: Vec<(String, String)>,
    /// The task's cap on the module's memory in bytes (0: unknown).
    pub memory_limit: i64,
    /// The host makes the end-of-task call (init key `finish`).
    pub(crate) host_finishes: bool,
    /// The host offers text blocks (init key `text_blocks`, ABI.md 4.5).
    pub(crate) text_blocks: bool,
}

impl Task {
    /// The value of `--param name=value`, if the job has it.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A map/reduce job. One value of the type runs all tasks of one module
/// instance, one after another; `init` starts each task.
pub trait Job: Default + 'static {
    /// Whether `combine` is a combiner the host should call on map output.
    const COMBINER: bool = false;
    /// Whether `partition` chooses partitions (else FNV-1a-64 mod R).
    const PARTITIONER: bool = false;
    /// Whether `combine` adds up decimal integers, like [`sum`]: map
    /// output combined inside the module then keeps one `i64` per key
    /// instead of its values. (With `COMBINER`, map output is always
    /// combined inside the module first: a hash table per task, flushed at
    /// an eighth of the memory cap and at the end of the task;
    /// `--param wmr.combine_bytes=N` sets its budget.)
    const SUM_COMBINER: bool = false;

    /// Starts a task: read parameters, reset per-task state.
    fn init(&mut self, _task: &Task) -> Result {
        Ok(())
    }
    /// Maps one input record (text: key = 8-byte big-endian line offset,
    /// value = the line) to any number of output pairs.
    fn map(&mut self, key: &[u8], value: &[u8], out: &mut Emitter) -> Result;
    /// Reduces one key and all its values.
    fn reduce(&mut self, key: &[u8], values: &mut Values, out: &mut Emitter) -> Result;
    /// Combines some values of a key inside a map task; must emit only
    /// `key`. Called only when `COMBINER` is true.
    fn combine(&mut self, _key: &[u8], _values: &mut Values, _out: &mut Emitter) -> Result {
        Err("the job has no combiner".into())
    }
    /// The end-of-task hook (Hadoop's cleanup): called once after the last
    /// `map` of a map task and the last `reduce` of a reduce task; may emit.
    fn finish(&mut self, _task: &Task, _out: &mut Emitter) -> Result {
        Ok(())
    }
    /// The partition (0 <= p < num_partitions) of a key. Called only when
    /// `PARTITIONER` is true.
    fn partition(&self, key: &[u8], num_partitions: u64) -> u64 {
        partition_hash(key) % num_partitions
    }
}

/// A ready-made reduce and combine: adds up the decimal values and emits
/// the total.
pub fn sum(key: &[u8], values: &mut Values, out: &mut Emitter) -> Result {
    let n = values.sum_ints()?;
    out.emit_int(key, n);
    Ok(())
}

/// Parses a decimal integer with an optional sign, without allocating.
pub fn parse_int(b: &[u8]) -> Result<i64> {
    let quoted = || String::from_utf8_lossy(b).into_owned();
    if b.is_empty() {
        return Err("empty string is not an integer".into());
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() {
        return Err(format!("{:?} is not an integer", quoted()).into());
    }
    let mut n: u64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return Err(format!("{:?} is not an integer", quoted()).into());
        }
        if n > (u64::MAX - 9) / 10 {
            return Err(format!("{:?} overflows a 64-bit integer", quoted()).into());
        }
        n = n * 10 + d as u64;
    }
    if neg {
        if n > 1u64 << 63 {
            return Err(format!("{:?} overflows a 64-bit integer", quoted()).into());
        }
        Ok((n as i64).wrapping_neg())
    } else if n > i64::MAX as u64 {
        Err(format!("{:?} overflows a 64-bit integer", quoted()).into())
    } else {
        Ok(n as i64)
    }
}

/// Decodes a text record's key: the byte offset of the line in its file.
pub fn offset(key: &[u8]) -> Option<u64> {
    let b: [u8; 8] = key.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

/// The ABI's partition hash, 64-bit FNV-1a (ABI.md 6).
pub fn partition_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in key {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Adds delta to a job counter, summed over the job and shown in its
/// summary. Aggregated in the guest; cheap to call per record.
pub fn counter(name: &str, delta: i64) {
    rt::counter(name, delta)
}

/// Log levels for [`log`].
pub mod level {
    pub const DEBUG: i32 = 0;
    pub const INFO: i32 = 1;
    pub const WARN: i32 = 2;
    pub const ERROR: i32 = 3;
}

/// Sends a message to the job's log (at most 4 KiB and 200 per task kept).
pub fn log(level: i32, msg: &str) {
    host::log(level, msg.as_bytes())
}

/// Exports a [`Job`] type as the module's ABI v1 functions. Use it once, in
/// the crate's root (a `cdylib` built for `wasm32-unknown-unknown`).
#[macro_export]
macro_rules! export_job {
    ($job:ty) => {
        static mut __WMR_GUEST: ::core::option::Option<$crate::rt::Guest<$job>> = None;

        fn __wmr_guest() -> &'static mut $crate::rt::Guest<$job> {
            // SAFETY: a wasm instance is single-threaded and the host never
            // calls it re-entrantly (ABI.md 1.5).
            unsafe {
                (*::core::ptr::addr_of_mut!(__WMR_GUEST))
                    .get_or_insert_with($crate::rt::Guest::<$job>::new)
            }
        }

        #[no_mangle]
        pub extern "C" fn wmr_abi_version() -> i32 {
            $crate::ABI_VERSION
        }

        #[no_mangle]
        pub extern "C" fn wmr_alloc(size: i32) -> *mut u8 {
            __wmr_guest().alloc(size)
        }

        #[no_mangle]
        pub extern "C" fn wmr_init(ptr: *const u8, len: i32) -> i32 {
            __wmr_guest().init(unsafe { $crate::rt::bytes(ptr, len) })
        }

        #[no_mangle]
        pub extern "C" fn wmr_map(ptr: *const u8, len: i32) -> i32 {
            __wmr_guest().map(unsafe { $crate::rt::bytes(ptr, len) })
        }

        #[no_mangle]
        pub extern "C" fn wmr_reduce(ptr: *const u8, len: i32) -> i32 {
            __wmr_guest().reduce(unsafe { $crate::rt::bytes(ptr, len) }, false)
        }

        #[no_mangle]
        pub extern "C" fn wmr_combine(ptr: *const u8, len: i32) -> i32 {
            __wmr_guest().reduce(unsafe { $crate::rt::bytes(ptr, len) }, true)
        }

        #[no_mangle]
        pub extern "C" fn wmr_finish() -> i32 {
            __wmr_guest().finish()
        }

        #[no_mangle]
        pub extern "C" fn wmr_partition(ptr: *const u8, len: i32, num_partitions: i32) -> i32 {
            __wmr_guest().partition(unsafe { $crate::rt::bytes(ptr, len) }, num_partitions)
        }
    };
}

#[cfg(test)]
mod tests;
