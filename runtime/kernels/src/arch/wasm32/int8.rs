//! The 8-bit GEMM and depthwise convolution with simd128, on the packed weights of x86's
//! kernels. simd128 has no byte dot product (relaxed-simd's `i32x4.relaxed_dot_i8x16_i7x16`
//! takes 7-bit operands only), but `i32x4.dot_i16x8_s` multiplies pairs of int16 and adds each
//! pair into one int32, as x86's `vpmaddwd`: bytes are widened to int16 first.
//!
//! GEMM: a packed panel holds, per four `k`, 16 columns x 4 bytes. Eight of those bytes (two
//! columns) widened are `[c0k0..c0k3, c1k0..c1k3]`; a row's four bytes widened and repeated,
//! `[a0..a3, a0..a3]`; their `dot` gives two partial sums per column, added pairwise at the end
//! of the tile. Tile: 2 rows x 8 columns (8 accumulators, which V8 keeps in the host's 16 xmm
//! registers with the weights and the rows).
//!
//! Depthwise: the packed pair layout is `dot`'s already (per pair of taps and 4 channels, each
//! channel's two weights side by side), so two taps' inputs interleaved by one shuffle meet
//! their weights directly.
//!
//! Epilogue (both): `quant::requantize`, int32 -> f32, multiply, clamp, round to nearest even
//! (`f32x4.nearest`), plus the zero point, saturating narrows to bytes.

use core::arch::wasm32::*;
use core::ops::Range;

use crate::int8::Requant;
use crate::int8::depthwise::{BLOCK, MAX_TAPS, QDepthwise, column, tap_at};
use crate::int8::gemm::{NR, QGemm, padded};

/// The requantisation of 8 int32 (two vectors) into the low 8 bytes of a vector.
struct Epilogue {
    lo: v128,
    hi: v128,
    zero: v128,
}

impl Epilogue {
    fn new(r: &Requant) -> Self {
        let (lo, hi) = r.bounds();
        Self { lo: f32x4_splat(lo), hi: f32x4_splat(hi), zero: i32x4_splat(r.zero_point) }
    }

    #[inline(always)]
    fn round(&self, acc: v128, mult: v128) -> v128 {
        // The values are finite: pmax/pmin are the scalar clamp here.
        let f = f32x4_pmin(self.hi, f32x4_pmax(self.lo, f32x4_mul(f32x4_convert_i32x4(acc), mult)));
        i32x4_add(i32x4_trunc_sat_f32x4(f32x4_nearest(f)), self.zero)
    }

    #[inline(always)]
    fn bytes(&self, acc: [v128; 2], mult: [v128; 2]) -> v128 {
        let words = i16x8_narrow_i32x4(self.round(acc[0], mult[0]), self.round(acc[1], mult[1]));
        u8x16_narrow_i16x8(words, words)
    }
}

/// Stores the low `n` (at most 8) bytes of `v` at `out`.
///
/// # Safety
/// `out` is writable for `n` bytes.
#[inline(always)]
unsafe fn store8(out: *mut u8, v: v128, n: usize) {
    // SAFETY: as this function's contract.
    unsafe {
        if n == 8 {
            v128_store64_lane::<0>(v, out.cast());
        } else {
            let mut part = [0u8; 16];
            v128_store(part.as_mut_ptr().cast(), v);
            core::ptr::copy_nonoverlapping(part.as_ptr(), out, n);
        }
    }
}

/// `int8::gemm`'s rows `rows` with simd128. The slices satisfy `int8::gemm::check` for `p`, and
/// `out` holds the rows `rows` (`rows.len() * n` bytes).
pub(crate) fn qgemm(p: &QGemm, a: &[u8], b: &[i8], consts: &[i32], mult: &[f32], rows: Range<usize>, out: &mut [u8]) {
    let n = p.n;
    let (bias, w_zero) = consts.split_at(padded(n));
    let ep = Epilogue::new(&p.requant);
    let first = rows.start;
    let mut i = rows.start;
    while i < rows.end {
        if rows.end - i >= 2 {
            tile::<2>(p, a, b, bias, w_zero, mult, &ep, i, &mut out[(i - first) * n..][..2 * n]);
            i += 2;
        } else {
            tile::<1>(p, a, b, bias, w_zero, mult, &ep, i, &mut out[(i - first) * n..][..n]);
            i += 1;
        }
    }
}

