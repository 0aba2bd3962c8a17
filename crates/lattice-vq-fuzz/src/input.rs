//! Turning fuzz bytes into typed inputs: a cursor that never fails.

/// Reads numbers off the front of the fuzz input. Past the end every read gives zero bits,
/// so a short input is still a complete (if degenerate) case rather than no case at all.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    /// A cursor at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// The next `N` bytes, zero-padded past the end.
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        let taken = N.min(self.bytes.len());
        out[..taken].copy_from_slice(&self.bytes[..taken]);
        self.bytes = &self.bytes[taken..];
        out
    }

    /// One byte.
    pub fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }

    /// A little-endian `i32`: any bit pattern, `i32::MIN` and `i32::MAX` included.
    pub fn i32(&mut self) -> i32 {
        i32::from_le_bytes(self.array())
    }

    /// An `f32` from its bits: NaNs (with payloads), infinities, subnormals, both zeros.
    pub fn f32(&mut self) -> f32 {
        f32::from_bits(self.u32())
    }

    /// An `f64` from its bits.
    pub fn f64(&mut self) -> f64 {
        f64::from_bits(self.u64())
    }

    /// How many bytes are left.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The rest of the input, consuming it.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }
}

/// Bitwise equality of two float slices that treats every NaN as equal to every NaN (a
/// conversion may canonicalise payloads) and `0.0` as different from `-0.0`.
pub fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits())
}

#[cfg(test)]
mod tests {
    use super::Input;

    #[test]
    fn reads_little_endian_then_zeros() {
        let mut input = Input::new(&[1, 2, 3]);
        assert_eq!(input.u16(), 0x0201);
        assert_eq!(input.u32(), 3);
        assert!(input.is_empty());
        assert_eq!(input.f64().to_bits(), 0);
    }
}
