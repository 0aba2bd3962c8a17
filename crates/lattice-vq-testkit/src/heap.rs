//! Keep freed memory in the process instead of handing it back to the kernel after every
//! training step.
//!
//! A training step on the CPU (libtorch or candle) allocates tens of megabytes of activations
//! and frees them all at its end. With glibc's default thresholds the freed top of the heap is
//! returned to the kernel (and blocks above the mmap threshold are unmapped), so the next step
//! pays a page fault and a zeroed page for every 4 KiB again. Measured here
//! (`docs/benchmarks.md`): the tch step of the Fashion-MNIST model took 1.13-1.22x the time
//! of the same step in PyTorch with glibc's defaults and under 1x with the thresholds raised;
//! candle's step became about 1.7x faster. The PyTorch process hardly gained from the same
//! thresholds (its kernel time was half of tch's to begin with); presumably the interpreter's
//! own small objects pin the top of its heap, so it is rarely trimmed (not verified).
//!
//! The thresholds are process-wide, so the library crates never touch them; applications
//! (lattice-vq-experiments' training and examples, the adapters' benches) opt in with
//! [`retain_freed_memory`]. It lives here, below the adapters, so that their benches need not
//! depend on lattice-vq-experiments (which re-exports it as `lattice_vq_experiments::heap`).
//! Any program can get the same without code from the environment:
//! `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=536870912`.

/// Largest mmap threshold glibc accepts on 64-bit targets (`HEAP_MAX_SIZE / 2`): blocks up to
/// this size come from the heap and are reused, not mapped and unmapped per step.
pub const MMAP_THRESHOLD_BYTES: usize = 32 << 20;

/// Free memory at the top of the heap that glibc keeps before trimming it: above the peak
/// that one CPU training step of the paper's models frees (measured 128 MiB is enough).
pub const TRIM_THRESHOLD_BYTES: usize = 512 << 20;

/// Raise glibc's mmap and trim thresholds ([`MMAP_THRESHOLD_BYTES`], [`TRIM_THRESHOLD_BYTES`]) so
/// that memory freed by one training step is reused by the next instead of being returned to
/// the kernel and faulted in again.
///
/// Returns whether the thresholds were set: `false` where the C library is not glibc (the
/// call then does nothing) or glibc refused a value. Freed memory up to the trim threshold
/// stays counted in the process's resident size.
///
/// # Example
/// ```
/// let applied = lattice_vq_testkit::heap::retain_freed_memory();
/// assert_eq!(applied, cfg!(all(target_os = "linux", target_env = "gnu")));
/// ```
pub fn retain_freed_memory() -> bool {
    set_thresholds()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_thresholds() -> bool {
    let as_int = |bytes: usize| libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: `mallopt` takes two integers and no pointers; it only changes the allocator's
    // own tuning parameters (under glibc's arena lock), which any later malloc/free honours.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, as_int(MMAP_THRESHOLD_BYTES)) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, as_int(TRIM_THRESHOLD_BYTES)) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds() -> bool {
    false
}
