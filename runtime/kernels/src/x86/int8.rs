//! The 8-bit kernels' x86 paths. `qgemm_vnni`: tiles of up to 4 rows by 4 panels (64 columns)
//! in 16 zmm accumulators; per four `k`, each row's four bytes are broadcast and `vpdpbusd`
//! adds their products with a panel's 16 columns. The epilogue is the scalar requantisation
//! lane by lane: int32 -> f32, multiply, clamp, round to nearest even (`vcvtps2dq` under the
//! default rounding mode), add the zero point.

use core::arch::x86_64::*;
use core::ops::Range;

use crate::int8::gemm::{NR, QGemm, padded};

/// # Safety
/// The CPU must have AVX-512F, BW, VL and VNNI; the slices must satisfy `int8::gemm::check`
/// for `p`, and `out` hold the rows `rows` (`rows.len() * n` bytes).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn qgemm_vnni(
    p: &QGemm,
    a: &[u8],
    b: &[i8],
    consts: &[i32],
    mult: &[f32],
    rows: Range<usize>,
    out: &mut [u8],
) {
    let panels = padded(p.n) / NR;
    let mut i = rows.start;
    while i < rows.end {
        let mr = (rows.end - i).min(4);
        let mut p0 = 0;
        while p0 < panels {
            let np = (panels - p0).min(4);
            let t = Tile { p, a, b, consts, mult, row: i, first_row: rows.start, panel: p0 };
            // SAFETY: as this function's contract; the tile lies inside the rows and panels.
            unsafe {
                match (mr, np) {
                    (4, 4) => t.run::<4, 4>(out),
                    (4, 3) => t.run::<4, 3>(out),
                    (4, 2) => t.run::<4, 2>(out),
                    (4, _) => t.run::<4, 1>(out),
                    (3, 4) => t.run::<3, 4>(out),
                    (3, 3) => t.run::<3, 3>(out),
                    (3, 2) => t.run::<3, 2>(out),
                    (3, _) => t.run::<3, 1>(out),
                    (2, 4) => t.run::<2, 4>(out),
                    (2, 3) => t.run::<2, 3>(out),
                    (2, 2) => t.run::<2, 2>(out),
                    (2, _) => t.run::<2, 1>(out),
                    (_, 4) => t.run::<1, 4>(out),
                    (_, 3) => t.run::<1, 3>(out),
                    (_, 2) => t.run::<1, 2>(out),
                    (_, _) => t.run::<1, 1>(out),
                }
            }
            p0 += np;
        }
        i += mr;
    }
}

/// One tile: rows `row..row + R`, panels `panel..panel + P`.
struct Tile<'a> {
    p: &'a QGemm,
    a: &'a [u8],
    b: &'a [i8],
    consts: &'a [i32],
    mult: &'a [f32],
    row: usize,
    first_row: usize,
    panel: usize,
}

