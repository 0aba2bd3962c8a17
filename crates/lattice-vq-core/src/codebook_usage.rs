//! Usage of a finite codebook of K codes: how many codes are used, how evenly (perplexity),
//! which are dead, and how often the latents overload a bounded lattice's box.
//!
//! A finite codebook (a bounded lattice, FSQ, a VQ codebook) numbers its codes with token
//! indices `0..K`, as [`Lattice::codes_to_indices`](crate::Lattice::codes_to_indices) hands
//! them out, with `K` as [`Lattice::codebook_size`](crate::Lattice::codebook_size) gives it.
//! [`CodebookUsage`] counts those tokens over a *window*: whatever the caller counts between
//! two [`CodebookUsage::reset`]s, for example one epoch. A code never seen in the window is a
//! *dead code* there.
//!
//! For an unbounded lattice, whose codes have no indices, number the codes first with a
//! [`Vocabulary`](crate::vocabulary::Vocabulary), or count them directly with
//! [`UniqueCodes`](crate::UniqueCodes).

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::usage;

/// Codebooks up to this size are counted in a dense `Vec` (512 KiB of counts at most);
/// larger ones in a map holding only the tokens seen.
const DENSE_LIMIT: u128 = 1 << 16;

/// Per-token counts: dense for small codebooks, sparse otherwise. Which one is fixed by K,
/// so two counters of the same K always have the same representation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Counts {
    /// `counts[index]`, plus how many entries are nonzero.
    Dense { counts: Vec<u64>, used: u64 },
    /// Only the tokens seen, in index order (so the perplexity is summed in a fixed order and
    /// is the same, to the last bit, however the counts were gathered).
    Sparse(BTreeMap<u64, u64>),
}

impl Counts {
    fn new(codebook_size: u128) -> Self {
        if codebook_size <= DENSE_LIMIT {
            let size = usize::try_from(codebook_size).expect("a dense codebook fits in usize");
            Counts::Dense {
                counts: vec![0; size],
                used: 0,
            }
        } else {
            Counts::Sparse(BTreeMap::new())
        }
    }

    /// Add `count > 0` occurrences of `index`, which the caller has checked is below K and
    /// cannot overflow (every count is at most the total).
    fn add(&mut self, index: u64, count: u64) {
        match self {
            Counts::Dense { counts, used } => {
                let slot = &mut counts[usize::try_from(index).expect("a dense index fits usize")];
                if *slot == 0 {
                    *used += 1;
                }
                *slot += count;
            }
            Counts::Sparse(counts) => *counts.entry(index).or_insert(0) += count,
        }
    }

    fn get(&self, index: u64) -> u64 {
        match self {
            Counts::Dense { counts, .. } => usize::try_from(index)
                .ok()
                .and_then(|index| counts.get(index))
                .copied()
                .unwrap_or(0),
            Counts::Sparse(counts) => counts.get(&index).copied().unwrap_or(0),
        }
    }

    fn used(&self) -> u64 {
        match self {
            Counts::Dense { used, .. } => *used,
            Counts::Sparse(counts) => counts.len() as u64,
        }
    }

    /// The nonzero counts with their indices, in index order.
    fn iter(&self) -> Box<dyn Iterator<Item = (u64, u64)> + '_> {
        match self {
            Counts::Dense { counts, .. } => Box::new(
                counts
                    .iter()
                    .enumerate()
                    .filter(|&(_, &count)| count > 0)
                    .map(|(index, &count)| (index as u64, count)),
            ),
            Counts::Sparse(counts) => {
                Box::new(counts.iter().map(|(&index, &count)| (index, count)))
            }
        }
    }

    fn clear(&mut self) {
        match self {
            Counts::Dense { counts, used } => {
                counts.fill(0);
                *used = 0;
            }
            Counts::Sparse(counts) => counts.clear(),
        }
    }
}

