//! Which codes another computation could give: the boundary cases of quantization, measured
//! in the tests' own latents, and the code-count budgets they imply.
//!
//! Used by the [`official_checkpoints`](crate::suites::official_checkpoints) suite and by
//! the cross-backend test (crates/lattice-vq-experiments/tests/training/cross_backend.rs). Another machine, or another backend, sums the encoder's convolutions in another
//! order, so its f32 latents differ from ours in their last bits. How far is measured: every
//! [`EXACT_EVERY`]-th batch also goes through the encoder in f64, and our f32 latents'
//! largest deviation from those bounds, with the factors below, where another computation's
//! latents can lie (the radius). The rest follows from floating-point rounding bounds, so the
//! budgets hold for any computation within the radius, not only for the ones seen here.

use std::collections::{HashMap, HashSet};

use lattice_vq_core::code_key;

/// Every how-many-th batch (from the first) also goes through the encoder in f64: libtorch's
/// f64 convolutions are about five times slower than its f32 ones.
pub const EXACT_EVERY: usize = 4;

/// Our largest deviation from the f64 latents over all batches is at most this many times
/// the largest over the batches that went through f64. Measured on the official dense and
/// sparse checkpoints with libtorch's AVX2 and AVX-512 kernels: every fourth batch's largest
/// deviation (from any of the four first batches) was within 1.31 times all batches'.
pub const SAMPLE_FACTOR: f64 = 2.0;

/// Another summation order's latents deviate from the f64 ones by at most this many times
/// as much as ours. Measured on the four official checkpoints (the batches through f64):
/// libtorch's AVX2 kernels' largest deviation was 1.1 to 2.7 times its AVX-512 kernels'
/// (scripts/test runs both), candle's 1.0 to 1.4 times the latter.
pub const ORDER_FACTOR: f64 = 4.0;

/// Unit roundoff of f32.
const UNIT_ROUNDOFF: f64 = 1.0 / (1u64 << 24) as f64;

/// Largest deviation of our f32 latents from the same encoder's in f64.
#[derive(Debug, Clone, Default)]
pub struct Deviation {
    /// Over single latents.
    pub scalar: f64,
    /// Over rows, Euclidean.
    pub row: f64,
    /// Rows compared.
    pub rows: u64,
}

impl Deviation {
    /// Compare rows of f32 latents with the same rows in f64 (row-major, `dim` columns).
    pub fn observe(&mut self, dim: usize, ours: &[f32], exact: &[f64]) {
        assert_eq!(ours.len(), exact.len(), "f32 and f64 latents of one batch");
        for (z, x) in ours.chunks(dim).zip(exact.chunks(dim)) {
            let mut squares = 0.0f64;
            for (&z, &x) in z.iter().zip(x) {
                let deviation = (f64::from(z) - x).abs();
                assert!(deviation.is_finite(), "latent {z} vs {x}");
                self.scalar = self.scalar.max(deviation);
                squares += deviation * deviation;
            }
            self.row = self.row.max(squares.sqrt());
            self.rows += 1;
        }
    }

    /// How much farther from the exact latents than our measured deviation ours and
    /// another computation's can be, together.
    fn factor(&self) -> f64 {
        assert!(self.rows > 0, "no f64 latents were compared");
        SAMPLE_FACTOR * (1.0 + ORDER_FACTOR)
    }

    /// How far from one of our latents another computation's may lie.
    pub fn scalar_radius(&self) -> f64 {
        self.factor() * self.scalar
    }

    /// How far from one of our latent rows another computation's may lie (Euclidean).
    pub fn row_radius(&self) -> f64 {
        self.factor() * self.row
    }
}

