//! The sliding window that convolutions and pooling share: which input rows and columns each
//! output position reads.

use core::ops::Range;

/// Kernel size, stride, dilation and the padding before the first row and column of a 2-D
/// window (the padding after follows from the output size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Vertical dilation.
    pub dilation_h: usize,
    /// Horizontal dilation.
    pub dilation_w: usize,
    /// Padding above the first row.
    pub pad_top: usize,
    /// Padding before the first column.
    pub pad_left: usize,
}

impl Window {
    /// Where a max pool starts, as ONNX Runtime starts it: its kernel for undilated windows
    /// (MLAS) at -inf, its kernel for dilated ones at the lowest finite float, which a window
    /// with nothing but padding (possible only when dilated) or -inf then gives.
    pub fn max_start(&self) -> f32 {
        if self.dilation_h == 1 && self.dilation_w == 1 { f32::NEG_INFINITY } else { f32::MIN }
    }

    /// A `kernel` x `kernel` window with the same stride and leading padding on both axes and
    /// no dilation (what MobileNets' convolutions and most benches and tests use).
    pub const fn square(kernel: usize, stride: usize, pad: usize) -> Window {
        Window {
            kernel_h: kernel,
            kernel_w: kernel,
            stride_h: stride,
            stride_w: stride,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: pad,
            pad_left: pad,
        }
    }

    /// Strides and dilations are positive (every kernel asserts it on entry).
    pub const fn is_valid(&self) -> bool {
        self.stride_h > 0 && self.stride_w > 0 && self.dilation_h > 0 && self.dilation_w > 0
    }

    /// Kernel rows that land inside an input of `in_h` rows for output row `oy`.
    #[inline(always)]
    pub(crate) fn taps_y(&self, oy: usize, in_h: usize) -> Range<usize> {
        taps(oy * self.stride_h, self.dilation_h, self.pad_top, in_h, self.kernel_h)
    }

    /// Kernel columns that land inside an input of `in_w` columns for output column `ox`.
    #[inline(always)]
    pub(crate) fn taps_x(&self, ox: usize, in_w: usize) -> Range<usize> {
        taps(ox * self.stride_w, self.dilation_w, self.pad_left, in_w, self.kernel_w)
    }

    /// Input row read by kernel row `ky` of output row `oy`, `None` where it is padding.
    #[inline(always)]
    pub(crate) fn input_row(&self, oy: usize, ky: usize, in_h: usize) -> Option<usize> {
        (oy * self.stride_h + ky * self.dilation_h).checked_sub(self.pad_top).filter(|&iy| iy < in_h)
    }

    /// Output columns `lo..hi` whose every tap lies inside an input row of `in_w` columns.
    #[inline(always)]
    pub(crate) fn interior_x(&self, in_w: usize, out_w: usize) -> (usize, usize) {
        let lo = self.pad_left.div_ceil(self.stride_w).min(out_w);
        let span = (self.kernel_w - 1) * self.dilation_w;
        // ox*stride - pad + span <= in_w - 1
        let hi = if in_w + self.pad_left > span {
            ((in_w + self.pad_left - span - 1) / self.stride_w + 1).min(out_w)
        } else {
            0
        };
        (lo, hi.max(lo))
    }

    /// Input rows (padding included) that `rows` consecutive output rows read.
    pub const fn rows_read(&self, rows: usize) -> usize {
        (rows - 1) * self.stride_h + (self.kernel_h - 1) * self.dilation_h + 1
    }

    /// Input columns (padding included) that `cols` consecutive output columns read.
    pub const fn cols_read(&self, cols: usize) -> usize {
        (cols - 1) * self.stride_w + (self.kernel_w - 1) * self.dilation_w + 1
    }
}

/// Taps `t` of a kernel of `kernel` taps with `0 <= base + t*dilation - pad < size`, where
/// `base` is the output coordinate times the stride.
#[inline(always)]
fn taps(base: usize, dilation: usize, pad: usize, size: usize, kernel: usize) -> Range<usize> {
    let first = pad.saturating_sub(base).div_ceil(dilation).min(kernel);
    let end = (pad + size).saturating_sub(base).div_ceil(dilation).min(kernel);
    first..end.max(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(k: usize, s: usize, d: usize, pad: usize) -> Window {
        Window {
            kernel_h: k,
            kernel_w: k,
            stride_h: s,
            stride_w: s,
            dilation_h: d,
            dilation_w: d,
            pad_top: pad,
            pad_left: pad,
        }
    }

    /// Every helper against the definition, tap by tap, on small windows.
    #[test]
    fn helpers_match_the_definition() {
        for (k, s, d, pad, size) in (1..6).flat_map(|k| {
            (1..4).flat_map(move |s| (1..3).flat_map(move |d| (0..4).map(move |p| (k, s, d, p, 1 + p + s))))
        }) {
            let w = win(k, s, d, pad);
            let out = (size + 2 * pad).saturating_sub((k - 1) * d + 1) / s + 1;
            let inside = |o: usize, t: usize| (o * s + t * d).checked_sub(pad).filter(|&i| i < size);
            for o in 0..out {
                for t in 0..k {
                    let want = inside(o, t);
                    assert_eq!(w.taps_y(o, size).contains(&t), want.is_some(), "k{k} s{s} d{d} p{pad} o{o} t{t}");
                    assert_eq!(w.taps_x(o, size).contains(&t), want.is_some());
                    assert_eq!(w.input_row(o, t, size), want);
                }
            }
            let (lo, hi) = w.interior_x(size, out);
            for o in 0..out {
                let all_inside = (0..k).all(|t| inside(o, t).is_some());
                assert_eq!((lo..hi).contains(&o), all_inside, "k{k} s{s} d{d} p{pad} o{o}");
            }
        }
    }
}
