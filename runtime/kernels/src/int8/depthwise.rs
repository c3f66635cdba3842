//! 8-bit depthwise convolution over NHWC images: `out[c] = requantize(bias[c] + sum over the
//! window of (x[c] - x_zero) * w[c], mult[c])`, taps outside the image skipped (ONNX pads with
//! the zero point, whose offset is 0).
//!
//! Weights are int16 `w - w_zero`, packed by `pack` for `vpmaddwd`, which multiplies pairs of
//! int16 and adds each pair into one int32: per block of 32 channels and pair of taps (taps in
//! order, `(t, t + 1)`, except for 3x3 windows: `tap_at`), two vectors of 16 pairs, as `vpunpcklwd` / `vpunpckhwd` interleave two taps' inputs
//! (channels 0-3, 8-11, 16-19, 24-27, then 4-7, 12-15, 20-23, 28-31). Bias and multipliers are
//! permuted the same way, so that the accumulators are requantised as they are.

use super::Requant;
use crate::check::{Check, ensure, expect};
use crate::cpu::Cpu;
use crate::threads::Threads;
use crate::window::Window;

/// Shapes and output rule of an 8-bit depthwise convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QDepthwise {
    /// Images in the batch.
    pub images: usize,
    /// Channels (in and out).
    pub channels: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// The window.
    pub win: Window,
    /// The input's zero point (as u8).
    pub x_zero: i32,
    /// Output zero point and bounds.
    pub requant: Requant,
}

/// Most taps the SIMD paths take (larger windows take the scalar one).
pub const MAX_TAPS: usize = 64;

/// Channels per block of the packed layout.
pub const BLOCK: usize = 32;

/// Channels rounded up to whole blocks (the length of packed bias and multipliers).
pub fn padded(channels: usize) -> usize {
    channels.next_multiple_of(BLOCK)
}

/// Length of the packed weights for `taps` taps.
pub fn packed_len(channels: usize, taps: usize) -> usize {
    padded(channels) * taps.div_ceil(2) * 2
}

/// The order in which 3x3 windows pair their taps (`ky * 3 + kx`): each of the top two rows'
/// columns together, (0, 3), (1, 4), (2, 5), then (6, 7) and (8, none). A pair of a column
/// then serves the three output pixels that read that column, and (6, 7) of one pixel is
/// (8, none) of the one two to its left, which `x86::int8` uses at stride 1.
const ORDER_3X3: [usize; 9] = [0, 3, 1, 4, 2, 5, 6, 7, 8];

/// The tap at position `slot` of the pair order (pair `slot / 2`, element `slot % 2`); slots
/// past the last tap are themselves (a pair's missing second tap).
#[inline(always)]
#[cfg_attr(not(kernel_simd), allow(dead_code))] // the SIMD kernels' tap order
pub(crate) fn tap_at(slot: usize, taps: usize) -> usize {
    if taps == 9 && slot < 9 { ORDER_3X3[slot] } else { slot }
}

/// Where weight `(tap, channel)` is in the packed weights, and where channel's bias and
/// multiplier are in theirs.
#[inline(always)]
pub(crate) fn packed_at(channel: usize, tap: usize, taps: usize) -> (usize, usize) {
    let (block, r) = (channel / BLOCK, channel % BLOCK);
    let (lane, s) = (r / 8, r % 8);
    let (half, slot) = (s / 4, s % 4);
    let pairs = taps.div_ceil(2);
    // The tap's place in the pair order.
    let tap = if taps == 9 { ORDER_3X3.iter().position(|&t| t == tap).unwrap_or(tap) } else { tap };
    let w = ((block * pairs + tap / 2) * 2 + half) * 32 + (lane * 4 + slot) * 2 + tap % 2;
    (w, block * BLOCK + half * 16 + lane * 4 + slot)
}

/// Packs `w[tap][channel]` (int16 `w - w_zero`), the bias and the multipliers (zeros past
/// `channels`) into `out` (`packed_len` weights, `padded` bias and multipliers). The input's
/// zero point is folded into the bias, `bias - x_zero * sum_t w[t]`, so that the kernels
/// multiply the input bytes as they are and read a tap outside the image as `x_zero` (whose
/// product then cancels its part of the fold).
#[allow(clippy::too_many_arguments)]
pub fn pack(
    w: &[i16],
    bias: &[i32],
    mult: &[f32],
    channels: usize,
    taps: usize,
    x_zero: i32,
    out: (&mut [i16], &mut [i32], &mut [f32]),
) {
    let (pw, pb, pm) = out;
    for ch in 0..channels {
        let mut sum = 0i32;
        for t in 0..taps {
            let v = w[t * channels + ch];
            pw[packed_at(ch, t, taps).0] = v;
            sum = sum.wrapping_add(v as i32);
        }
        let at = packed_at(ch, 0, taps).1;
        pb[at] = bias[ch].wrapping_sub(x_zero.wrapping_mul(sum));
        pm[at] = mult[ch];
    }
}