/// Usage metrics of a finite codebook of K codes over one window: a count per token index
/// `0..K`, the total, and the overload counters of a bounded lattice (how many latent scalars
/// fell outside its box, out of how many seen).
///
/// Memory: codebooks of up to `2^16` codes keep one `u64` count per code; larger ones (K may
/// reach `2^64`, or exceed it, though then only indices below `2^64` can be counted) keep
/// one entry per token seen. Windows counted separately, for example on several workers,
/// combine with [`merge`](Self::merge).
///
/// # Example
/// ```
/// use lattice_vq_core::codebook_usage::CodebookUsage;
///
/// let mut usage = CodebookUsage::new(8)?;
/// usage.insert_indices(&[0, 1, 1, 5])?;
/// usage.add_overload(3, 16)?;
/// assert_eq!((usage.total(), usage.used(), usage.dead_codes()), (4, 3, 5));
/// assert_eq!(usage.count_of(1), 2);
/// assert!(usage.perplexity() > 2.0 && usage.perplexity() < 3.0);
/// assert_eq!(usage.overload_rate(), Some(3.0 / 16.0));
///
/// usage.reset(); // a new epoch
/// assert_eq!((usage.total(), usage.dead_codes(), usage.overload_rate()), (0, 8, None));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CodebookUsage {
    codebook_size: u128,
    counts: Counts,
    total: u64,
    overloaded: u64,
    scalars: u64,
}

