//! Tokens for the codes of an unbounded lattice: a vocabulary of the code vectors seen.
//!
//! An unbounded lattice such as [`DiagonalLattice`](crate::DiagonalLattice) has no finite
//! codebook, so its integer codes have no token indices
//! ([`Lattice::codes_to_indices`](crate::Lattice::codes_to_indices) refuses them). A
//! [`Vocabulary`] gives them some: each distinct code seen gets the index of its first
//! appearance, `0, 1, 2, ...`, and every other code the *unknown token*, equal to
//! [`Vocabulary::len`]. A downstream model over tokens (a prior, a transformer) then has
//! `len() + 1` symbols.
//!
//! Unlike [`UniqueCodes`](crate::UniqueCodes), which keeps only a hash of each code, a
//! vocabulary keeps the codes themselves, so tokens decode back to codes.

use std::collections::HashMap;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use crate::codes::CodeVector;
use crate::error::{Error, Result};

/// The distinct code vectors of one dimension D seen so far, numbered in order of first
/// appearance, with an unknown token ([`unknown_token`](Self::unknown_token), equal to
/// [`len`](Self::len)) for every code not in the vocabulary.
///
/// Tokens of known codes never change as the vocabulary grows, but the unknown token does
/// (it is always the next free index): build the vocabulary first (from a training set, say),
/// then hand out [`tokens`](Self::tokens).
///
/// # Example
/// ```
/// use lattice_vq_core::vocabulary::Vocabulary;
/// use ndarray::array;
///
/// let mut vocabulary = Vocabulary::new(2)?;
/// vocabulary.insert_rows(array![[4, -1], [0, 0], [4, -1]].view())?;
/// assert_eq!(vocabulary.len(), 2);
///
/// let tokens = vocabulary.tokens(array![[0, 0], [4, -1], [9, 9]].view())?;
/// assert_eq!(tokens, array![1, 0, vocabulary.unknown_token()]);
/// assert_eq!(vocabulary.codes(tokens.slice(ndarray::s![..2]))?, array![[0, 0], [4, -1]]);
/// assert!(vocabulary.codes(tokens.view()).is_err()); // the unknown token has no code
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Vocabulary {
    dim: usize,
    /// The codes in token order, `len() * dim` entries: token `t` is
    /// `codes[t * dim..(t + 1) * dim]`.
    codes: Vec<i32>,
    tokens: HashMap<CodeVector, u64>,
}

