//! Matrix multiply with a fused epilogue: `out = act(a · b + bias + residual)`.
//!
//! Serves 1x1 convolutions (a = NHWC pixels × input channels) and fully connected layers. `b`
//! is packed at compile time by [`pack_b`]: output channels padded with zeros to a multiple of
//! [`COLUMN_ALIGN`] (so every vector load in the inner loop is a full one), then cut into panels
//! of [`PANEL`] columns stored one after the other, each `[k][panel width]`, so that a tile
//! streams its part of `b` sequentially. The bias is padded the same way. The SIMD microkernel
//! keeps a tile of up to 4 rows × 4 vectors of outputs in registers, streams the rows of `b`
//! once per tile, and applies bias, residual and activation before the only store of each
//! output.

use crate::act::Act;
use crate::check::{Check, ensure, expect, opt_is};
use crate::cpu::Cpu;
use crate::threads::Threads;

/// Output channels of packed `b` rows (and of the bias) are padded to a multiple of this.
pub const COLUMN_ALIGN: usize = 16;

/// Columns per panel of packed `b` (the last panel may be narrower, a multiple of
/// `COLUMN_ALIGN`). A register tile covers a panel or half of one.
pub const PANEL: usize = 64;

/// `a` is `[m][k]`, `out` and `residual` are `[m][n]`, `b` is packed `[k][padded(n)]`, `bias`
/// is `[padded(n)]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gemm {
    /// Rows of `a` and of the output.
    pub m: usize,
    /// Columns of `a`, rows of `b`.
    pub k: usize,
    /// Columns of `b` and of the output.
    pub n: usize,
    /// Activation applied last.
    pub act: Act,
}

/// `n` rounded up to a multiple of [`COLUMN_ALIGN`].
pub const fn padded(n: usize) -> usize {
    n.div_ceil(COLUMN_ALIGN) * COLUMN_ALIGN
}

/// Length of `b` packed for `k` rows and `n` columns.
pub const fn packed_b_len(k: usize, n: usize) -> usize {
    k * padded(n)
}

/// Where column `n0` of row `kk` of packed `b` is, and the row stride of its panel.
#[inline(always)]
pub(crate) fn b_index(k: usize, n: usize, kk: usize, n0: usize) -> (usize, usize) {
    let panel = n0 / PANEL;
    let width = PANEL.min(padded(n) - panel * PANEL);
    (panel * PANEL * k + kk * width + (n0 - panel * PANEL), width)
}

/// Packs a row-major `[k][n]` matrix into `out` (`packed_b_len(k, n)` elements).
pub fn pack_b(b: &[f32], k: usize, n: usize, out: &mut [f32]) {
    assert_eq!(b.len(), k * n, "pack_b: b");
    assert_eq!(out.len(), packed_b_len(k, n), "pack_b: out");
    out.fill(0.0);
    for kk in 0..k {
        for j in 0..n {
            out[b_index(k, n, kk, j).0] = b[kk * n + j];
        }
    }
}

/// Where the `k` x `n` matrix a product multiplies by lies in a larger packed matrix: rows
/// `k0..k0 + k` and columns `n0..n0 + n` of `b` packed for `rows` rows and `cols` columns. A
/// thread that owns some hidden channels of a fused block multiplies by its columns of the
/// expand matrix and by its rows of the project matrix, where the compiler packed them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct View {
    /// Rows of the packed matrix.
    pub rows: usize,
    /// Columns of the packed matrix.
    pub cols: usize,
    /// First row used.
    pub k0: usize,
    /// A multiple of [`COLUMN_ALIGN`].
    pub n0: usize,
}

impl View {
    /// All of `b`.
    pub const fn whole(p: &Gemm) -> View {
        View { rows: p.k, cols: p.n, k0: 0, n0: 0 }
    }
}

/// What `gemm_parallel` (and `gemm`, on one thread) requires: `a` is `m x k`, `b` packed
/// `k x n`, `bias` padded, `residual` and `out` `m x n`.
pub fn check(
    _threads: usize,
    p: &Gemm,
    a: usize,
    b: usize,
    bias: Option<usize>,
    residual: Option<usize>,
    out: usize,
) -> Check {
    check_view(p, &View::whole(p), a, b, bias, residual, out)
}