/// Codes of every lattice latent within `radius` of `z`: `round(z' * r)` with the product
/// in f32 (within `2^-24` of the exact one, widened here to `2^-23`) and ties either way, as
/// an inclusive range. `r` is the f32 reciprocal of the basis entry, as the layers use it.
pub fn code_range(z: f64, reciprocal: f64, radius: f64) -> (i64, i64) {
    let t = z * reciprocal;
    let reach = radius * reciprocal.abs();
    let slack = (t.abs() + reach) * 2.0 * UNIT_ROUNDOFF;
    // Code k is within reach when [t - reach, t + reach] meets [k - 0.5, k + 0.5].
    (
        (t - reach - slack - 0.5).ceil() as i64,
        (t + reach + slack + 0.5).floor() as i64,
    )
}

/// Boundary rows whose boxes hold at most this many codes have them listed one by one.
const LISTED_BOX: f64 = 256.0;
/// Clusters whose listed boxes hold at most this many codes in all are counted code by
/// code (see [`LatticeBoundary::finish`]).
const LISTED_CLUSTER: f64 = 65_536.0;

/// The count budget of a lattice quantizer's unique codes, and what it was derived from.
#[derive(Debug)]
pub struct LatticeReport {
    /// Rows added.
    pub rows: usize,
    /// Unique codes among them.
    pub unique: usize,
    /// The measured deviation from the f64 latents.
    pub deviation: Deviation,
    /// The radius.
    pub radius: f64,
    /// The radius's largest multiple of a basis entry (in units of b).
    pub radius_in_units: f64,
    /// Latents (scalars) whose code another computation could change.
    pub boundary_scalars: u64,
    /// Rows whose code another computation could change.
    pub boundary_rows: u64,
    /// Rows whose code another computation could make equal to another row's code, or
    /// different from the code they share here.
    pub clustered_rows: u64,
    /// The clusters those rows form.
    pub clusters: u64,
    /// Largest number of unique codes another computation could gain or lose.
    pub budget: u64,
    /// Latents where the f64 encoder's layer gave another code than ours.
    pub f64_disagreements: u64,
    /// Rows compared with the f64 encoder's.
    pub f64_rows: u64,
}

/// A lattice layer's rows (our f32 latents and codes), batch by batch, with the f64
/// encoder's deviation on the batches that went through it.
#[derive(Debug)]
pub struct LatticeBoundary {
    reciprocal: Vec<f32>,
    latents: Vec<f32>,
    /// Per row, the number of its code among the distinct codes seen.
    groups: Vec<u32>,
    keys: HashMap<u128, u32>,
    /// Largest |z| per channel.
    largest: Vec<f64>,
    deviation: Deviation,
    /// Latents (row, channel) where the f64 encoder's layer gave another code than ours, and
    /// that code.
    disagreements: Vec<(u32, u16, i32)>,
}

impl LatticeBoundary {
    /// A collector for a lattice of `basis` (its f32 entries).
    pub fn new(basis: &[f32]) -> Self {
        Self {
            reciprocal: basis.iter().map(|b| 1.0 / b).collect(),
            latents: Vec::new(),
            groups: Vec::new(),
            keys: HashMap::new(),
            largest: vec![0.0; basis.len()],
            deviation: Deviation::default(),
            disagreements: Vec::new(),
        }
    }

    fn dim(&self) -> usize {
        self.reciprocal.len()
    }

    /// Rows so far.
    pub fn rows(&self) -> usize {
        self.groups.len()
    }

    /// A batch of rows (row-major f32 latents) and the codes the layer gave them; returns
    /// the index of its first row.
    pub fn add(&mut self, latents: &[f32], codes: &[i32]) -> usize {
        let dim = self.dim();
        assert_eq!(latents.len(), codes.len());
        let first = self.rows();
        for code in codes.chunks(dim) {
            let next = self.keys.len() as u32;
            let group = *self.keys.entry(code_key(code)).or_insert(next);
            self.groups.push(group);
        }
        for z in latents.chunks(dim) {
            for (largest, &z) in self.largest.iter_mut().zip(z) {
                *largest = largest.max(f64::from(z).abs());
            }
        }
        self.latents.extend_from_slice(latents);
        first
    }

