//! The 8-bit GEMM with NEON's dot product (FEAT_DotProd, ARMv8.2: `sdot`), the aarch64
//! counterpart of x86's `qgemm_vnni`, on the same packed weights.
//!
//! `sdot vd.4s, vn.16b, vm.4b[j]` adds to each of 4 int32 lanes the dot product of 4 int8 of
//! `vn` with the 4 int8 of lane j of `vm`. A packed panel holds, per four `k`, 16 columns x 4
//! bytes: four vectors of 4 columns, each exactly `vn`'s layout. A row's 16 bytes of `a` (four
//! groups of four `k`) sit in one register and each group is taken by lane: per 16 `k`, one
//! load per row, four per panel and group, and 16 `sdot` per row and panel.
//!
//! `sdot` multiplies signed by signed; `a` is u8. The kernel flips each byte's top bit (`a -
//! 128` as int8) and starts the accumulators at `bias' + 128 * colsum(b)`, which the same
//! instruction computes from a row of ones once per panel: the sum then is exactly x86's
//! `vpdpbusd` sum (u8 by int8). (`usdot`, u8 by int8 directly, needs FEAT_I8MM, which fewer
//! cores have.)
//!
//! Tile: 4 rows x 1 panel (16 columns) = 16 accumulators, 4 vectors of b, 4 of a: 24 of the 32
//! registers. The epilogue is the scalar requantisation lane by lane (`quant::requantize`):
//! int32 -> f32, multiply, clamp, round to nearest even (`fcvtns`), plus the zero point.

use core::arch::aarch64::*;
use core::arch::asm;
use core::ops::Range;

use crate::int8::gemm::{NR, QGemm, padded};

/// Rows per tile.
const MR: usize = 4;

/// # Safety
/// The CPU must have NEON and dotprod; the slices satisfy `int8::gemm::check` for `p`, and `out`
/// holds the rows `rows` (`rows.len() * n` bytes).
#[target_feature(enable = "neon,dotprod")]
pub(crate) unsafe fn qgemm_dot(
    p: &QGemm,
    a: &[u8],
    b: &[i8],
    consts: &[i32],
    mult: &[f32],
    rows: Range<usize>,
    out: &mut [u8],
) {
    let (k, n) = (p.k, p.n);
    let k4 = k.div_ceil(4);
    let (bias, w_zero) = consts.split_at(padded(n));
    let ones = vdupq_n_s8(1);
    // Rows in chunks, each row's byte sum (weights with zero points) taken once per chunk for
    // all its panels; the panels' starting accumulators are then made once per chunk (k / 4
    // `sdot` per panel, a 64th of the chunk's products).
    let mut sums = [0i32; CHUNK];
    let mut c0 = rows.start;
    while c0 < rows.end {
        let c1 = rows.end.min(c0 + CHUNK);
        if p.row_sums {
            for (s, i) in sums.iter_mut().zip(c0..c1) {
                *s = a[i * k..][..k].iter().map(|&v| v as i32).sum();
            }
        }
        for panel in 0..padded(n) / NR {
            // SAFETY: the packed matrix holds padded(n) / NR panels of k4 * NR * 4 bytes (`check`).
            let bp = unsafe { b.as_ptr().add(panel * k4 * NR * 4) };
            // bias' + 128 * (the column sums of this panel): where the accumulators start.
            let mut start = [vdupq_n_s32(0); 4];
            for kq in 0..k4 {
                for (v, s) in start.iter_mut().enumerate() {
                    // SAFETY: group kq < k4 of this panel, vector v of its four; dotprod as this
                    // function's contract.
                    *s = unsafe { sdot(*s, vld1q_s8(bp.add((kq * 4 + v) * 16)), ones) };
                }
            }
            for (v, s) in start.iter_mut().enumerate() {
                // SAFETY: the constants hold padded(n) biases.
                let b0 = unsafe { vld1q_s32(bias.as_ptr().add(panel * NR + v * 4)) };
                *s = vaddq_s32(b0, vshlq_n_s32::<7>(*s));
            }
            let t = Tile { p, a, bp, start, w_zero, mult, panel, first_row: rows.start };
            let mut i = c0;
            while i < c1 {
                let mr = (c1 - i).min(MR);
                let sums = &sums[i - c0..];
                // SAFETY: as this function's contract; the tile's rows and panel are inside.
                unsafe {
                    match mr {
                        4 => t.run::<4>(i, sums, out),
                        3 => t.run::<3>(i, sums, out),
                        2 => t.run::<2>(i, sums, out),
                        _ => t.run::<1>(i, sums, out),
                    }
                }
                i += mr;
            }
        }
        c0 = c1;
    }
}