impl CodebookUsage {
    /// An empty window for a codebook of `codebook_size` codes (K, as
    /// [`Lattice::codebook_size`](crate::Lattice::codebook_size) gives it).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for `codebook_size = 0`.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::Error;
    /// use lattice_vq_core::codebook_usage::CodebookUsage;
    ///
    /// let usage = CodebookUsage::new(1 << 64)?;
    /// assert_eq!(usage.codebook_size(), 1 << 64);
    /// assert!(matches!(CodebookUsage::new(0), Err(Error::InvalidConfig { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(codebook_size: u128) -> Result<Self> {
        if codebook_size == 0 {
            return Err(Error::InvalidConfig {
                field: "codebook_size",
                value: codebook_size.to_string(),
                requirement: "a codebook needs at least one code",
            });
        }
        Ok(Self {
            codebook_size,
            counts: Counts::new(codebook_size),
            total: 0,
            overloaded: 0,
            scalars: 0,
        })
    }

    /// The codebook size K.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::codebook_usage::CodebookUsage;
    ///
    /// assert_eq!(CodebookUsage::new(1000)?.codebook_size(), 1000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn codebook_size(&self) -> u128 {
        self.codebook_size
    }

    /// Count a batch of token indices.
    ///
    /// # Errors
    /// [`Error::TokenOutOfRange`] for the first index `>= K` (its position in `indices` as
    /// the row), [`Error::CountOverflow`] if the total would pass `u64::MAX`; nothing of the
    /// batch is counted then.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::Error;
    /// use lattice_vq_core::codebook_usage::CodebookUsage;
    ///
    /// let mut usage = CodebookUsage::new(4)?;
    /// usage.insert_indices(&[3, 0, 3])?;
    /// assert_eq!(usage.count_of(3), 2);
    ///
    /// let err = usage.insert_indices(&[1, 4]).unwrap_err();
    /// assert!(matches!(err, Error::TokenOutOfRange { row: 1, index: 4, codebook_size: 4 }));
    /// assert_eq!((usage.total(), usage.count_of(1)), (3, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert_indices(&mut self, indices: &[u64]) -> Result<()> {
        if let Some((row, &index)) = indices
            .iter()
            .enumerate()
            .find(|&(_, &index)| u128::from(index) >= self.codebook_size)
        {
            return Err(Error::TokenOutOfRange {
                row,
                index,
                codebook_size: self.codebook_size,
            });
        }
        let total = u64::try_from(indices.len())
            .ok()
            .and_then(|added| self.total.checked_add(added))
            .ok_or(Error::CountOverflow)?;
        // Every count is at most the total, which fits: no count overflows.
        for &index in indices {
            self.counts.add(index, 1);
        }
        self.total = total;
        Ok(())
    }

    /// Record that `overloaded` of `scalars` latent scalars fell outside a bounded lattice's
    /// box (and were clipped to it), for [`overload_rate`](Self::overload_rate).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `overloaded > scalars`, [`Error::CountOverflow`] if the
    /// scalars seen would pass `u64::MAX`; nothing is recorded then.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::Error;
    /// use lattice_vq_core::codebook_usage::CodebookUsage;
    ///
    /// let mut usage = CodebookUsage::new(256)?;
    /// usage.add_overload(2, 64)?;
    /// usage.add_overload(0, 64)?;
    /// assert_eq!((usage.overloaded(), usage.scalars()), (2, 128));
    /// assert!(matches!(usage.add_overload(5, 4), Err(Error::InvalidConfig { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_overload(&mut self, overloaded: u64, scalars: u64) -> Result<()> {
        if overloaded > scalars {
            return Err(Error::InvalidConfig {
                field: "overloaded",
                value: format!("{overloaded} (of {scalars} scalars)"),
                requirement: "overloaded scalars cannot outnumber the scalars seen",
            });
        }
        let (Some(overloaded), Some(scalars)) = (
            self.overloaded.checked_add(overloaded),
            self.scalars.checked_add(scalars),
        ) else {
            return Err(Error::CountOverflow);
        };
        self.overloaded = overloaded;
        self.scalars = scalars;
        Ok(())
    }

    /// Number of tokens counted in this window, repeats included.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::codebook_usage::CodebookUsage;
    ///
    /// let mut usage = CodebookUsage::new(4)?;
    /// usage.insert_indices(&[2, 2, 2])?;
    /// assert_eq!(usage.total(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Number of distinct tokens counted in this window.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::codebook_usage::CodebookUsage;
    ///
    /// let mut usage = CodebookUsage::new(4)?;
    /// usage.insert_indices(&[2, 0, 2])?;
    /// assert_eq!(usage.used(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn used(&self) -> u64 {
        self.counts.used()
    }

    /// The fraction of the codebook used in this window, `used / K`, in `[0, 1]`.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::codebook_usage::CodebookUsage;
    ///
    /// let mut usage = CodebookUsage::new(4)?;
    /// usage.insert_indices(&[2, 0, 2])?;
    /// assert_eq!(usage.used_fraction(), 0.5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn used_fraction(&self) -> f64 {
        self.used() as f64 / self.codebook_size as f64
    }

    /// Number of dead codes: codes never counted in this window, `K - used`.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::codebook_usage::CodebookUsage;
    ///
    /// let mut usage = CodebookUsage::new(1 << 64)?;
    /// usage.insert_indices(&[u64::MAX, 0])?;
    /// assert_eq!(usage.dead_codes(), (1 << 64) - 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dead_codes(&self) -> u128 {
        self.codebook_size - u128::from(self.used())
    }

    /// [`perplexity`](crate::perplexity) of the token counts: the effective number of codes
    /// in use, between 1 and [`used`](Self::used); 1.0 for an empty window. The counts are
    /// summed in index order, so equal counters give equal perplexities, bit for bit.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::codebook_usage::CodebookUsage;
    ///
    /// let mut usage = CodebookUsage::new(16)?;
    /// assert_eq!(usage.perplexity(), 1.0);
    /// usage.insert_indices(&[0, 1, 2, 3])?;
    /// assert!((usage.perplexity() - 4.0).abs() < 1e-12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn perplexity(&self) -> f64 {
        usage::perplexity(self.counts.iter().map(|(_, count)| count))
    }

    /// The fraction of latent scalars that overloaded the box, `overloaded / scalars`;
    /// `None` when no scalars were recorded in this window.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::codebook_usage::CodebookUsage;
    ///
    /// let mut usage = CodebookUsage::new(16)?;
    /// assert_eq!(usage.overload_rate(), None);
    /// usage.add_overload(1, 4)?;
    /// assert_eq!(usage.overload_rate(), Some(0.25));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn overload_rate(&self) -> Option<f64> {
        (self.scalars > 0).then(|| self.overloaded as f64 / self.scalars as f64)
    }

    /// Number of overloaded latent scalars recorded in this window.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::codebook_usage::CodebookUsage;
    ///
    /// let mut usage = CodebookUsage::new(16)?;
    /// usage.add_overload(3, 10)?;
    /// assert_eq!(usage.overloaded(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn overloaded(&self) -> u64 {
        self.overloaded
    }

    /// Number of latent scalars recorded in this window, overloaded or not.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::codebook_usage::CodebookUsage;
    ///
    /// let mut usage = CodebookUsage::new(16)?;
    /// usage.add_overload(3, 10)?;
    /// assert_eq!(usage.scalars(), 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn scalars(&self) -> u64 {
        self.scalars
    }

    /// How many times token `index` was counted in this window: 0 if never, or if
    /// `index >= K`.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::codebook_usage::CodebookUsage;
    ///
    /// let mut usage = CodebookUsage::new(4)?;
    /// usage.insert_indices(&[1, 1])?;
    /// assert_eq!((usage.count_of(1), usage.count_of(0), usage.count_of(99)), (2, 0, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn count_of(&self, index: u64) -> u64 {
        self.counts.get(index)
    }

    /// The tokens counted in this window with their counts, in index order (tokens never
    /// counted are left out): what a resumable run saves of its window.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::codebook_usage::CodebookUsage;
    ///
    /// let mut usage = CodebookUsage::new(4)?;
    /// usage.insert_indices(&[3, 0, 3])?;
    /// assert_eq!(usage.counts().collect::<Vec<_>>(), [(0, 1), (3, 2)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn counts(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.counts.iter()
    }

    /// Add the counts of `other`, as if its tokens and overload records had been added here:
    /// counting shards separately and merging gives the same counter as one pass.
    ///
    /// # Errors
    /// [`Error::MergeMismatch`] if the codebook sizes differ (sizes above `usize::MAX` are
    /// reported as `usize::MAX`), [`Error::CountOverflow`] if a total would pass
    /// `u64::MAX`; `self` is left unchanged then.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::codebook_usage::CodebookUsage;
    ///
    /// let mut left = CodebookUsage::new(8)?;
    /// left.insert_indices(&[1, 2])?;
    /// let mut right = CodebookUsage::new(8)?;
    /// right.insert_indices(&[2, 7])?;
    /// left.merge(&right)?;
    /// assert_eq!((left.total(), left.used(), left.count_of(2)), (4, 3, 2));
    ///
    /// assert!(left.merge(&CodebookUsage::new(9)?).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn merge(&mut self, other: &CodebookUsage) -> Result<()> {
        if self.codebook_size != other.codebook_size {
            let saturate = |size: u128| usize::try_from(size).unwrap_or(usize::MAX);
            return Err(Error::MergeMismatch {
                what: "codebook sizes",
                left: saturate(self.codebook_size),
                right: saturate(other.codebook_size),
            });
        }
        let (Some(total), Some(overloaded), Some(scalars)) = (
            self.total.checked_add(other.total),
            self.overloaded.checked_add(other.overloaded),
            self.scalars.checked_add(other.scalars),
        ) else {
            return Err(Error::CountOverflow);
        };
        for (index, count) in other.counts.iter() {
            self.counts.add(index, count);
        }
        self.total = total;
        self.overloaded = overloaded;
        self.scalars = scalars;
        Ok(())
    }

    /// Forget every count and overload record: start a new window (an epoch, say) over the
    /// same codebook.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::codebook_usage::CodebookUsage;
    ///
    /// let mut usage = CodebookUsage::new(4)?;
    /// usage.insert_indices(&[1])?;
    /// usage.add_overload(1, 1)?;
    /// usage.reset();
    /// assert_eq!(usage, CodebookUsage::new(4)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reset(&mut self) {
        self.counts.clear();
        self.total = 0;
        self.overloaded = 0;
        self.scalars = 0;
    }
}