    /// The batch added at `first` through the encoder and layer in f64: our codes of its
    /// rows, the f64 latents and the f64 layer's codes. Each of our codes must be
    /// `round(z * (1 / b))` of our latent, up to the f32 product's rounding.
    pub fn add_exact(&mut self, first: usize, ours: &[i32], latents: &[f64], codes: &[i32]) {
        let dim = self.dim();
        let start = first * dim;
        let our_latents = &self.latents[start..start + latents.len()];
        self.deviation.observe(dim, our_latents, latents);
        for (index, (&a, &b)) in ours.iter().zip(codes).enumerate() {
            let channel = index % dim;
            let r = f64::from(self.reciprocal[channel]);
            let (low, high) = code_range(f64::from(our_latents[index]), r, 0.0);
            assert!(
                low <= i64::from(a) && i64::from(a) <= high,
                "row {}, channel {channel}: code {a} is not the rounding of {} * {r}",
                first + index / dim,
                our_latents[index],
            );
            if a != b {
                let (row, channel) = ((first + index / dim) as u32, channel as u16);
                self.disagreements.push((row, channel, b));
            }
        }
    }

    /// The budget: how many unique codes another computation could gain or lose.
    ///
    /// Each row's codes elsewhere lie in its box: per latent, the [`code_range`] of the
    /// radius. Rows are grouped by their code here; groups whose boxes (over their rows)
    /// overlap are linked into clusters, and codes of different clusters can never coincide.
    /// A cluster of `g` groups and `n` rows whose boxes hold at most `w` codes has `g` codes
    /// here and between 1 and `min(n, w)` elsewhere, so it changes the count by at most
    /// `max(g - 1, min(n, w) - g)`; a lone row changes nothing, whatever its code becomes.
    /// Where the boxes are small enough to list, the cluster's codes are listed: the count
    /// can then change only by codes within reach of a boundary row that no row of the
    /// cluster off the boundary keeps.
    pub fn finish(self) -> LatticeReport {
        let dim = self.dim();
        let rows = self.rows();
        let groups = self.keys.len();
        let radius = self.deviation.scalar_radius();
        let reciprocal: Vec<f64> = self.reciprocal.iter().map(|&r| f64::from(r)).collect();
        let row_box = |row: usize, low: &mut [i64], high: &mut [i64]| {
            let z = &self.latents[row * dim..(row + 1) * dim];
            for channel in 0..dim {
                (low[channel], high[channel]) =
                    code_range(f64::from(z[channel]), reciprocal[channel], radius);
            }
        };
        let (mut low, mut high) = (vec![0i64; dim], vec![0i64; dim]);

        // By construction: the f64 encoder's latents lie within the radius of ours (its
        // layer rounds the product with the f64 reciprocal, within 2^-24 of ours), so its
        // code differs from ours only where another code is within reach, and is one of them.
        for &(row, channel, code) in &self.disagreements {
            let (row, channel) = (row as usize, usize::from(channel));
            let z = f64::from(self.latents[row * dim + channel]);
            let (l, h) = code_range(z, reciprocal[channel], radius);
            assert!(
                l <= i64::from(code) && i64::from(code) <= h,
                "row {row}, channel {channel}: the f64 encoder's code {code} is out of reach \
                 of ours, {l}..={h}"
            );
        }

        let mut size = vec![0u32; groups];
        let mut first_row = vec![u32::MAX; groups];
        for (row, &g) in self.groups.iter().enumerate() {
            size[g as usize] += 1;
            if first_row[g as usize] == u32::MAX {
                first_row[g as usize] = row as u32;
            }
        }

        // A grid over the four channels whose codes spread most (in a sample of rows), with
        // cells twice as wide as any group's box can be: a box spans at most two cells per
        // channel, and overlapping boxes share a cell.
        let cell: Vec<i64> = (0..dim)
            .map(|c| {
                let reach = radius * reciprocal[c].abs();
                let slack = (self.largest[c] * reciprocal[c].abs() + reach) * 2.0 * UNIT_ROUNDOFF;
                // A row's box is at most this many codes wide, a group's (its rows share a
                // code) less than twice that.
                let row_width = (2.0 * (reach + slack)).floor() as i64 + 2;
                4 * row_width
            })
            .collect();
        let mut spread: Vec<(usize, usize)> = (0..dim)
            .map(|c| {
                let cells: HashSet<i64> = (0..rows)
                    .step_by(61)
                    .map(|row| {
                        let z = f64::from(self.latents[row * dim + c]);
                        code_range(z, reciprocal[c], radius).0.div_euclid(cell[c])
                    })
                    .collect();
                (cells.len(), c)
            })
            .collect();
        spread.sort_unstable_by(|a, b| b.cmp(a));
        let grid: Vec<usize> = spread.iter().take(4).map(|&(_, c)| c).collect();
        let mut entries: Vec<(u64, u32)> = Vec::with_capacity(rows * 2);
        let mut push_cells = |g: u32, low: &[i64], high: &[i64]| {
            let spans: Vec<(i64, i64)> = grid
                .iter()
                .map(|&c| (low[c].div_euclid(cell[c]), high[c].div_euclid(cell[c])))
                .collect();
            let combinations: i64 = spans.iter().map(|(a, b)| b - a + 1).product();
            for combination in 0..combinations {
                let mut rest = combination;
                let mut key = [0i32; 4];
                for (slot, &(a, b)) in spans.iter().enumerate() {
                    key[slot] = (a + rest % (b - a + 1)) as i32;
                    rest /= b - a + 1;
                }
                entries.push((code_key(&key) as u64, g));
            }
        };

        // One sweep over the rows: boundary latents, box sizes, group boxes, grid cells.
        let (mut boundary_scalars, mut boundary_rows) = (0u64, 0u64);
        let mut codes_within = vec![1.0f64; groups];
        let mut settled = vec![false; groups];
        let mut unlisted = vec![false; groups];
        let mut listed_rows = Vec::new();
        let mut union: HashMap<u32, (Vec<i64>, Vec<i64>)> = HashMap::new();
        for row in 0..rows {
            row_box(row, &mut low, &mut high);
            let g = self.groups[row];
            let mut codes = 1.0f64;
            let mut boundary = 0u64;
            for channel in 0..dim {
                let width = high[channel] - low[channel] + 1;
                boundary += u64::from(width > 1);
                codes *= width as f64;
            }
            boundary_scalars += boundary;
            boundary_rows += u64::from(boundary > 0);
            codes_within[g as usize] += codes - 1.0;
            if boundary == 0 {
                settled[g as usize] = true;
            } else if codes <= LISTED_BOX {
                listed_rows.push(row as u32);
            } else {
                unlisted[g as usize] = true;
            }
            if size[g as usize] == 1 {
                push_cells(g, &low, &high);
            } else if boundary > 0 || first_row[g as usize] == row as u32 {
                // Off the boundary a row's box is its code, which the group's box holds
                // from its first row on.
                let (l, h) = union
                    .entry(g)
                    .or_insert_with(|| (vec![i64::MAX; dim], vec![i64::MIN; dim]));
                for channel in 0..dim {
                    l[channel] = l[channel].min(low[channel]);
                    h[channel] = h[channel].max(high[channel]);
                }
            }
        }
        for (&g, (l, h)) in &union {
            push_cells(g, l, h);
        }
        entries.sort_unstable();

        // Clusters: union-find over groups whose boxes overlap.
        let mut parent: Vec<u32> = (0..groups as u32).collect();
        fn find(parent: &mut [u32], mut a: u32) -> u32 {
            while parent[a as usize] != a {
                let up = parent[parent[a as usize] as usize];
                parent[a as usize] = up;
                a = up;
            }
            a
        }
        let group_box = |g: u32| -> (Vec<i64>, Vec<i64>) {
            if let Some(b) = union.get(&g) {
                b.clone()
            } else {
                let (mut l, mut h) = (vec![0i64; dim], vec![0i64; dim]);
                row_box(first_row[g as usize] as usize, &mut l, &mut h);
                (l, h)
            }
        };
        let mut run = 0;
        while run < entries.len() {
            let mut end = run + 1;
            while end < entries.len() && entries[end].0 == entries[run].0 {
                end += 1;
            }
            if end - run > 1 {
                let members: Vec<u32> = entries[run..end].iter().map(|e| e.1).collect();
                let boxes: Vec<(Vec<i64>, Vec<i64>)> =
                    members.iter().map(|&g| group_box(g)).collect();
                for i in 0..members.len() {
                    for j in i + 1..members.len() {
                        let (a, b) = (find(&mut parent, members[i]), find(&mut parent, members[j]));
                        if a == b {
                            continue;
                        }
                        let ((la, ha), (lb, hb)) = (&boxes[i], &boxes[j]);
                        if (0..dim).all(|c| la[c] <= hb[c] && lb[c] <= ha[c]) {
                            parent[a as usize] = b;
                        }
                    }
                }
            }
            run = end;
        }

        // Per cluster: groups, rows, codes within reach, whether its codes can be listed.
        let mut roots = vec![0u32; groups];
        let mut cluster_groups = vec![0u64; groups];
        let mut cluster_rows = vec![0u64; groups];
        let mut cluster_codes = vec![0f64; groups];
        let mut cluster_unlisted = vec![false; groups];
        for g in 0..groups {
            let root = find(&mut parent, g as u32);
            roots[g] = root;
            let root = root as usize;
            cluster_groups[root] += 1;
            cluster_rows[root] += u64::from(size[g]);
            cluster_codes[root] += codes_within[g];
            cluster_unlisted[root] |= unlisted[g];
        }
        let listable = |root: usize| {
            cluster_rows[root] > 1
                && !cluster_unlisted[root]
                && cluster_codes[root] <= LISTED_CLUSTER
        };

        // Listed clusters: the codes within reach of their boundary rows that none of their
        // rows off the boundary keeps.
        let mut group_keys = vec![0u128; groups];
        for (&key, &g) in &self.keys {
            group_keys[g as usize] = key;
        }
        let kept: HashSet<u128> = (0..groups)
            .filter(|&g| settled[g] && listable(roots[g] as usize))
            .map(|g| group_keys[g])
            .collect();
        let mut reachable: HashMap<u128, u32> = HashMap::new();
        let mut code = vec![0i32; dim];
        for &row in &listed_rows {
            let row = row as usize;
            let g = self.groups[row] as usize;
            if !listable(roots[g] as usize) {
                continue;
            }
            row_box(row, &mut low, &mut high);
            let spans: Vec<usize> = (0..dim).filter(|&c| high[c] > low[c]).collect();
            let combinations: i64 = spans.iter().map(|&c| high[c] - low[c] + 1).product();
            for c in 0..dim {
                code[c] = low[c] as i32;
            }
            for combination in 0..combinations {
                let mut rest = combination;
                for &c in &spans {
                    let width = high[c] - low[c] + 1;
                    code[c] = (low[c] + rest % width) as i32;
                    rest /= width;
                }
                let key = code_key(&code);
                if !kept.contains(&key) {
                    reachable.insert(key, roots[g]);
                }
            }
        }
        let mut listed_budget = vec![0u64; groups];
        for &root in reachable.values() {
            listed_budget[root as usize] += 1;
        }

        let (mut budget, mut clustered_rows, mut clusters) = (0u64, 0u64, 0u64);
        for root in 0..groups {
            let (g, n) = (cluster_groups[root], cluster_rows[root]);
            if n > 1 {
                let within = (n as f64).min(cluster_codes[root]) as u64;
                let mut bound = (g - 1).max(within.saturating_sub(g));
                if listable(root) {
                    bound = bound.min(listed_budget[root]);
                }
                budget += bound;
                clustered_rows += n;
                clusters += 1;
            }
        }
        let radius_in_units = reciprocal
            .iter()
            .map(|r| radius * r.abs())
            .fold(0.0, f64::max);
        LatticeReport {
            rows,
            unique: groups,
            deviation: self.deviation.clone(),
            radius,
            radius_in_units,
            boundary_scalars,
            boundary_rows,
            clustered_rows,
            clusters,
            budget,
            f64_disagreements: self.disagreements.len() as u64,
            f64_rows: self.deviation.rows,
        }
    }
}

