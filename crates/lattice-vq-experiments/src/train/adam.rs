//! The scalars of PyTorch's `torch.optim.Adam` (default betas, no weight decay), shared by
//! both backends' implementations. The backends implement the update themselves rather
//! than using tch's or candle's optimizer because those keep their moments private, and a
//! resumed run must continue with the same moments.

/// `beta1`.
pub const BETA1: f64 = 0.9;
/// `beta2`.
pub const BETA2: f64 = 0.999;
/// `eps`.
pub const EPS: f64 = 1e-8;

/// For step `t` (1-based): the step size `lr / (1 - beta1^t)` and `sqrt(1 - beta2^t)`, as
/// PyTorch's single-tensor Adam computes them:
/// `p -= step_size * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)`.
pub fn step_scalars(lr: f64, t: u64) -> (f64, f64) {
    let t = i32::try_from(t).unwrap_or(i32::MAX);
    let bias1 = 1.0 - BETA1.powi(t);
    let bias2 = 1.0 - BETA2.powi(t);
    (lr / bias1, bias2.sqrt())
}
