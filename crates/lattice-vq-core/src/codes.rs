//! Exact counting of distinct code vectors: the paper's "No. embeddings/dataset".
//!
//! A quantized latent is an integer code vector `v` of length D. Counting distinct vectors over
//! billions of rows cannot afford to store every vector, so [`UniqueCodes`] stores a 128-bit
//! [`code_key`] per distinct vector instead (16 bytes plus a count, whatever D is). For inputs
//! too large even for that, see [`HyperLogLog`](crate::HyperLogLog).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use ndarray::{ArrayView1, ArrayView2};
use xxhash_rust::xxh3::{Xxh3Default, xxh3_128};

use crate::error::{Error, Result};
use crate::usage;

/// Codes hashed from a stack buffer in one shot; longer vectors are streamed through it.
/// 1 KiB covers every D the paper uses (up to 256) without touching the heap.
const STACK_CODES: usize = 256;

/// Bytes per code in the little-endian serialization that [`code_key`] hashes.
const CODE_BYTES: usize = std::mem::size_of::<i32>();

/// The 128-bit key of a code vector: XXH3-128 of its entries' little-endian bytes.
///
/// Keys are the same on every platform and in every process (XXH3 is unseeded here and the
/// byte order is fixed), so keys computed on different machines can be compared and merged.
/// The length is part of the hashed input, so `[1]` and `[1, 0]` have different keys. The call
/// does not allocate.
///
/// Two different vectors share a key with probability about `2^-128`. Over `U` distinct
/// vectors the expected number of colliding pairs is `U (U - 1) / 2 * 2^-128 ≈ U² / 2^129`:
/// about `3e-20` for `U = 4.6e9`, so counting keys instead of vectors changes no count in
/// practice.
///
/// # Example
///
/// ```
/// use lattice_vq_core::code_key;
///
/// assert_eq!(code_key(&[1, -2, 3]), code_key(&[1, -2, 3]));
/// assert_ne!(code_key(&[1, -2, 3]), code_key(&[1, -2, 4]));
/// assert_ne!(code_key(&[1]), code_key(&[1, 0]));
/// ```
pub fn code_key(code: &[i32]) -> u128 {
    key_from_codes(code.len(), code.iter().copied())
}

/// [`code_key`] of a row that may not be contiguous in memory (a column-major or sliced view).
pub(crate) fn row_key(row: ArrayView1<'_, i32>) -> u128 {
    match row.as_slice() {
        Some(code) => code_key(code),
        None => key_from_codes(row.len(), row.iter().copied()),
    }
}

/// Hash `len` codes given one by one, as if they were a slice, without allocating.
fn key_from_codes(len: usize, codes: impl Iterator<Item = i32>) -> u128 {
    let mut buffer = [0_u8; STACK_CODES * CODE_BYTES];
    if len <= STACK_CODES {
        for (bytes, code) in buffer.chunks_exact_mut(CODE_BYTES).zip(codes) {
            bytes.copy_from_slice(&code.to_le_bytes());
        }
        return xxh3_128(&buffer[..len * CODE_BYTES]);
    }
    // XXH3's streaming digest equals the one-shot hash of the concatenated input, so long
    // vectors get the same key as they would from one big buffer.
    let mut hasher = Xxh3Default::new();
    let mut filled = 0;
    for code in codes {
        buffer[filled..filled + CODE_BYTES].copy_from_slice(&code.to_le_bytes());
        filled += CODE_BYTES;
        if filled == buffer.len() {
            hasher.update(&buffer);
            filled = 0;
        }
    }
    hasher.update(&buffer[..filled]);
    hasher.digest128()
}

/// An owned code vector, usable as a `HashMap` or `BTreeMap` key.
///
/// Ordering is lexicographic, like slices. It borrows as `[i32]`, so a map keyed by
/// `CodeVector` can be looked up with a plain slice.
///
/// # Example
///
/// ```
/// use std::collections::HashMap;
/// use lattice_vq_core::{code_key, CodeVector};
///
/// let mut seen: HashMap<CodeVector, u32> = HashMap::new();
/// *seen.entry(CodeVector::from(vec![1, 0, -1])).or_default() += 1;
/// *seen.entry(CodeVector::from(&[1, 0, -1][..])).or_default() += 1;
/// assert_eq!(seen[&[1, 0, -1][..]], 2);
///
/// let code = CodeVector::from(vec![4, 2]);
/// assert_eq!(code.as_slice(), &[4, 2]);
/// assert_eq!(code.key(), code_key(&[4, 2]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CodeVector(Box<[i32]>);