/// Rows `row..row + R` of the product, all columns, into `out` (`R * n` bytes).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn tile<const R: usize>(
    p: &QGemm,
    a: &[u8],
    b: &[i8],
    bias: &[i32],
    w_zero: &[i32],
    mult: &[f32],
    ep: &Epilogue,
    row: usize,
    out: &mut [u8],
) {
    let (k, n, k4) = (p.k, p.n, p.k.div_ceil(4));
    let rows: [&[u8]; R] = core::array::from_fn(|r| &a[(row + r) * k..][..k]);
    // Each row's byte sum times the column's zero point is subtracted (weights with zero points).
    let sums: [i32; R] = core::array::from_fn(|r| if p.row_sums { rows[r].iter().map(|&v| v as i32).sum() } else { 0 });
    // The last 1-3 bytes of each row, zero-padded (the packed weights there are zero too).
    let tails: [[u8; 4]; R] = core::array::from_fn(|r| {
        let mut four = [0u8; 4];
        four[..k % 4].copy_from_slice(&rows[r][k / 4 * 4..]);
        four
    });
    // Four bytes at `at`, widened to int16 and repeated.
    // SAFETY (callers): `at` points at four readable bytes.
    let group = |at: *const u8| u16x8_extend_low_u8x16(unsafe { v128_load32_splat(at.cast()) });
    for panel in 0..padded(n) / NR {
        for half in 0..2 {
            let col0 = panel * NR + half * 8;
            if col0 >= n {
                break;
            }
            let mut acc = [[i32x4_splat(0); 4]; R];
            // SAFETY: the packed panel holds k4 groups of 16 columns x 4 bytes (`check`); the
            // two loads read columns col0..col0 + 8 of group kq.
            let bp = unsafe { b.as_ptr().add(panel * k4 * NR * 4 + half * 32) };
            // One group of four `k`: `a4[r]` points at row r's four bytes.
            let mut step = |kq: usize, a4: [*const u8; R]| {
                let (w0, w1) = unsafe {
                    let g = bp.add(kq * NR * 4);
                    (v128_load(g.cast()), v128_load(g.add(16).cast()))
                };
                let w = [
                    i16x8_extend_low_i8x16(w0),
                    i16x8_extend_high_i8x16(w0),
                    i16x8_extend_low_i8x16(w1),
                    i16x8_extend_high_i8x16(w1),
                ];
                for (acc, at) in acc.iter_mut().zip(a4) {
                    let av = group(at);
                    for (acc, w) in acc.iter_mut().zip(w) {
                        *acc = i32x4_add(*acc, i32x4_dot_i16x8(av, w));
                    }
                }
            };
            for kq in 0..k / 4 {
                // SAFETY: kq * 4 + 4 <= k, inside each row.
                step(kq, core::array::from_fn(|r| unsafe { rows[r].as_ptr().add(kq * 4) }));
            }
            if k % 4 != 0 {
                step(k / 4, core::array::from_fn(|r| tails[r].as_ptr()));
            }
            // SAFETY: bias, zero points and multipliers hold padded(n) entries.
            let (b4, z4, m4): ([v128; 2], [v128; 2], [v128; 2]) = unsafe {
                (
                    core::array::from_fn(|h| v128_load(bias.as_ptr().add(col0 + 4 * h).cast())),
                    core::array::from_fn(|h| v128_load(w_zero.as_ptr().add(col0 + 4 * h).cast())),
                    core::array::from_fn(|h| v128_load(mult.as_ptr().add(col0 + 4 * h).cast())),
                )
            };
            for (r, acc) in acc.iter().enumerate() {
                // Each column's two partial sums, added: columns 4h..4h + 3 of the eight.
                let cols: [v128; 2] = core::array::from_fn(|h| {
                    let (x, y) = (acc[2 * h], acc[2 * h + 1]);
                    let sum = i32x4_add(i32x4_shuffle::<0, 2, 4, 6>(x, y), i32x4_shuffle::<1, 3, 5, 7>(x, y));
                    i32x4_sub(i32x4_add(sum, b4[h]), i32x4_mul(z4[h], i32x4_splat(sums[r])))
                });
                let o = &mut out[r * n + col0..r * n + n];
                // SAFETY: `o` holds min(8, n - col0) bytes.
                unsafe { store8(o.as_mut_ptr(), ep.bytes(cols, m4), o.len().min(8)) };
            }
        }
    }
}

