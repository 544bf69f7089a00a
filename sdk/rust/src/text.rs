//! Text helpers shared by every wmr SDK, so that jobs written in different
//! languages split text the same way and produce the same bytes.

use crate::letters::LETTER_RANGES;

/// The replacement character, returned for invalid UTF-8.
pub const RUNE_ERROR: u32 = 0xFFFD;

/// Decodes the first UTF-8 sequence of `b` (not empty) exactly like Go's
/// `utf8.DecodeRune`: returns the code point and its length; an invalid or
/// truncated sequence gives `(RUNE_ERROR, 1)`.
pub fn decode_rune(b: &[u8]) -> (u32, usize) {
    let c = b[0];
    if c < 0x80 {
        return (c as u32, 1);
    }
    let (size, init, lo, hi) = match c {
        0xc2..=0xdf => (2, (c & 0x1f) as u32, 0x80, 0xbf),
        0xe0 => (3, 0, 0xa0, 0xbf),
        0xe1..=0xec | 0xee..=0xef => (3, (c & 0x0f) as u32, 0x80, 0xbf),
        0xed => (3, 0x0d, 0x80, 0x9f),
        0xf0 => (4, 0, 0x90, 0xbf),
        0xf1..=0xf3 => (4, (c & 0x07) as u32, 0x80, 0xbf),
        0xf4 => (4, 4, 0x80, 0x8f),
        _ => return (RUNE_ERROR, 1),
    };
    if b.len() < 2 || b[1] < lo || b[1] > hi {
        return (RUNE_ERROR, 1);
    }
    let mut r = init << 6 | (b[1] & 0x3f) as u32;
    for i in 2..size {
        if b.len() <= i || !(0x80..=0xbf).contains(&b[i]) {
            return (RUNE_ERROR, 1);
        }
        r = r << 6 | (b[i] & 0x3f) as u32;
    }
    (r, size)
}