/// A bound, fixed before any deviation is measured, on the Euclidean distance between a row
/// of another computation's latents and ours; [`VqBoundary::finish`] checks the measured
/// radius against it.
pub const RADIUS_BOUND: f64 = 1e-3;

/// Relative error bound of a squared distance `|z|^2 + |e|^2 - 2 z.e` summed in f32 in any
/// order, relative to `(|z| + |e|)^2`: gamma_(D+4) = (D+4)u / (1 - (D+4)u).
fn gamma(dim: usize) -> f64 {
    let n = (dim + 4) as f64 * UNIT_ROUNDOFF;
    n / (1.0 - n)
}

/// The codewords whose exact squared distances from a row (of norm `norm`) are listed in
/// `distances` (`nearest` the smallest) that another computation, whose row lies within
/// `rho` of it, could choose (see [`VqBoundary`]). `norms` are the codewords' norms.
fn reachable(
    dim: usize,
    norms: &[f64],
    norm: f64,
    nearest: f64,
    distances: &[(i64, f64)],
    rho: f64,
) -> Vec<i64> {
    let gamma = gamma(dim);
    let (m, d_m) = distances
        .iter()
        .copied()
        .find(|&(_, d)| d == nearest)
        .expect("the nearest codeword is among the distances");
    let eta = |k: i64| gamma * (norm + rho + norms[k as usize]).powi(2);
    let ceiling = (d_m.max(0.0).sqrt() + rho).powi(2) + eta(m);
    distances
        .iter()
        .filter(|&&(k, d)| (d.max(0.0).sqrt() - rho).max(0.0).powi(2) - eta(k) <= ceiling)
        .map(|&(k, _)| k)
        .collect()
}

