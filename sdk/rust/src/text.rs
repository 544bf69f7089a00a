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

impl<'a> Iterator for Words<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let line = self.line;
        let mut start = None;
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