/// One output row of `int8::depthwise` with simd128, 8 channels at a time. `rows[ky]` holds
/// the window row ky (`in_w * channels` bytes) or is empty; weights, bias and multipliers
/// satisfy `int8::depthwise::check`; `out` holds one output row; at most `MAX_TAPS` taps.
pub(crate) fn depthwise_row(p: &QDepthwise, rows: &[&[u8]], w: &[i16], bias: &[i32], mult: &[f32], out: &mut [u8]) {
    let c = p.channels;
    let (kw, taps) = (p.win.kernel_w, p.win.kernel_h * p.win.kernel_w);
    let pairs = taps.div_ceil(2);
    let ep = Epilogue::new(&p.requant);
    // The bytes a tap outside the image reads (whatever the channel group).
    let outside = [p.x_zero as u8; 8];
    // Tap t's 8 channels from `ch` of pixel `ox`, widened.
    let load = |t: usize, ox: usize, ch: usize, n: usize| -> v128 {
        if t >= taps {
            return i16x8_splat(0);
        }
        let row = rows.get(t / kw).copied().unwrap_or(&[]);
        let bytes: &[u8] = match column(p, ox, t % kw) {
            Some(x) if !row.is_empty() => &row[x + ch..][..n],
            _ => &outside[..n],
        };
        if n == 8 {
            // SAFETY: `bytes` holds 8 bytes.
            unsafe { u16x8_load_extend_u8x8(bytes.as_ptr()) }
        } else {
            let mut part = [0u8; 8];
            part[..n].copy_from_slice(bytes);
            // SAFETY: `part` holds 8 bytes.
            unsafe { u16x8_load_extend_u8x8(part.as_ptr()) }
        }
    };
    // Interior pixels (every tap inside the image) read each tap at its row's pointer plus a
    // fixed offset (`slots`, in pair order) plus the pixel's column: no checks per tap.
    let all_rows = (0..p.win.kernel_h).all(|ky| rows.get(ky).is_some_and(|r| !r.is_empty()));
    let span = (kw - 1) * p.win.dilation_w;
    let slots: [*const u8; MAX_TAPS] = core::array::from_fn(|s| {
        let t = tap_at(s, taps);
        match rows.get(t / kw) {
            Some(r) if s < taps => r.as_ptr().wrapping_add((t % kw) * p.win.dilation_w * c),
            _ => core::ptr::null(),
        }
    });
    for ch in (0..c).step_by(8) {
        let n = (c - ch).min(8);
        let (block, lane) = (ch / BLOCK, ch % BLOCK / 8);
        // Per pair, the weights of channels ch..ch + 4 and ch + 4..ch + 8 (`packed_at`).
        let mut wt = [[i16x8_splat(0); 2]; MAX_TAPS.div_ceil(2)];
        for (pr, wv) in wt.iter_mut().enumerate().take(pairs) {
            let at = (block * pairs + pr) * 64 + lane * 8;
            // SAFETY: the packed weights hold `pairs` pairs of 64 per block (`check`).
            *wv = unsafe { [v128_load(w.as_ptr().add(at).cast()), v128_load(w.as_ptr().add(at + 32).cast())] };
        }
        let at = block * BLOCK + lane * 4;
        // SAFETY: bias and multipliers hold whole blocks (`check`).
        let (start, m) = unsafe {
            (
                [v128_load(bias.as_ptr().add(at).cast()), v128_load(bias.as_ptr().add(at + 16).cast())],
                [v128_load(mult.as_ptr().add(at).cast()), v128_load(mult.as_ptr().add(at + 16).cast())],
            )
        };
        for ox in 0..p.out_w {
            let mut acc = start;
            let x0 = (ox * p.win.stride_w).wrapping_sub(p.win.pad_left);
            if all_rows && n == 8 && x0 < p.in_w && x0 + span < p.in_w {
                let at = x0 * c + ch;
                // SAFETY: every tap of this pixel is inside its row, 8 channels from ch.
                let tap = |s: usize| unsafe { u16x8_load_extend_u8x8(slots[s].add(at)) };
                for (pr, wv) in wt.iter().enumerate().take(pairs) {
                    let x1 = if 2 * pr + 1 < taps { tap(2 * pr + 1) } else { i16x8_splat(0) };
                    let (x0, x1) = (tap(2 * pr), x1);
                    let lo = i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(x0, x1);
                    let hi = i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(x0, x1);
                    acc[0] = i32x4_add(acc[0], i32x4_dot_i16x8(lo, wv[0]));
                    acc[1] = i32x4_add(acc[1], i32x4_dot_i16x8(hi, wv[1]));
                }
                // SAFETY: the row holds this pixel's 8 channels from ch.
                unsafe { store8(out.as_mut_ptr().add(ox * c + ch), ep.bytes(acc, m), 8) };
                continue;
            }
            for (pr, wv) in wt.iter().enumerate().take(pairs) {
                let x0 = load(tap_at(2 * pr, taps), ox, ch, n);
                let x1 = load(tap_at(2 * pr + 1, taps), ox, ch, n);
                let lo = i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(x0, x1);
                let hi = i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(x0, x1);
                acc[0] = i32x4_add(acc[0], i32x4_dot_i16x8(lo, wv[0]));
                acc[1] = i32x4_add(acc[1], i32x4_dot_i16x8(hi, wv[1]));
            }
            let o = &mut out[ox * c + ch..][..n];
            // SAFETY: `o` holds n bytes.
            unsafe { store8(o.as_mut_ptr(), ep.bytes(acc, m), n) };
        }
    }
}