/// The codewords another computation whose row lies within `rho` (Euclidean) of `row`
/// could choose for it, from exact distances (a small-scale version of [`VqBoundary`], for
/// a few rows).
pub fn vq_reach(row: &[f32], codebook: &[f32], rho: f64) -> Vec<i64> {
    let dim = row.len();
    let norm_of = |v: &[f32]| v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    let norms: Vec<f64> = codebook.chunks(dim).map(norm_of).collect();
    let distances: Vec<(i64, f64)> = codebook
        .chunks(dim)
        .enumerate()
        .map(|(k, e)| {
            let d = row
                .iter()
                .zip(e)
                .map(|(&z, &e)| (f64::from(z) - f64::from(e)).powi(2))
                .sum();
            (k as i64, d)
        })
        .collect();
    let nearest = distances.iter().map(|d| d.1).fold(f64::INFINITY, f64::min);
    reachable(dim, &norms, norm_of(row), nearest, &distances, rho)
}

/// A row near a tie: its exact squared distances to every codeword within reach.
#[derive(Debug)]
struct OpenRow {
    ours: i64,
    norm: f64,
    nearest: f64,
    distances: Vec<(i64, f64)>,
}

/// The count budget of a VQ layer's unique indices, and what it was derived from.
#[derive(Debug)]
pub struct VqReport {
    /// Rows added.
    pub rows: u64,
    /// Unique indices among them.
    pub unique: usize,
    /// The measured deviation from the f64 latents.
    pub deviation: Deviation,
    /// The radius (Euclidean, per row).
    pub radius: f64,
    /// Rows whose distances were computed exactly (near a tie).
    pub screened_rows: u64,
    /// Of those, the rows where another computation could choose another codeword.
    pub boundary_rows: u64,
    /// Codewords that boundary rows could choose and no other row does, the most by which
    /// another computation's count could differ from ours.
    pub budget: u64,
    /// Rows where the f64 encoder's layer chose another index than ours.
    pub f64_disagreements: u64,
    /// Rows compared with the f64 encoder's.
    pub f64_rows: u64,
}

