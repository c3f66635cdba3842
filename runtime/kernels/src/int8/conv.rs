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

/// An ungrouped 8-bit convolution as a matrix product: each output row's pixels gathered into
/// rows of `kh * kw * in_c` bytes (taps outside the image hold the input's zero point, whose
/// offset is 0), then multiplied by the weights packed as `gemm` packs them (`[kh][kw][in_c]`
/// rows, output channels as columns; constants as `gemm` folds them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QConvGemm {
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
    /// The window.
    pub win: Window,
    /// The input's zero point (as u8).
    pub x_zero: i32,
    /// The weights have zero points (see `gemm::QGemm::row_sums`).
    pub row_sums: bool,
    /// Output zero point and bounds.
    pub requant: Requant,
}

/// Bytes of gathered rows each step multiplies (on the stack).
pub const GATHER: usize = 8192;

impl QConvGemm {
    /// Bytes per gathered row.
    pub fn k(&self) -> usize {
        self.win.kernel_h * self.win.kernel_w * self.in_c
    }
}

/// What `qconv_gemm` requires of the lengths: input, packed weights, constants, multipliers,
/// output.
pub fn check_gemm(
    _threads: usize,
    p: &QConvGemm,
    input: usize,
    b: usize,
    consts: usize,
    mult: usize,
    out: usize,
) -> Check {
    use super::gemm::{packed_b_len, padded};
    ensure!(p.requant.is_valid() && (0..=255).contains(&p.x_zero), "qconv_gemm: zero points or bounds");
    ensure!(p.win.stride_h > 0 && p.win.stride_w > 0, "qconv_gemm: zero stride");
    ensure!(p.k() > 0 && p.k() <= GATHER, "qconv_gemm: window too large");
    ensure!(input >= p.images * p.in_h * p.in_w * p.in_c, "qconv_gemm: input too short");
    ensure!(b >= packed_b_len(p.k(), p.out_c), "qconv_gemm: packed weights too short");
    ensure!(consts >= 2 * padded(p.out_c) && mult >= padded(p.out_c), "qconv_gemm: constants too short");
    ensure!(out >= p.images * p.out_h * p.out_w * p.out_c, "qconv_gemm: output too short");
    Ok(())
}

/// The convolution on `threads`, split by output rows.
#[allow(clippy::too_many_arguments)]
pub fn qconv_gemm(
    threads: &Threads,
    cpu: Cpu,
    p: &QConvGemm,
    input: &[u8],
    b: &[i8],
    consts: &[i32],
    mult: &[f32],
    out: &mut [u8],
) {
    expect(check_gemm(threads.count(), p, input.len(), b.len(), consts.len(), mult.len(), out.len()));
    let row = p.out_w * p.out_c;
    let rows = p.images * p.out_h;
    threads.for_rows(rows, 2, &mut out[..rows * row], row, &|rows, o| {
        for (r, oy) in rows.enumerate() {
            gemm_row(cpu, p, input, b, consts, mult, oy / p.out_h, oy % p.out_h, &mut o[r * row..][..row]);
        }
    });
}

/// Output row `y` of image `img` (`out_w * out_c` bytes).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_row(
    cpu: Cpu,
    p: &QConvGemm,
    input: &[u8],
    b: &[i8],
    consts: &[i32],
    mult: &[f32],
    img: usize,
    y: usize,
    out: &mut [u8],
) {
    // Windows are gathered `k` rounded up to 4 bytes apart, the padding zero: a GEMM of that
    // depth reads whole groups of four and has the same packed weights (zero past `k`), and a
    // zero byte adds nothing to the products or to the row sums.
    let (k, stride) = (p.k(), p.k().next_multiple_of(4));
    let chunk = (GATHER / stride).min(p.out_w).max(1);
    let g = super::gemm::QGemm { m: 0, k: stride, n: p.out_c, row_sums: p.row_sums, requant: p.requant };
    // Room for the 16-byte moves of `gather_wide` past the last window.
    let mut gathered = [0u8; GATHER + 16];
    let wide =
        p.win.dilation_w == 1 && p.win.kernel_w * p.in_c <= 16 && (p.win.kernel_h + 1) * p.win.kernel_w * p.in_c >= 16;
    for x0 in (0..p.out_w).step_by(chunk) {
        let n = chunk.min(p.out_w - x0);
        for i in 0..n {
            if !(wide && gather_wide(p, input, img, y, x0 + i, &mut gathered[i * stride..], stride)) {
                gather(p, input, img, y, x0 + i, &mut gathered[i * stride..][..k]);
            }
        }
        let out = &mut out[x0 * p.out_c..][..n * p.out_c];
        super::gemm::rows_of(
            cpu,
            &super::gemm::QGemm { m: n, ..g },
            &gathered[..n * stride],
            b,
            consts,
            mult,
            0..n,
            out,
        );
    }
}