/// What `qdepthwise` requires of the lengths: input, packed weights (int16), bias,
/// multipliers, output.
pub fn check(
    _threads: usize,
    p: &QDepthwise,
    input: usize,
    weights: usize,
    bias: usize,
    mult: usize,
    out: usize,
) -> Check {
    let c = p.channels;
    ensure!(p.requant.is_valid() && (0..=255).contains(&p.x_zero), "qdepthwise: zero points or bounds");
    ensure!(p.win.stride_h > 0 && p.win.stride_w > 0, "qdepthwise: zero stride");
    ensure!(input >= p.images * p.in_h * p.in_w * c, "qdepthwise: input too short");
    ensure!(weights >= packed_len(c, p.win.kernel_h * p.win.kernel_w), "qdepthwise: weights too short");
    ensure!(bias >= padded(c) && mult >= padded(c), "qdepthwise: bias or multipliers too short");
    ensure!(out >= p.images * p.out_h * p.out_w * c, "qdepthwise: output too short");
    Ok(())
}

/// The convolution on `threads`, split by output rows.
#[allow(clippy::too_many_arguments)]
pub fn qdepthwise(
    threads: &Threads,
    cpu: Cpu,
    p: &QDepthwise,
    input: &[u8],
    weights: &[i16],
    bias: &[i32],
    mult: &[f32],
    out: &mut [u8],
) {
    expect(check(threads.count(), p, input.len(), weights.len(), bias.len(), mult.len(), out.len()));
    let row = p.out_w * p.channels;
    let rows = p.images * p.out_h;
    let image = p.in_h * p.in_w * p.channels;
    threads.for_rows(rows, 2, &mut out[..rows * row], row, &|rows, o| {
        for (r, oy) in rows.enumerate() {
            let (img, y) = (oy / p.out_h, oy % p.out_h);
            let image = &input[img * image..][..image];
            let src = |iy: usize| &image[iy * p.in_w * p.channels..][..p.in_w * p.channels];
            row_from(cpu, p, y, &src, weights, bias, mult, &mut o[r * row..][..row]);
        }
    });
}

/// The input rows output row `y` reads, one per window row: `src(iy)` for rows inside the
/// image, empty slices outside (`MAX_TAPS` at most).
#[inline]
pub(crate) fn window_rows<'a>(p: &QDepthwise, y: usize, src: &dyn Fn(usize) -> &'a [u8]) -> [&'a [u8]; MAX_TAPS] {
    let mut rows: [&[u8]; MAX_TAPS] = [&[]; MAX_TAPS];
    for (ky, r) in rows.iter_mut().enumerate().take(p.win.kernel_h.min(MAX_TAPS)) {
        let iy = (y * p.win.stride_h + ky * p.win.dilation_h).wrapping_sub(p.win.pad_top);
        if iy < p.in_h {
            *r = src(iy);
        }
    }
    rows
}

