//! Depthwise convolution (one filter per channel), NHWC, with the fused epilogue
//! `act(conv + bias + residual)`. Weights are packed `[kh][kw][channels]` so that one tap of the
//! filter is a contiguous run of channels, loaded as vectors.

use crate::act::Act;
use crate::check::{Check, ensure, expect, opt_is};
use crate::cpu::Cpu;
use crate::threads::Threads;
use crate::window::Window;

#[derive(Clone, Copy, Debug, PartialEq)]
/// A depthwise convolution (one filter per channel) over NHWC images.
pub struct Depthwise {
    /// Images.
    pub batch: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Channels (input and output).
    pub channels: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Kernel, strides, dilations, leading padding.
    pub win: Window,
    /// Activation applied last.
    pub act: Act,
}

impl Depthwise {
    /// Elements of the input.
    pub fn input_len(&self) -> usize {
        self.batch * self.in_h * self.in_w * self.channels
    }
    /// Elements of the output.
    pub fn output_len(&self) -> usize {
        self.batch * self.out_h * self.out_w * self.channels
    }
}

/// `output = act(depthwise(input) + bias + residual)` on one thread.
pub fn depthwise(
    cpu: Cpu,
    p: &Depthwise,
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    depthwise_parallel(&Threads::single(), cpu, p, input, weights, bias, residual, output)
}

/// What `depthwise` requires: NHWC input and output of the sizes `p` gives, `[kh][kw][c]`
/// weights, a per-channel bias, a residual shaped as the output.
pub fn check(
    _threads: usize,
    p: &Depthwise,
    input: usize,
    weights: usize,
    bias: usize,
    residual: Option<usize>,
    output: usize,
) -> Check {
    ensure!(input == p.input_len(), "depthwise: input");
    ensure!(output == p.output_len(), "depthwise: output");
    ensure!(weights == p.win.kernel_h * p.win.kernel_w * p.channels, "depthwise: weights");
    ensure!(bias == p.channels, "depthwise: bias");
    ensure!(opt_is(residual, p.output_len()), "depthwise: residual");
    ensure!(p.win.is_valid(), "depthwise: zero stride");
    ensure!(p.win.kernel_h <= MAX_KERNEL_H, "depthwise: kernel taller than MAX_KERNEL_H");
    Ok(())
}

/// The same, with the output rows (of every image) split across `threads`.
pub fn depthwise_parallel(
    threads: &Threads,
    cpu: Cpu,
    p: &Depthwise,
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    expect(check(threads.count(), p, input.len(), weights.len(), bias.len(), residual.map(<[f32]>::len), output.len()));
    threads.for_rows(p.batch * p.out_h, 4, output, p.out_w * p.channels, &|rows, out| {
        let (r0, r1) = (rows.start, rows.end);
        dispatch!(
            cpu,
            entry,
            scalar(p, input, weights, bias, residual, r0, r1, out),
            (p, input, weights, bias, residual, r0, r1, out)
        )
    });
}

/// Output rows r0..r1 (counted over every image) into `output`, which holds just those rows.
fn scalar(
    p: &Depthwise,
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    residual: Option<&[f32]>,
    r0: usize,
    r1: usize,
    output: &mut [f32],
) {
    let g = RowGeometry::of(p);
    let (image_in, row_out) = (p.in_h * p.in_w * p.channels, p.out_w * p.channels);
    let mut rows: [Option<&[f32]>; MAX_KERNEL_H] = [None; MAX_KERNEL_H];
    for r in r0..r1 {
        let (b, oy) = (r / p.out_h, r % p.out_h);
        input_rows(p, &input[b * image_in..(b + 1) * image_in], oy, &mut rows);
        let res = residual.map(|x| &x[r * row_out..(r + 1) * row_out]);
        let at = (r - r0) * row_out;
        scalar_row(&g, &rows[..p.win.kernel_h], weights, bias, res, &mut output[at..at + row_out], p.act);
    }
}