impl Tile<'_> {
    /// # Safety
    /// As `qgemm_vnni`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn run<const R: usize, const P: usize>(&self, out: &mut [u8]) {
        let (k, n) = (self.p.k, self.p.n);
        let (k4, kfull) = (k.div_ceil(4), k / 4);
        let mut acc = [[_mm512_setzero_si512(); P]; R];
        let mut sums = [_mm512_setzero_si512(); R];
        let ones = _mm512_set1_epi8(1);
        let row_sums = self.p.row_sums;
        // SAFETY (all pointer reads below): `check` guarantees `a` holds m * k bytes and `b`
        // the packed panels; row `row + r` < m, four bytes at `kq * 4 < kfull * 4 <= k` stay in
        // the row, and panel reads stay in the packed matrix.
        let bp = unsafe { self.b.as_ptr().add(self.panel * k4 * NR * 4) };
        let step = |acc: &mut [[__m512i; P]; R], sums: &mut [__m512i; R], kq: usize, rows: [i32; R]| {
            let mut bv = [_mm512_setzero_si512(); P];
            for (q, v) in bv.iter_mut().enumerate() {
                *v = unsafe { _mm512_loadu_si512(bp.add((q * k4 + kq) * NR * 4).cast()) };
            }
            for r in 0..R {
                let av = _mm512_set1_epi32(rows[r]);
                for q in 0..P {
                    acc[r][q] = _mm512_dpbusd_epi32(acc[r][q], av, bv[q]);
                }
                if row_sums {
                    sums[r] = _mm512_dpbusd_epi32(sums[r], av, ones);
                }
            }
        };
        let ap = self.a.as_ptr();
        for kq in 0..kfull {
            let rows: [i32; R] =
                core::array::from_fn(|r| unsafe { ap.add((self.row + r) * k + kq * 4).cast::<i32>().read_unaligned() });
            step(&mut acc, &mut sums, kq, rows);
        }
        if k % 4 != 0 {
            // The last 1-3 bytes of each row, zero-padded (the packed weights there are zero too).
            let rows: [i32; R] = core::array::from_fn(|r| {
                let mut four = [0u8; 4];
                let start = (self.row + r) * k + kfull * 4;
                four[..k % 4].copy_from_slice(&self.a[start..start + k % 4]);
                i32::from_le_bytes(four)
            });
            step(&mut acc, &mut sums, kfull, rows);
        }
        // Epilogue: bias, zero-point correction, requantisation, bytes out.
        let (lo, hi) = self.p.requant.bounds();
        let (lo, hi, zero) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi), _mm512_set1_epi32(self.p.requant.zero_point));
        let (bias, w_zero) = self.consts.split_at(padded(n));
        for q in 0..P {
            let col = (self.panel + q) * NR;
            let cols = (n - col).min(NR);
            let mask: __mmask16 = if cols == NR { 0xffff } else { ((1u32 << cols) - 1) as u16 };
            let (bv, mv, zw) = unsafe {
                (
                    _mm512_loadu_si512(bias.as_ptr().add(col).cast()),
                    _mm512_loadu_ps(self.mult.as_ptr().add(col)),
                    _mm512_loadu_si512(w_zero.as_ptr().add(col).cast()),
                )
            };
            for r in 0..R {
                let mut v = _mm512_add_epi32(acc[r][q], bv);
                if row_sums {
                    v = _mm512_sub_epi32(v, _mm512_mullo_epi32(zw, sums[r]));
                }
                let f = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(v), mv), lo), hi);
                let bytes = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(f), zero));
                let at = (self.row - self.first_row + r) * n + col;
                debug_assert!(at + cols <= out.len());
                // SAFETY: the row is in this part of the output and the mask keeps the columns < n.
                unsafe { _mm_mask_storeu_epi8(out.as_mut_ptr().add(at).cast(), mask, bytes) };
            }
        }
    }
}

/// Requantises 16 int32 lanes (`v * mult`, clamped to `lo..=hi` offsets, rounded to nearest
/// even, plus the zero point) into 16 bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
fn requant16(v: __m512i, mult: __m512, lo: __m512, hi: __m512, zero: __m512i) -> __m128i {
    let f = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(v), mult), lo), hi);
    _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(f), zero))
}

