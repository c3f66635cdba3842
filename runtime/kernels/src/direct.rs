//! General 2-D convolution, NHWC, any kernel/stride/dilation/padding/groups, with the fused
//! epilogue `act(conv + bias + residual)`. It serves what neither the pointwise GEMM nor the
//! depthwise kernel covers: the first 3x3 convolution of MobileNets (3 input channels) and
//! grouped convolutions. Weights are packed `[group][kh][kw][in_per_group][out_per_group]`, so
//! the innermost run is output channels, loaded as vectors.

use crate::act::Act;
use crate::check::{Check, ensure, expect, opt_is};
use crate::cpu::Cpu;
use crate::threads::Threads;
use crate::window::Window;

#[derive(Clone, Copy, Debug, PartialEq)]
/// A general 2-D convolution (any window, any groups) over NHWC images.
pub struct Conv2d {
    /// Images.
    pub batch: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Input channels.
    pub in_c: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Output channels.
    pub out_c: usize,
    /// Channel groups.
    pub groups: usize,
    /// Kernel, strides, dilations, leading padding.
    pub win: Window,
    /// Activation applied last.
    pub act: Act,
    /// The input is NCHW (the caller's image as torch declares it) rather than NHWC: the first
    /// conv then reads it in place, with no layout copy before it.
    pub input_nchw: bool,
}

impl Conv2d {
    /// Offset of input element (batch b, row iy, column ix, channel ci).
    #[inline(always)]
    pub(crate) fn input_at(&self, b: usize, iy: usize, ix: usize, ci: usize) -> usize {
        if self.input_nchw {
            ((b * self.in_c + ci) * self.in_h + iy) * self.in_w + ix
        } else {
            ((b * self.in_h + iy) * self.in_w + ix) * self.in_c + ci
        }
    }
    /// Elements of the input.
    pub const fn input_len(&self) -> usize {
        self.batch * self.in_h * self.in_w * self.in_c
    }
    /// Elements of the output.
    pub const fn output_len(&self) -> usize {
        self.batch * self.out_h * self.out_w * self.out_c
    }
    /// Elements of the packed weights.
    pub fn weights_len(&self) -> usize {
        self.win.kernel_h * self.win.kernel_w * self.in_c * (self.out_c / self.groups.max(1))
    }
}

/// `output = act(conv(input) + bias + residual)` on one thread.
pub fn conv2d(
    cpu: Cpu,
    p: &Conv2d,
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    conv2d_parallel(&Threads::single(), cpu, p, input, weights, bias, residual, output)
}

/// What `conv2d` requires.
pub fn check(
    _threads: usize,
    p: &Conv2d,
    input: usize,
    weights: usize,
    bias: usize,
    residual: Option<usize>,
    output: usize,
) -> Check {
    ensure!(p.groups > 0 && p.in_c.is_multiple_of(p.groups) && p.out_c.is_multiple_of(p.groups), "conv2d: groups");
    ensure!(p.win.is_valid(), "conv2d: zero stride");
    ensure!(input == p.input_len(), "conv2d: input");
    ensure!(output == p.output_len(), "conv2d: output");
    ensure!(weights == p.weights_len(), "conv2d: weights");
    ensure!(bias == p.out_c, "conv2d: bias");
    ensure!(opt_is(residual, p.output_len()), "conv2d: residual");
    Ok(())
}

/// The same, with the output rows (of every image) split across `threads`.
pub fn conv2d_parallel(
    threads: &Threads,
    cpu: Cpu,
    p: &Conv2d,
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    expect(check(threads.count(), p, input.len(), weights.len(), bias.len(), residual.map(<[f32]>::len), output.len()));
    threads.for_rows(p.batch * p.out_h, 4, output, p.out_w * p.out_c, &|rows, out| {
        rows_on(cpu, p, input, weights, bias, residual, rows.start, rows.end, out)
    });
}

/// Output rows r0..r1 (over every image) into `output`, which holds just those rows, on one
/// thread, without a residual: how a fused block computes its rows of a first convolution.
pub(crate) fn rows(
    cpu: Cpu,
    p: &Conv2d,
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    r0: usize,
    r1: usize,
    output: &mut [f32],
) {
    assert!(r0 <= r1 && r1 <= p.batch * p.out_h, "conv2d rows: range");
    assert_eq!(output.len(), (r1 - r0) * p.out_w * p.out_c, "conv2d rows: output");
    rows_on(cpu, p, input, weights, bias, None, r0, r1, output)
}

