//! What the adapters' quantizer layers return, generic over the host framework's tensor type
//! `T` (`tch::Tensor`, `candle_core::Tensor`): one definition of the contract's named output,
//! typed codes and loss parts, which each adapter names with its tensor type.

/// What a quantizer layer's `quantize` returns: a named struct, the same for LL-VQ, VQ and
/// VQ-EMA.
///
/// # Shapes
/// As [`crate::layout`] says: `quantized` and `points` in the latents' shape, lattice codes
/// (I32) `(..., D)` and indices (I64) `(...)` in their leading shape (`(N, H, W)` for
/// `(N, D, H, W)` images). `loss` and the parts are scalars.
#[derive(Debug, Clone)]
pub struct QuantizerOutput<T> {
    /// Straight-through output `z + sg(e - z)`: the value of `e`, the gradient of `z`.
    pub quantized: T,
    /// The points `e` themselves (lattice points `B v` or codewords), detached, in the shape
    /// of `quantized`: what the layer's `decode` gives for `codes`.
    pub points: T,
    /// The codes: lattice coordinates (LL-VQ) or codeword indices (VQ, VQ-EMA).
    pub codes: Codes<T>,
    /// Total quantizer loss, `embedding + commitment_cost * commitment + sparsity_cost * size`
    /// (the terms a quantizer does not have are zero).
    pub loss: T,
    /// The unweighted parts of `loss`.
    pub parts: LossParts<T>,
}

/// A quantizer's codes: what they are is said by the type, not by the rank.
///
/// # Example
/// ```
/// use lattice_vq_core::output::Codes;
///
/// let codes = Codes::Lattice(vec![0i32, -1, 2]);
/// assert_eq!(codes.lattice(), Some(&vec![0, -1, 2]));
/// assert!(codes.indices().is_none());
/// assert_eq!(codes.tensor().len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Codes<T> {
    /// Integer lattice coordinates `v` with `e = B v`, I32, shape `(..., D)`.
    Lattice(T),
    /// Codeword indices into a `K x D` codebook, I64, shape `(...)`.
    Indices(T),
}

impl<T> Codes<T> {
    /// The codes' tensor, either variant.
    pub fn tensor(&self) -> &T {
        match self {
            Codes::Lattice(t) | Codes::Indices(t) => t,
        }
    }

    /// The lattice coordinates, `Some` for [`Codes::Lattice`].
    pub fn lattice(&self) -> Option<&T> {
        match self {
            Codes::Lattice(t) => Some(t),
            Codes::Indices(_) => None,
        }
    }

    /// The codeword indices, `Some` for [`Codes::Indices`].
    pub fn indices(&self) -> Option<&T> {
        match self {
            Codes::Indices(t) => Some(t),
            Codes::Lattice(_) => None,
        }
    }

    /// The same variant around `f` of the tensor (an adapter reshaping per-row codes into
    /// their layout's shape, say).
    ///
    /// # Errors
    /// `f`'s.
    pub fn try_map<U, E>(self, f: impl FnOnce(T) -> Result<U, E>) -> Result<Codes<U>, E> {
        Ok(match self {
            Codes::Lattice(t) => Codes::Lattice(f(t)?),
            Codes::Indices(t) => Codes::Indices(f(t)?),
        })
    }
}

/// The unweighted terms of the quantizer loss (paper Eq. 7-8; see [`crate::loss`] and
/// [`crate::vq_loss`]).
#[derive(Debug, Clone)]
pub struct LossParts<T> {
    /// `mean((e - sg(z))^2)`: trains the basis or codebook (zero for VQ-EMA, whose codebook
    /// follows moving averages instead).
    pub embedding: T,
    /// `mean((sg(e) - z)^2)`: trains the encoder.
    pub commitment: T,
    /// `-||b||_1` for LL-VQ, zero otherwise.
    pub size: T,
}

#[cfg(test)]
mod tests {
    use super::Codes;

    #[test]
    fn each_variant_answers_for_itself_and_keeps_its_kind_through_try_map() {
        let lattice = Codes::Lattice(vec![1i32, 2]);
        let indices = Codes::Indices(vec![3i64]);
        assert_eq!(
            (lattice.lattice(), lattice.indices()),
            (Some(&vec![1, 2]), None)
        );
        assert_eq!(
            (indices.indices(), indices.lattice()),
            (Some(&vec![3]), None)
        );
        assert_eq!(indices.tensor(), &vec![3]);
        let lengths = lattice.try_map(|v| Ok::<_, ()>(v.len())).unwrap();
        assert_eq!(lengths, Codes::Lattice(2));
        let failed = indices.try_map(|_| Err::<usize, _>("no"));
        assert_eq!(failed, Err("no"));
    }
}