/// Collects a VQ layer's rows, batch by batch: the indices it chose, and which other indices
/// another computation could choose.
///
/// Another computation's latent row lies within `rho` of ours (Euclidean, from the measured
/// deviation), and it sums each squared distance in f32 with an error of at most
/// `eta_k = gamma (|z| + rho + |e_k|)^2`. So it can choose codeword `k` only if
/// `(D_k - rho)^2 - eta_k <= (D_m + rho)^2 + eta_m`, with `D` the exact distances from our
/// row and `m` the exact nearest codeword. Rows whose two nearest f32 distances are too far
/// apart for that even at [`RADIUS_BOUND`] are settled at once; the others keep their exact
/// distances until the radius is known. "Exact" distances are f64 ones from our f32 rows:
/// their rounding, about 1e-16 of `(|z| + |e|)^2`, is far below `eta` and ignored.
///
/// The count can then change only by codewords that some row near a tie could choose and
/// that no settled row (one with a single codeword within reach) keeps.
#[derive(Debug)]
pub struct VqBoundary {
    dim: usize,
    norms: Vec<f64>,
    largest_norm: f64,
    deviation: Deviation,
    rows: u64,
    /// Indices of settled rows (a row whose index no computation can change).
    settled: HashSet<i64>,
    open: Vec<OpenRow>,
    open_index: HashMap<u64, usize>,
    /// Rows (global) where the f64 encoder's layer chose another index, and that index.
    disagreements: Vec<(u64, i64)>,
}