impl CodeVector {
    /// The codes.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::CodeVector;
    ///
    /// assert_eq!(CodeVector::from(vec![3, -1]).as_slice(), &[3, -1]);
    /// ```
    pub fn as_slice(&self) -> &[i32] {
        &self.0
    }

    /// The vector's [`code_key`].
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::{code_key, CodeVector};
    ///
    /// assert_eq!(CodeVector::from(vec![3, -1]).key(), code_key(&[3, -1]));
    /// ```
    pub fn key(&self) -> u128 {
        code_key(&self.0)
    }
}

impl From<&[i32]> for CodeVector {
    fn from(code: &[i32]) -> Self {
        Self(code.into())
    }
}

impl From<Vec<i32>> for CodeVector {
    fn from(code: Vec<i32>) -> Self {
        Self(code.into_boxed_slice())
    }
}

impl AsRef<[i32]> for CodeVector {
    fn as_ref(&self) -> &[i32] {
        &self.0
    }
}

// `Box<[i32]>` hashes and compares exactly like `[i32]`, which is what `Borrow` requires.
impl Borrow<[i32]> for CodeVector {
    fn borrow(&self) -> &[i32] {
        &self.0
    }
}

/// Hasher for keys that are already XXH3 output: their low 64 bits are uniformly mixed, so
/// rehashing them with SipHash would only cost time on the billions-of-rows path.
#[derive(Clone, Copy, Debug, Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u128(&mut self, key: u128) {
        self.0 = key as u64;
    }

    // Only `u128` keys reach this hasher; this FNV-1a fallback keeps it a correct `Hasher`
    // anyway.
    fn write(&mut self, bytes: &[u8]) {
        let mut hash = self.0 ^ 0xcbf2_9ce4_8422_2325;
        for &byte in bytes {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = hash;
    }
}

/// Exact counter of distinct code vectors of one dimension, with an occurrence count for each.
///
/// Vectors are stored by their 128-bit [`code_key`] (see there for why collisions do not
/// matter), so memory grows with the number of distinct vectors, not with D or the number of
/// rows. Shards of a dataset can be counted separately and combined with
/// [`merge`](Self::merge).
///
/// # Example
///
/// ```
/// use lattice_vq_core::UniqueCodes;
/// use ndarray::array;
///
/// let mut unique = UniqueCodes::new(2);
/// unique.insert_rows(array![[0, 1], [1, 0], [0, 1]].view())?;
/// unique.insert(&[0, 1])?;
/// assert_eq!(unique.len(), 2);
/// assert_eq!(unique.total(), 4);
/// assert_eq!(unique.count_of(&[0, 1]), 3);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct UniqueCodes {
    dim: usize,
    counts: HashMap<u128, u64, BuildHasherDefault<KeyHasher>>,
    total: u64,
}