/// `dst.copy_from_slice(src)`, for the few bytes of a window row (a 3x3 window of an RGB image:
/// 9) as two overlapping fixed-size moves instead of a call to `memcpy`.
#[inline(always)]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = dst.len();
    if (8..=16).contains(&n) {
        dst[..8].copy_from_slice(&src[..8]);
        dst[n - 8..].copy_from_slice(&src[n - 8..]);
    } else if (4..8).contains(&n) {
        dst[..4].copy_from_slice(&src[..4]);
        dst[n - 4..].copy_from_slice(&src[n - 4..]);
    } else {
        dst.copy_from_slice(src);
    }
}

/// `gather` for a window inside the image whose rows are at most 16 bytes (the RGB stem):
/// each row one 16-byte move, the bytes past it overwritten by the next row, the padding up
/// to `stride` zeroed again, and the rest by the next window (which `gemm_row` allows only
/// when the last row's excess stays inside the next window's bytes). False, and nothing
/// written, for a window at an edge or whose last move would read past the input.
#[inline]
fn gather_wide(p: &QConvGemm, input: &[u8], img: usize, y: usize, x: usize, a: &mut [u8], stride: usize) -> bool {
    let (c, kw, kh) = (p.in_c, p.win.kernel_w, p.win.kernel_h);
    let x0 = (x * p.win.stride_w).wrapping_sub(p.win.pad_left);
    let y0 = (y * p.win.stride_h).wrapping_sub(p.win.pad_top);
    let y_last = y0.wrapping_add((kh - 1) * p.win.dilation_h);
    if !(x0 < p.in_w && x0 + kw <= p.in_w && y0 < p.in_h && y_last < p.in_h) {
        return false;
    }
    let row = p.in_w * c;
    let first = ((img * p.in_h + y0) * p.in_w + x0) * c;
    if first + (kh - 1) * p.win.dilation_h * row + 16 > input.len() {
        return false;
    }
    for ky in 0..kh {
        let src: &[u8; 16] = input[first + ky * p.win.dilation_h * row..][..16].try_into().expect("16 bytes");
        a[ky * kw * c..][..16].copy_from_slice(src);
    }
    a[kh * kw * c..stride].fill(0);
    true
}