/// Output rows r0..r1 into `output` on the CPU's SIMD level (the caller checked the slices).
#[allow(clippy::too_many_arguments)]
fn rows_on(
    cpu: Cpu,
    p: &Conv2d,
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    residual: Option<&[f32]>,
    r0: usize,
    r1: usize,
    output: &mut [f32],
) {
    dispatch!(
        cpu,
        entry,
        scalar(p, input, weights, bias, residual, r0, r1, output),
        (p, input, weights, bias, residual, r0, r1, output)
    )
}

/// Output rows r0..r1 (over every image) into `output`, which holds just those rows.
fn scalar(
    p: &Conv2d,
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    residual: Option<&[f32]>,
    r0: usize,
    r1: usize,
    output: &mut [f32],
) {
    let (cig, cog) = (p.in_c / p.groups, p.out_c / p.groups);
    for r in r0..r1 {
        let (b, oy) = (r / p.out_h, r % p.out_h);
        {
            let ky = p.win.taps_y(oy, p.in_h);
            for ox in 0..p.out_w {
                let kx = p.win.taps_x(ox, p.in_w);
                let at = (r * p.out_w + ox) * p.out_c;
                let out = &mut output[(at - r0 * p.out_w * p.out_c)..][..p.out_c];
                out.copy_from_slice(bias);
                for g in 0..p.groups {
                    let out = &mut out[g * cog..][..cog];
                    for y in ky.clone() {
                        let iy = oy * p.win.stride_h + y * p.win.dilation_h - p.win.pad_top;
                        for x in kx.clone() {
                            let ix = ox * p.win.stride_w + x * p.win.dilation_w - p.win.pad_left;
                            let w =
                                &weights[(((g * p.win.kernel_h + y) * p.win.kernel_w + x) * cig) * cog..][..cig * cog];
                            for ci in 0..cig {
                                let v = input[p.input_at(b, iy, ix, g * cig + ci)];
                                for (o, &wv) in out.iter_mut().zip(&w[ci * cog..][..cog]) {
                                    *o += v * wv;
                                }
                            }
                        }
                    }
                }
                if let Some(r) = residual {
                    for (o, &rv) in out.iter_mut().zip(&r[at..][..p.out_c]) {
                        *o += rv;
                    }
                }
                for o in out.iter_mut() {
                    *o = p.act.apply(*o);
                }
            }
        }
    }
}

#[cfg(kernel_simd)]
use simd::*;

#[cfg(kernel_simd)]
mod simd {
    use super::Conv2d;
    use crate::act::AffineClamp;
    use crate::simd::Simd;