/// Rows per chunk of `qgemm_dot`.
const CHUNK: usize = 64;

/// What the tiles of one panel share.
#[derive(Clone, Copy)]
struct Tile<'a> {
    p: &'a QGemm,
    a: &'a [u8],
    /// The panel's packed weights.
    bp: *const i8,
    /// Its starting accumulators.
    start: [int32x4_t; 4],
    w_zero: &'a [i32],
    mult: &'a [f32],
    panel: usize,
    /// The first row of `out`.
    first_row: usize,
}

impl Tile<'_> {
    /// Rows `row..row + R` by the 16 columns of the panel; `sums[r]` is row `row + r`'s byte sum
    /// (when the weights have zero points).
    ///
    /// # Safety
    /// As `qgemm_dot`.
    #[target_feature(enable = "neon,dotprod")]
    #[inline]
    unsafe fn run<const R: usize>(&self, row: usize, sums: &[i32], out: &mut [u8]) {
        let Tile { p, a, bp, start, w_zero, mult, panel, first_row } = *self;
        let (k, n) = (p.k, p.n);
        let k4 = k.div_ceil(4);
        let flip = vdupq_n_u8(0x80);
        let mut acc = [start; R];
        let rows: [&[u8]; R] = core::array::from_fn(|r| &a[(row + r) * k..][..k]);
        // Sixteen k at a time: one load per row (its top bits flipped: a - 128 as int8), then each
        // group of four k by lane.
        let mut kq = 0;
        while kq + 4 <= k4 && (kq + 4) * 4 <= k {
            // SAFETY: bytes kq * 4 .. kq * 4 + 16 <= k of each row.
            let av: [int8x16_t; R] = core::array::from_fn(|r| unsafe {
                vreinterpretq_s8_u8(veorq_u8(vld1q_u8(rows[r].as_ptr().add(kq * 4)), flip))
            });
            // SAFETY (the loads of b): groups kq .. kq + 4 < k4 of the panel.
            unsafe {
                group::<R, 0>(&mut acc, bp.add(kq * 64), &av);
                group::<R, 1>(&mut acc, bp.add((kq + 1) * 64), &av);
                group::<R, 2>(&mut acc, bp.add((kq + 2) * 64), &av);
                group::<R, 3>(&mut acc, bp.add((kq + 3) * 64), &av);
            }
            kq += 4;
        }
        if kq < k4 {
            // The last 1-15 bytes of each row, in a zeroed copy (the packed b is zero past k, so
            // the padding's value does not matter), then the remaining groups.
            let av: [int8x16_t; R] = core::array::from_fn(|r| {
                let mut tail = [0u8; 16];
                let rest = &rows[r][kq * 4..];
                tail[..rest.len()].copy_from_slice(rest);
                // SAFETY: a local array of 16 bytes.
                unsafe { vreinterpretq_s8_u8(veorq_u8(vld1q_u8(tail.as_ptr()), flip)) }
            });
            // SAFETY: groups kq .. k4 of the panel.
            unsafe {
                group::<R, 0>(&mut acc, bp.add(kq * 64), &av);
                if kq + 1 < k4 {
                    group::<R, 1>(&mut acc, bp.add((kq + 1) * 64), &av);
                }
                if kq + 2 < k4 {
                    group::<R, 2>(&mut acc, bp.add((kq + 2) * 64), &av);
                }
                if kq + 3 < k4 {
                    group::<R, 3>(&mut acc, bp.add((kq + 3) * 64), &av);
                }
            }
        }
        // Epilogue: the weights' zero points, requantisation, 16 bytes per row.
        let col0 = panel * NR;
        let (lo, hi) = p.requant.bounds();
        let (lo, hi, zero) = (vdupq_n_f32(lo), vdupq_n_f32(hi), vdupq_n_s32(p.requant.zero_point));
        let cols = (n - col0).min(NR);
        for (r, acc) in acc.iter().enumerate() {
            let sum = sums[r];
            let mut bytes = [0u8; NR];
            for (v, x) in acc.iter().enumerate() {
                // SAFETY: zero points and multipliers hold padded(n) entries.
                let (zw, m) = unsafe {
                    (vld1q_s32(w_zero.as_ptr().add(col0 + v * 4)), vld1q_f32(mult.as_ptr().add(col0 + v * 4)))
                };
                let x = if p.row_sums { vsubq_s32(*x, vmulq_n_s32(zw, sum)) } else { *x };
                let f = vminq_f32(vmaxq_f32(vmulq_f32(vcvtq_f32_s32(x), m), lo), hi);
                let q = vaddq_s32(vcvtnq_s32_f32(f), zero);
                // The values are bytes (lo..=hi within 0..=255): narrowing keeps them.
                let q8 = vmovn_u16(vcombine_u16(vmovn_u32(vreinterpretq_u32_s32(q)), vdup_n_u16(0)));
                // SAFETY: 4 of the 16 bytes.
                unsafe { vst1_lane_u32::<0>(bytes.as_mut_ptr().add(v * 4).cast(), vreinterpret_u32_u8(q8)) };
            }
            let at = (row - first_row + r) * n + col0;
            out[at..at + cols].copy_from_slice(&bytes[..cols]);
        }
    }
}

