//! [`StepStats`] from the loss terms a backend copied off its device.

use super::StepStats;

impl StepStats {
    /// The stats from the values of the loss terms in the order the backends stack them:
    /// total loss, reconstruction, embedding, commitment, size.
    pub(crate) fn from_terms(
        [loss, reconstruction, embedding, commitment, size]: [f64; 5],
    ) -> Self {
        Self {
            loss,
            reconstruction,
            embedding,
            commitment,
            size,
        }
    }
}