/// One output row (the reference): `rows[ky]` is the input row of kernel row ky, `None` where
/// it is padding.
pub(crate) fn scalar_row(
    g: &RowGeometry,
    rows: &[Option<&[f32]>],
    weights: &[f32],
    bias: &[f32],
    residual: Option<&[f32]>,
    out: &mut [f32],
    act: Act,
) {
    let c = g.channels;
    for ox in 0..g.out_w {
        let kx = g.win.taps_x(ox, g.in_w);
        let o = &mut out[ox * c..][..c];
        o.copy_from_slice(bias);
        for (y, row) in rows.iter().enumerate() {
            let Some(row) = row else { continue };
            for x in kx.clone() {
                let ix = ox * g.win.stride_w + x * g.win.dilation_w - g.win.pad_left;
                let src = &row[ix * c..][..c];
                let w = &weights[(y * g.win.kernel_w + x) * c..][..c];
                for ch in 0..c {
                    o[ch] += src[ch] * w[ch];
                }
            }
        }
        if let Some(r) = residual {
            for (v, &rv) in o.iter_mut().zip(&r[ox * c..][..c]) {
                *v += rv;
            }
        }
        for v in o.iter_mut() {
            *v = act.apply(*v);
        }
    }
}

/// The horizontal geometry of one output row (what the row core needs besides the rows).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowGeometry {
    pub in_w: usize,
    pub channels: usize,
    pub out_w: usize,
    pub win: Window,
}

impl RowGeometry {
    pub(crate) fn of(p: &Depthwise) -> RowGeometry {
        RowGeometry { in_w: p.in_w, channels: p.channels, out_w: p.out_w, win: p.win }
    }

    /// Output columns whose every tap lies inside the row: `lo..hi`.
    #[inline(always)]
    pub(crate) fn interior(&self) -> (usize, usize) {
        self.win.interior_x(self.in_w, self.out_w)
    }
}

/// The input rows of output row `oy` (one per kernel row; `None` where the row is padding).
#[inline(always)]
pub(crate) fn input_rows<'a>(p: &Depthwise, image: &'a [f32], oy: usize, rows: &mut [Option<&'a [f32]>]) {
    let row_len = p.in_w * p.channels;
    for (ky, slot) in rows.iter_mut().enumerate().take(p.win.kernel_h) {
        let iy = p.win.input_row(oy, ky, p.in_h);
        *slot = iy.map(|iy| &image[iy * row_len..(iy + 1) * row_len]);
    }
}

/// One output row on `cpu`'s path (the fused blocks' depthwise step).
pub(crate) fn row(
    cpu: Cpu,
    g: &RowGeometry,
    rows: &[Option<&[f32]>],
    weights: &[f32],
    bias: &[f32],
    out: &mut [f32],
    act: Act,
) {
    dispatch!(cpu, row_entry, scalar_row(g, rows, weights, bias, None, out, act), (g, rows, weights, bias, out, act));
}

/// Largest kernel height the row-based paths take (MobileNets use 3, 5 and 7).
pub(crate) const MAX_KERNEL_H: usize = 16;

#[cfg(kernel_simd)]
use simd::*;

#[cfg(kernel_simd)]
pub(crate) mod simd {
    use super::{Depthwise, MAX_KERNEL_H, RowGeometry, input_rows};
    use crate::act::AffineClamp;
    use crate::simd::Simd;

    // Inlined into each #[target_feature] entry point, so the intrinsics compile with it.
    #[inline(always)]
    pub(crate) fn depthwise_simd<S: Simd>(
        p: &Depthwise,
        input: &[f32],
        weights: &[f32],
        bias: &[f32],
        residual: Option<&[f32]>,
        r0: usize,
        r1: usize,
        output: &mut [f32],
    ) {
        let (clamp, sigmoid_pass) = p.act.for_simd();
        let g = RowGeometry::of(p);
        let (image_in, row_out) = (p.in_h * p.in_w * p.channels, p.out_w * p.channels);
        let mut rows: [Option<&[f32]>; MAX_KERNEL_H] = [None; MAX_KERNEL_H];
        for r in r0..r1 {
            let (b, oy) = (r / p.out_h, r % p.out_h);
            input_rows(p, &input[b * image_in..(b + 1) * image_in], oy, &mut rows);
            let res = residual.map(|x| &x[r * row_out..(r + 1) * row_out]);
            let at = (r - r0) * row_out;
            row::<S>(&g, &rows[..p.win.kernel_h], weights, bias, res, &mut output[at..at + row_out], &clamp);
        }
        if sigmoid_pass {
            for o in output.iter_mut() {
                *o = p.act.apply(*o);
            }
        }
    }

