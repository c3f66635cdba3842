//! 8-bit average pooling over NHWC images, as ONNX Runtime's QLinearAveragePool and
//! QLinearGlobalAveragePool: the window's `x - x_zero` summed exactly, then requantised with
//! `x_scale / (y_scale * count)` (`count` the window's size, with or without padding).

use super::Requant;
use crate::check::{Check, ensure, expect};
use crate::cpu::Cpu;
use crate::window::Window;

/// Shapes and output rule of an 8-bit average pool.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QPool {
    /// Images in the batch.
    pub images: usize,
    /// Channels.
    pub channels: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// The window (`None`: the whole image, a global average).
    pub win: Option<Window>,
    /// Padding below the last row and after the last column.
    pub pad_bottom: usize,
    /// Padding after the last column.
    pub pad_right: usize,
    /// Padding counts in the window's size.
    pub count_include_pad: bool,
    /// The input's scale.
    pub x_scale: f32,
    /// The input's zero point (as u8).
    pub x_zero: i32,
    /// The output's scale.
    pub y_scale: f32,
    /// Output zero point and bounds.
    pub requant: Requant,
}

/// What `qpool` requires of the lengths.
pub fn check(p: &QPool, input: usize, out: usize) -> Check {
    ensure!(p.requant.is_valid() && (0..=255).contains(&p.x_zero), "qpool: zero points or bounds");
    ensure!(p.win.is_none_or(|w| w.stride_h > 0 && w.stride_w > 0), "qpool: zero stride");
    ensure!(input >= p.images * p.in_h * p.in_w * p.channels, "qpool: input too short");
    ensure!(out >= p.images * p.out_h * p.out_w * p.channels, "qpool: output too short");
    Ok(())
}

/// The pool (one thread: it is a small part of a MobileNet).
pub fn qpool(cpu: Cpu, p: &QPool, input: &[u8], out: &mut [u8]) {
    expect(check(p, input.len(), out.len()));
    if p.win.is_none() {
        return dispatch!(cpu, global_entry, global(p, input, out), (p, input, out));
    }
    let c = p.channels;
    for img in 0..p.images {
        for oy in 0..p.out_h {
            for ox in 0..p.out_w {
                let (ys, ye, xs, xe, count) = match &p.win {
                    None => (0, p.in_h, 0, p.in_w, p.in_h * p.in_w),
                    Some(w) => {
                        let y0 = (oy * w.stride_h) as isize - w.pad_top as isize;
                        let x0 = (ox * w.stride_w) as isize - w.pad_left as isize;
                        let y1 = (y0 + w.kernel_h as isize).min((p.in_h + p.pad_bottom) as isize);
                        let x1 = (x0 + w.kernel_w as isize).min((p.in_w + p.pad_right) as isize);
                        let (ys, xs) = (y0.max(0) as usize, x0.max(0) as usize);
                        let (ye, xe) =
                            (y1.min(p.in_h as isize).max(0) as usize, x1.min(p.in_w as isize).max(0) as usize);
                        let count = if p.count_include_pad {
                            ((y1 - y0) * (x1 - x0)).max(0) as usize
                        } else {
                            ye.saturating_sub(ys) * xe.saturating_sub(xs)
                        };
                        (ys, ye, xs, xe, count)
                    }
                };
                let mult = p.x_scale / (p.y_scale * count as f32);
                let o = &mut out[((img * p.out_h + oy) * p.out_w + ox) * c..][..c];
                for (ch, o) in o.iter_mut().enumerate() {
                    let mut acc = 0i32;
                    for iy in ys..ye {
                        for ix in xs..xe {
                            acc += input[((img * p.in_h + iy) * p.in_w + ix) * c + ch] as i32 - p.x_zero;
                        }
                    }
                    *o = if count == 0 {
                        p.requant.zero_point.clamp(p.requant.lo, p.requant.hi) as u8
                    } else {
                        p.requant.apply(acc, mult)
                    };
                }
            }
        }
    }
}

/// Channels summed together in the global average (a stack array of int32).
const CHANNELS: usize = 64;

simd_entry!(global_entry => same global(p: &QPool, input: &[u8], out: &mut [u8]));

/// The global average: each image's pixels summed into 64 channels at a time (a loop the
/// compiler vectorises), then requantised as the windowed pool does.
#[inline(always)]
fn global(p: &QPool, input: &[u8], out: &mut [u8]) {
    let (c, pixels) = (p.channels, p.in_h * p.in_w);
    let mult = p.x_scale / (p.y_scale * pixels as f32);
    for img in 0..p.images {
        let image = &input[img * pixels * c..][..pixels * c];
        for c0 in (0..c).step_by(CHANNELS) {
            let n = (c - c0).min(CHANNELS);
            let mut acc = [0i32; CHANNELS];
            for px in image.chunks_exact(c) {
                for (a, &x) in acc[..n].iter_mut().zip(&px[c0..c0 + n]) {
                    *a += x as i32;
                }
            }
            for (j, o) in out[img * c + c0..][..n].iter_mut().enumerate() {
                let sum = acc[j] - p.x_zero * pixels as i32;
                *o = if pixels == 0 {
                    p.requant.zero_point.clamp(p.requant.lo, p.requant.hi) as u8
                } else {
                    p.requant.apply(sum, mult)
                };
            }
        }
    }
}
