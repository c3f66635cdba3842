//! Pooling over NHWC images: max and average windows, and the global average.

use crate::check::{Check, ensure, expect};
use crate::cpu::Cpu;
use crate::window::Window;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// Which reduction a pooling window applies.
pub enum PoolKind {
    /// The largest value (padding never wins).
    Max,
    /// `count_include_pad`: padded positions count in the divisor (ONNX semantics).
    Average {
        /// Padding counts in the divisor.
        count_include_pad: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// Max or average pooling over NHWC images.
pub struct Pool2d {
    /// Images.
    pub batch: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Channels.
    pub channels: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Kernel, strides, dilations, leading padding.
    pub win: Window,
    /// Padding after the last row.
    pub pad_bottom: usize,
    /// Padding after the last column.
    pub pad_right: usize,
    /// Max or average.
    pub kind: PoolKind,
}

impl Pool2d {
    /// Divisor of the average at output (oy, ox), given the taps inside the input.
    fn divisor(&self, oy: usize, ox: usize, taps_y: usize, taps_x: usize, count_include_pad: bool) -> f32 {
        let count = if count_include_pad {
            // The window clipped to the padded input (not beyond it, as in ceil mode).
            let span = |o: usize, s: usize, k: usize, size: usize| {
                let start = o * s;
                (start + k).min(size) - start
            };
            span(oy, self.win.stride_h, self.win.kernel_h, self.in_h + self.win.pad_top + self.pad_bottom)
                * span(ox, self.win.stride_w, self.win.kernel_w, self.in_w + self.win.pad_left + self.pad_right)
        } else {
            taps_y * taps_x
        };
        if count > 0 { 1.0 / count as f32 } else { 0.0 }
    }
}

/// What `pool2d` requires.
pub fn check_pool2d(p: &Pool2d, input: usize, output: usize) -> Check {
    ensure!(input == p.batch * p.in_h * p.in_w * p.channels, "pool2d: input");
    ensure!(output == p.batch * p.out_h * p.out_w * p.channels, "pool2d: output");
    ensure!(p.win.is_valid(), "pool2d: zero stride");
    Ok(())
}

/// Pools `input` into `output`.
pub fn pool2d(cpu: Cpu, p: &Pool2d, input: &[f32], output: &mut [f32]) {
    expect(check_pool2d(p, input.len(), output.len()));
    dispatch!(cpu, pool_entry, pool_scalar(p, input, output), (p, input, output));
}

fn pool_scalar(p: &Pool2d, input: &[f32], output: &mut [f32]) {
    let c = p.channels;
    for b in 0..p.batch {
        for oy in 0..p.out_h {
            let ky = p.win.taps_y(oy, p.in_h);
            for ox in 0..p.out_w {
                let kx = p.win.taps_x(ox, p.in_w);
                let out = &mut output[((b * p.out_h + oy) * p.out_w + ox) * c..][..c];
                out.fill(if p.kind == PoolKind::Max { p.win.max_start() } else { 0.0 });
                for y in ky.clone() {
                    let iy = oy * p.win.stride_h + y * p.win.dilation_h - p.win.pad_top;
                    for x in kx.clone() {
                        let ix = ox * p.win.stride_w + x * p.win.dilation_w - p.win.pad_left;
                        let src = &input[((b * p.in_h + iy) * p.in_w + ix) * c..][..c];
                        match p.kind {
                            PoolKind::Max => {
                                out.iter_mut().zip(src).for_each(|(o, &v)| *o = crate::act::max_lane(*o, v))
                            }
                            PoolKind::Average { .. } => out.iter_mut().zip(src).for_each(|(o, &v)| *o += v),
                        }
                    }
                }
                if let PoolKind::Average { count_include_pad } = p.kind {
                    let scale = p.divisor(oy, ox, ky.len(), kx.len(), count_include_pad);
                    out.iter_mut().for_each(|o| *o *= scale);
                }
            }
        }
    }
}

/// Average over all pixels of each image: `[batch][pixels][channels] -> [batch][channels]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalPool {
    /// Images.
    pub batch: usize,
    /// Pixels per image.
    pub pixels: usize,
    /// Channels.
    pub channels: usize,
}

/// What `global_average` requires.
pub fn check_global(p: &GlobalPool, input: usize, output: usize) -> Check {
    ensure!(input == p.batch * p.pixels * p.channels, "global_average: input");
    ensure!(output == p.batch * p.channels, "global_average: output");
    Ok(())
}

/// Averages every channel of every image over its pixels.
pub fn global_average(cpu: Cpu, p: &GlobalPool, input: &[f32], output: &mut [f32]) {
    expect(check_global(p, input.len(), output.len()));
    dispatch!(cpu, global_entry, global_scalar(p, input, output), (p, input, output));
}

fn global_scalar(p: &GlobalPool, input: &[f32], output: &mut [f32]) {
    let c = p.channels;
    let scale = 1.0 / p.pixels.max(1) as f32;
    for b in 0..p.batch {
        let out = &mut output[b * c..][..c];
        out.fill(0.0);
        for px in 0..p.pixels {
            for (o, &v) in out.iter_mut().zip(&input[(b * p.pixels + px) * c..][..c]) {
                *o += v;
            }
        }
        out.iter_mut().for_each(|o| *o *= scale);
    }
}

/// What `mean_rows` requires.
pub fn check_mean_rows(rows: usize, len: usize, input: usize, output: usize) -> Check {
    ensure!(input == rows * len, "mean_rows: input");
    ensure!(output == rows, "mean_rows: output");
    Ok(())
}

/// Mean of each row: `[rows][len] -> [rows]` (the generic ReduceMean, after a transpose that
/// puts the reduced axes last).
pub fn mean_rows(cpu: Cpu, rows: usize, len: usize, input: &[f32], output: &mut [f32]) {
    expect(check_mean_rows(rows, len, input.len(), output.len()));
    dispatch!(cpu, mean_rows_entry, mean_rows_body(len, input, output), (len, input, output));
}

/// The same loop for every level: the SIMD entry points compile it with AVX2 or AVX-512 enabled,
/// and LLVM vectorises the sum.
#[inline(always)]
fn mean_rows_body(len: usize, input: &[f32], output: &mut [f32]) {
    if len == 0 {
        // The mean of no values is 0, as onnxruntime (and the interpreter) give it: there are
        // no rows of input to walk, so every output is written here.
        output.fill(0.0);
        return;
    }
    for (o, row) in output.iter_mut().zip(input.chunks_exact(len)) {
        *o = row.iter().sum::<f32>() / len as f32;
    }
}

#[cfg(kernel_simd)]
use simd::*;

#[cfg(kernel_simd)]
mod simd {
    use super::{GlobalPool, Pool2d, PoolKind, mean_rows_body};
    use crate::simd::Simd;