impl Vocabulary {
    /// An empty vocabulary for code vectors of length `dim`.
    ///
    /// # Errors
    /// [`Error::ZeroDim`] for `dim = 0`.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::Error;
    /// use lattice_vq_core::vocabulary::Vocabulary;
    ///
    /// let vocabulary = Vocabulary::new(64)?;
    /// assert_eq!((vocabulary.dim(), vocabulary.len()), (64, 0));
    /// assert!(matches!(Vocabulary::new(0), Err(Error::ZeroDim)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(Error::ZeroDim);
        }
        Ok(Self {
            dim,
            codes: Vec::new(),
            tokens: HashMap::new(),
        })
    }

    /// The length D of the code vectors.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::vocabulary::Vocabulary;
    ///
    /// assert_eq!(Vocabulary::new(3)?.dim(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of distinct codes in the vocabulary; their tokens are `0..len()`.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::vocabulary::Vocabulary;
    /// use ndarray::array;
    ///
    /// let mut vocabulary = Vocabulary::new(1)?;
    /// vocabulary.insert_rows(array![[5], [6], [5]].view())?;
    /// assert_eq!(vocabulary.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> u64 {
        self.tokens.len() as u64
    }

    /// Whether the vocabulary has no codes (then every code gets the unknown token, 0).
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::vocabulary::Vocabulary;
    ///
    /// let mut vocabulary = Vocabulary::new(1)?;
    /// assert!(vocabulary.is_empty());
    /// vocabulary.insert(&[0])?;
    /// assert!(!vocabulary.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The token of every code not in the vocabulary: [`len`](Self::len), so it moves up as
    /// the vocabulary grows.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::vocabulary::Vocabulary;
    ///
    /// let mut vocabulary = Vocabulary::new(1)?;
    /// assert_eq!(vocabulary.unknown_token(), 0);
    /// vocabulary.insert(&[7])?;
    /// assert_eq!(vocabulary.unknown_token(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unknown_token(&self) -> u64 {
        self.len()
    }

    /// Add one code if it is not in the vocabulary yet, and return its token.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `code.len() != self.dim()`; nothing is added then.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::vocabulary::Vocabulary;
    ///
    /// let mut vocabulary = Vocabulary::new(2)?;
    /// assert_eq!(vocabulary.insert(&[1, 2])?, 0);
    /// assert_eq!(vocabulary.insert(&[2, 1])?, 1);
    /// assert_eq!(vocabulary.insert(&[1, 2])?, 0);
    /// assert!(vocabulary.insert(&[1]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert(&mut self, code: &[i32]) -> Result<u64> {
        if code.len() != self.dim {
            return Err(Error::ShapeMismatch {
                what: "code",
                expected: vec![self.dim],
                found: vec![code.len()],
            });
        }
        Ok(self.insert_unchecked(code))
    }

    /// Add every code of an `(N, D)` array not in the vocabulary yet, in row order, so that
    /// tokens follow first appearance. Any memory layout works.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if the array does not have `self.dim()` columns; nothing is
    /// added then.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::vocabulary::Vocabulary;
    /// use ndarray::array;
    ///
    /// let mut vocabulary = Vocabulary::new(2)?;
    /// vocabulary.insert_rows(array![[3, 3], [1, 0], [3, 3], [0, 1]].view())?;
    /// assert_eq!(vocabulary.code(1), Some(&[1, 0][..]));
    /// assert_eq!(vocabulary.code(2), Some(&[0, 1][..]));
    /// assert!(vocabulary.insert_rows(array![[1, 2, 3]].view()).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert_rows(&mut self, codes: ArrayView2<'_, i32>) -> Result<()> {
        self.check_columns(codes)?;
        let mut scratch = Vec::with_capacity(self.dim);
        for row in codes.rows() {
            let code = contiguous(&row, &mut scratch);
            self.insert_unchecked(code);
        }
        Ok(())
    }

    /// The token of one code: `None` if it is not in the vocabulary (or has another length).
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::vocabulary::Vocabulary;
    ///
    /// let mut vocabulary = Vocabulary::new(2)?;
    /// vocabulary.insert(&[1, 2])?;
    /// assert_eq!(vocabulary.token(&[1, 2]), Some(0));
    /// assert_eq!(vocabulary.token(&[2, 1]), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn token(&self, code: &[i32]) -> Option<u64> {
        self.tokens.get(code).copied()
    }

    /// The token of each row of an `(N, D)` array of codes, in any memory layout:
    /// [`unknown_token`](Self::unknown_token) for the codes not in the vocabulary.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if the array does not have `self.dim()` columns.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::vocabulary::Vocabulary;
    /// use ndarray::array;
    ///
    /// let mut vocabulary = Vocabulary::new(2)?;
    /// vocabulary.insert_rows(array![[0, 1], [1, 0]].view())?;
    /// let tokens = vocabulary.tokens(array![[1, 0], [5, 5], [0, 1]].view())?;
    /// assert_eq!(tokens, array![1, 2, 0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tokens(&self, codes: ArrayView2<'_, i32>) -> Result<Array1<u64>> {
        self.check_columns(codes)?;
        let unknown = self.unknown_token();
        let mut scratch = Vec::with_capacity(self.dim);
        Ok(codes
            .rows()
            .into_iter()
            .map(|row| {
                let code = contiguous(&row, &mut scratch);
                self.tokens.get(code).copied().unwrap_or(unknown)
            })
            .collect())
    }

    /// The `(N, D)` codes of tokens in `0..len()`: the inverse of [`tokens`](Self::tokens)
    /// on the codes in the vocabulary.
    ///
    /// # Errors
    /// For the first token that has no code: [`Error::UnknownToken`] for the unknown token
    /// (`len()`), [`Error::TokenOutOfRange`] (with `codebook_size = len()`) for a token
    /// above it.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::Error;
    /// use lattice_vq_core::vocabulary::Vocabulary;
    /// use ndarray::array;
    ///
    /// let mut vocabulary = Vocabulary::new(2)?;
    /// vocabulary.insert_rows(array![[0, 1], [1, 0]].view())?;
    /// assert_eq!(vocabulary.codes(array![1, 1, 0].view())?, array![[1, 0], [1, 0], [0, 1]]);
    ///
    /// let unknown = vocabulary.codes(array![0, 2].view()).unwrap_err();
    /// assert!(matches!(unknown, Error::UnknownToken { row: 1, index: 2 }));
    /// let beyond = vocabulary.codes(array![3].view()).unwrap_err();
    /// assert!(matches!(beyond, Error::TokenOutOfRange { row: 0, index: 3, codebook_size: 2 }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn codes(&self, tokens: ArrayView1<'_, u64>) -> Result<Array2<i32>> {
        let mut codes = Vec::with_capacity(tokens.len() * self.dim);
        for (row, &token) in tokens.iter().enumerate() {
            let Some(code) = self.code(token) else {
                return Err(self.no_code(row, token));
            };
            codes.extend_from_slice(code);
        }
        Ok(Array2::from_shape_vec((tokens.len(), self.dim), codes)
            .expect("each token gave dim codes"))
    }

    /// How many rows of an `(N, D)` array of codes are not in the vocabulary (get the unknown
    /// token).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if the array does not have `self.dim()` columns.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::vocabulary::Vocabulary;
    /// use ndarray::array;
    ///
    /// let mut vocabulary = Vocabulary::new(1)?;
    /// vocabulary.insert_rows(array![[0], [1]].view())?;
    /// assert_eq!(vocabulary.out_of_vocabulary(array![[0], [2], [2], [1]].view())?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn out_of_vocabulary(&self, codes: ArrayView2<'_, i32>) -> Result<u64> {
        self.check_columns(codes)?;
        let mut scratch = Vec::with_capacity(self.dim);
        let mut unknown = 0_u64;
        for row in codes.rows() {
            if !self.tokens.contains_key(contiguous(&row, &mut scratch)) {
                unknown += 1;
            }
        }
        Ok(unknown)
    }

    /// The code of `token`: `None` for the unknown token and above.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::vocabulary::Vocabulary;
    ///
    /// let mut vocabulary = Vocabulary::new(2)?;
    /// vocabulary.insert(&[-3, 8])?;
    /// assert_eq!(vocabulary.code(0), Some(&[-3, 8][..]));
    /// assert_eq!(vocabulary.code(vocabulary.unknown_token()), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn code(&self, token: u64) -> Option<&[i32]> {
        if token >= self.len() {
            return None;
        }
        // Below len(), so the offsets index `codes`, which fits in memory.
        let start = usize::try_from(token).ok()? * self.dim;
        self.codes.get(start..start + self.dim)
    }

    /// Add a code of length `dim`, returning its token.
    fn insert_unchecked(&mut self, code: &[i32]) -> u64 {
        if let Some(&token) = self.tokens.get(code) {
            return token;
        }
        let token = self.len();
        self.codes.extend_from_slice(code);
        self.tokens.insert(CodeVector::from(code), token);
        token
    }

    fn check_columns(&self, codes: ArrayView2<'_, i32>) -> Result<()> {
        if codes.ncols() != self.dim {
            return Err(Error::ShapeMismatch {
                what: "codes",
                expected: vec![codes.nrows(), self.dim],
                found: vec![codes.nrows(), codes.ncols()],
            });
        }
        Ok(())
    }

    /// The error for a token without a code (`token >= len()`) at `row`.
    fn no_code(&self, row: usize, token: u64) -> Error {
        if token == self.unknown_token() {
            Error::UnknownToken { row, index: token }
        } else {
            Error::TokenOutOfRange {
                row,
                index: token,
                codebook_size: u128::from(self.len()),
            }
        }
    }
}

/// A row as a slice: itself when contiguous, otherwise copied into `scratch`.
fn contiguous<'s>(row: &'s ArrayView1<'_, i32>, scratch: &'s mut Vec<i32>) -> &'s [i32] {
    match row.as_slice() {
        Some(code) => code,
        None => {
            scratch.clear();
            scratch.extend(row.iter().copied());
            scratch
        }
    }
}