/// Output row `y` (of one image) into `out`, the input rows coming from `src(iy)` (each
/// `in_w * channels` bytes): the whole image for `qdepthwise`, a ring of computed rows in the
/// fused block.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) fn row_from<'a>(
    cpu: Cpu,
    p: &QDepthwise,
    y: usize,
    src: &dyn Fn(usize) -> &'a [u8],
    weights: &[i16],
    bias: &[i32],
    mult: &[f32],
    out: &mut [u8],
) {
    let rows = window_rows(p, y, src);
    #[cfg(target_arch = "x86_64")]
    if cpu.int8_dot() && p.win.kernel_h * p.win.kernel_w <= MAX_TAPS {
        // SAFETY: `int8_dot` implies AVX-512F/BW/VL/VNNI; rows hold in_w * channels bytes or none,
        // the weights, bias and multipliers were checked by the caller.
        return unsafe { crate::arch::int8::depthwise_row(p, &rows, weights, bias, mult, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if cpu.level() >= crate::cpu::SimdLevel::Avx2 && p.win.kernel_h * p.win.kernel_w <= MAX_TAPS {
        // SAFETY: a Cpu of this level exists only where AVX2 was detected; as above otherwise.
        return unsafe { crate::arch::int8::depthwise_row_avx2(p, &rows, weights, bias, mult, out) };
    }
    #[cfg(target_arch = "aarch64")]
    if cpu.level() == crate::cpu::SimdLevel::Neon && p.win.kernel_h * p.win.kernel_w <= MAX_TAPS {
        // SAFETY: NEON is baseline on aarch64; as above otherwise.
        return unsafe { crate::arch::int8::depthwise_row(p, &rows, weights, bias, mult, out) };
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if cpu.level() == crate::cpu::SimdLevel::Simd128 && p.win.kernel_h * p.win.kernel_w <= MAX_TAPS {
        return crate::arch::int8::depthwise_row(p, &rows, weights, bias, mult, out);
    }
    let _ = cpu;
    scalar_row(p, &rows, weights, bias, mult, out);
}

/// Where tap `(ky, kx)` of output column `ox` reads in its window row: `None` outside.
#[inline(always)]
pub(crate) fn column(p: &QDepthwise, ox: usize, kx: usize) -> Option<usize> {
    let ix = (ox * p.win.stride_w + kx * p.win.dilation_w).checked_sub(p.win.pad_left)?;
    (ix < p.in_w).then_some(ix * p.channels)
}

fn scalar_row(p: &QDepthwise, rows: &[&[u8]], w: &[i16], bias: &[i32], mult: &[f32], out: &mut [u8]) {
    let c = p.channels;
    let taps = p.win.kernel_h * p.win.kernel_w;
    for ox in 0..p.out_w {
        for ch in 0..c {
            let at = packed_at(ch, 0, taps).1;
            let mut acc = bias[at];
            for ky in 0..p.win.kernel_h {
                let row = rows.get(ky).copied().unwrap_or(&[]);
                for kx in 0..p.win.kernel_w {
                    // Outside the image the input is its zero point (see `pack`).
                    let x = match column(p, ox, kx) {
                        Some(x) if !row.is_empty() => row[x + ch] as i32,
                        _ => p.x_zero,
                    };
                    let wv = w[packed_at(ch, ky * p.win.kernel_w + kx, taps).0] as i32;
                    acc = acc.wrapping_add(x * wv);
                }
            }
            out[ox * c + ch] = p.requant.apply(acc, mult[at]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::SimdLevel;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn every_path_matches_the_scalar_one() {
        for (case, &(c, h, k, s, pad)) in [
            (3, 5, 3, 1, 1),
            (40, 9, 3, 2, 1),
            (17, 6, 5, 2, 2),
            (64, 4, 3, 1, 0),
            (32, 5, 3, 1, 1),
            (16, 8, 3, 1, 1),
            (16, 9, 3, 2, 1),
        ]
        .iter()
        .enumerate()
        {
            let oh = (h + 2 * pad - k) / s + 1;
            let win = Window::square(k, s, pad);
            let requant = Requant { zero_point: 7, lo: 0, hi: 200 };
            let p = QDepthwise {
                images: 2,
                channels: c,
                in_h: h,
                in_w: h,
                out_h: oh,
                out_w: oh,
                win,
                x_zero: 120,
                requant,
            };
            let input: Vec<u8> = (0..2 * h * h * c).map(|i| ((i * 37 + case * 11) % 256) as u8).collect();
            let w: Vec<i16> = (0..k * k * c).map(|i| ((i * 53) % 511) as i16 - 255).collect();
            let bias: Vec<i32> = (0..c).map(|i| i as i32 * 101 - 900).collect();
            // In case 4, products beyond the int32 range both ways (all saturate; the AVX-512
            // epilogue caps them before the conversion only for such multipliers).
            let scale = if case == 4 { 1e9 } else { 1.0 };
            let mult: Vec<f32> = (0..c).map(|i| (0.0003 + i as f32 * 0.00001) * scale).collect();
            // The definition, on the unpacked weights.
            let want: Vec<u8> = (0..2 * oh * oh * c)
                .map(|o| {
                    let (oy, ox, ch) = (o / (oh * c), (o / c) % oh, o % c);
                    let mut acc = bias[ch];
                    for t in 0..k * k {
                        let (img, y) = (oy / oh, oy % oh);
                        let iy = (y * s + t / k).wrapping_sub(pad);
                        let ix = (ox * s + t % k).wrapping_sub(pad);
                        if iy < h && ix < h {
                            acc += (input[((img * h + iy) * h + ix) * c + ch] as i32 - 120) * w[t * c + ch] as i32;
                        }
                    }
                    requant.apply(acc, mult[ch])
                })
                .collect();
            let (mut pw, mut pb, mut pm) =
                (vec![0i16; packed_len(c, k * k)], vec![0i32; padded(c)], vec![0f32; padded(c)]);
            pack(&w, &bias, &mult, c, k * k, 120, (&mut pw, &mut pb, &mut pm));
            let (w, bias, mult) = (pw, pb, pm);
            for level in SimdLevel::ALL {
                let Some(cpu) = Cpu::with_level(level) else { continue };
                for cpu in [cpu, cpu.without_int8_dot()] {
                    for threads in [1, 2] {
                        let mut out = vec![0u8; want.len()];
                        qdepthwise(&Threads::new(threads), cpu, &p, &input, &w, &bias, &mult, &mut out);
                        assert_eq!(out, want, "c {c} {cpu:?} threads {threads}");
                    }
                }
            }
        }
    }
}
