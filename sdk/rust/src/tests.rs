//! The SDK's native tests: the runtime driven through a fake host.

use crate::host::imp::FAKE;
use crate::msgpack::{put_bin, Reader};
use crate::rt::Guest;
use crate::text::{decode_rune, is_letter, words};
use crate::{parse_int, partition_hash, Emitter, Job, Result, Task, Values};

#[derive(Default)]
struct WordCount {
    prefix: Vec<u8>,
}

impl Job for WordCount {
    const COMBINER: bool = true;
    fn init(&mut self, task: &Task) -> Result {
        self.prefix = task.param("prefix").unwrap_or("").as_bytes().to_vec();
        Ok(())
    }
    fn map(&mut self, _key: &[u8], line: &[u8], out: &mut Emitter) -> Result {
        if line == b"boom" {
            return Err("cannot map boom".into());
        }
        if line == b"panic" {
            panic!("asked to");
        }
        for w in words(line) {
            let mut k = self.prefix.clone();
            k.extend_from_slice(w);
            out.emit(&k, b"1");
        }
        Ok(())
    }
    fn reduce(&mut self, key: &[u8], values: &mut Values, out: &mut Emitter) -> Result {
        crate::counter("keys", 1);
        crate::sum(key, values, out)
    }
    fn combine(&mut self, key: &[u8], values: &mut Values, out: &mut Emitter) -> Result {
        crate::sum(key, values, out)
    }
}

fn reset_fake() {
    FAKE.with(|f| *f.borrow_mut() = Default::default());
}

fn array32(n: u32) -> Vec<u8> {
    let mut b = vec![0xdd];
    b.extend_from_slice(&n.to_be_bytes());
    b
}

fn batch(lines: &[&[u8]]) -> Vec<u8> {
    let mut b = array32(lines.len() as u32);
    for (i, l) in lines.iter().enumerate() {
        b.push(0x92);
        put_bin(&mut b, &(i as u64).to_be_bytes());
        put_bin(&mut b, l);
    }
    b
}

/// Decodes every emitted pair, in order.
fn emitted() -> Vec<(Vec<u8>, Vec<u8>)> {
    FAKE.with(|f| {
        let mut out = vec![];
        for e in &f.borrow().emits {
            let mut r = Reader::new(e);
            let n = r.array().unwrap();
            for _ in 0..n {
                assert_eq!(r.array().unwrap(), 2);
                out.push((r.bytes().unwrap().to_vec(), r.bytes().unwrap().to_vec()));
            }
            assert!(r.at_end());
        }
        out
    })
}

fn init_msg(params: &[(&str, &str)]) -> Vec<u8> {
    // {"abi":1,"task_kind":"map","unknown":[1,{"x":nil}],"num_partitions":3,"params":{...}}
    let mut b = vec![0x85];
    b.extend_from_slice(b"\xa3abi\x01");
    b.extend_from_slice(b"\xa9task_kind\xa3map");
    b.extend_from_slice(b"\xa7unknown\x92\x01\x81\xa1x\xc0");
    b.extend_from_slice(b"\xaenum_partitions\xcd\x00\x03");
    b.extend_from_slice(b"\xa6params");
    b.push(0x80 | params.len() as u8);
    for (k, v) in params {
        b.push(0xa0 | k.len() as u8);
        b.extend_from_slice(k.as_bytes());
        b.push(0xa0 | v.len() as u8);
        b.extend_from_slice(v.as_bytes());
    }
    b
}