/// The window of output pixel `(y, x)` of image `img`, `[kh][kw][in_c]`, into `a`.
#[inline]
fn gather(p: &QConvGemm, input: &[u8], img: usize, y: usize, x: usize, a: &mut [u8]) {
    let c = p.in_c;
    let kw = p.win.kernel_w;
    let x0 = (x * p.win.stride_w).wrapping_sub(p.win.pad_left);
    for ky in 0..p.win.kernel_h {
        let iy = (y * p.win.stride_h + ky * p.win.dilation_h).wrapping_sub(p.win.pad_top);
        // A whole, undilated window row inside the image is one run of bytes.
        if iy < p.in_h && p.win.dilation_w == 1 && x0 < p.in_w && x0 + kw <= p.in_w {
            let src = &input[((img * p.in_h + iy) * p.in_w + x0) * c..][..kw * c];
            copy_short(&mut a[ky * kw * c..][..kw * c], src);
            continue;
        }
        for kx in 0..p.win.kernel_w {
            let ix = (x * p.win.stride_w + kx * p.win.dilation_w).wrapping_sub(p.win.pad_left);
            let dst = &mut a[(ky * p.win.kernel_w + kx) * c..][..c];
            if iy < p.in_h && ix < p.in_w {
                dst.copy_from_slice(&input[((img * p.in_h + iy) * p.in_w + ix) * c..][..c]);
            } else {
                dst.fill(p.x_zero as u8);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::SimdLevel;
    use crate::int8::gemm::{pack_b, packed_b_len, padded};
    use std::vec;
    use std::vec::Vec;

    /// The plain definition: `(x - x_zero) * (w - w_zero)` over the window, taps outside
    /// skipped. `w` is `[out_c][in_c / groups][kh][kw]` int8 with one zero point per output.
    #[allow(clippy::too_many_arguments)]
    fn definition(p: &QConv2d, x: &[u8], w: &[i8], w_zero: &[i32], bias: &[i32], mult: &[f32]) -> Vec<u8> {
        let (cig, mg, win) = (p.in_c / p.groups, p.out_c / p.groups, p.win);
        let mut out = vec![0u8; p.images * p.out_h * p.out_w * p.out_c];
        for img in 0..p.images {
            for oy in 0..p.out_h {
                for ox in 0..p.out_w {
                    for m in 0..p.out_c {
                        let mut acc = bias[m];
                        for ci in 0..cig {
                            for ky in 0..win.kernel_h {
                                for kx in 0..win.kernel_w {
                                    let iy = (oy * win.stride_h + ky * win.dilation_h).wrapping_sub(win.pad_top);
                                    let ix = (ox * win.stride_w + kx * win.dilation_w).wrapping_sub(win.pad_left);
                                    if iy >= p.in_h || ix >= p.in_w {
                                        continue;
                                    }
                                    let xv =
                                        x[((img * p.in_h + iy) * p.in_w + ix) * p.in_c + (m / mg) * cig + ci] as i32;
                                    let wv = w[((m * cig + ci) * win.kernel_h + ky) * win.kernel_w + kx] as i32;
                                    acc += (xv - p.x_zero) * (wv - w_zero[m]);
                                }
                            }
                        }
                        out[((img * p.out_h + oy) * p.out_w + ox) * p.out_c + m] = p.requant.apply(acc, mult[m]);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn both_kernels_match_the_definition() {
        // (in_c, out_c, groups, size, kernel, stride, pad, weight zero points)
        for &(in_c, out_c, groups, h, k, s, pad, zero) in &[
            (3, 32, 1, 9, 3, 2, 1, false),
            (3, 20, 1, 7, 3, 1, 1, true),
            (8, 12, 4, 6, 3, 1, 1, false),
            (6, 6, 2, 5, 5, 2, 2, true),
            (4, 16, 1, 8, 2, 1, 0, true),
        ] {
            let oh = (h + 2 * pad - k) / s + 1;
            let win = Window::square(k, s, pad);
            let requant = Requant { zero_point: 5, lo: 0, hi: 255 };
            let p = QConv2d {
                images: 2,
                in_c,
                in_h: h,
                in_w: h,
                out_c,
                out_h: oh,
                out_w: oh,
                groups,
                win,
                x_zero: 117,
                requant,
            };
            let cig = in_c / groups;
            let x: Vec<u8> = (0..2 * h * h * in_c).map(|i| (i * 61 % 256) as u8).collect();
            let w: Vec<i8> = (0..out_c * cig * k * k).map(|i| (i * 37 % 256) as u8 as i8).collect();
            let w_zero: Vec<i32> = (0..out_c).map(|m| if zero { m as i32 % 5 - 2 } else { 0 }).collect();
            let bias: Vec<i32> = (0..out_c).map(|m| m as i32 * 300 - 2000).collect();
            let mult: Vec<f32> = (0..out_c).map(|m| 0.0011 + m as f32 * 0.00002).collect();
            let want = definition(&p, &x, &w, &w_zero, &bias, &mult);
            // qconv2d: int16 `w - w_zero`, [group][kh][kw][cig][mg].
            let mg = out_c / groups;
            let mut w16 = vec![0i16; w.len()];
            for m in 0..out_c {
                for ci in 0..cig {
                    for t in 0..k * k {
                        w16[(((m / mg) * k * k + t) * cig + ci) * mg + m % mg] =
                            (w[(m * cig + ci) * k * k + t] as i32 - w_zero[m]) as i16;
                    }
                }
            }
            // qconv_gemm (ungrouped): b = [kh][kw][in_c] x [out_c], constants folded.
            let gemm = (groups == 1).then(|| {
                let kk = k * k * in_c;
                let b: Vec<i8> = (0..kk * out_c)
                    .map(|i| w[((i % out_c) * in_c + (i / out_c) % in_c) * k * k + (i / out_c) / in_c])
                    .collect();
                let mut packed = vec![0i8; packed_b_len(kk, out_c)];
                pack_b(&b, kk, out_c, &mut packed);
                let mut consts = vec![0i32; 2 * padded(out_c)];
                for m in 0..out_c {
                    let col: i32 = (0..kk).map(|r| b[r * out_c + m] as i32).sum();
                    consts[m] = bias[m] - 117 * col + kk as i32 * 117 * w_zero[m];
                    consts[padded(out_c) + m] = w_zero[m];
                }
                let mut m = mult.clone();
                m.resize(padded(out_c), 0.0);
                let g = QConvGemm {
                    images: 2,
                    in_c,
                    in_h: h,
                    in_w: h,
                    out_c,
                    out_h: oh,
                    out_w: oh,
                    win,
                    x_zero: 117,
                    row_sums: zero,
                    requant,
                };
                (g, packed, consts, m)
            });
            for level in SimdLevel::ALL {
                let Some(cpu) = Cpu::with_level(level) else { continue };
                for cpu in [cpu, cpu.without_int8_dot()] {
                    for threads in [1, 2] {
                        let pool = Threads::new(threads);
                        let mut out = vec![0u8; want.len()];
                        qconv2d(&pool, cpu, &p, &x, &w16, &bias, &mult, &mut out);
                        assert_eq!(out, want, "qconv2d {in_c}->{out_c}/{groups} {cpu:?}");
                        if let Some((g, packed, consts, m)) = &gemm {
                            let mut out = vec![0u8; want.len()];
                            qconv_gemm(&pool, cpu, g, &x, packed, consts, m, &mut out);
                            assert_eq!(out, want, "qconv_gemm {in_c}->{out_c} {cpu:?}");
                        }
                    }
                }
            }
        }
    }
}
