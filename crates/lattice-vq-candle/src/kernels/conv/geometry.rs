//! The geometry of a square-kernel convolution over channels-last `(N, H, W, C)` images, and
//! the two data movements of its matrix-product form: `im2col` (the window of every output
//! position, one row each) and its adjoint `col2im` (window rows added back onto the pixels
//! they were read from).

use crate::kernels::KernelFloat;
use candle_core::{Layout, Result};

/// A convolution seen from its image side: `batch` images of `height x width x channels`,
/// read by a `kernel x kernel` window at `stride`, with `padding` zeros around.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) batch: usize,
    pub(crate) height: usize,
    pub(crate) width: usize,
    pub(crate) channels: usize,
    pub(crate) kernel: usize,
    pub(crate) stride: usize,
    pub(crate) padding: usize,
}

impl Geometry {
    /// Rows and columns of the grid of window positions (the convolution's output grid).
    ///
    /// # Errors
    /// Stride or kernel 0, or a kernel larger than the padded image.
    pub(crate) fn grid(&self) -> Result<(usize, usize)> {
        let side = |extent: usize| {
            (extent + 2 * self.padding)
                .checked_sub(self.kernel)
                .and_then(|span| span.checked_div(self.stride))
                .map(|steps| steps + 1)
        };
        match (side(self.height), side(self.width)) {
            (Some(rows), Some(columns)) if self.kernel > 0 => Ok((rows, columns)),
            _ => candle_core::bail!(
                "convolution geometry {self:?} has no output (needs stride >= 1, kernel >= 1 and \
                 kernel <= padded image)"
            ),
        }
    }

    /// Entries of one window: `kernel * kernel * channels`, ordered (row, column, channel).
    pub(crate) fn window_len(&self) -> usize {
        self.kernel * self.kernel * self.channels
    }

    /// Entries of one image: `height * width * channels`.
    pub(crate) fn image_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// Whether a window is a single pixel read in place (1x1 kernel, stride 1, no padding):
    /// then `im2col` of a contiguous image is the image itself.
    pub(crate) fn is_pointwise(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.padding == 0
    }

    /// The image pixel `(y, x)` that window position `out` reads at kernel tap `k` along one
    /// axis of `extent` pixels, or `None` where the tap falls on padding.
    fn source(&self, out: usize, k: usize, extent: usize) -> Option<usize> {
        (out * self.stride + k)
            .checked_sub(self.padding)
            .filter(|&p| p < extent)
    }
}

/// A read-only `(N, H, W, C)` image batch with any strides.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Images<'a, T> {
    data: &'a [T],
    /// Strides of the batch, row, column and channel axes.
    strides: [usize; 4],
    offset: usize,
}

impl<'a, T: KernelFloat> Images<'a, T> {
    /// `data` laid out by `layout`, which must be `(N, H, W, C)` as `g` says.
    ///
    /// # Errors
    /// A layout of another shape.
    pub(crate) fn new(data: &'a [T], layout: &Layout, g: &Geometry) -> Result<Self> {
        if layout.dims() != [g.batch, g.height, g.width, g.channels] {
            candle_core::bail!(
                "convolution: image {:?} does not match {g:?} (channels-last)",
                layout.shape()
            );
        }
        let strides = <[usize; 4]>::try_from(layout.stride()).map_err(|_| {
            candle_core::Error::Msg(format!("convolution: layout {layout:?} is not 4-d"))
        })?;
        Ok(Self {
            data,
            strides,
            offset: layout.start_offset(),
        })
    }

    /// The images `first..first + count` as one contiguous slice, if they are stored so.
    pub(crate) fn contiguous_images(
        &self,
        g: &Geometry,
        first: usize,
        count: usize,
    ) -> Option<&'a [T]> {
        let c = g.channels;
        let dense = [g.height * g.width * c, g.width * c, c, 1];
        let same = self
            .strides
            .iter()
            .zip(dense)
            .zip([g.batch, g.height, g.width, c])
            .all(|((&s, d), extent)| extent <= 1 || s == d);
        let start = self.offset + first * g.image_len();
        same.then(|| &self.data[start..start + count * g.image_len()])
    }

    /// Write the windows of images `first..first + count` into `out`, one row of
    /// `g.window_len()` entries per output position (image, grid row, grid column), zeros
    /// where a window covers padding.
    pub(crate) fn im2col(&self, g: &Geometry, first: usize, count: usize, out: &mut [T]) {
        let (rows, columns) = g.grid().expect("geometry checked by the caller");
        let [sn, sh, sw, sc] = self.strides;
        let c = g.channels;
        let positions = rows * columns;
        debug_assert_eq!(out.len(), count * positions * g.window_len());
        for (i, window) in out.chunks_exact_mut(g.window_len()).enumerate() {
            let image = first + i / positions;
            let (y, x) = (i % positions / columns, i % columns);
            for (tap, cells) in window.chunks_exact_mut(c).enumerate() {
                let (ky, kx) = (tap / g.kernel, tap % g.kernel);
                match (g.source(y, ky, g.height), g.source(x, kx, g.width)) {
                    (Some(sy), Some(sx)) => {
                        let start = self.offset + image * sn + sy * sh + sx * sw;
                        if sc == 1 {
                            cells.copy_from_slice(&self.data[start..start + c]);
                        } else {
                            for (ch, cell) in cells.iter_mut().enumerate() {
                                *cell = self.data[start + ch * sc];
                            }
                        }
                    }
                    _ => cells.fill(T::zero()),
                }
            }
        }
    }
}

/// The adjoint of [`Images::im2col`]: add window rows (`count` images' worth, row-major,
/// `g.window_len()` wide) onto the contiguous `(count, H, W, C)` images they were read from.
pub(crate) fn col2im_add<T: KernelFloat>(g: &Geometry, windows: &[T], images: &mut [T]) {
    let (rows, columns) = g.grid().expect("geometry checked by the caller");
    let c = g.channels;
    let positions = rows * columns;
    debug_assert_eq!(
        windows.len() / g.window_len(),
        images.len() / g.image_len() * positions
    );
    for (i, window) in windows.chunks_exact(g.window_len()).enumerate() {
        let image = i / positions;
        let (y, x) = (i % positions / columns, i % columns);
        for (tap, cells) in window.chunks_exact(c).enumerate() {
            let (ky, kx) = (tap / g.kernel, tap % g.kernel);
            if let (Some(sy), Some(sx)) = (g.source(y, ky, g.height), g.source(x, kx, g.width)) {
                let start = ((image * g.height + sy) * g.width + sx) * c;
                for (pixel, &cell) in images[start..start + c].iter_mut().zip(cells) {
                    *pixel += cell;
                }
            }
        }
    }
}
