//! Gzip bombs (issue 11, D6): a valid IDX header followed by gigabytes of zeros, which
//! compress about a thousandfold, must be refused after reading what the header announces,
//! not after inflating everything.
//!
//! The bombs are produced lazily: a reader yields the header and then zeros on demand,
//! and flate2's encoder compresses them as the loader pulls, so neither the test nor the
//! loader holds the whole expansion unless the loader reads it all. The source counts the
//! bytes pulled through it and fails past a tripwire, so a loader that inflates everything
//! fails the test after a bounded amount of work instead of exhausting the machine.

use std::cell::Cell;
use std::io::Read;
use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use lattice_vq_experiments::data::LoadError as Error;
use lattice_vq_experiments::data::fashion_mnist::FashionMnist;
use lattice_vq_experiments::data::idx::{MAX_IDX_VALUES, read_idx, read_idx_from};

use crate::support::{gzip, idx_bytes, write};

/// Uncompressed bytes a bomb pulled through the tripwire: far more than any loader reading
/// what the header announces plus one byte (and the encoder's and decoder's read-ahead).
const TRIPWIRE: u64 = 128 << 20;

/// Fashion-MNIST's training images: 60000 x 28 x 28 bytes.
const TRAIN_IMAGES: u64 = 60_000 * 28 * 28;

/// Zeros pulled beyond what the loader consumes: the decoder reads its compressed input in
/// blocks of 32 KiB, which at this encoder's ratio on zeros (about 1:165) stand for some
/// 5 MB of zeros that the encoder had to consume first.
const READ_AHEAD: u64 = 16 << 20;

/// `header` followed by `zeros` zero bytes, counting what is read in `pulled`.
struct Bomb {
    header: Vec<u8>,
    offset: usize,
    zeros: u64,
    pulled: Rc<Cell<u64>>,
}

impl Read for Bomb {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pulled.get() > TRIPWIRE {
            return Err(std::io::Error::other(format!(
                "tripwire: the loader pulled more than {TRIPWIRE} bytes of a gzip bomb"
            )));
        }
        let n = if self.offset < self.header.len() {
            let n = buf.len().min(self.header.len() - self.offset);
            buf[..n].copy_from_slice(&self.header[self.offset..self.offset + n]);
            self.offset += n;
            n
        } else {
            let n = buf
                .len()
                .min(usize::try_from(self.zeros).unwrap_or(usize::MAX));
            buf[..n].fill(0);
            self.zeros -= n as u64;
            n
        };
        self.pulled.set(self.pulled.get() + n as u64);
        Ok(n)
    }
}

/// A gzip stream of the IDX header of `dims` followed by `zeros` zeros, compressed as it
/// is read, and the count of uncompressed bytes pulled so far.
fn bomb(dims: &[u32], zeros: u64) -> (impl Read + use<>, Rc<Cell<u64>>) {
    let pulled = Rc::new(Cell::new(0));
    let source = Bomb {
        header: idx_bytes(dims, &[]),
        offset: 0,
        zeros,
        pulled: Rc::clone(&pulled),
    };
    let encoder = flate2::read::GzEncoder::new(source, flate2::Compression::fast());
    (encoder, pulled)
}

/// Peak resident memory of this process so far (`VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The problem of a `Format` error naming `name`, or a panic describing the error.
fn format_problem(result: Result<impl std::fmt::Debug, Error>, name: &Path) -> String {
    match result {
        Err(Error::Format { path, problem }) => {
            assert_eq!(path, name);
            problem
        }
        other => panic!(
            "expected a format error naming {}, got {other:?}",
            name.display()
        ),
    }
}

#[test]
fn gzip_bomb_behind_a_valid_header_is_refused_after_the_announced_size() {
    // A valid header for Fashion-MNIST's training images, then 4 GiB of zeros: about 4 MB
    // compressed, the size of the bomb of issue 11.
    let name = Path::new("<bomb>/train-images-idx3-ubyte.gz");
    let (stream, pulled) = bomb(&[60_000, 28, 28], 4 << 30);
    let (start, peak_before) = (Instant::now(), peak_rss());
    let problem = format_problem(read_idx_from(name, stream), name);
    let (elapsed, growth) = (start.elapsed(), peak_rss().saturating_sub(peak_before));
    eprintln!(
        "gzip bomb: refused after pulling {} bytes in {elapsed:?}, peak RSS growth {} bytes",
        pulled.get(),
        growth
    );
    assert!(problem.contains("holds more"), "{problem}");
    assert!(problem.contains("47040000"), "{problem}");
    // The header, the announced data, one byte, and the codecs' read-ahead.
    let header = 4 + 3 * 4;
    assert!(
        pulled.get() <= header + TRAIN_IMAGES + 1 + READ_AHEAD,
        "pulled {} bytes",
        pulled.get()
    );
    // The data itself (47 MB) is the only large allocation; other tests of this binary
    // run alongside, hence the slack.
    assert!(growth < 160 << 20, "peak RSS grew by {growth} bytes");
}

#[test]
fn header_announcing_more_than_any_dataset_is_refused_before_the_data() {
    let name = Path::new("<bomb>/huge-idx3-ubyte.gz");
    for dims in [[1_000_000, 28, 28], [u32::MAX, u32::MAX, 2]] {
        let (stream, pulled) = bomb(&dims, 4 << 30);
        let problem = format_problem(read_idx_from(name, stream), name);
        assert!(
            problem.contains("more than") || problem.contains("overflow"),
            "{problem}"
        );
        // Only the codecs' read-ahead: none of the data was needed.
        assert!(pulled.get() <= READ_AHEAD, "pulled {} bytes", pulled.get());
    }
    // The limit itself is accepted by the header check (and then needs the data).
    let just_below = u32::try_from(MAX_IDX_VALUES / 1024).unwrap();
    let (stream, _) = bomb(&[just_below, 1024], 0);
    let problem = format_problem(read_idx_from(name, stream), name);
    assert!(problem.contains("truncated"), "{problem}");
}

#[test]
fn raw_files_announcing_too_much_are_refused_without_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "huge-idx2-ubyte",
        &idx_bytes(&[1 << 16, 1 << 16], &[1; 64]),
    );
    let err = read_idx(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Format { path: p, .. } if *p == path),
        "{err}"
    );
    assert!(err.to_string().contains("more than"), "{err}");
}

#[test]
fn valid_files_still_load_through_the_stream_reader() {
    let images: Vec<u8> = (0..1000 * 28 * 28).map(|i| (i * 7 % 256) as u8).collect();
    let labels: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
    let images_gz = gzip(&idx_bytes(&[1000, 28, 28], &images));
    let labels_gz = gzip(&idx_bytes(&[1000], &labels));
    let name = Path::new("<memory>/t10k-images-idx3-ubyte.gz");
    let array = read_idx_from(name, &images_gz[..]).unwrap();
    assert_eq!(array.dims, vec![1000, 28, 28]);
    assert_eq!(array.data, images);
    let data = FashionMnist::from_idx_bytes(
        name,
        &images_gz,
        Path::new("<memory>/t10k-labels-idx1-ubyte.gz"),
        &labels_gz,
    )
    .unwrap();
    assert_eq!(data.len(), 1000);
    assert_eq!(data.labels, labels);
    assert_eq!(data.pixels[1], 7.0 / 255.0 - 0.5);
}