/// Reports whether the code point is a letter, exactly as Go's
/// `unicode.IsLetter` (Rust's `char::is_alphabetic` is a different set).
pub fn is_letter(r: u32) -> bool {
    if r < 0x80 {
        return (r | 0x20).wrapping_sub(b'a' as u32) < 26;
    }
    LETTER_RANGES
        .binary_search_by(|&(lo, hi)| {
            if hi < r {
                std::cmp::Ordering::Less
            } else if lo > r {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// The words of `line`: maximal runs of letters ([`is_letter`]), as byte
/// slices of `line`. Invalid UTF-8 separates words.
pub fn words(line: &[u8]) -> Words<'_> {
    Words { line, pos: 0 }
}

/// The iterator returned by [`words`].
pub struct Words<'a> {
    line: &'a [u8],
    pos: usize,
}

/// Reads up to 8 bytes of `b` from `at` as a little-endian word, zero
/// past the end, with whole-word loads where the line has 8 bytes to give.
#[inline(always)]
pub(crate) fn word_at(b: &[u8], at: usize) -> u64 {
    let n = b.len();
    if at + 8 <= n {
        return u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    }
    if at >= n {
        return 0;
    }
    if n >= 8 {
        // The last 8 bytes, shifted so that byte `at` comes first.
        return u64::from_le_bytes(b[n - 8..].try_into().unwrap()) >> (8 * (8 - (n - at)));
    }
    // 1 to 7 bytes (most words): two overlapping loads, or three bytes,
    // not a loop; the overlapping bytes are the same in both.
    let r = &b[at..];
    let m = r.len();
    if m >= 4 {
        let lo = u32::from_le_bytes(r[..4].try_into().unwrap()) as u64;
        let hi = u32::from_le_bytes(r[m - 4..].try_into().unwrap()) as u64;
        return lo | hi << (8 * (m - 4));
    }
    r[0] as u64 | (r[m / 2] as u64) << (8 * (m / 2)) | (r[m - 1] as u64) << (8 * (m - 1))
}

/// The high bit of each byte of x, gathered into 8 bits.
#[inline(always)]
fn high_bits(x: u64) -> u32 {
    (((x >> 7) & 0x0101_0101_0101_0101).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
}

/// Bit i set where byte i of x is an ASCII letter.
#[inline(always)]
fn ascii_letters(x: u64) -> u32 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let t = (x & !(0x80 * ONES)) | 0x20 * ONES; // 0x20..0x7f: no carry below
    let ge_a = t.wrapping_add((0x80 - b'a' as u64) * ONES);
    let gt_z = t.wrapping_add((0x80 - b'z' as u64 - 1) * ONES);
    high_bits(ge_a & !gt_z & !x)
}

/// The 16 bytes of `line` from `at` as two bitmasks: its ASCII letters and
/// its bytes >= 0x80 (bytes past the end are neither). Byte loops were
/// about half of a word count's guest time.
#[inline(always)]
fn letters16_swar(line: &[u8], at: usize) -> (u32, u32) {
    let (a, b) = (word_at(line, at), word_at(line, at + 8));
    (ascii_letters(a) | ascii_letters(b) << 8, high_bits(a) | high_bits(b) << 8)
}

/// [`letters16_swar`] with wasm SIMD where the module is built with
/// `-C target-feature=+simd128` (the examples' and `wmr new`'s
/// `.cargo/config.toml` say so): one 16-byte load, a compare and two
/// bitmasks, about a tenth off a word count measured in C. Line tails
/// shorter than 16 bytes take the 64-bit path.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn letters16(line: &[u8], at: usize) -> (u32, u32) {
    use core::arch::wasm32::*;
    if at + 16 > line.len() {
        return letters16_swar(line, at);
    }
    // SAFETY: the 16 bytes from `at` are in `line`; v128_load does not need
    // an aligned address.
    let v = unsafe { v128_load(line.as_ptr().add(at) as *const v128) };
    let t = u8x16_sub(v128_or(v, u8x16_splat(0x20)), u8x16_splat(b'a'));
    (u8x16_bitmask(u8x16_lt(t, u8x16_splat(26))) as u32, u8x16_bitmask(v) as u32)
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn letters16(line: &[u8], at: usize) -> (u32, u32) {
    letters16_swar(line, at)
}

impl<'a> Words<'a> {
    /// The rune-at-a-time scan from `self.pos`, in a word begun at `start`.
    fn next_runes(&mut self, mut start: Option<usize>) -> Option<&'a [u8]> {
        let line = self.line;
        while self.pos < line.len() {
            let c = line[self.pos];
            let (letter, size) = if c < 0x80 {
                ((c | 0x20).wrapping_sub(b'a') < 26, 1)
            } else {
                let (r, size) = decode_rune(&line[self.pos..]);
                (is_letter(r), size)
            };
            if letter {
                if start.is_none() {
                    start = Some(self.pos);
                }
            } else if let Some(s) = start {
                let word = &line[s..self.pos];
                self.pos += size;
                return Some(word);
            }
            self.pos += size;
        }
        start.map(|s| &line[s..])
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a [u8];

    /// Looks at 16 bytes at a time (two 64-bit words); only where a
    /// non-ASCII byte matters does it decode runes one at a time.
    fn next(&mut self) -> Option<&'a [u8]> {
        let line = self.line;
        let n = line.len();
        let mut i = self.pos;
        let (mut m, first) = loop {
            // The word's first byte.
            if i >= n {
                self.pos = n;
                return None;
            }
            let (m, high) = letters16(line, i);
            let before = if high != 0 { (high & high.wrapping_neg()) - 1 } else { 0xffff };
            if m & before != 0 {
                break (m, (m & before).trailing_zeros());
            }
            if high != 0 {
                self.pos = i + high.trailing_zeros() as usize;
                return self.next_runes(None);
            }
            i += 16;
        };
        // The word's end, its first non-letter, is looked for in the same
        // 16 bytes first (most words end there), then 16 at a time.
        let start = i + first as usize;
        let mut from = first;
        loop {
            let left = n - i;
            let valid = if left < 16 { (1u32 << left) - 1 } else { 0xffff };
            let ends = !m & valid & (u32::MAX << from);
            if ends != 0 {
                i += ends.trailing_zeros() as usize;
                if line[i] >= 0x80 {
                    self.pos = i;
                    return self.next_runes(Some(start));
                }
                self.pos = i + 1;
                return Some(&line[start..i]);
            }
            if left <= 16 {
                self.pos = n;
                return Some(&line[start..]);
            }
            i += 16;
            from = 0;
            m = letters16(line, i).0;
        }
    }
}

/// The index of the first `\n` in `data` at or after `from`: sixteen
/// bytes at a time with wasm SIMD, eight without (a text block's lines
/// are split in the module, ABI.md 4.5).
#[inline(always)]
pub(crate) fn find_newline(data: &[u8], mut from: usize) -> Option<usize> {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::*;
        while from + 16 <= data.len() {
            // SAFETY: the 16 bytes from `from` are in `data`.
            let v = unsafe { v128_load(data.as_ptr().add(from) as *const v128) };
            let m = u8x16_bitmask(u8x16_eq(v, u8x16_splat(b'\n')));
            if m != 0 {
                return Some(from + m.trailing_zeros() as usize);
            }
            from += 16;
        }
    }
    const ONES: u64 = 0x0101_0101_0101_0101;
    while from + 8 <= data.len() {
        let x = u64::from_le_bytes(data[from..from + 8].try_into().unwrap()) ^ (b'\n' as u64 * ONES);
        let zero = x.wrapping_sub(ONES) & !x & (0x80 * ONES);
        if zero != 0 {
            return Some(from + zero.trailing_zeros() as usize / 8);
        }
        from += 8;
    }
    data[from..].iter().position(|&c| c == b'\n').map(|i| from + i)
}