/// What `gemm_view` requires.
pub fn check_view(
    p: &Gemm,
    view: &View,
    a: usize,
    b: usize,
    bias: Option<usize>,
    residual: Option<usize>,
    out: usize,
) -> Check {
    ensure!(a == p.m * p.k, "gemm: a");
    ensure!(b == packed_b_len(view.rows, view.cols), "gemm: b (packed)");
    ensure!(view.k0 + p.k <= view.rows && view.n0 + p.n <= view.cols, "gemm: view outside b");
    ensure!(view.n0.is_multiple_of(COLUMN_ALIGN), "gemm: view's first column not aligned");
    ensure!(out == p.m * p.n, "gemm: out");
    ensure!(opt_is(bias, padded(view.cols)), "gemm: bias (padded)");
    ensure!(opt_is(residual, p.m * p.n), "gemm: residual");
    Ok(())
}

/// What `gated_parallel` requires (`scratch` holds the gated `b`).
pub fn check_gated(
    threads: usize,
    p: &Gemm,
    images: usize,
    a: usize,
    b: usize,
    gate: usize,
    bias: Option<usize>,
    residual: Option<usize>,
    out: usize,
    scratch: usize,
) -> Check {
    ensure!(images > 0 && p.m.is_multiple_of(images), "gated gemm: rows are not a whole number of images");
    ensure!(gate == images * p.k, "gated gemm: gate");
    ensure!(scratch == b, "gated gemm: scratch");
    check(threads, p, a, b, bias, residual, out)
}

/// `out = act(a · b + bias + residual)` on one thread.
pub fn gemm(cpu: Cpu, p: &Gemm, a: &[f32], b: &[f32], bias: Option<&[f32]>, residual: Option<&[f32]>, out: &mut [f32]) {
    gemm_view(cpu, p, &View::whole(p), a, b, bias, residual, out)
}

/// `gemm` by the part `view` of a larger packed `b` (whose padded `bias` it also indexes at
/// `view.n0`).
#[allow(clippy::too_many_arguments)]
pub fn gemm_view(
    cpu: Cpu,
    p: &Gemm,
    view: &View,
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    out: &mut [f32],
) {
    expect(check_view(p, view, a.len(), b.len(), bias.map(<[f32]>::len), residual.map(<[f32]>::len), out.len()));
    if p.m == 0 || p.n == 0 {
        return;
    }
    let bias = bias.map(|b| &b[view.n0..]);
    dispatch!(cpu, entry, scalar(p, view, a, b, bias, residual, out), (p, view, a, b, bias, residual, out));
}

/// The same, with the rows of `a` (pixels) split across `threads`.
pub fn gemm_parallel(
    threads: &Threads,
    cpu: Cpu,
    p: &Gemm,
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    out: &mut [f32],
) {
    if threads.count() == 1 {
        return gemm(cpu, p, a, b, bias, residual, out);
    }
    expect(check(threads.count(), p, a.len(), b.len(), bias.map(<[f32]>::len), residual.map(<[f32]>::len), out.len()));
    let (k, n) = (p.k, p.n);
    if p.m == 1 {
        // One row (a classifier, an SE layer) has no rows to share: the threads take panels
        // of columns instead, each reading its part of b (these layers wait on memory, and
        // each core brings its own bandwidth).
        return threads.for_ranges(n, PANEL, out, &|cols, out| {
            // Whole panels from cols.start: the packing of a matrix of just these columns.
            let part = Gemm { n: cols.len(), ..*p };
            let b = &b[cols.start * k..cols.start * k + packed_b_len(k, cols.len())];
            let bias = bias.map(|x| &x[cols.start..cols.start + padded(cols.len())]);
            let res = residual.map(|r| &r[cols.clone()]);
            gemm(cpu, &part, a, b, bias, res, out)
        });
    }
    threads.for_rows(p.m, 8, out, n, &|rows, out| {
        let part = Gemm { m: rows.len(), ..*p };
        let res = residual.map(|r| &r[rows.start * n..rows.end * n]);
        gemm(cpu, &part, &a[rows.start * k..rows.end * k], b, bias, res, out)
    });
}

/// `out = act((a ⊙ gate) · b + bias + residual)` over `images` images whose rows of `a` (m / images
/// each) have their k columns multiplied by the image's `gate` (`[images][k]`: the channel
/// weights a squeeze-and-excitation branch computes). Scaling the rows of `b` instead, once per
/// image into `scratch` (`packed_b_len(k, n)`), costs k·n multiplies where scaling `a` costs m·k
/// and a pass over memory; the compiler picks this form when n < m / images.
pub fn gated_parallel(
    threads: &Threads,
    cpu: Cpu,
    p: &Gemm,
    images: usize,
    a: &[f32],
    b: &[f32],
    gate: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut [f32],
) {
    expect(check_gated(
        threads.count(),
        p,
        images,
        a.len(),
        b.len(),
        gate.len(),
        bias.map(<[f32]>::len),
        residual.map(<[f32]>::len),
        out.len(),
        scratch.len(),
    ));
    let rows = p.m / images;
    let one = Gemm { m: rows, ..*p };
    for (i, g) in gate.chunks_exact(p.k).enumerate() {
        scale_b_rows(b, g, p.k, p.n, scratch);
        let (a_rows, out_rows) = (i * rows * p.k..(i + 1) * rows * p.k, i * rows * p.n..(i + 1) * rows * p.n);
        let res = residual.map(|r| &r[out_rows.clone()]);
        gemm_parallel(threads, cpu, &one, &a[a_rows], scratch, bias, res, &mut out[out_rows]);
    }
}