/// One group of four k (`J`-th lane of each row's `a`) for the tile's rows: the group's four
/// vectors of b, 4 `sdot` per row.
///
/// # Safety
/// `bq` points at 64 readable bytes of the packed panel.
#[target_feature(enable = "neon,dotprod")]
#[inline]
unsafe fn group<const R: usize, const J: i32>(acc: &mut [[int32x4_t; 4]; R], bq: *const i8, av: &[int8x16_t; R]) {
    // SAFETY: the caller's 64 bytes.
    let bv: [int8x16_t; 4] = core::array::from_fn(|v| unsafe { vld1q_s8(bq.add(v * 16)) });
    for r in 0..R {
        for v in 0..4 {
            // SAFETY: dotprod, as the caller's contract.
            acc[r][v] = unsafe { sdot_lane::<J>(acc[r][v], bv[v], av[r]) };
        }
    }
}

// `sdot` through inline assembly: Rust's `vdotq_s32` / `vdotq_laneq_s32` intrinsics are still
// unstable (stdarch_neon_dotprod). Each is one instruction on registers, with no memory access
// or flags; `.arch_extension` lets the assembler accept it whatever the module's features.

/// `acc[i] += sum_t b[4i + t] * a[4i + t]` (int8 by int8 into int32, wrapping).
///
/// # Safety
/// The CPU must have dotprod.
#[target_feature(enable = "neon,dotprod")]
#[inline]
unsafe fn sdot(mut acc: int32x4_t, b: int8x16_t, a: int8x16_t) -> int32x4_t {
    // SAFETY: one register-only instruction the caller's CPU has.
    unsafe {
        asm!(".arch_extension dotprod", "sdot {acc:v}.4s, {b:v}.16b, {a:v}.16b",
            acc = inout(vreg) acc, b = in(vreg) b, a = in(vreg) a, options(pure, nomem, nostack, preserves_flags));
    }
    acc
}

/// `acc[i] += sum_t b[4i + t] * a[4J + t]`: lane `J` of `a` (four int8) against each group of
/// four of `b`.
///
/// # Safety
/// The CPU must have dotprod.
#[target_feature(enable = "neon,dotprod")]
#[inline]
unsafe fn sdot_lane<const J: i32>(mut acc: int32x4_t, b: int8x16_t, a: int8x16_t) -> int32x4_t {
    // SAFETY: as `sdot`.
    unsafe {
        asm!(".arch_extension dotprod", "sdot {acc:v}.4s, {b:v}.16b, {a:v}.4b[{j}]",
            acc = inout(vreg) acc, b = in(vreg) b, a = in(vreg) a, j = const J,
            options(pure, nomem, nostack, preserves_flags));
    }
    acc
}

/// One output row of `int8::depthwise` with NEON, 8 channels at a time: each tap's 8 input
/// bytes widened to int16 and multiplied into two int32x4 accumulators by `smlal`/`smlal2`
/// (the input zero point is folded into the bias, so a tap outside the image reads a vector of
/// the zero point). The packed weights are x86's pair layout (`int8::depthwise::packed_at`):
/// per block of 32 channels, lane `l` (channels 8l..8l+7) of a pair is 8 int16 at `l * 8` of
/// the pair's first 32 (channels 8l..8l+3, two taps each) and 8 more at `32 + l * 8` (8l+4..
/// 8l+7); `uzp1`/`uzp2` of the two give each tap's 8 weights in channel order. Bias and
/// multipliers sit at `l * 4` and `16 + l * 4` of their block. A channel group's weights stay in
/// registers for the whole row (9 vectors for 3x3). The epilogue is `quant::requantize`: int32
/// -> f32, multiply, clamp, round to nearest even (`fcvtns`), saturating narrows.
///
/// # Safety
/// NEON is baseline; `rows[ky]` holds the window row ky (`in_w * channels` bytes) or is empty;
/// weights, bias and multipliers satisfy `int8::depthwise::check`; `out` holds one output row;
/// the window has at most `MAX_TAPS` taps.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn depthwise_row(
    p: &crate::int8::depthwise::QDepthwise,
    rows: &[&[u8]],
    w: &[i16],
    bias: &[i32],
    mult: &[f32],
    out: &mut [u8],
) {
    // SAFETY: as this function's contract; 3x3 windows get the tap count as a constant.
    unsafe {
        if p.win.kernel_h * p.win.kernel_w == 9 {
            depthwise_groups::<9>(p, rows, w, bias, mult, out)
        } else {
            depthwise_groups::<0>(p, rows, w, bias, mult, out)
        }
    }
}