    struct Ctx<'a> {
        p: &'a Conv2d,
        input: &'a [f32],
        weights: &'a [f32],
        bias: &'a [f32],
        residual: Option<&'a [f32]>,
        clamp: &'a AffineClamp,
        b: usize,
        oy: usize,
        g: usize,
        m0: usize,
        /// Output channels in this block (the last vector may be partial).
        width: usize,
        /// First output row held by the output slice.
        r0: usize,
    }

    // Inlined into each #[target_feature] entry point, so the intrinsics compile with it.
    #[inline(always)]
    pub(super) fn conv2d_simd<S: Simd>(
        p: &Conv2d,
        input: &[f32],
        weights: &[f32],
        bias: &[f32],
        residual: Option<&[f32]>,
        r0: usize,
        r1: usize,
        output: &mut [f32],
    ) {
        let cog = p.out_c / p.groups;
        let (clamp, sigmoid_pass) = p.act.for_simd();
        // Columns whose every tap lies inside the input row.
        let (lo, hi) = p.win.interior_x(p.in_w, p.out_w);
        for r in r0..r1 {
            let (b, oy) = (r / p.out_h, r % p.out_h);
            {
                for g in 0..p.groups {
                    let mut m0 = 0;
                    while m0 < cog {
                        let width = (2 * S::LANES).min(cog - m0);
                        let c = Ctx { p, input, weights, bias, residual, clamp: &clamp, b, oy, g, m0, width, r0 };
                        // AVX-512 (32 registers): 16 accumulators, 8 pixels of 2 vectors or 16 of
                        // one; the broadcast of each input then feeds more FMAs per weight load
                        // (a 16-channel first conv: 0.92x the time of 8 pixels, 32 channels:
                        // 0.98x). AVX2 (16 registers) holds 8: 4 pixels of 2 vectors, 8 of one.
                        match (width > S::LANES, S::LANES >= 16) {
                            (true, true) => columns::<S, 2, 8>(&c, lo, hi, output),
                            (true, false) => columns::<S, 2, 4>(&c, lo, hi, output),
                            (false, true) => columns::<S, 1, 16>(&c, lo, hi, output),
                            (false, false) => columns::<S, 1, 8>(&c, lo, hi, output),
                        }
                        m0 += width;
                    }
                }
            }
        }
        if sigmoid_pass {
            for o in output.iter_mut() {
                *o = p.act.apply(*o);
            }
        }
    }

    /// Most filter taps (kernel rows × columns × input channels of a group) an interior tile
    /// walks from a precomputed list; wider filters take the general path.
    const MAX_TAPS: usize = 64;

    /// One filter tap of an output row: where its weights start, and where its input sits
    /// relative to the first input a pixel's window touches in its first valid kernel row.
    #[derive(Clone, Copy, Default)]
    struct Tap {
        weight: usize,
        input: usize,
    }

    /// Input strides: between kernel rows, kernel columns, input channels and neighbouring
    /// output pixels.
    fn strides(p: &Conv2d) -> (usize, usize, usize, usize) {
        let (row, col, channel) =
            if p.input_nchw { (p.in_w, 1, p.in_h * p.in_w) } else { (p.in_w * p.in_c, p.in_c, 1) };
        (row * p.win.dilation_h, col * p.win.dilation_w, channel, col * p.win.stride_w)
    }

    /// All output columns of one row for NV vectors of output channels: interior columns PX at
    /// a time (they share every weight load), the rest one by one.
    #[inline(always)]
    fn columns<S: Simd, const NV: usize, const PX: usize>(c: &Ctx, lo: usize, hi: usize, out: &mut [f32]) {
        let p = c.p;
        let (cig, cog) = (p.in_c / p.groups, p.out_c / p.groups);
        let ky = p.win.taps_y(c.oy, p.in_h);
        // The taps every interior pixel of this row reads, listed once for the row.
        let (row_step, col_step, channel_step, _) = strides(p);
        let mut taps = [Tap::default(); MAX_TAPS];
        let count = ky.len() * p.win.kernel_w * cig;
        if count <= MAX_TAPS {
            let mut t = 0;
            for y in ky.clone() {
                for x in 0..p.win.kernel_w {
                    let wbase = (((c.g * p.win.kernel_h + y) * p.win.kernel_w + x) * cig) * cog + c.m0;
                    for ci in 0..cig {
                        let input = (y - ky.start) * row_step + x * col_step + ci * channel_step;
                        taps[t] = Tap { weight: wbase + ci * cog, input };
                        t += 1;
                    }
                }
            }
        }
        let taps = &taps[..count.min(MAX_TAPS)];
        // The farthest input any tap reads from a pixel's first input.
        let reach = taps.iter().map(|t| t.input).max().unwrap_or(0);
        // A row whose window lies wholly in the padding (pads as large as the kernel) has no
        // taps: its pixels are the bias, which the general path gives.
        let listed = !ky.is_empty() && count <= MAX_TAPS && c.width == NV * S::LANES;
        let mut ox = 0;
        while ox < p.out_w {
            if ox >= lo && ox < hi && hi - lo >= PX {
                // The last interior group overlaps the one before it rather than leaving a tail
                // to the one-pixel path (its pixels are computed again, to the same values).
                let start = ox.min(hi - PX);
                if listed {
                    tile::<S, NV, PX>(c, start, taps, reach, out);
                } else {
                    pixels::<S, NV, PX>(c, start, out);
                }
                ox = start + PX;
            } else {
                pixels::<S, NV, 1>(c, ox, out);
                ox += 1;
            }
        }
    }

    /// Interior output pixels ox..ox+N with full vectors of output channels, walking the row's
    /// tap list: no bounds on the window to work out, one weight load per tap shared by N pixels.
    /// `reach` is the largest `input` offset in `taps`.
    #[inline(always)]
    fn tile<S: Simd, const NV: usize, const N: usize>(c: &Ctx, ox: usize, taps: &[Tap], reach: usize, out: &mut [f32]) {
        let p = c.p;
        let cig = p.in_c / p.groups;
        let (_, _, _, pixel_step) = strides(p);
        let iy = c.oy * p.win.stride_h + p.win.taps_y(c.oy, p.in_h).start * p.win.dilation_h - p.win.pad_top;
        let first = p.input_at(c.b, iy, ox * p.win.stride_w - p.win.pad_left, c.g * cig);
        // Every input read below is at `t.input + px * pixel_step` from `first`, for a tap t and
        // px < N: checked once here against the farthest one, instead of at each read.
        let input = &c.input[first..=first + reach + (N - 1) * pixel_step];
        let ip = input.as_ptr();
        let mut acc = [[S::splat(0.0); NV]; N];
        for v in 0..NV {
            acc[0][v] = S::load(&c.bias[c.g * (p.out_c / p.groups) + c.m0 + v * S::LANES..]);
        }
        for px in 1..N {
            acc[px] = acc[0];
        }
        for t in taps {
            let mut wv = [S::splat(0.0); NV];
            for v in 0..NV {
                wv[v] = S::load(&c.weights[t.weight + v * S::LANES..]);
            }
            for (px, a) in acc.iter_mut().enumerate() {
                // SAFETY: t.input <= reach and px < N, so the offset is within `input`, whose
                // extent was checked above.
                let xv = S::splat(unsafe { *ip.add(t.input + px * pixel_step) });
                for v in 0..NV {
                    a[v] = S::fma(xv, wv[v], a[v]);
                }
            }
        }
        store::<S, NV, N>(c, ox, &acc, out);
    }

    /// Output pixels ox..ox+N (all interior when N > 1), NV vectors of channels from m0, for
    /// any filter and channel count.
    #[inline(always)]
    fn pixels<S: Simd, const NV: usize, const N: usize>(c: &Ctx, ox: usize, out: &mut [f32]) {
        let p = c.p;
        let (cig, cog) = (p.in_c / p.groups, p.out_c / p.groups);
        let mut widths = [0; NV];
        let mut bias = [S::splat(0.0); NV];
        for v in 0..NV {
            widths[v] = (c.width - v * S::LANES).min(S::LANES);
            bias[v] = S::load_n(&c.bias[c.g * cog + c.m0 + v * S::LANES..], widths[v]);
        }
        let mut acc = [bias; N];
        let ky = p.win.taps_y(c.oy, p.in_h);
        let kx = p.win.taps_x(ox, p.in_w);
        let (_, _, channel_step, pixel_step) = strides(p);
        for y in ky {
            let iy = c.oy * p.win.stride_h + y * p.win.dilation_h - p.win.pad_top;
            for x in kx.clone() {
                let wbase = (((c.g * p.win.kernel_h + y) * p.win.kernel_w + x) * cig) * cog + c.m0;
                let ix = ox * p.win.stride_w + x * p.win.dilation_w - p.win.pad_left;
                // The inputs this tap reads, from pixel 0 of channel 0 to pixel N-1 of the last.
                let first = p.input_at(c.b, iy, ix, c.g * cig);
                let taps = &c.input[first..=first + (cig - 1) * channel_step + (N - 1) * pixel_step];
                for ci in 0..cig {
                    let mut wv = [S::splat(0.0); NV];
                    for v in 0..NV {
                        wv[v] = S::load_n(&c.weights[wbase + ci * cog + v * S::LANES..], widths[v]);
                    }
                    for (px, a) in acc.iter_mut().enumerate() {
                        let xv = S::splat(taps[ci * channel_step + px * pixel_step]);
                        for v in 0..NV {
                            a[v] = S::fma(xv, wv[v], a[v]);
                        }
                    }
                }
            }
        }
        store::<S, NV, N>(c, ox, &acc, out);
    }

    /// The epilogue of pixels ox..ox+N: residual, activation, store, in straight-line passes
    /// with each decision taken once (so the accumulators stay in registers).
    #[inline(always)]
    fn store<S: Simd, const NV: usize, const N: usize>(c: &Ctx, ox: usize, acc: &[[S::V; NV]; N], out: &mut [f32]) {
        let p = c.p;
        let cog = p.out_c / p.groups;
        let at = |px: usize, v: usize| {
            ((c.b * p.out_h + c.oy - c.r0) * p.out_w + ox + px) * p.out_c + c.g * cog + c.m0 + v * S::LANES
        };
        let width = |v: usize| (c.width - v * S::LANES).min(S::LANES);
        let mut y = *acc;
        if let Some(r) = c.residual {
            let rows_before = c.r0 * p.out_w * p.out_c;
            for (px, y) in y.iter_mut().enumerate() {
                for (v, y) in y.iter_mut().enumerate() {
                    *y = S::add(*y, S::load_n(&r[rows_before + at(px, v)..], width(v)));
                }
            }
        }
        S::activate_tile(&mut y, c.clamp);
        for (px, y) in y.iter().enumerate() {
            for (v, y) in y.iter().enumerate() {
                S::store_n(&mut out[at(px, v)..], width(v), *y);
            }
        }
    }

    simd_entry!(entry => conv2d_simd(p: &Conv2d, input: &[f32], weights: &[f32], bias: &[f32], residual: Option<&[f32]>, r0: usize, r1: usize, output: &mut [f32]));
}