    /// Channel vectors of every output pixel: max or sum over the taps inside the input.
    #[inline(always)]
    pub(super) fn pool_simd<S: Simd>(p: &Pool2d, input: &[f32], output: &mut [f32]) {
        let c = p.channels;
        for b in 0..p.batch {
            for oy in 0..p.out_h {
                let ky = p.win.taps_y(oy, p.in_h);
                for ox in 0..p.out_w {
                    let kx = p.win.taps_x(ox, p.in_w);
                    let at = ((b * p.out_h + oy) * p.out_w + ox) * c;
                    let mut c0 = 0;
                    while c0 < c {
                        let w = S::LANES.min(c - c0);
                        let mut acc = S::splat(if p.kind == PoolKind::Max { p.win.max_start() } else { 0.0 });
                        for y in ky.clone() {
                            let iy = oy * p.win.stride_h + y * p.win.dilation_h - p.win.pad_top;
                            for x in kx.clone() {
                                let ix = ox * p.win.stride_w + x * p.win.dilation_w - p.win.pad_left;
                                let v = S::load_n(&input[((b * p.in_h + iy) * p.in_w + ix) * c + c0..], w);
                                acc = if p.kind == PoolKind::Max { S::max(acc, v) } else { S::add(acc, v) };
                            }
                        }
                        if let PoolKind::Average { count_include_pad } = p.kind {
                            acc = S::mul(acc, S::splat(p.divisor(oy, ox, ky.len(), kx.len(), count_include_pad)));
                        }
                        S::store_n(&mut output[at + c0..], w, acc);
                        c0 += w;
                    }
                }
            }
        }
    }

    #[inline(always)]
    pub(super) fn global_simd<S: Simd>(p: &GlobalPool, input: &[f32], output: &mut [f32]) {
        let c = p.channels;
        let scale = S::splat(1.0 / p.pixels.max(1) as f32);
        for b in 0..p.batch {
            let mut c0 = 0;
            while c0 < c {
                let w = S::LANES.min(c - c0);
                let mut acc = S::splat(0.0);
                for px in 0..p.pixels {
                    acc = S::add(acc, S::load_n(&input[(b * p.pixels + px) * c + c0..], w));
                }
                S::store_n(&mut output[b * c + c0..], w, S::mul(acc, scale));
                c0 += w;
            }
        }
    }

    simd_entry!(pool_entry => pool_simd(p: &Pool2d, input: &[f32], output: &mut [f32]));
    simd_entry!(global_entry => global_simd(p: &GlobalPool, input: &[f32], output: &mut [f32]));
    simd_entry!(mean_rows_entry => same mean_rows_body(len: usize, input: &[f32], output: &mut [f32]));
}