/// `out` = packed `b` with row kk multiplied by `gate[kk]` (the same packing).
fn scale_b_rows(b: &[f32], gate: &[f32], k: usize, n: usize, out: &mut [f32]) {
    let mut panel = 0;
    while panel < padded(n) {
        let width = PANEL.min(padded(n) - panel);
        let base = panel * k;
        for (kk, &g) in gate.iter().enumerate() {
            let at = base + kk * width;
            for (o, &v) in out[at..at + width].iter_mut().zip(&b[at..at + width]) {
                *o = v * g;
            }
        }
        panel += width;
    }
}

/// The reference: one output row at a time.
/// `bias` starts at the view's first column.
pub(crate) fn scalar(
    p: &Gemm,
    view: &View,
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    out: &mut [f32],
) {
    let (k, n) = (p.k, p.n);
    for i in 0..p.m {
        let row = &mut out[i * n..][..n];
        match bias {
            Some(bias) => row.copy_from_slice(&bias[..n]),
            None => row.fill(0.0),
        }
        for kk in 0..k {
            let av = a[i * k + kk];
            // One panel's part of row kk at a time.
            let mut j = 0;
            while j < n {
                let (at, width) = b_index(view.rows, view.cols, view.k0 + kk, view.n0 + j);
                let run = (width - (view.n0 + j) % PANEL).min(n - j);
                for (o, &bv) in row[j..j + run].iter_mut().zip(&b[at..at + run]) {
                    *o += av * bv;
                }
                j += run;
            }
        }
        if let Some(r) = residual {
            for (o, &rv) in row.iter_mut().zip(&r[i * n..][..n]) {
                *o += rv;
            }
        }
        for o in row.iter_mut() {
            *o = p.act.apply(*o);
        }
    }
}

#[cfg(kernel_simd)]
use simd::*;

#[cfg(kernel_simd)]
pub(crate) mod simd {
    use super::{Gemm, PANEL, View, b_index};
    use crate::act::AffineClamp;
    use crate::simd::Simd;

    /// Register tile: up to `S::GEMM_COLS` vectors of output channels by up to `S::GEMM_ROWS`
    /// rows; on x86 4 x 4 (16 accumulators). More row variants would be faster on narrow
    /// layers, but every variant is code, and the instruction cache is what the fused blocks
    /// then run out of. Variants beyond an ISA's tile are pruned at compile time (the `S::`
    /// conditions below are constants).
    /// Rows of a tile one vector wide.
    const NARROW_ROWS: usize = 8;