/// One output row of `int8::depthwise`, 32 channels per step: each pair of taps' inputs,
/// widened to int16 less the zero point, interleaved and multiplied by the packed weight pairs
/// with `vpmaddwd` (see `int8::depthwise`), into two int32 accumulators.
///
/// # Safety
/// The CPU must have AVX-512F, BW and VL; `rows[ky]` holds the window row ky (`in_w *
/// channels` bytes) or is empty; weights, bias and multipliers satisfy
/// `int8::depthwise::check`; `out` holds one output row; the window has at most `MAX_TAPS`
/// taps.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn depthwise_row(
    p: &crate::int8::depthwise::QDepthwise,
    rows: &[&[u8]],
    w: &[i16],
    bias: &[i32],
    mult: &[f32],
    out: &mut [u8],
) {
    use crate::int8::depthwise::{BLOCK, MAX_TAPS};
    let c = p.channels;
    let (kw, taps) = (p.win.kernel_w, p.win.kernel_h * p.win.kernel_w);
    let pairs = taps.div_ceil(2);
    let (lo, hi) = p.requant.bounds();
    let (lo, hi, zero) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi), _mm512_set1_epi32(p.requant.zero_point));
    let xz = _mm512_set1_epi16(p.x_zero as i16);
    // Per tap, a pointer to its pixel's channel 0 (null outside the image).
    let mut offsets = [core::ptr::null::<u8>(); MAX_TAPS];
    for ox in 0..p.out_w {
        let x0 = (ox * p.win.stride_w).wrapping_sub(p.win.pad_left);
        for (t, o) in offsets.iter_mut().enumerate().take(taps) {
            let (row, ix) = (rows[t / kw], x0.wrapping_add((t % kw) * p.win.dilation_w));
            *o = if !row.is_empty() && ix < p.in_w { row[ix * c..].as_ptr() } else { core::ptr::null() };
        }
        for (b, ch) in (0..c).step_by(BLOCK).enumerate() {
            let n = (c - ch).min(BLOCK);
            let mask: __mmask32 = if n == BLOCK { u32::MAX } else { (1u32 << n) - 1 };
            // SAFETY: the masked loads read channels ch..ch + n of pixels inside their rows;
            // packed weights, bias and multipliers hold whole blocks (`check`); the masked
            // store writes channels < c of this row's pixel ox.
            unsafe {
                // Taps outside the image contribute nothing: (x - x_zero) is taken as 0.
                let x = |t: usize| match offsets.get(t) {
                    Some(&o) if t < taps && !o.is_null() => {
                        let bytes = _mm256_maskz_loadu_epi8(mask, o.add(ch).cast());
                        _mm512_sub_epi16(_mm512_cvtepu8_epi16(bytes), xz)
                    }
                    _ => _mm512_setzero_si512(),
                };
                let mut acc_lo = _mm512_loadu_si512(bias.as_ptr().add(b * BLOCK).cast());
                let mut acc_hi = _mm512_loadu_si512(bias.as_ptr().add(b * BLOCK + 16).cast());
                for pr in 0..pairs {
                    let (x0, x1) = (x(2 * pr), x(2 * pr + 1));
                    let wp = w.as_ptr().add((b * pairs + pr) * 64);
                    let (w_lo, w_hi) = (_mm512_loadu_si512(wp.cast()), _mm512_loadu_si512(wp.add(32).cast()));
                    acc_lo = _mm512_add_epi32(acc_lo, _mm512_madd_epi16(_mm512_unpacklo_epi16(x0, x1), w_lo));
                    acc_hi = _mm512_add_epi32(acc_hi, _mm512_madd_epi16(_mm512_unpackhi_epi16(x0, x1), w_hi));
                }
                let m_lo = _mm512_loadu_ps(mult.as_ptr().add(b * BLOCK));
                let m_hi = _mm512_loadu_ps(mult.as_ptr().add(b * BLOCK + 16));
                let (b_lo, b_hi) = (requant16(acc_lo, m_lo, lo, hi, zero), requant16(acc_hi, m_hi, lo, hi, zero));
                // Back to channel order: 32-bit groups of four channels, interleaved.
                let bytes = _mm256_set_m128i(_mm_unpackhi_epi32(b_lo, b_hi), _mm_unpacklo_epi32(b_lo, b_hi));
                _mm256_mask_storeu_epi8(out.as_mut_ptr().add(ox * c + ch).cast(), mask, bytes);
            }
        }
    }
}

