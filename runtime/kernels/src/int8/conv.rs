//! 8-bit convolution of any window and grouping over NHWC images (the first layer of a
//! MobileNet, grouped convolutions): `out[m] = requantize(bias[m] + sum over the window and the
//! group's input channels of (x - x_zero) * w, mult[m])`, taps outside the image skipped.
//! Weights are int16 `w - w_zero`, `[group][kh][kw][in_c / group][out_c / group]`, so that the
//! innermost loop runs over a group's output channels (which the compiler vectorises).

use super::Requant;
use crate::check::{Check, ensure, expect};
use crate::cpu::Cpu;
use crate::threads::Threads;
use crate::window::Window;

/// Shapes and output rule of an 8-bit convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QConv2d {
    /// Images in the batch.
    pub images: usize,
    /// Input channels.
    pub in_c: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Output channels.
    pub out_c: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Channel groups.
    pub groups: usize,
    /// The window.
    pub win: Window,
    /// The input's zero point (as u8).
    pub x_zero: i32,
    /// Output zero point and bounds.
    pub requant: Requant,
}

/// Output channels computed together (an accumulator array on the stack).
const CHUNK: usize = 64;

/// What `qconv2d` requires of the lengths: input, weights (int16), bias, multipliers, output.
pub fn check(
    _threads: usize,
    p: &QConv2d,
    input: usize,
    weights: usize,
    bias: usize,
    mult: usize,
    out: usize,
) -> Check {
    ensure!(p.requant.is_valid() && (0..=255).contains(&p.x_zero), "qconv2d: zero points or bounds");
    ensure!(p.groups > 0 && p.in_c.is_multiple_of(p.groups) && p.out_c.is_multiple_of(p.groups), "qconv2d: groups");
    ensure!(p.win.stride_h > 0 && p.win.stride_w > 0, "qconv2d: zero stride");
    ensure!(input >= p.images * p.in_h * p.in_w * p.in_c, "qconv2d: input too short");
    ensure!(weights >= p.win.kernel_h * p.win.kernel_w * p.in_c * (p.out_c / p.groups), "qconv2d: weights too short");
    ensure!(bias >= p.out_c && mult >= p.out_c, "qconv2d: bias or multipliers too short");
    ensure!(out >= p.images * p.out_h * p.out_w * p.out_c, "qconv2d: output too short");
    Ok(())
}

/// The convolution on `threads`, split by output rows.
#[allow(clippy::too_many_arguments)]
pub fn qconv2d(
    threads: &Threads,
    cpu: Cpu,
    p: &QConv2d,
    input: &[u8],
    weights: &[i16],
    bias: &[i32],
    mult: &[f32],
    out: &mut [u8],
) {
    expect(check(threads.count(), p, input.len(), weights.len(), bias.len(), mult.len(), out.len()));
    let row = p.out_w * p.out_c;
    let rows = p.images * p.out_h;
    threads.for_rows(rows, 2, &mut out[..rows * row], row, &|rows, o| {
        dispatch!(
            cpu,
            rows_entry,
            rows_body(p, input, weights, bias, mult, rows.clone(), o),
            (p, input, weights, bias, mult, rows.clone(), o)
        );
    });
}

simd_entry!(rows_entry => same rows_body(
    p: &QConv2d, input: &[u8], w: &[i16], bias: &[i32], mult: &[f32], rows: core::ops::Range<usize>, out: &mut [u8]
));

#[inline(always)]
fn rows_body(
    p: &QConv2d,
    input: &[u8],
    w: &[i16],
    bias: &[i32],
    mult: &[f32],
    rows: core::ops::Range<usize>,
    out: &mut [u8],
) {
    let (cig, mg) = (p.in_c / p.groups, p.out_c / p.groups);
    let (kh, kw) = (p.win.kernel_h, p.win.kernel_w);
    for (r, oy) in rows.enumerate() {
        let (img, y) = (oy / p.out_h, oy % p.out_h);
        for ox in 0..p.out_w {
            let pixel = &mut out[(r * p.out_w + ox) * p.out_c..][..p.out_c];
            for g in 0..p.groups {
                for m0 in (0..mg).step_by(CHUNK) {
                    let n = (mg - m0).min(CHUNK);
                    let mut acc = [0i32; CHUNK];
                    acc[..n].copy_from_slice(&bias[g * mg + m0..][..n]);
                    for ky in 0..kh {
                        let Some(iy) = (y * p.win.stride_h + ky * p.win.dilation_h).checked_sub(p.win.pad_top) else {
                            continue;
                        };
                        if iy >= p.in_h {
                            continue;
                        }
                        for kx in 0..kw {
                            let Some(ix) = (ox * p.win.stride_w + kx * p.win.dilation_w).checked_sub(p.win.pad_left)
                            else {
                                continue;
                            };
                            if ix >= p.in_w {
                                continue;
                            }
                            let x = &input[((img * p.in_h + iy) * p.in_w + ix) * p.in_c + g * cig..][..cig];
                            let taps = &w[((g * kh + ky) * kw + kx) * cig * mg..][..cig * mg];
                            for (ci, &xv) in x.iter().enumerate() {
                                let xv = xv as i32 - p.x_zero;
                                let wrow = &taps[ci * mg + m0..][..n];
                                for (a, &wv) in acc[..n].iter_mut().zip(wrow) {
                                    *a = a.wrapping_add(xv * wv as i32);
                                }
                            }
                        }
                    }
                    for (o, (&a, &m)) in
                        pixel[g * mg + m0..][..n].iter_mut().zip(acc[..n].iter().zip(&mult[g * mg + m0..]))
                    {
                        *o = p.requant.apply(a, m);
                    }
                }
            }
        }
    }
}