    // Inlined into each #[target_feature] entry point, so the intrinsics compile with it.
    #[inline(always)]
    pub(crate) fn gemm_simd<S: Simd>(
        p: &Gemm,
        view: &View,
        a: &[f32],
        b: &[f32],
        bias: Option<&[f32]>,
        residual: Option<&[f32]>,
        out: &mut [f32],
    ) {
        let (clamp, sigmoid_pass) = p.act.for_simd();
        let mut n0 = 0;
        while n0 < p.n {
            // A strip stays inside one panel of `b` (a view may start mid-panel).
            let width = (S::GEMM_COLS * S::LANES).min(p.n - n0).min(PANEL - (view.n0 + n0) % PANEL);
            let nv = width.div_ceil(S::LANES);
            // The last strip of an `n` that is 8 past a multiple of 16 (24, 40, 72, 1000, ...)
            // ends in a half vector: with AVX-512 it gets an 8-lane one, half the FMA cost of
            // a zmm that is half padding. (For AVX2, Half has all the lanes: never true.)
            let half_tail = width % S::LANES == <S::Half as Simd>::LANES;
            let mut m0 = 0;
            while m0 < p.m {
                let t = Tile { p, view, a, b, bias, residual, m0, n0, width, clamp: &clamp };
                // A one-vector strip (n <= 16 on AVX-512) takes 8 rows at a time while it can:
                // 4 rows would be only 4 accumulators, one FMA latency's worth.
                if nv == 1 && !half_tail && p.m - m0 >= NARROW_ROWS {
                    if width == S::LANES {
                        tile::<S, NARROW_ROWS, 1, true, false>(&t, out);
                    } else {
                        tile::<S, NARROW_ROWS, 1, false, false>(&t, out);
                    }
                    m0 += NARROW_ROWS;
                    continue;
                }
                let r = S::GEMM_ROWS.min(p.m - m0);
                match (nv, half_tail) {
                    (4, true) if S::GEMM_COLS >= 4 => rows::<S, 3, true, true>(&t, r, out),
                    (3, true) if S::GEMM_COLS >= 3 => rows::<S, 2, true, true>(&t, r, out),
                    (2, true) => rows::<S, 1, true, true>(&t, r, out),
                    (_, true) => rows::<S, 0, true, true>(&t, r, out),
                    (4, false) if S::GEMM_COLS >= 4 => dispatch_rows::<S, 4>(&t, r, out),
                    (3, false) if S::GEMM_COLS >= 3 => dispatch_rows::<S, 3>(&t, r, out),
                    (2, false) => dispatch_rows::<S, 2>(&t, r, out),
                    (_, false) => dispatch_rows::<S, 1>(&t, r, out),
                }
                m0 += r;
            }
            n0 += width;
        }
        if sigmoid_pass {
            for o in out.iter_mut() {
                *o = p.act.apply(*o);
            }
        }
    }