    /// One output row, channel block by channel block: the block's filter taps stay in
    /// registers while the row is swept; columns whose taps all lie inside the row take the
    /// unrolled path (3 and 5 wide kernels), the edges the checked one.
    #[inline(always)]
    pub(crate) fn row<S: Simd>(
        g: &RowGeometry,
        rows: &[Option<&[f32]>],
        weights: &[f32],
        bias: &[f32],
        residual: Option<&[f32]>,
        out: &mut [f32],
        clamp: &AffineClamp,
    ) {
        let c = g.channels;
        let (lo, hi) = g.interior();
        // A last block of exactly half a vector (MobileNetV3's 72, 88, 120, 184 and 200
        // channels on AVX-512) runs as a whole vector of the half width, after the loop: the
        // fast paths take whole vectors only.
        let half = c % S::LANES == <S::Half as Simd>::LANES && <S::Half as Simd>::LANES < S::LANES;
        let blocks_end = if half { c - <S::Half as Simd>::LANES } else { c };
        let mut c0 = 0;
        while c0 < blocks_end {
            let w = S::LANES.min(c - c0);
            channel_block::<S>(g, rows, weights, bias, residual, out, clamp, c0, w, lo, hi);
            c0 += w;
        }
        #[cfg(target_arch = "x86_64")]
        if half {
            // SAFETY: only AVX-512 has a half vector narrower than its own, and a CPU with
            // AVX-512F (this path's `Cpu` level) has AVX2 and FMA.
            unsafe { half_block_avx2(g, rows, weights, bias, residual, out, clamp, blocks_end, lo, hi) };
        }
    }

    /// Channels c0..c0+8 of one output row, in AVX2 vectors. Not inlined: in the AVX-512 row
    /// function, a second set of variants made its 3x3 paths 1.1-1.25x slower.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[inline(never)]
    unsafe fn half_block_avx2(
        g: &RowGeometry,
        rows: &[Option<&[f32]>],
        weights: &[f32],
        bias: &[f32],
        residual: Option<&[f32]>,
        out: &mut [f32],
        clamp: &AffineClamp,
        c0: usize,
        lo: usize,
        hi: usize,
    ) {
        type S = crate::arch::Avx2;
        channel_block::<S>(g, rows, weights, bias, residual, out, clamp, c0, S::LANES, lo, hi);
    }

    /// Channels c0..c0+w of one output row, with the kernel width as a constant where the
    /// interior is unrolled for it.
    #[inline(always)]
    fn channel_block<S: Simd>(
        g: &RowGeometry,
        rows: &[Option<&[f32]>],
        weights: &[f32],
        bias: &[f32],
        residual: Option<&[f32]>,
        out: &mut [f32],
        clamp: &AffineClamp,
        c0: usize,
        w: usize,
        lo: usize,
        hi: usize,
    ) {
        match g.win.kernel_w {
            3 => block::<S, 3>(g, rows, weights, bias, residual, out, clamp, c0, w, lo, hi),
            5 => block::<S, 5>(g, rows, weights, bias, residual, out, clamp, c0, w, lo, hi),
            _ => block::<S, 0>(g, rows, weights, bias, residual, out, clamp, c0, w, lo, hi),
        }
    }

    /// Channels c0..c0+w of one output row. `KW` is the kernel width when it is 3 or 5 (the
    /// interior is then fully unrolled), 0 otherwise.
    #[inline(always)]
    fn block<S: Simd, const KW: usize>(
        g: &RowGeometry,
        rows: &[Option<&[f32]>],
        weights: &[f32],
        bias: &[f32],
        residual: Option<&[f32]>,
        out: &mut [f32],
        clamp: &AffineClamp,
        c0: usize,
        w: usize,
        lo: usize,
        hi: usize,
    ) {
        let bv = S::load_n(&bias[c0..], w);
        let e = Edge { g, rows, weights, residual, clamp, c0, w, bv };
        // Stride 1 and 2 without dilation get interior code that loads each input vector once
        // per kernel row and reuses it for every tap that reads it.
        let stride = if g.win.dilation_w == 1 && g.win.stride_w <= 2 { g.win.stride_w } else { 0 };
        match (rows.len(), KW, w == S::LANES, stride) {
            (3, 3, true, 1) => sweep::<S, 3, 3, true, 1>(&e, lo, hi, out),
            (3, 3, true, 2) => sweep::<S, 3, 3, true, 2>(&e, lo, hi, out),
            (3, 3, true, _) => sweep::<S, 3, 3, true, 0>(&e, lo, hi, out),
            (3, 3, false, _) => sweep::<S, 3, 3, false, 0>(&e, lo, hi, out),
            (5, 5, true, 1) => sweep::<S, 5, 5, true, 1>(&e, lo, hi, out),
            (5, 5, true, 2) => sweep::<S, 5, 5, true, 2>(&e, lo, hi, out),
            (5, 5, true, _) => sweep::<S, 5, 5, true, 0>(&e, lo, hi, out),
            (5, 5, false, _) => sweep::<S, 5, 5, false, 0>(&e, lo, hi, out),
            _ => {
                for ox in 0..g.out_w {
                    edge::<S>(&e, ox, out);
                }
            }
        }
    }