#[test]
fn map_emits_words_with_params() {
    reset_fake();
    let mut g = Guest::<WordCount>::new();
    assert_eq!(g.init(&init_msg(&[("prefix", "w:")])), 5); // combiner, end-of-task call
    assert_eq!(g.map(&batch(&[b"hello, w\xc3\xb6rld", b"", b"\xff\xfeab"])), 0);
    let got = emitted();
    let want: Vec<(Vec<u8>, Vec<u8>)> = ["w:hello", "w:w\u{f6}rld", "w:ab"]
        .iter()
        .map(|w| (w.as_bytes().to_vec(), b"1".to_vec()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn errors_and_panics_are_reported_with_the_record() {
    reset_fake();
    let mut g = Guest::<WordCount>::new();
    g.init(&init_msg(&[]));
    assert_eq!(g.map(&batch(&[b"fine", b"boom"])), -1);
    let fails = FAKE.with(|f| f.borrow().fails.clone());
    let mut r = Reader::new(&fails[0]);
    assert_eq!(r.array().unwrap(), 2);
    assert_eq!(r.bytes().unwrap(), b"cannot map boom");
    assert_eq!(r.int().unwrap(), 1);
    // Output of the failed call never reaches the host.
    assert!(emitted().is_empty());
}

#[test]
fn malformed_batches_fail() {
    reset_fake();
    let mut g = Guest::<WordCount>::new();
    g.init(&init_msg(&[]));
    let mut b = batch(&[b"a"]);
    b.push(0);
    assert_eq!(g.map(&b), -1);
    assert_eq!(g.map(&[0xdd, 0, 0, 0, 2, 0x92]), -1);
    assert_eq!(g.init(&[0x81, 0xa1]), -1);
}

#[test]
fn reduce_streams_values_across_continuations() {
    reset_fake();
    let mut g = Guest::<WordCount>::new();
    g.init(&init_msg(&[]));
    // Group "a" with 2 values, then "b" with 1 value continuing.
    let mut chunk = array32(2);
    chunk.push(0x93);
    put_bin(&mut chunk, b"a");
    chunk.push(0xc2);
    chunk.extend_from_slice(&array32(2));
    put_bin(&mut chunk, b"1");
    put_bin(&mut chunk, b"2");
    chunk.push(0x93);
    put_bin(&mut chunk, b"b");
    chunk.push(0xc3);
    chunk.extend_from_slice(&array32(1));
    put_bin(&mut chunk, b"10");
    // Two continuations.
    let mut c1 = vec![0x92, 0xc3];
    c1.extend_from_slice(&array32(1));
    put_bin(&mut c1, b"100");
    let mut c2 = vec![0x92, 0xc2];
    c2.extend_from_slice(&array32(1));
    put_bin(&mut c2, b"1000");
    FAKE.with(|f| {
        let mut f = f.borrow_mut();
        f.continuations.push_back(c1);
        f.continuations.push_back(c2);
    });
    assert_eq!(g.reduce(&chunk, false), 0);
    assert_eq!(emitted(), vec![(b"a".to_vec(), b"3".to_vec()), (b"b".to_vec(), b"1110".to_vec())]);
    let counters = FAKE.with(|f| f.borrow().counters.clone());
    assert_eq!(counters, vec![(b"keys".to_vec(), 2)]);

    // A continuation larger than the buffer: the SDK grows it.
    reset_fake();
    let mut chunk = array32(1);
    chunk.push(0x93);
    put_bin(&mut chunk, b"k");
    chunk.push(0xc3);
    chunk.extend_from_slice(&array32(0));
    let mut c = vec![0x92, 0xc2];
    c.extend_from_slice(&array32(1));
    let padded = format!("{:0>100000}", 7);
    put_bin(&mut c, padded.as_bytes());
    FAKE.with(|f| f.borrow_mut().continuations.push_back(c));
    assert_eq!(g.reduce(&chunk, false), 0);
    assert_eq!(emitted(), vec![(b"k".to_vec(), b"7".to_vec())]);
}

#[test]
fn decode_rune_matches_go() {
    let cases: &[(&[u8], u32, usize)] = &[
        (b"a", 'a' as u32, 1),
        (b"\xc3\xa9", 0xe9, 2),
        (b"\xe6\x97\xa5", 0x65e5, 3),
        (b"\xf0\x9f\x98\x80", 0x1f600, 4),
        (b"\xff", 0xfffd, 1),
        (b"\xc0\x80", 0xfffd, 1),       // overlong
        (b"\xe0\x80\x80", 0xfffd, 1),   // overlong
        (b"\xed\xa0\x80", 0xfffd, 1),   // surrogate
        (b"\xf4\x90\x80\x80", 0xfffd, 1), // > U+10FFFF
        (b"\xe6\x97", 0xfffd, 1),       // short
        (b"\xef\xbf\xbd", 0xfffd, 3),   // U+FFFD itself
    ];
    for (b, r, n) in cases {
        assert_eq!(decode_rune(b), (*r, *n), "{:x?}", b);
    }
}

#[test]
fn letters_follow_go_unicode() {
    for (r, want) in [('a', true), ('Z', true), ('1', false), ('_', false), ('\u{e9}', true), ('\u{aa}', true),
        ('\u{65e5}', true), ('\u{2160}', false), ('\u{345}', false), ('\u{1f600}', false), ('\u{10ffff}', false)] {
        assert_eq!(is_letter(r as u32), want, "{:?}", r);
    }
    let w: Vec<&[u8]> = words("a1bc d\u{e9}f\u{2160}g".as_bytes()).collect();
    assert_eq!(w, vec![&b"a"[..], b"bc", "d\u{e9}f".as_bytes(), b"g"]);
}

#[test]
fn parse_int_edges() {
    assert_eq!(parse_int(b"-9223372036854775808").unwrap(), i64::MIN);
    assert_eq!(parse_int(b"+42").unwrap(), 42);
    assert!(parse_int(b"9223372036854775808").is_err());
    assert!(parse_int(b"").is_err());
    assert!(parse_int(b"-").is_err());
    assert!(parse_int(b"1x").is_err());
}

#[test]
fn partition_vectors() {
    let json = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../abi/testdata/partition_vectors.json")).unwrap();
    let field = |s: &str, name: &str| -> Vec<String> {
        s.split(&format!("\"{}\": \"", name)).skip(1).map(|p| p[..p.find('"').unwrap()].to_string()).collect()
    };
    let keys = field(&json, "key_hex");
    let hashes = field(&json, "hash_hex");
    assert!(keys.len() > 5 && keys.len() == hashes.len());
    for (k, h) in keys.iter().zip(&hashes) {
        let key: Vec<u8> = (0..k.len()).step_by(2).map(|i| u8::from_str_radix(&k[i..i + 2], 16).unwrap()).collect();
        assert_eq!(format!("{:016x}", partition_hash(&key)), *h, "key {}", k);
    }
}

#[test]
fn run_local_maps_and_reduces() {
    let out = crate::run_local::<WordCount>(&[("prefix", "1")], &[b"b a b", b"a"]).unwrap();
    assert_eq!(out, vec![(b"1a".to_vec(), b"2".to_vec()), (b"1b".to_vec(), b"2".to_vec())]);
    let err = crate::run_local::<WordCount>(&[], &[b"boom"]).unwrap_err();
    assert_eq!(err, "cannot map boom");
}

/// With a host that makes the end-of-task call, a map task's output stays
/// in the module, combined per key, until `wmr_finish` or a full table;
/// any budget gives the same pairs once the host combines them.
#[test]
fn map_output_is_combined_in_the_module() {
    let lines: Vec<Vec<u8>> = (0..300).map(|i| format!("a b{} a c", i % 7).into_bytes()).collect();
    let refs: Vec<&[u8]> = lines.iter().map(|l| l.as_slice()).collect();
    let mut outputs = vec![];
    for budget in ["", "100", "2000"] {
        reset_fake();
        let mut g = Guest::<WordCount>::new();
        let _ = std::panic::take_hook(); // assertion messages, not the guest's report
        let mut init = init_msg(&if budget.is_empty() { vec![] } else { vec![("wmr.combine_bytes", budget)] });
        init[0] += 1; // one more key:
        init.extend_from_slice(b"\xa6finish\xc3");
        assert_eq!(g.init(&init), 5);
        assert_eq!(g.map(&batch(&refs)), 0);
        if budget.is_empty() {
            assert!(emitted().is_empty(), "pairs emitted before the end of the task");
        }
        assert_eq!(g.finish(), 0);
        let mut totals = std::collections::BTreeMap::new();
        for (k, v) in emitted() {
            *totals.entry(k).or_insert(0i64) += std::str::from_utf8(&v).unwrap().parse::<i64>().unwrap();
        }
        outputs.push(totals);
    }
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0], outputs[2]);
    assert_eq!(outputs[0].get(b"a".as_slice()), Some(&600));
}

/// Keys of every length up to 40 bytes that share their first 16 bytes or
/// differ only in their last byte are kept apart by the combining table
/// (which compares the first 16 bytes as two words).
#[test]
fn combining_table_keeps_keys_of_every_length_apart() {
    let mut lines: Vec<Vec<u8>> = vec![];
    let mut want = std::collections::BTreeMap::new();
    for round in 1..=3 {
        for len in 1..=40usize {
            for last in [b'x', b'y'] {
                let mut w = vec![b'q'; len];
                w[len - 1] = last;
                lines.push(w.clone());
                *want.entry(w).or_insert(0i64) += 1;
            }
        }
        let _ = round;
    }
    let refs: Vec<&[u8]> = lines.iter().map(|l| l.as_slice()).collect();
    let mut got = std::collections::BTreeMap::new();
    for (k, v) in map_task_with_finish(&refs) {
        *got.entry(k).or_insert(0i64) += std::str::from_utf8(&v).unwrap().parse::<i64>().unwrap();
    }
    assert_eq!(got, want);
}

/// The words iterator (16 bytes at a time) agrees with the definition,
/// runes one at a time, on random lines of every length up to 80 bytes.
#[test]
fn words_agree_with_runes_one_at_a_time() {
    fn reference(line: &[u8]) -> Vec<&[u8]> {
        let (mut out, mut i, mut start) = (vec![], 0, None);
        while i < line.len() {
            let (r, size) = decode_rune(&line[i..]);
            if is_letter(r) {
                start.get_or_insert(i);
            } else if let Some(s) = start.take() {
                out.push(&line[s..i]);
            }
            i += size;
        }
        if let Some(s) = start {
            out.push(&line[s..]);
        }
        out
    }
    let pieces: [&[u8]; 20] = [
        b"a", b"Z", b"q", b"word", b"abcdefghijklmnopqrstu", b" ", b",", b".", b"1", b"_", b"\t", "\u{e9}".as_bytes(),
        "\u{65e5}".as_bytes(), "\u{2014}".as_bytes(), b"\xff", b"\xc3", b"@", b"[", b"`", b"{",
    ];
    let mut seed = 42u64;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for _ in 0..20000 {
        let want_len = next() % 81;
        let mut line = vec![];
        while line.len() < want_len {
            let p = pieces[next() % pieces.len()];
            if line.len() + p.len() > want_len {
                break;
            }
            line.extend_from_slice(p);
        }
        assert_eq!(words(&line).collect::<Vec<_>>(), reference(&line), "line {:?}", String::from_utf8_lossy(&line));
    }
}

/// word_at agrees with reading byte by byte, for every length and offset
/// around one and two words.
#[test]
fn word_at_matches_bytes() {
    let all: Vec<u8> = (1..=24u8).map(|i| i.wrapping_mul(37)).collect();
    for n in 0..=all.len() {
        let b = &all[..n];
        for at in 0..=n + 9 {
            let mut want = 0u64;
            for i in 0..8 {
                if at + i < n {
                    want |= (b[at + i] as u64) << (8 * i);
                }
            }
            assert_eq!(crate::text::word_at(b, at), want, "len {} at {}", n, at);
        }
    }
}

/// The table keeps its keys through growing (3,000 keys: the table
/// doubles twice) and flushes them in the order they first came.
#[test]
fn combining_table_grows_and_flushes_in_arrival_order() {
    // Letters only (words are runs of letters): i in base 26, scrambled.
    let word = |mut i: usize| {
        let mut w = String::from("w");
        i = (i * 7919) % 3001;
        loop {
            w.push((b'a' + (i % 26) as u8) as char);
            i /= 26;
            if i == 0 {
                return w;
            }
        }
    };
    let words: Vec<String> = (0..3000).map(word).collect();
    let line = words.join(" ");
    let got = map_task_with_finish(&[line.as_bytes(), line.as_bytes()]);
    let want: Vec<(Vec<u8>, Vec<u8>)> = words.iter().map(|w| (w.as_bytes().to_vec(), b"2".to_vec())).collect();
    assert_eq!(got, want);
}

/// Runs a word count map task over lines with the end-of-task call (the
/// in-module table on) and returns what it emitted.
fn map_task_with_finish(lines: &[&[u8]]) -> Vec<(Vec<u8>, Vec<u8>)> {
    reset_fake();
    let mut g = Guest::<WordCount>::new();
    let mut init = init_msg(&[]);
    init[0] += 1;
    init.extend_from_slice(b"\xa6finish\xc3");
    assert_eq!(g.init(&init), 5);
    assert_eq!(g.map(&batch(lines)), 0);
    assert_eq!(g.finish(), 0);
    emitted()
}

/// Emits every record it maps as it got it.
#[derive(Default)]
struct Echo;

impl Job for Echo {
    fn map(&mut self, key: &[u8], line: &[u8], out: &mut Emitter) -> Result {
        if line == b"boom" {
            return Err("cannot map boom".into());
        }
        out.emit(key, line);
        Ok(())
    }
    fn reduce(&mut self, _key: &[u8], _values: &mut Values, _out: &mut Emitter) -> Result {
        Ok(())
    }
}

/// A text block (ABI.md 4.5) as the host writes it.
fn text_block(at: u64, lines: &[u8]) -> Vec<u8> {
    let mut b = vec![0x92, 0xcf];
    b.extend_from_slice(&at.to_be_bytes());
    b.push(0xc6);
    b.extend_from_slice(&(lines.len() as u32).to_be_bytes());
    b.extend_from_slice(lines);
    b
}

#[test]
fn text_blocks_are_split_into_the_records_of_a_batch() {
    reset_fake();
    let mut g = Guest::<Echo>::new();
    let mut init = init_msg(&[]);
    init[0] += 1;
    init.extend_from_slice(b"\xabtext_blocks\xc3");
    assert_eq!(g.init(&init), 4 | 8); // end-of-task call, text blocks
    // Lines of every length around the 8- and 16-byte scans, CRLF, empty
    // lines, a lone "\r", and a last line without a newline.
    let long = "0123456789abcdefghij";
    let text = format!("a\r\n\n{long}\n\r\n{}\nb\rc\n{long}{long}\r\nend", &long[..15]);
    assert_eq!(g.map(&text_block(1000, text.as_bytes())), 0);
    let mut want = vec![];
    let mut at = 1000u64;
    for l in text.split('\n') {
        let v = l.strip_suffix('\r').filter(|_| at + (l.len() as u64) < 1000 + text.len() as u64).unwrap_or(l);
        want.push((at.to_be_bytes().to_vec(), v.as_bytes().to_vec()));
        at += l.len() as u64 + 1;
    }
    assert_eq!(emitted(), want);

    reset_fake();
    assert_eq!(g.map(&text_block(0, b"fine\nalso fine\nboom\nnever")), -1);
    let fails = FAKE.with(|f| f.borrow().fails.clone());
    let mut r = Reader::new(&fails[0]);
    assert_eq!(r.array().unwrap(), 2);
    assert_eq!(r.bytes().unwrap(), b"cannot map boom");
    assert_eq!(r.int().unwrap(), 2); // the block's third line
    assert_eq!(g.map(&text_block(0, b"x")[..14]), -1); // a short block is malformed
}