/// `convert::quantize` on 16 floats at a time (the same division, clamp and rounding).
///
/// # Safety
/// The CPU must have AVX-512F, BW and VL; `output.len() >= input.len()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn quantize(p: &crate::int8::convert::Quantize, input: &[f32], output: &mut [u8]) {
    let (scale, zero) = (_mm512_set1_ps(p.scale), _mm512_set1_epi32(p.zero_point));
    let lo = _mm512_set1_ps((p.lo - p.zero_point) as f32);
    let hi = _mm512_set1_ps((p.hi - p.zero_point) as f32);
    for (i, chunk) in input.chunks(16).enumerate() {
        let mask: __mmask16 = if chunk.len() == 16 { 0xffff } else { ((1u32 << chunk.len()) - 1) as u16 };
        // SAFETY: masked loads and stores of the chunk's elements, which both slices hold.
        unsafe {
            let x = _mm512_maskz_loadu_ps(mask, chunk.as_ptr());
            let v = _mm512_min_ps(_mm512_max_ps(_mm512_div_ps(x, scale), lo), hi);
            let q = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(v), zero));
            _mm_mask_storeu_epi8(output.as_mut_ptr().add(i * 16).cast(), mask, q);
        }
    }
}

/// 16 bytes at `p` (masked) as int32 lanes less `zero`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
unsafe fn offsets16(p: *const u8, mask: __mmask16, zero: __m512i) -> __m512i {
    // SAFETY: the caller guarantees the masked bytes are readable.
    unsafe { _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, p.cast())), zero) }
}

/// One contiguous run of `int8::elementwise`: `a` and the output step by 1, `b` by 1 or 0
/// (broadcast), with the scalar code's operations in the same order (no fused multiply-add).
///
/// # Safety
/// The CPU must have AVX-512F, BW and VL; `a` and `out` hold `out.len()` bytes, `b` as many
/// (or at least one when `b_step` is 0).
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn binary_run(
    op: &crate::int8::elementwise::QBinOp,
    a: &[u8],
    b: &[u8],
    b_step: usize,
    out: &mut [u8],
) {
    use crate::int8::elementwise::QBinOp;
    let n = out.len();
    let mut i = 0;
    while i < n {
        let len = (n - i).min(16);
        let mask: __mmask16 = if len == 16 { 0xffff } else { ((1u32 << len) - 1) as u16 };
        // SAFETY: masked reads of bytes i..i + len of a (and b, or b[0] broadcast), as the
        // contract says; masked store of the same bytes of out.
        unsafe {
            let bytes = match *op {
                QBinOp::Add(q) => {
                    let av = offsets16(a.as_ptr().add(i), mask, _mm512_set1_epi32(q.a_zero_point));
                    let bv = if b_step == 0 {
                        _mm512_set1_epi32(b[0] as i32 - q.b_zero_point)
                    } else {
                        offsets16(b.as_ptr().add(i), mask, _mm512_set1_epi32(q.b_zero_point))
                    };
                    let v = _mm512_add_ps(
                        _mm512_mul_ps(_mm512_cvtepi32_ps(av), _mm512_set1_ps(q.a_ratio)),
                        _mm512_mul_ps(_mm512_cvtepi32_ps(bv), _mm512_set1_ps(q.b_ratio)),
                    );
                    let lo = _mm512_set1_ps((q.lo - q.y_zero_point) as f32);
                    let hi = _mm512_set1_ps((q.hi - q.y_zero_point) as f32);
                    let v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
                    _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(v), _mm512_set1_epi32(q.y_zero_point)))
                }
                QBinOp::Mul { a_zero, b_zero, mult, requant } => {
                    let av = offsets16(a.as_ptr().add(i), mask, _mm512_set1_epi32(a_zero));
                    let bv = if b_step == 0 {
                        _mm512_set1_epi32(b[0] as i32 - b_zero)
                    } else {
                        offsets16(b.as_ptr().add(i), mask, _mm512_set1_epi32(b_zero))
                    };
                    let (lo, hi) = requant.bounds();
                    requant16(
                        _mm512_mullo_epi32(av, bv),
                        _mm512_set1_ps(mult),
                        _mm512_set1_ps(lo),
                        _mm512_set1_ps(hi),
                        _mm512_set1_epi32(requant.zero_point),
                    )
                }
            };
            _mm_mask_storeu_epi8(out.as_mut_ptr().add(i).cast(), mask, bytes);
        }
        i += len;
    }
}