    /// What the edge path and the epilogue of a block need (no closures in SIMD code: a closure
    /// is a function of its own, compiled without the target features, so its intrinsics would
    /// become calls).
    struct Edge<'a, S: Simd> {
        g: &'a RowGeometry,
        rows: &'a [Option<&'a [f32]>],
        weights: &'a [f32],
        residual: Option<&'a [f32]>,
        clamp: &'a AffineClamp,
        c0: usize,
        w: usize,
        bv: S::V,
    }

    /// Output columns computed together: each has its own accumulator, so that their FMA
    /// chains overlap (one column alone would wait on the FMA latency at every tap).
    const COLUMNS: usize = 4;
    /// Columns per block where the row is a multiple of it (see `sweep`).
    const SEVEN: usize = 7;
    /// Columns per block for 5x5 filters at stride 1 (see `sweep`).
    const WIDE_COLUMNS: usize = 8;

    /// A whole output row for one channel block, COLUMNS columns at a time (the last block
    /// overlaps the one before it rather than leaving a tail: recomputing a column writes the
    /// same values). Blocks inside `lo..hi` load without checks; blocks touching the padding
    /// read zeros for the taps that fall outside the row. `STRIDE` is the horizontal stride
    /// when it is 1 or 2 and the kernel is not dilated (0 otherwise).
    #[inline(always)]
    fn sweep<S: Simd, const KH: usize, const KW: usize, const FULL: bool, const STRIDE: usize>(
        e: &Edge<S>,
        lo: usize,
        hi: usize,
        out: &mut [f32],
    ) {
        let (g, c) = (e.g, e.g.channels);
        assert!(e.rows.iter().flatten().all(|r| r.len() >= g.in_w * c), "depthwise: short input row");
        // Small filters stay in registers for the whole row; larger ones (5x5: 25 vectors) would
        // not fit beside the accumulators and are loaded a kernel row at a time.
        let mut taps = [[S::splat(0.0); KW]; KH];
        if KH * KW <= HELD_TAPS {
            for (ky, row) in taps.iter_mut().enumerate() {
                for (kx, t) in row.iter_mut().enumerate() {
                    *t = S::load_n(&e.weights[(ky * KW + kx) * e.g.channels + e.c0..], e.w);
                }
            }
        }
        // Rows of 7, 14, 28, 56 or 112 columns (every MobileNet row at 224x224) go in blocks of
        // 7: no block overlaps another (blocks of 4 compute 8 columns for 7, 16 for 14), and 7
        // accumulators hide the FMA latency better (kernel benches, interleaved A/B: 3x3 at
        // stride 1 0.90-0.98x, 5x5 0.73-0.93x on AVX-512, 0.50-0.97x on AVX2; 3x3 at stride 2
        // 1.01-1.05x, so it keeps blocks of 4). Otherwise: a 5x5 filter does not stay in
        // registers, its taps are loaded a kernel row at a time for every block, and at stride
        // 1 blocks of WIDE_COLUMNS share those loads between twice the columns (14x14x480: 0.80x
        // the time of 4-column blocks); 3x3 filters and stride 2 gained nothing from that.
        if FULL && (STRIDE == 1 || (STRIDE == 2 && KW == 5)) && g.out_w.is_multiple_of(SEVEN) {
            blocks::<S, KH, KW, SEVEN, FULL, STRIDE>(e, &taps, lo, hi, out);
        } else if STRIDE == 1 && FULL && KW == 5 && g.out_w >= WIDE_COLUMNS {
            blocks::<S, KH, KW, WIDE_COLUMNS, FULL, STRIDE>(e, &taps, lo, hi, out);
        } else if g.out_w >= COLUMNS {
            blocks::<S, KH, KW, COLUMNS, FULL, STRIDE>(e, &taps, lo, hi, out);
        } else {
            for ox in 0..g.out_w {
                columns::<S, KH, KW, 1, FULL, true, 0>(e, &taps, ox, out);
            }
        }
    }

    /// The row in blocks of N columns (`out_w >= N`).
    #[inline(always)]
    fn blocks<S: Simd, const KH: usize, const KW: usize, const N: usize, const FULL: bool, const STRIDE: usize>(
        e: &Edge<S>,
        taps: &[[S::V; KW]; KH],
        lo: usize,
        hi: usize,
        out: &mut [f32],
    ) {
        let out_w = e.g.out_w;
        let mut ox = 0;
        loop {
            let start = ox.min(out_w - N);
            if start >= lo && start + N <= hi {
                columns::<S, KH, KW, N, FULL, false, STRIDE>(e, taps, start, out);
            } else {
                columns::<S, KH, KW, N, FULL, true, STRIDE>(e, taps, start, out);
            }
            if start + N == out_w {
                break;
            }
            ox += N;
        }
    }

    /// Output columns ox..ox+N of one channel block, one kernel row's taps at a time in
    /// registers. `FULL`: the block is a whole vector (`w == LANES`). `CHECKED`: some tap may
    /// fall outside the row (it then reads zeros). `STRIDE`: as in [`sweep`]; when set (only
    /// in unchecked full blocks), the kernel row's input vectors are loaded once each.
    #[inline(always)]
    fn columns<
        S: Simd,
        const KH: usize,
        const KW: usize,
        const N: usize,
        const FULL: bool,
        const CHECKED: bool,
        const STRIDE: usize,
    >(
        e: &Edge<S>,
        taps: &[[S::V; KW]; KH],
        ox: usize,
        out: &mut [f32],
    ) {
        let (g, c, c0, w) = (e.g, e.g.channels, e.c0, e.w);
        let zeros = [0f32; ZEROS];
        // Input column of tap 0 of column ox (wrapping below zero: then it is padding), and the
        // distances in the row between taps and between columns, in columns and in floats.
        let ix0 = (ox * g.win.stride_w).wrapping_sub(g.win.pad_left);
        let (tap, column) = (g.win.dilation_w, g.win.stride_w);
        let (tap_step, column_step) = (tap * c, column * c);
        let mut acc = [e.bv; N];
        for ky in 0..KH {
            let Some(row) = e.rows[ky] else { continue };
            let mut wt = taps[ky];
            if KH * KW > HELD_TAPS {
                for (kx, t) in wt.iter_mut().enumerate() {
                    *t = S::load_n(&e.weights[(ky * KW + kx) * c + c0..], w);
                }
            }
            let base = row.as_ptr().wrapping_add(ix0.wrapping_mul(c).wrapping_add(c0));
            if STRIDE != 0 && FULL {
                // The input columns the block reads, ix0 .. ix0 + span, each loaded once (in a
                // checked block, columns outside the row read zeros).
                let span = (N - 1) * STRIDE + KW;
                let mut input = [S::splat(0.0); MAX_SPAN];
                for (j, v) in input.iter_mut().enumerate().take(span) {
                    let ix = ix0.wrapping_add(j);
                    let src = if !CHECKED {
                        base.wrapping_add(j * c)
                    } else if ix < g.in_w {
                        row.as_ptr().wrapping_add(ix * c + c0)
                    } else {
                        zeros.as_ptr()
                    };
                    // SAFETY: unchecked, the block lies in lo..hi, so its last tap, column
                    // ix0 + span - 1 (no dilation), is inside the row, and so is every j < span;
                    // checked, either ix < in_w (inside the row, as below) or src is `zeros`.
                    *v = unsafe { S::load_ptr(src) };
                }
                for (kx, t) in wt.iter().enumerate() {
                    for (n, a) in acc.iter_mut().enumerate() {
                        *a = S::fma(input[n * STRIDE + kx], *t, *a);
                    }
                }
                continue;
            }
            for (kx, t) in wt.iter().enumerate() {
                for (n, a) in acc.iter_mut().enumerate() {
                    let v = if !CHECKED && FULL {
                        // SAFETY: an unchecked block lies in lo..hi, where every tap is inside the
                        // row: ix < in_w, so ix * c + c0 + LANES <= in_w * c <= row.len()
                        // (asserted in `sweep`; the block is full, c0 + LANES <= c).
                        unsafe { S::load_ptr(base.wrapping_add(kx * tap_step + n * column_step)) }
                    } else {
                        let ix = ix0.wrapping_add(kx * tap + n * column);
                        let inside = !CHECKED || ix < g.in_w;
                        if FULL {
                            let src = if inside { row.as_ptr().wrapping_add(ix * c + c0) } else { zeros.as_ptr() };
                            // SAFETY: either ix < in_w, so ix * c + c0 + LANES <= row.len() as
                            // above, or src is `zeros`, which holds at least LANES f32.
                            unsafe { S::load_ptr(src) }
                        } else if inside {
                            S::load_partial(&row[ix * c + c0..], w)
                        } else {
                            S::splat(0.0)
                        }
                    };
                    *a = S::fma(v, *t, *a);
                }
            }
        }
        for (n, a) in acc.iter().enumerate() {
            finish::<S>(e, *a, ox + n, out);
        }
    }

    /// Input columns a block reads at most: SEVEN at stride 2, 5 wide (more than WIDE_COLUMNS
    /// at stride 1 or COLUMNS at stride 2).
    const MAX_SPAN: usize = (SEVEN - 1) * 2 + 5;
    const _: () = assert!(MAX_SPAN >= WIDE_COLUMNS + 4 && MAX_SPAN >= (COLUMNS - 1) * 2 + 5);

    /// Largest filter (in taps) whose taps stay in registers for a whole row.
    const HELD_TAPS: usize = 9;

    /// Length of the zero vector that padding taps read (the widest vector).
    const ZEROS: usize = 16;

    /// Residual, activation, store.
    #[inline(always)]
    fn finish<S: Simd>(e: &Edge<S>, acc: S::V, ox: usize, out: &mut [f32]) {
        let at = ox * e.g.channels + e.c0;
        let acc = match e.residual {
            Some(r) => S::add(acc, S::load_n(&r[at..], e.w)),
            None => acc,
        };
        S::store_n(&mut out[at..], e.w, S::activate(acc, e.clamp));
    }

    /// An output column near the edges: taps checked one by one.
    #[inline(always)]
    fn edge<S: Simd>(e: &Edge<S>, ox: usize, out: &mut [f32]) {
        let (g, c, kw) = (e.g, e.g.channels, e.g.win.kernel_w);
        let mut acc = e.bv;
        for (ky, row) in e.rows.iter().enumerate() {
            let Some(row) = row else { continue };
            for kx in 0..kw {
                let Some(ix) =
                    (ox * g.win.stride_w + kx * g.win.dilation_w).checked_sub(g.win.pad_left).filter(|&ix| ix < g.in_w)
                else {
                    continue;
                };
                let wt = S::load_n(&e.weights[(ky * kw + kx) * c + e.c0..], e.w);
                acc = S::fma(S::load_n(&row[ix * c + e.c0..], e.w), wt, acc);
            }
        }
        finish::<S>(e, acc, ox, out);
    }

    /// One output row with the activation (Sigmoid in a scalar pass), for the fused blocks.
    #[inline(always)]
    pub(crate) fn row_simd<S: Simd>(
        g: &RowGeometry,
        rows: &[Option<&[f32]>],
        weights: &[f32],
        bias: &[f32],
        out: &mut [f32],
        act: crate::act::Act,
    ) {
        let (clamp, sigmoid_pass) = act.for_simd();
        row::<S>(g, rows, weights, bias, None, out, &clamp);
        if sigmoid_pass {
            out.iter_mut().for_each(|v| *v = act.apply(*v));
        }
    }

    simd_entry!(row_entry => row_simd(g: &RowGeometry, rows: &[Option<&[f32]>], weights: &[f32], bias: &[f32], out: &mut [f32], act: crate::act::Act));
    simd_entry!(entry => depthwise_simd(p: &Depthwise, input: &[f32], weights: &[f32], bias: &[f32], residual: Option<&[f32]>, r0: usize, r1: usize, output: &mut [f32]));
}