    struct Tile<'a> {
        p: &'a Gemm,
        view: &'a View,
        a: &'a [f32],
        b: &'a [f32],
        bias: Option<&'a [f32]>,
        residual: Option<&'a [f32]>,
        m0: usize,
        n0: usize,
        /// Output columns of this tile (the last vector may be partial).
        width: usize,
        clamp: &'a AffineClamp,
    }

    /// The row count and full width of a tile as constants, so that each variant is fully
    /// unrolled and its epilogue has no per-vector checks.
    #[inline(always)]
    fn dispatch_rows<S: Simd, const NV: usize>(t: &Tile, r: usize, out: &mut [f32]) {
        if t.width == NV * S::LANES {
            rows::<S, NV, true, false>(t, r, out)
        } else {
            rows::<S, NV, false, false>(t, r, out)
        }
    }

    #[inline(always)]
    fn rows<S: Simd, const NV: usize, const FULL: bool, const HALF: bool>(t: &Tile, r: usize, out: &mut [f32]) {
        match r {
            8 if S::GEMM_ROWS >= 8 => tile::<S, 8, NV, FULL, HALF>(t, out),
            7 if S::GEMM_ROWS >= 7 => tile::<S, 7, NV, FULL, HALF>(t, out),
            6 if S::GEMM_ROWS >= 6 => tile::<S, 6, NV, FULL, HALF>(t, out),
            5 if S::GEMM_ROWS >= 5 => tile::<S, 5, NV, FULL, HALF>(t, out),
            4 => tile::<S, 4, NV, FULL, HALF>(t, out),
            3 => tile::<S, 3, NV, FULL, HALF>(t, out),
            2 => tile::<S, 2, NV, FULL, HALF>(t, out),
            _ => tile::<S, 1, NV, FULL, HALF>(t, out),
        }
    }

    /// Rows m0..m0+R, NV vectors of columns from n0, then (`HALF`) one half-width vector.
    /// Packed `b` and the bias are padded, so the inner loop only does full loads; only the
    /// epilogue of the last columns is partial (never with `HALF`: the half vector is exact).
    #[inline(always)]
    fn tile<S: Simd, const R: usize, const NV: usize, const FULL: bool, const HALF: bool>(t: &Tile, out: &mut [f32]) {
        let p = t.p;
        let (k, n) = (p.k, p.n);
        let h_at = NV * S::LANES; // where the half vector starts, relative to n0
        let cols = h_at + if HALF { <S::Half as Simd>::LANES } else { 0 };
        let mut init = [S::splat(0.0); NV];
        let mut init_h = <S::Half as Simd>::splat(0.0);
        if let Some(bias) = t.bias {
            for (v, x) in init.iter_mut().enumerate() {
                *x = S::load(&bias[t.n0 + v * S::LANES..]);
            }
            if HALF {
                init_h = <S::Half as Simd>::load(&bias[t.n0 + h_at..]);
            }
        }
        let mut acc = [init; R];
        let mut acc_h = [[init_h]; R];
        let rows: [&[f32]; R] = core::array::from_fn(|r| &t.a[(t.m0 + r) * k..][..k]);
        // This tile's columns of b: `k` runs of `cols` floats, `stride` apart, within one panel.
        let (start, stride) = b_index(t.view.rows, t.view.cols, t.view.k0, t.view.n0 + t.n0);
        let b = &t.b[start..start + (k - 1) * stride + cols];
        // The k loop reads through pointers: `b` holds `(k - 1) * stride + cols` floats (sliced
        // above, so row kk's `cols` columns are in it for every kk < k) and each row of `a`
        // `k` (sliced above). Slices here cost a bounds check and, on wasm, the `chunks`
        // bookkeeping per k, which showed in the engine's code around every 4-lane step.
        let bp = b.as_ptr();
        let ap: [*const f32; R] = rows.map(<[f32]>::as_ptr);
        // Four k at a time where the ISA splats lanes (NEON's FMA by lane): one load of four
        // values per row, then each lane times row kk of b. The other ISAs take the loop below
        // for every k, each value broadcast from memory.
        let mut k4 = 0;
        if S::SPLAT_LANES {
            while k4 + 4 <= k {
                // SAFETY: k4 + 4 <= k values of each row, row k4 + j < k of b (see above).
                let a4: [[S::V; 4]; R] =
                    core::array::from_fn(|r| S::splat_lanes(unsafe { S::load_ptr(ap[r].add(k4)) }));
                for j in 0..4 {
                    let brow = unsafe { bp.add((k4 + j) * stride) };
                    let bv: [S::V; NV] = core::array::from_fn(|v| unsafe { S::load_ptr(brow.add(v * S::LANES)) });
                    for r in 0..R {
                        for v in 0..NV {
                            acc[r][v] = S::fma(a4[r][j], bv[v], acc[r][v]);
                        }
                        if HALF {
                            let bh = unsafe { <S::Half as Simd>::load_ptr(brow.add(h_at)) };
                            acc_h[r][0] = <S::Half as Simd>::fma(S::low_half(a4[r][j]), bh, acc_h[r][0]);
                        }
                    }
                }
                k4 += 4;
            }
        }
        for kk in k4..k {
            // SAFETY: kk < k: row kk of b and value kk of each row are inside their slices.
            let brow = unsafe { bp.add(kk * stride) };
            let bv: [S::V; NV] = core::array::from_fn(|v| unsafe { S::load_ptr(brow.add(v * S::LANES)) });
            let bh = if HALF { unsafe { <S::Half as Simd>::load_ptr(brow.add(h_at)) } } else { init_h };
            for r in 0..R {
                let av = S::splat(unsafe { *ap[r].add(kk) });
                for v in 0..NV {
                    acc[r][v] = S::fma(av, bv[v], acc[r][v]);
                }
                if HALF {
                    acc_h[r][0] = <S::Half as Simd>::fma(S::low_half(av), bh, acc_h[r][0]);
                }
            }
        }
        // The epilogue in straight-line passes over the tile, each decision taken once.
        if let Some(res) = t.residual {
            for (r, acc) in acc.iter_mut().enumerate() {
                for (v, x) in acc.iter_mut().enumerate() {
                    let at = (t.m0 + r) * n + t.n0 + v * S::LANES;
                    let w = if FULL { S::LANES } else { (t.width - v * S::LANES).min(S::LANES) };
                    *x = S::add(*x, S::load_n(&res[at..], w));
                }
            }
            if HALF {
                for (r, x) in acc_h.iter_mut().enumerate() {
                    let at = (t.m0 + r) * n + t.n0 + h_at;
                    x[0] = <S::Half as Simd>::add(x[0], <S::Half as Simd>::load(&res[at..]));
                }
            }
        }
        S::activate_tile(&mut acc, t.clamp);
        if HALF {
            <S::Half as Simd>::activate_tile(&mut acc_h, t.clamp);
        }
        for (r, acc) in acc.iter().enumerate() {
            for (v, x) in acc.iter().enumerate() {
                let at = (t.m0 + r) * n + t.n0 + v * S::LANES;
                if FULL {
                    S::store(&mut out[at..], *x);
                } else {
                    S::store_n(&mut out[at..], (t.width - v * S::LANES).min(S::LANES), *x);
                }
            }
        }
        if HALF {
            for (r, x) in acc_h.iter().enumerate() {
                <S::Half as Simd>::store(&mut out[(t.m0 + r) * n + t.n0 + h_at..], x[0]);
            }
        }
    }

    simd_entry!(entry => gemm_simd(p: &Gemm, view: &View, a: &[f32], b: &[f32], bias: Option<&[f32]>, residual: Option<&[f32]>, out: &mut [f32]));
}