/// `depthwise_row` with `T` taps (0: the window's).
///
/// # Safety
/// As `depthwise_row`.
#[target_feature(enable = "neon")]
unsafe fn depthwise_groups<const T: usize>(
    p: &crate::int8::depthwise::QDepthwise,
    rows: &[&[u8]],
    w: &[i16],
    bias: &[i32],
    mult: &[f32],
    out: &mut [u8],
) {
    use crate::int8::depthwise::{BLOCK, MAX_TAPS, column, tap_at};
    let c = p.channels;
    let taps = if T > 0 { T } else { p.win.kernel_h * p.win.kernel_w };
    let (kw, pairs) = (p.win.kernel_w, taps.div_ceil(2));
    // The bytes a tap outside the image reads (whatever the channel group).
    let outside = [p.x_zero as u8; 8];
    let (lo, hi) = p.requant.bounds();
    // SAFETY (all intrinsics and pointer reads below): NEON is baseline; the packed weights hold
    // `pairs` pairs of 64 per block and bias and multipliers whole blocks (`check`); a tap's
    // pointer is `outside` or a pixel of its row with at least `n` channels from `ch`.
    unsafe {
        let (lo, hi) = (vdupq_n_f32(lo), vdupq_n_f32(hi));
        let zero = vdupq_n_s16(p.requant.zero_point as i16);
        for ch in (0..c).step_by(8) {
            let n = (c - ch).min(8);
            let (block, lane) = (ch / BLOCK, ch % BLOCK / 8);
            let mut wt = [vdupq_n_s16(0); MAX_TAPS];
            for pr in 0..pairs {
                let wp = w.as_ptr().add((block * pairs + pr) * 64 + lane * 8);
                let (v0, v1) = (vld1q_s16(wp), vld1q_s16(wp.add(32)));
                wt[tap_at(2 * pr, taps)] = vuzp1q_s16(v0, v1);
                if 2 * pr + 1 < taps {
                    wt[tap_at(2 * pr + 1, taps)] = vuzp2q_s16(v0, v1);
                }
            }
            let at = block * BLOCK + lane * 4;
            let start = [vld1q_s32(bias.as_ptr().add(at)), vld1q_s32(bias.as_ptr().add(at + 16))];
            let m = [vld1q_f32(mult.as_ptr().add(at)), vld1q_f32(mult.as_ptr().add(at + 16))];
            for ox in 0..p.out_w {
                let mut acc = start;
                for (t, wv) in wt.iter().enumerate().take(taps) {
                    let row = rows.get(t / kw).copied().unwrap_or(&[]);
                    let px = match column(p, ox, t % kw) {
                        Some(x) if !row.is_empty() => row.as_ptr().add(x + ch),
                        _ => outside.as_ptr(),
                    };
                    let bytes = if n == 8 || px == outside.as_ptr() {
                        vld1_u8(px)
                    } else {
                        let mut part = [0u8; 8];
                        part[..n].copy_from_slice(core::slice::from_raw_parts(px, n));
                        vld1_u8(part.as_ptr())
                    };
                    let x = vreinterpretq_s16_u16(vmovl_u8(bytes));
                    acc[0] = vmlal_s16(acc[0], vget_low_s16(x), vget_low_s16(*wv));
                    acc[1] = vmlal_high_s16(acc[1], x, *wv);
                }
                let q = |a: int32x4_t, m: float32x4_t| {
                    vcvtnq_s32_f32(vminq_f32(vmaxq_f32(vmulq_f32(vcvtq_f32_s32(a), m), lo), hi))
                };
                let words = vqaddq_s16(vcombine_s16(vqmovn_s32(q(acc[0], m[0])), vqmovn_s32(q(acc[1], m[1]))), zero);
                let bytes = vqmovun_s16(words);
                let o = out.as_mut_ptr().add(ox * c + ch);
                if n == 8 {
                    vst1_u8(o, bytes);
                } else {
                    let mut part = [0u8; 8];
                    vst1_u8(part.as_mut_ptr(), bytes);
                    core::ptr::copy_nonoverlapping(part.as_ptr(), o, n);
                }
            }
        }
    }
}
