//! The host's imports (ABI.md section 3). Built for wasm32 they are the
//! `wmr` module's functions; built natively (the SDK's own tests) they are
//! a recording fake, so the runtime can be tested with `cargo test`.

#[cfg(target_arch = "wasm32")]
mod imp {
    #[link(wasm_import_module = "wmr")]
    extern "C" {
        #[link_name = "emit"]
        fn host_emit(ptr: *const u8, len: i32);
        #[link_name = "next_values"]
        fn host_next_values(ptr: *mut u8, cap: i32) -> i32;
        #[link_name = "fail"]
        fn host_fail(ptr: *const u8, len: i32);
        #[link_name = "log"]
        fn host_log(level: i32, ptr: *const u8, len: i32);
        #[link_name = "counter"]
        fn host_counter(ptr: *const u8, len: i32, delta: i64);
    }

    pub fn emit(b: &[u8]) {
        unsafe { host_emit(b.as_ptr(), b.len() as i32) }
    }
    pub fn next_values(b: &mut [u8]) -> i32 {
        unsafe { host_next_values(b.as_mut_ptr(), b.len() as i32) }
    }
    pub fn fail(b: &[u8]) {
        unsafe { host_fail(b.as_ptr(), b.len() as i32) }
    }
    pub fn log(level: i32, b: &[u8]) {
        unsafe { host_log(level, b.as_ptr(), b.len() as i32) }
    }
    pub fn counter(name: &[u8], delta: i64) {
        unsafe { host_counter(name.as_ptr(), name.len() as i32, delta) }
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod imp {
    use std::cell::RefCell;
    use std::collections::VecDeque;

    /// What the fake host saw, and the continuations it will hand out.
    #[derive(Default)]
    pub struct Fake {
        pub emits: Vec<Vec<u8>>,
        pub fails: Vec<Vec<u8>>,
        pub logs: Vec<(i32, Vec<u8>)>,
        pub counters: Vec<(Vec<u8>, i64)>,
        pub continuations: VecDeque<Vec<u8>>,
    }

    thread_local! {
        pub static FAKE: RefCell<Fake> = RefCell::new(Fake::default());
    }

    pub fn emit(b: &[u8]) {
        FAKE.with(|f| f.borrow_mut().emits.push(b.to_vec()))
    }
    pub fn next_values(b: &mut [u8]) -> i32 {
        FAKE.with(|f| {
            let mut f = f.borrow_mut();
            match f.continuations.front() {
                None => 0,
                Some(c) if c.len() > b.len() => -(c.len() as i32),
                Some(_) => {
                    let c = f.continuations.pop_front().unwrap();
                    b[..c.len()].copy_from_slice(&c);
                    c.len() as i32
                }
            }
        })
    }
    pub fn fail(b: &[u8]) {
        FAKE.with(|f| f.borrow_mut().fails.push(b.to_vec()))
    }
    pub fn log(level: i32, b: &[u8]) {
        FAKE.with(|f| f.borrow_mut().logs.push((level, b.to_vec())))
    }
    pub fn counter(name: &[u8], delta: i64) {
        FAKE.with(|f| f.borrow_mut().counters.push((name.to_vec(), delta)))
    }
}

pub(crate) use imp::*;
