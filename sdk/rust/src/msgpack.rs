//! The msgpack subset of ABI.md section 4: a reader over borrowed bytes
//! (bin/str, arrays, maps, bools, ints, and skipping anything else) and the
//! few writers the guest needs.

/// A malformed or truncated message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

pub type R<T> = std::result::Result<T, Malformed>;

pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn at_end(&self) -> bool {
        self.pos == self.data.len()
    }

    pub fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    fn byte(&mut self) -> R<u8> {
        let b = *self.data.get(self.pos).ok_or(Malformed)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if self.data.len() - self.pos < n {
            return Err(Malformed);
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> R<u64> {
        Ok(self.take(n)?.iter().fold(0u64, |v, &b| v << 8 | b as u64))
    }

    pub fn array(&mut self) -> R<u32> {
        match self.byte()? {
            c @ 0x90..=0x9f => Ok((c & 0x0f) as u32),
            0xdc => Ok(self.be(2)? as u32),
            0xdd => Ok(self.be(4)? as u32),
            _ => Err(Malformed),
        }
    }

    pub fn map(&mut self) -> R<u32> {
        match self.byte()? {
            c @ 0x80..=0x8f => Ok((c & 0x0f) as u32),
            0xde => Ok(self.be(2)? as u32),
            0xdf => Ok(self.be(4)? as u32),
            _ => Err(Malformed),
        }
    }

    /// Reads bin or str.
    pub fn bytes(&mut self) -> R<&'a [u8]> {
        let n = match self.byte()? {
            c @ 0xa0..=0xbf => (c & 0x1f) as usize,
            0xc4 | 0xd9 => self.be(1)? as usize,
            0xc5 | 0xda => self.be(2)? as usize,
            0xc6 | 0xdb => self.be(4)? as usize,
            _ => return Err(Malformed),
        };
        self.take(n)
    }

    pub fn boolean(&mut self) -> R<bool> {
        match self.byte()? {
            0xc2 => Ok(false),
            0xc3 => Ok(true),
            _ => Err(Malformed),
        }
    }

    pub fn int(&mut self) -> R<i64> {
        Ok(match self.byte()? {
            c @ 0x00..=0x7f => c as i64,
            c @ 0xe0..=0xff => c as i8 as i64,
            0xcc => self.be(1)? as i64,
            0xcd => self.be(2)? as i64,
            0xce => self.be(4)? as i64,
            0xcf => self.be(8)? as i64,
            0xd0 => self.be(1)? as u8 as i8 as i64,
            0xd1 => self.be(2)? as u16 as i16 as i64,
            0xd2 => self.be(4)? as u32 as i32 as i64,
            0xd3 => self.be(8)? as i64,
            _ => return Err(Malformed),
        })
    }

    /// Skips one value of any type (init messages may carry unknown keys).
    pub fn skip(&mut self) -> R<()> {
        self.skip_depth(0)
    }

    fn skip_depth(&mut self, depth: u32) -> R<()> {
        if depth > 64 {
            return Err(Malformed);
        }
        let c = self.peek().ok_or(Malformed)?;
        let items: u64 = match c {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => {
                self.pos += 1;
                return Ok(());
            }
            0xa0..=0xbf | 0xc4..=0xc6 | 0xd9..=0xdb => return self.bytes().map(|_| ()),
            0x90..=0x9f | 0xdc | 0xdd => self.array()? as u64,
            0x80..=0x8f | 0xde | 0xdf => 2 * self.map()? as u64,
            _ => {
                self.pos += 1;
                let n = match c {
                    0xcc | 0xd0 => 1,
                    0xcd | 0xd1 | 0xd4 => 2,
                    0xd5 => 3,
                    0xce | 0xd2 | 0xca => 4,
                    0xd6 => 5,
                    0xcf | 0xd3 | 0xcb => 8,
                    0xd7 => 9,
                    0xd8 => 17,
                    0xc7 => self.be(1)? as usize + 1,
                    0xc8 => self.be(2)? as usize + 1,
                    0xc9 => self.be(4)? as usize + 1,
                    _ => return Err(Malformed),
                };
                return self.take(n).map(|_| ());
            }
        };
        for _ in 0..items {
            self.skip_depth(depth + 1)?;
        }
        Ok(())
    }
}

pub fn put_bin(buf: &mut Vec<u8>, b: &[u8]) {
    let n = b.len();
    if n < 256 {
        buf.extend_from_slice(&[0xc4, n as u8]);
    } else if n < 65536 {
        buf.extend_from_slice(&[0xc5, (n >> 8) as u8, n as u8]);
    } else {
        buf.push(0xc6);
        buf.extend_from_slice(&(n as u32).to_be_bytes());
    }
    buf.extend_from_slice(b);
}

pub fn put_str(buf: &mut Vec<u8>, s: &str) {
    let n = s.len();
    if n < 32 {
        buf.push(0xa0 | n as u8);
    } else if n < 256 {
        buf.extend_from_slice(&[0xd9, n as u8]);
    } else {
        buf.push(0xdb);
        buf.extend_from_slice(&(n as u32).to_be_bytes());
    }
    buf.extend_from_slice(s.as_bytes());
}

pub fn put_int(buf: &mut Vec<u8>, v: i64) {
    buf.push(0xd3);
    buf.extend_from_slice(&v.to_be_bytes());
}

/// The byte range of the bin or str value at `pos` in `data`.
pub fn bytes_range(data: &[u8], pos: usize) -> R<(usize, usize)> {
    let mut r = Reader { data, pos };
    let b = r.bytes()?;
    Ok((r.pos - b.len(), r.pos))
}