impl VqBoundary {
    /// `codebook`: `K` rows of `dim` values.
    pub fn new(codebook: &[f32], dim: usize) -> Self {
        let norms: Vec<f64> = codebook
            .chunks(dim)
            .map(|e| e.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt())
            .collect();
        let largest_norm = norms.iter().copied().fold(0.0, f64::max);
        Self {
            dim,
            norms,
            largest_norm,
            deviation: Deviation::default(),
            rows: 0,
            settled: HashSet::new(),
            open: Vec::new(),
            open_index: HashMap::new(),
            disagreements: Vec::new(),
        }
    }

    /// The codewords another computation could choose for a row, given exact distances
    /// (`nearest` the smallest) and the radius.
    fn reachable(&self, norm: f64, nearest: f64, distances: &[(i64, f64)], rho: f64) -> Vec<i64> {
        reachable(self.dim, &self.norms, norm, nearest, distances, rho)
    }

    /// A batch: our f32 latent rows, the indices the layer chose, and from our own f32
    /// distances (the layer's formula) each row's nearest index and two smallest distances.
    /// `exact` gives the exact (f64) squared distances of the listed rows of the batch to
    /// every codeword, row-major. Returns the global index of the batch's first row.
    pub fn add(
        &mut self,
        latents: &[f32],
        ours: &[i64],
        nearest: &[i64],
        smallest: &[(f32, f32)],
        exact: impl FnOnce(&[usize]) -> Vec<f64>,
    ) -> u64 {
        let dim = self.dim;
        let first = self.rows;
        let gamma = gamma(dim);
        let rho = RADIUS_BOUND;
        let norms: Vec<f64> = latents
            .chunks(dim)
            .map(|z| z.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt())
            .collect();
        assert_eq!(norms.len(), ours.len());
        let mut screened = Vec::new();
        for (row, &norm) in norms.iter().enumerate() {
            let (d1, d2) = (f64::from(smallest[row].0), f64::from(smallest[row].1));
            // Our f32 distances are within eta of the exact ones too; then no codeword but
            // the nearest is within reach (see `reachable`) when the gap exceeds this.
            let eta = gamma * (norm + rho + self.largest_norm).powi(2);
            let d_m = (d1 + eta).max(0.0).sqrt();
            let threshold = 4.0 * eta + 2.0 * rho * (2.0 * d_m + 2.0 * rho + (2.0 * eta).sqrt());
            if d2 - d1 > 2.0 * threshold {
                assert_eq!(
                    ours[row],
                    nearest[row],
                    "row {}: the layer's index is not the nearest codeword",
                    first + row as u64
                );
                self.settled.insert(ours[row]);
            } else {
                screened.push(row);
            }
        }
        if !screened.is_empty() {
            let k = self.norms.len();
            let distances = exact(&screened);
            assert_eq!(distances.len(), screened.len() * k);
            for (&row, d) in screened.iter().zip(distances.chunks(k)) {
                let nearest = d.iter().copied().fold(f64::INFINITY, f64::min);
                let all: Vec<(i64, f64)> =
                    d.iter().enumerate().map(|(k, &d)| (k as i64, d)).collect();
                let within: Vec<i64> = self.reachable(norms[row], nearest, &all, rho);
                let distances = within.iter().map(|&k| (k, d[k as usize])).collect();
                self.open_index.insert(first + row as u64, self.open.len());
                self.open.push(OpenRow {
                    ours: ours[row],
                    norm: norms[row],
                    nearest,
                    distances,
                });
            }
        }
        self.rows += ours.len() as u64;
        first
    }