impl UniqueCodes {
    /// An empty counter for code vectors of length `dim`.
    ///
    /// `dim = 0` is allowed: the only such vector is the empty one.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::UniqueCodes;
    ///
    /// let unique = UniqueCodes::new(64);
    /// assert_eq!(unique.dim(), 64);
    /// assert!(unique.is_empty());
    /// ```
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            counts: HashMap::default(),
            total: 0,
        }
    }

    /// The length D of the counted code vectors.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::UniqueCodes;
    ///
    /// assert_eq!(UniqueCodes::new(8).dim(), 8);
    /// ```
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Count one code vector.
    ///
    /// # Errors
    ///
    /// [`Error::ShapeMismatch`] if `code.len() != self.dim()`, [`Error::CountOverflow`] if
    /// the total would pass `u64::MAX`; nothing is counted then.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::{Error, UniqueCodes};
    ///
    /// let mut unique = UniqueCodes::new(3);
    /// unique.insert(&[1, 2, 3])?;
    /// assert!(matches!(unique.insert(&[1, 2]), Err(Error::ShapeMismatch { .. })));
    /// assert_eq!(unique.total(), 1);
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert(&mut self, code: &[i32]) -> Result<()> {
        if code.len() != self.dim {
            return Err(Error::ShapeMismatch {
                what: "code",
                expected: vec![self.dim],
                found: vec![code.len()],
            });
        }
        self.reserve_total(1)?;
        self.insert_key(code_key(code));
        Ok(())
    }

    /// Count every row of a `(N, D)` array of codes. Any memory layout works (sliced,
    /// transposed or column-major views included).
    ///
    /// # Errors
    ///
    /// [`Error::ShapeMismatch`] if the array does not have `self.dim()` columns,
    /// [`Error::CountOverflow`] if the total would pass `u64::MAX`; nothing is counted then.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::UniqueCodes;
    /// use ndarray::array;
    ///
    /// let codes = array![[0, 1, 0], [1, 1, 0], [0, 1, 0]];
    /// let mut unique = UniqueCodes::new(3);
    /// unique.insert_rows(codes.view())?;
    /// assert_eq!((unique.len(), unique.total()), (2, 3));
    ///
    /// // The rows of the transposed view are the columns of `codes`, strided in memory.
    /// let mut columns = UniqueCodes::new(3);
    /// columns.insert_rows(codes.t())?;
    /// assert_eq!(columns.count_of(&[1, 1, 1]), 1);
    /// assert_eq!(columns.count_of(&[0, 0, 0]), 1);
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert_rows(&mut self, codes: ArrayView2<'_, i32>) -> Result<()> {
        if codes.ncols() != self.dim {
            return Err(Error::ShapeMismatch {
                what: "codes",
                expected: vec![codes.nrows(), self.dim],
                found: vec![codes.nrows(), codes.ncols()],
            });
        }
        self.reserve_total(codes.nrows() as u64)?;
        for row in codes.rows() {
            self.insert_key(row_key(row));
        }
        Ok(())
    }

    /// Check that `added` more vectors keep the total within `u64`. Every count is at most
    /// the total, so then no count overflows either. Counts restored from a file
    /// ([`add_key_count`](Self::add_key_count)) can start next to `u64::MAX`.
    fn reserve_total(&self, added: u64) -> Result<()> {
        match self.total.checked_add(added) {
            Some(_) => Ok(()),
            None => Err(Error::CountOverflow),
        }
    }

    /// Count one vector by its key; the caller has checked the total with
    /// [`reserve_total`](Self::reserve_total).
    fn insert_key(&mut self, key: u128) {
        *self.counts.entry(key).or_insert(0) += 1;
        self.total += 1;
    }

    /// Number of distinct code vectors counted.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::UniqueCodes;
    ///
    /// let mut unique = UniqueCodes::new(1);
    /// for code in [[5], [6], [5]] {
    ///     unique.insert(&code)?;
    /// }
    /// assert_eq!(unique.len(), 2);
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether nothing has been counted.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::UniqueCodes;
    ///
    /// let mut unique = UniqueCodes::new(1);
    /// assert!(unique.is_empty());
    /// unique.insert(&[0])?;
    /// assert!(!unique.is_empty());
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Number of code vectors counted, duplicates included.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::UniqueCodes;
    ///
    /// let mut unique = UniqueCodes::new(1);
    /// for code in [[5], [6], [5]] {
    ///     unique.insert(&code)?;
    /// }
    /// assert_eq!(unique.total(), 3);
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn total(&self) -> u64 {
        self.total
    }

    /// How many times `code` was counted: 0 if never, or if its length is not `self.dim()`.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::UniqueCodes;
    ///
    /// let mut unique = UniqueCodes::new(2);
    /// unique.insert(&[1, 2])?;
    /// unique.insert(&[1, 2])?;
    /// assert_eq!(unique.count_of(&[1, 2]), 2);
    /// assert_eq!(unique.count_of(&[2, 1]), 0);
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn count_of(&self, code: &[i32]) -> u64 {
        if code.len() != self.dim {
            return 0;
        }
        self.counts.get(&code_key(code)).copied().unwrap_or(0)
    }

    /// The occurrence count of each distinct code vector, in no particular order.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::UniqueCodes;
    ///
    /// let mut unique = UniqueCodes::new(1);
    /// for code in [[5], [6], [5]] {
    ///     unique.insert(&code)?;
    /// }
    /// let mut counts: Vec<u64> = unique.counts().collect();
    /// counts.sort_unstable();
    /// assert_eq!(counts, [1, 2]);
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn counts(&self) -> impl Iterator<Item = u64> + '_ {
        self.counts.values().copied()
    }

    /// Each distinct vector's [`code_key`] with its count, sorted by key: what a counter must
    /// save to be restored by [`add_key_count`](Self::add_key_count) (a resumable training
    /// run saves its epoch's codes this way).
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::{UniqueCodes, code_key};
    ///
    /// let mut unique = UniqueCodes::new(1);
    /// for code in [[5], [6], [5]] {
    ///     unique.insert(&code)?;
    /// }
    /// let mut restored = UniqueCodes::new(1);
    /// for (key, count) in unique.key_counts() {
    ///     restored.add_key_count(key, count)?;
    /// }
    /// assert_eq!((restored.len(), restored.total(), restored.count_of(&[5])), (2, 3, 2));
    /// let keys: Vec<u128> = unique.key_counts().iter().map(|&(key, _)| key).collect();
    /// assert!(keys.contains(&code_key(&[6])) && keys.is_sorted());
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn key_counts(&self) -> Vec<(u128, u64)> {
        let mut pairs: Vec<(u128, u64)> = self.counts.iter().map(|(&k, &c)| (k, c)).collect();
        pairs.sort_unstable();
        pairs
    }

    /// Add `count` occurrences of the vector whose [`code_key`] is `key`.
    ///
    /// # Errors
    ///
    /// [`Error::CountOverflow`] if the vector's count or the total would pass `u64::MAX`;
    /// nothing is counted then.
    pub fn add_key_count(&mut self, key: u128, count: u64) -> Result<()> {
        let current = self.counts.get(&key).copied().unwrap_or(0);
        let (Some(new), Some(total)) = (current.checked_add(count), self.total.checked_add(count))
        else {
            return Err(Error::CountOverflow);
        };
        if new > 0 {
            self.counts.insert(key, new);
        }
        self.total = total;
        Ok(())
    }

    /// Add the counts of `other`, as if its vectors had been inserted here: counting shards
    /// separately and merging gives the same result as counting their union.
    ///
    /// # Errors
    ///
    /// [`Error::MergeMismatch`] if the two counters have different dimensions,
    /// [`Error::CountOverflow`] if the total would pass `u64::MAX`; `self` is left unchanged
    /// then.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::UniqueCodes;
    ///
    /// let mut left = UniqueCodes::new(1);
    /// left.insert(&[1])?;
    /// let mut right = UniqueCodes::new(1);
    /// right.insert(&[1])?;
    /// right.insert(&[2])?;
    /// left.merge(&right)?;
    /// assert_eq!((left.len(), left.total(), left.count_of(&[1])), (2, 3, 2));
    ///
    /// assert!(left.merge(&UniqueCodes::new(2)).is_err());
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn merge(&mut self, other: &UniqueCodes) -> Result<()> {
        if self.dim != other.dim {
            return Err(Error::MergeMismatch {
                what: "unique code counters of dim",
                left: self.dim,
                right: other.dim,
            });
        }
        self.reserve_total(other.total)?;
        for (&key, &count) in &other.counts {
            *self.counts.entry(key).or_insert(0) += count;
        }
        self.total += other.total;
        Ok(())
    }

    /// Perplexity of the code usage: the effective number of codes in use (see
    /// [`usage::perplexity`]); 1.0 when nothing has been counted.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::UniqueCodes;
    ///
    /// let mut unique = UniqueCodes::new(1);
    /// for code in [[0], [1], [2], [3]] {
    ///     unique.insert(&code)?;
    /// }
    /// assert!((unique.perplexity() - 4.0).abs() < 1e-12);
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn perplexity(&self) -> f64 {
        usage::perplexity(self.counts())
    }
}
