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

/// One output row of `int8::depthwise`, 16 channels per vector.
///
/// # Safety
/// The CPU must have AVX-512F, BW and VL; the slices must satisfy `int8::depthwise::check`,
/// `oy < images * out_h`, and `out` hold one output row.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn depthwise_row(
    p: &crate::int8::depthwise::QDepthwise,
    input: &[u8],
    w: &[i16],
    bias: &[i32],
    mult: &[f32],
    oy: usize,
    out: &mut [u8],
) {
    let c = p.channels;
    let (lo, hi) = p.requant.bounds();
    let (lo, hi, zero) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi), _mm512_set1_epi32(p.requant.zero_point));
    let xz = _mm512_set1_epi32(p.x_zero);
    for ox in 0..p.out_w {
        let mut ch = 0;
        while ch < c {
            let n = (c - ch).min(16);
            let mask: __mmask16 = if n == 16 { 0xffff } else { ((1u32 << n) - 1) as u16 };
            // SAFETY: masked loads and stores touch only channels ch..ch + n < c of pixels
            // and taps inside the slices (`check`, `tap`).
            unsafe {
                let mut acc = _mm512_maskz_loadu_epi32(mask, bias.as_ptr().add(ch).cast());
                for ky in 0..p.win.kernel_h {
                    for kx in 0..p.win.kernel_w {
                        let Some(at) = crate::int8::depthwise::tap(p, oy, ox, ky, kx) else { continue };
                        let x = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, input.as_ptr().add(at + ch).cast()));
                        let wv =
                            _mm256_maskz_loadu_epi16(mask, w.as_ptr().add((ky * p.win.kernel_w + kx) * c + ch).cast());
                        let prod = _mm512_mullo_epi32(_mm512_sub_epi32(x, xz), _mm512_cvtepi16_epi32(wv));
                        acc = _mm512_add_epi32(acc, prod);
                    }
                }
                let m = _mm512_maskz_loadu_ps(mask, mult.as_ptr().add(ch));
                let bytes = requant16(acc, m, lo, hi, zero);
                _mm_mask_storeu_epi8(out.as_mut_ptr().add(ox * c + ch).cast(), mask, bytes);
            }
            ch += n;
        }
    }
}
