//! The binary form of a packed layout: varints and length-prefixed byte strings. Compact
//! (it is kept once per message copy) and checked on the way in, so a corrupt record is an
//! error, never a panic or an out-of-range slice later.

use crate::error::{Defect, Error, Result};

pub struct Writer {
    out: Vec<u8>,
}

impl Writer {
    pub fn new(tag: u8) -> Self {
        Writer { out: vec![tag] }
    }

    pub fn u8(&mut self, value: u8) {
        self.out.push(value);
    }

    /// LEB128.
    pub fn varint(&mut self, mut value: u64) {
        loop {
            let low = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                self.out.push(low);
                return;
            }
            self.out.push(low | 0x80);
        }
    }

    pub fn usize(&mut self, value: usize) {
        self.varint(value as u64);
    }

    pub fn bytes(&mut self, bytes: &[u8]) {
        self.usize(bytes.len());
        self.out.extend_from_slice(bytes);
    }

    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

pub struct Reader<'a> {
    rest: &'a [u8],
}

fn corrupt(what: &str) -> Error {
    Defect::layout(what).into()
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    pub fn u8(&mut self) -> Result<u8> {
        let (&first, rest) = self
            .rest
            .split_first()
            .ok_or_else(|| corrupt("truncated"))?;
        self.rest = rest;
        Ok(first)
    }

    pub fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(corrupt("varint too long"))
    }

    pub fn usize(&mut self) -> Result<usize> {
        usize::try_from(self.varint()?).map_err(|_| corrupt("number out of range"))
    }

    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = self.usize()?;
        if len > self.rest.len() {
            return Err(corrupt("truncated byte string"));
        }
        let (bytes, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(bytes)
    }

    /// Fails unless every byte was read.
    pub fn end(&self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(corrupt("trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_and_truncation_is_an_error() {
        let mut w = Writer::new(7);
        for v in [0u64, 1, 127, 128, 300, u64::MAX] {
            w.varint(v);
        }
        w.bytes(b"abc");
        let bytes = w.finish();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8().unwrap(), 7);
        for v in [0u64, 1, 127, 128, 300, u64::MAX] {
            assert_eq!(r.varint().unwrap(), v);
        }
        assert_eq!(r.bytes().unwrap(), b"abc");
        r.end().unwrap();
        for cut in 0..bytes.len() {
            let mut r = Reader::new(&bytes[..cut]);
            let all = (|| {
                r.u8()?;
                for _ in 0..6 {
                    r.varint()?;
                }
                r.bytes().map(|_| ())
            })();
            assert!(all.is_err(), "cut at {cut}");
        }
        assert!(Reader::new(&[0xff; 11]).varint().is_err());
    }
}