    /// The batch added at `first` through the encoder and layer in f64: our f32 latents
    /// and indices of those rows, the f64 latents and indices.
    pub fn add_exact(
        &mut self,
        first: u64,
        latents: &[f32],
        ours: &[i64],
        exact_latents: &[f64],
        codes: &[i64],
    ) {
        self.deviation.observe(self.dim, latents, exact_latents);
        for (row, (a, b)) in ours.iter().zip(codes).enumerate() {
            if a != b {
                self.disagreements.push((first + row as u64, *b));
            }
        }
    }

    /// The budget: codewords that rows near a tie could choose and no other row chooses.
    /// Only those can appear or disappear in another computation's count.
    pub fn finish(mut self) -> VqReport {
        let rho = self.deviation.row_radius();
        assert!(
            rho <= RADIUS_BOUND,
            "measured radius {rho} exceeds the screening bound {RADIUS_BOUND}"
        );
        let mut unique: HashSet<i64> = self.settled.clone();
        let mut candidates = HashSet::new();
        let mut reach = Vec::with_capacity(self.open.len());
        let mut boundary_rows = 0u64;
        for open in &self.open {
            let within = self.reachable(open.norm, open.nearest, &open.distances, rho);
            assert!(
                within.contains(&open.ours),
                "the layer chose {} where only {within:?} are within reach",
                open.ours
            );
            unique.insert(open.ours);
            if within.len() == 1 {
                self.settled.insert(open.ours);
            } else {
                boundary_rows += 1;
                candidates.extend(within.iter().copied());
            }
            reach.push(within);
        }
        // By construction: the f64 encoder's latents lie within the radius of ours.
        for &(row, index) in &self.disagreements {
            let open = self.open_index.get(&row).copied();
            assert!(
                open.is_some_and(|o| reach[o].contains(&index)),
                "row {row}: the f64 encoder's layer chose {index}, out of reach of ours"
            );
        }
        let budget = candidates.difference(&self.settled).count() as u64;
        VqReport {
            rows: self.rows,
            unique: unique.len(),
            deviation: self.deviation.clone(),
            radius: rho,
            screened_rows: self.open.len() as u64,
            boundary_rows,
            budget,
            f64_disagreements: self.disagreements.len() as u64,
            f64_rows: self.deviation.rows,
        }
    }
}
