//! The 8-bit kernels' x86 paths. `qgemm_vnni`: tiles of up to 4 rows by 4 panels (64 columns)
//! in 16 zmm accumulators; per four `k`, each row's four bytes are broadcast and `vpdpbusd`
//! adds their products with a panel's 16 columns. The epilogue is the scalar requantisation
//! lane by lane: int32 -> f32, multiply, clamp, round to nearest even (`vcvtps2dq` under the
//! default rounding mode), add the zero point.

use core::arch::x86_64::*;
use core::ops::Range;

use crate::int8::depthwise::tap_at;
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
    // Rows in chunks of about 16 KB of `a`; within a chunk, the panel groups outermost, so that
    // a group's packed weights (k x 64 bytes) come from L2 once and serve every row tile of
    // the chunk from L1. Rows outermost streamed all of `b` from L2 per tile: with 7 or 14
    // rows (the late layers' image rows), tiles of 1 and 2 rows made that the bottleneck.
    let chunk = (16384 / p.k.max(1)).clamp(4, CHUNK_ROWS) / 4 * 4;
    let mut sums = [0i32; CHUNK_ROWS];
    let w_zero = &consts[padded(p.n)..][..p.n];
    let uniform = if p.row_sums { one_value(w_zero) } else { None };
    let cap = !small_multipliers(&mult[..padded(p.n)]);
    let mut start = rows.start;
    while start < rows.end {
        let end = rows.end.min(start + chunk);
        // Each row's byte sum, once for all its panels (only with weight zero points); times
        // the zero point where all columns share one (TF1 style: one subtraction per vector
        // in the epilogue, no multiplication).
        if p.row_sums {
            let scale = uniform.unwrap_or(1);
            if p.k <= 64 {
                // Narrow rows (most rows of the network): one masked load per row, its mask
                // made once. (Narrower vectors and reductions for k <= 16 or 32 were slower.)
                let mask: __mmask64 = if p.k == 64 { u64::MAX } else { (1u64 << p.k) - 1 };
                for (s, i) in sums.iter_mut().zip(start..end) {
                    let row = &a[i * p.k..][..p.k];
                    // SAFETY: a masked load of the row's k bytes.
                    let v = unsafe { _mm512_maskz_loadu_epi8(mask, row.as_ptr().cast()) };
                    let sad = _mm512_sad_epu8(v, _mm512_setzero_si512());
                    *s = (_mm512_reduce_add_epi64(sad) as i32).wrapping_mul(scale);
                }
            } else {
                for (s, i) in sums.iter_mut().zip(start..end) {
                    *s = byte_sum(&a[i * p.k..][..p.k]).wrapping_mul(scale);
                }
            }
        }
        let mut p0 = 0;
        while p0 < panels {
            let np = (panels - p0).min(4);
            // Tiles of 4 rows by 4 panels (16 accumulators). 8 rows by 1-2 panels for the
            // narrow products was 4% slower on MobileNetV2 (bench/ab.py).
            let mut i = start;
            while i < end {
                let left = end - i;
                let mr = if left >= 4 {
                    4
                } else if left >= 2 {
                    2
                } else {
                    1
                };
                let sums: [i32; 4] = core::array::from_fn(|r| if r < mr { sums[i - start + r] } else { 0 });
                let t = Tile { p, a, b, consts, mult, row: i, first_row: rows.start, panel: p0, sums };
                // SAFETY: as this function's contract; the tile lies inside the rows and panels.
                unsafe {
                    match (p.row_sums, uniform.is_some(), cap) {
                        (false, _, false) => t.dispatch::<NO_ZERO, false>(mr, np, out),
                        (true, false, false) => t.dispatch::<COLUMN_ZEROS, false>(mr, np, out),
                        (true, true, false) => t.dispatch::<ONE_ZERO, false>(mr, np, out),
                        (false, _, true) => t.dispatch::<NO_ZERO, true>(mr, np, out),
                        (true, false, true) => t.dispatch::<COLUMN_ZEROS, true>(mr, np, out),
                        (true, true, true) => t.dispatch::<ONE_ZERO, true>(mr, np, out),
                    }
                }
                i += mr;
            }
            p0 += np;
        }
        start = end;
    }
}

/// Whether every multiplier is below 0.5 (and none is NaN). An int32 accumulator converts to
/// at most 2^31 in magnitude, so its product with such a multiplier stays below 2^30 and
/// `vcvtps2dq` cannot overflow: the epilogues then skip the cap before the conversion (one
/// instruction per 16 outputs, about 3% of MobileNetV2 int8). Quantised models have
/// multipliers of about 1e-3; the capped epilogue stays for any other.
#[target_feature(enable = "avx512f")]
#[inline]
fn small_multipliers(mult: &[f32]) -> bool {
    let half = _mm512_set1_ps(0.5);
    mult.chunks(16).all(|chunk| {
        let mask: __mmask16 = if chunk.len() == 16 { 0xffff } else { ((1u32 << chunk.len()) - 1) as u16 };
        // SAFETY: a masked load of the chunk's values.
        let x = unsafe { _mm512_maskz_loadu_ps(mask, chunk.as_ptr()) };
        // Not less than 0.5, or unordered (NaN).
        _mm512_mask_cmp_ps_mask::<_CMP_NLT_UQ>(mask, x, half) == 0
    })
}

/// The one value all of `v` holds, if it holds one (16 lanes compared at a time: this runs
/// at every call, and a scalar scan over a wide layer's zero points showed in profiles).
#[target_feature(enable = "avx512f")]
#[inline]
fn one_value(v: &[i32]) -> Option<i32> {
    let first = *v.first()?;
    let want = _mm512_set1_epi32(first);
    for chunk in v.chunks(16) {
        let mask: __mmask16 = if chunk.len() == 16 { 0xffff } else { ((1u32 << chunk.len()) - 1) as u16 };
        // SAFETY: a masked load of the chunk's values.
        let x = unsafe { _mm512_maskz_loadu_epi32(mask, chunk.as_ptr()) };
        if _mm512_mask_cmpneq_epi32_mask(mask, x, want) != 0 {
            return None;
        }
    }
    Some(first)
}

/// The sum of `bytes`, 64 at a time by `vpsadbw` (sums of 8 bytes in 64-bit lanes).
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn byte_sum(bytes: &[u8]) -> i32 {
    let mut acc = _mm512_setzero_si512();
    for chunk in bytes.chunks(64) {
        let mask: __mmask64 = if chunk.len() == 64 { u64::MAX } else { (1u64 << chunk.len()) - 1 };
        // SAFETY: a masked load of the chunk's bytes.
        let v = unsafe { _mm512_maskz_loadu_epi8(mask, chunk.as_ptr().cast()) };
        acc = _mm512_add_epi64(acc, _mm512_sad_epu8(v, _mm512_setzero_si512()));
    }
    // Truncated: the int32 sum modulo 2^32, as the other paths wrap.
    _mm512_reduce_add_epi64(acc) as i32
}

/// Most rows of a chunk of `qgemm_vnni`.
const CHUNK_ROWS: usize = 256;

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
    /// The byte sums of the tile's rows (when the weights have zero points), times the zero
    /// point when `uniform`.
    sums: [i32; 4],
}

/// How a tile corrects for the weights' zero points: not at all (symmetric weights), by the
/// row sums times each column's zero point, or by the row sums already times the one zero
/// point of all columns.
const NO_ZERO: u8 = 0;
const COLUMN_ZEROS: u8 = 1;
const ONE_ZERO: u8 = 2;

impl Tile<'_> {
    /// The tile of `mr` rows by `np` panels, with the zero-point correction `Z`, capped before
    /// the conversion if `CAP` (`small_multipliers`).
    ///
    /// # Safety
    /// As `qgemm_vnni`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn dispatch<const Z: u8, const CAP: bool>(&self, mr: usize, np: usize, out: &mut [u8]) {
        // SAFETY: as this function's contract.
        unsafe {
            match (mr, np) {
                (4, 4) => self.run::<4, 4, Z, CAP>(out),
                (4, 3) => self.run::<4, 3, Z, CAP>(out),
                (4, 2) => self.run::<4, 2, Z, CAP>(out),
                (4, _) => self.run::<4, 1, Z, CAP>(out),
                (2, 4) => self.run::<2, 4, Z, CAP>(out),
                (2, 3) => self.run::<2, 3, Z, CAP>(out),
                (2, 2) => self.run::<2, 2, Z, CAP>(out),
                (2, _) => self.run::<2, 1, Z, CAP>(out),
                (_, 4) => self.run::<1, 4, Z, CAP>(out),
                (_, 3) => self.run::<1, 3, Z, CAP>(out),
                (_, 2) => self.run::<1, 2, Z, CAP>(out),
                (_, _) => self.run::<1, 1, Z, CAP>(out),
            }
        }
    }

    /// # Safety
    /// As `qgemm_vnni`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn run<const R: usize, const P: usize, const Z: u8, const CAP: bool>(&self, out: &mut [u8]) {
        let (k, n) = (self.p.k, self.p.n);
        let (k4, kfull) = (k.div_ceil(4), k / 4);
        // The accumulators start at the bias (the epilogue then has one addition less).
        let bias0 = &self.consts[self.panel * NR..];
        // SAFETY: the constants hold padded(n) biases, whole panels.
        let start: [__m512i; P] =
            core::array::from_fn(|q| unsafe { _mm512_loadu_si512(bias0.as_ptr().add(q * NR).cast()) });
        let mut acc = [start; R];
        // SAFETY (all pointer reads below): `check` guarantees `a` holds m * k bytes and `b`
        // the packed panels; row `row + r` < m, four bytes at `kq * 4 < kfull * 4 <= k` stay in
        // the row, and panel reads stay in the packed matrix.
        let bp = unsafe { self.b.as_ptr().add(self.panel * k4 * NR * 4) };
        // `rows[r]` points at four bytes of row r; the broadcast reads them from memory (one
        // load each, no trip through a general register).
        let step = |acc: &mut [[__m512i; P]; R], kq: usize, rows: [*const i32; R]| {
            let mut bv = [_mm512_setzero_si512(); P];
            for (q, v) in bv.iter_mut().enumerate() {
                *v = unsafe { _mm512_loadu_si512(bp.add((q * k4 + kq) * NR * 4).cast()) };
            }
            for r in 0..R {
                let av = _mm512_set1_epi32(unsafe { rows[r].read_unaligned() });
                for q in 0..P {
                    acc[r][q] = _mm512_dpbusd_epi32(acc[r][q], av, bv[q]);
                }
            }
        };
        let ap = self.a.as_ptr();
        let mut rows: [*const i32; R] = core::array::from_fn(|r| unsafe { ap.add((self.row + r) * k).cast::<i32>() });
        for kq in 0..kfull {
            step(&mut acc, kq, rows);
            rows = rows.map(|p| unsafe { p.add(1) });
        }
        if k % 4 != 0 {
            // The last 1-3 bytes of each row, zero-padded (the packed weights there are zero too).
            let tails: [i32; R] = core::array::from_fn(|r| {
                let mut four = [0u8; 4];
                let start = (self.row + r) * k + kfull * 4;
                four[..k % 4].copy_from_slice(&self.a[start..start + k % 4]);
                i32::from_le_bytes(four)
            });
            let rows: [*const i32; R] = core::array::from_fn(|r| &tails[r] as *const i32);
            step(&mut acc, kfull, rows);
        }
        // Epilogue: zero-point correction, requantisation, bytes out.
        let (lo, hi) = self.p.requant.bounds();
        let zero_point = self.p.requant.zero_point;
        let w_zero = &self.consts[padded(n)..];
        let col0 = self.panel * NR;
        // SAFETY: multipliers and zero points hold padded(n) entries, whole panels.
        let (mv, zw): ([__m512; P], [__m512i; P]) = unsafe {
            (
                core::array::from_fn(|q| _mm512_loadu_ps(self.mult.as_ptr().add(col0 + q * NR))),
                core::array::from_fn(|q| _mm512_loadu_si512(w_zero.as_ptr().add(col0 + q * NR).cast())),
            )
        };
        let corrected = |r: usize, q: usize| match Z {
            ONE_ZERO => _mm512_sub_epi32(acc[r][q], _mm512_set1_epi32(self.sums[r])),
            COLUMN_ZEROS => _mm512_sub_epi32(acc[r][q], _mm512_mullo_epi32(zw[q], _mm512_set1_epi32(self.sums[r]))),
            _ => acc[r][q],
        };
        let cols = (n - col0).min(P * NR);
        if P >= 2 {
            // Two to four panels: rounded in int32, then packed to 64 bytes together (the zero
            // point added and the bounds applied on the packed values).
            let pack = Pack64::new(zero_point, self.p.requant.lo, self.p.requant.hi);
            let hi = _mm512_set1_ps(hi);
            let mask: __mmask64 = if cols == 64 { u64::MAX } else { (1u64 << cols) - 1 };
            for r in 0..R {
                let q: [__m512i; 4] = core::array::from_fn(|q| {
                    if q < P { round_capped::<CAP>(corrected(r, q), mv[q], hi) } else { _mm512_setzero_si512() }
                });
                let at = (self.row - self.first_row + r) * n + col0;
                debug_assert!(at + cols <= out.len());
                // SAFETY: the row is in this part of the output and the mask keeps the columns < n.
                unsafe { _mm512_mask_storeu_epi8(out.as_mut_ptr().add(at).cast(), mask, pack.bytes(q)) };
            }
            return;
        }
        let (lo, hi, zero) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi), _mm512_set1_epi32(zero_point));
        let mask: __mmask16 = if cols == NR { 0xffff } else { ((1u32 << cols) - 1) as u16 };
        for r in 0..R {
            let bytes = requant16(corrected(r, 0), mv[0], lo, hi, zero);
            let at = (self.row - self.first_row + r) * n + col0;
            debug_assert!(at + cols <= out.len());
            // SAFETY: the row is in this part of the output and the mask keeps the columns < n.
            unsafe { _mm_mask_storeu_epi8(out.as_mut_ptr().add(at).cast(), mask, bytes) };
        }
    }
}

/// `v * mult`, capped at `hi` if `CAP` (so that no lane overflows the conversion; without
/// it the multipliers are small enough, `small_multipliers`), rounded to the nearest integer,
/// ties to even (`vcvtps2dq` under the default rounding mode). The callers clamp to `hi` after
/// the rounding too, which gives the same bytes: rounding is monotonic and `hi` an integer.
#[target_feature(enable = "avx512f")]
#[inline]
fn round_capped<const CAP: bool>(v: __m512i, mult: __m512, hi: __m512) -> __m512i {
    let x = _mm512_mul_ps(_mm512_cvtepi32_ps(v), mult);
    _mm512_cvtps_epi32(if CAP { _mm512_min_ps(x, hi) } else { x })
}

/// The narrowing of four vectors of rounded int32 to 64 bytes: plus the zero point, clamped to
/// the output's bounds. The same values as `requant16` on each: its float clamp to `[lo -
/// zero, hi - zero]` commutes with the rounding (the bounds are integers), the upper half of
/// it is `round_capped`'s cap, and the rest is done on the packed values. A value below
/// `i32::MIN` converts to `i32::MIN` (the "integer indefinite"), which saturates to `lo` as it
/// should.
struct Pack64 {
    zero: __m512i,
    lo: __m512i,
    hi: __m512i,
    order: __m512i,
}

impl Pack64 {
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    fn new(zero_point: i32, lo: i32, hi: i32) -> Self {
        // The packs interleave their inputs by 128-bit lanes: dword 4l + j of the result holds
        // lane l of vector j; this permutation puts each vector's 16 bytes back together.
        let order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        Self {
            zero: _mm512_set1_epi16(zero_point as i16),
            lo: _mm512_set1_epi8(lo as u8 as i8),
            hi: _mm512_set1_epi8(hi as u8 as i8),
            order,
        }
    }

    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    fn bytes(&self, q: [__m512i; 4]) -> __m512i {
        let ab = _mm512_adds_epi16(_mm512_packs_epi32(q[0], q[1]), self.zero);
        let cd = _mm512_adds_epi16(_mm512_packs_epi32(q[2], q[3]), self.zero);
        let bytes = _mm512_permutexvar_epi32(self.order, _mm512_packus_epi16(ab, cd));
        _mm512_min_epu8(_mm512_max_epu8(bytes, self.lo), self.hi)
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
/// widened to int16, interleaved and multiplied by the packed weight pairs with `vpdpwssd` (see
/// `int8::depthwise`), into two int32 accumulators. Pixels whose whole window is inside the
/// image (most of them) take `pixel` unrolled for 3x3 and 5x5 windows, without a check per
/// tap; the others read the zero point for their taps outside.
///
/// # Safety
/// The CPU must have AVX-512F, BW, VL and VNNI; `rows[ky]` holds the window row ky (`in_w *
/// channels` bytes) or is empty; weights, bias and multipliers satisfy
/// `int8::depthwise::check`; `out` holds one output row; the window has at most `MAX_TAPS`
/// taps.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn depthwise_row(
    p: &crate::int8::depthwise::QDepthwise,
    rows: &[&[u8]],
    w: &[i16],
    bias: &[i32],
    mult: &[f32],
    out: &mut [u8],
) {
    // SAFETY: as this function's contract.
    unsafe {
        if small_multipliers(&mult[..crate::int8::depthwise::padded(p.channels)]) {
            depthwise_row_with::<false>(p, rows, w, bias, mult, out)
        } else {
            depthwise_row_with::<true>(p, rows, w, bias, mult, out)
        }
    }
}

/// `depthwise_row`, capped before the conversion if `CAP` (`small_multipliers`).
///
/// # Safety
/// As `depthwise_row`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn depthwise_row_with<const CAP: bool>(
    p: &crate::int8::depthwise::QDepthwise,
    rows: &[&[u8]],
    w: &[i16],
    bias: &[i32],
    mult: &[f32],
    out: &mut [u8],
) {
    use crate::int8::depthwise::MAX_TAPS;
    let c = p.channels;
    let (kw, taps) = (p.win.kernel_w, p.win.kernel_h * p.win.kernel_w);
    let ep = DwEpilogue::<CAP>::new(p);
    let k = DwKernel { c, w: w.as_ptr(), bias: bias.as_ptr(), mult: mult.as_ptr(), ep: &ep };
    // Per tap, a pointer to its pixel's channel 0 (null outside the image).
    let mut offsets = [core::ptr::null::<u8>(); MAX_TAPS];
    let span = (kw - 1) * p.win.dilation_w;
    let all_rows = rows.iter().take(p.win.kernel_h).all(|r| !r.is_empty());
    let row_ptrs: [*const u8; MAX_TAPS] =
        core::array::from_fn(|ky| rows.get(ky).map_or(core::ptr::null(), |r| r.as_ptr()));
    // Interior pixels (every column of the window inside the row) need no column checks.
    let interior = |ox: usize| {
        let x0 = (ox * p.win.stride_w).wrapping_sub(p.win.pad_left);
        x0 < p.in_w && x0 + span < p.in_w
    };
    // 16 channels fill half a block: two interior pixels then share one, with the weights,
    // bias and multipliers of channels 0-15 repeated in the slots of 16-31.
    let pairs = (c == 16 && all_rows && taps == 9).then(|| Pair16::new(w, bias, mult, p.win.stride_w * c));
    // Wider 3x3 rows at stride 1 slide along the row (`DwKernel::sliding`) over the pixels
    // whose taps and one column more are inside the row.
    let stride = p.win.stride_w;
    let slide = if c > 16 && all_rows && (p.win.kernel_h, kw, p.win.dilation_w) == (3, 3, 1) && stride <= 2 {
        // From the first pixel whose window starts inside the row to the first whose column
        // past it (x0 + 3) is not.
        let lo = p.win.pad_left.div_ceil(stride);
        let hi = (p.in_w + p.win.pad_left).saturating_sub(3).div_ceil(stride).min(p.out_w);
        lo..hi.max(lo)
    } else {
        0..0
    };
    let mut ox = 0;
    while ox < p.out_w {
        if ox == slide.start && !slide.is_empty() {
            let rows3 = [row_ptrs[0], row_ptrs[1], row_ptrs[2]];
            let (ix, o) = (ox * stride - p.win.pad_left, out[ox * c..].as_mut_ptr());
            // SAFETY: the pixels of `slide` read columns x0 .. x0 + 4, inside the rows (the
            // range's bounds); `out` holds them.
            unsafe {
                if stride == 1 {
                    k.sliding::<1>(rows3, ix, slide.len(), o)
                } else {
                    k.sliding::<2>(rows3, ix, slide.len(), o)
                }
            };
            ox = slide.end;
            continue;
        }
        let x0 = (ox * p.win.stride_w).wrapping_sub(p.win.pad_left);
        // SAFETY: `out` holds pixel ox; in the interior every tap's pixel is inside its row
        // (x0 + kx * dilation <= x0 + span < in_w, the row holds in_w * c bytes).
        unsafe {
            let o = out.as_mut_ptr().add(ox * c);
            let tap = |t: usize| row_ptrs[t / kw].add((x0 + (t % kw) * p.win.dilation_w) * c);
            if let Some(pair) = &pairs
                && ox + 1 < p.out_w
                && interior(ox)
                && interior(ox + 1)
            {
                // SAFETY: pixels ox and ox + 1 are interior, and `out` holds both.
                pair.pixels::<9, CAP>(&ep, core::array::from_fn(tap), o);
                ox += 2;
                continue;
            }
            match (interior(ox) && all_rows, taps) {
                (true, 9) => k.pixel::<9>(core::array::from_fn(tap), o),
                (true, 25) => k.pixel::<25>(core::array::from_fn(tap), o),
                _ => {
                    for (ky, row) in rows.iter().enumerate().take(p.win.kernel_h) {
                        for kx in 0..kw {
                            let ix = x0.wrapping_add(kx * p.win.dilation_w);
                            offsets[ky * kw + kx] = if row.is_empty() || ix >= p.in_w {
                                core::ptr::null()
                            } else {
                                // SAFETY: ix < in_w, and the row holds in_w * c bytes.
                                row.as_ptr().add(ix * c)
                            };
                        }
                    }
                    // SAFETY: every non-null offset points at a pixel of c bytes.
                    k.pixel_any(&offsets[..taps], o)
                }
            }
        }
        ox += 1;
    }
}

/// Two pixels of 16 channels in one block of 32 (3x3 windows): the packed weights, bias and
/// multipliers of block 0 with channels 0-15 copied over the (zero) slots of 16-31, which
/// the packed order puts in the upper two 128-bit lanes of each vector (`int8::depthwise`).
struct Pair16 {
    w: [i16; 5 * 64],
    bias: [i32; 32],
    mult: [f32; 32],
    /// Bytes from a tap's pixel for the first output to the same tap for the second.
    step: usize,
}

impl Pair16 {
    fn new(w: &[i16], bias: &[i32], mult: &[f32], step: usize) -> Self {
        let mut r = Self { w: [0; 5 * 64], bias: [0; 32], mult: [0.0; 32], step };
        r.w.copy_from_slice(&w[..5 * 64]);
        r.bias.copy_from_slice(&bias[..32]);
        r.mult.copy_from_slice(&mult[..32]);
        // Each vector of 32 int16 (16 lanes of pairs) or 16 int32: lanes 0-1 into 2-3.
        for v in r.w.chunks_exact_mut(32) {
            v.copy_within(..16, 16);
        }
        for v in r.bias.chunks_exact_mut(16) {
            v.copy_within(..8, 8);
        }
        for v in r.mult.chunks_exact_mut(16) {
            v.copy_within(..8, 8);
        }
        r
    }

    /// Pixels ox and ox + 1; `px[t]` points at tap t's pixel for ox.
    ///
    /// # Safety
    /// Both pixels' taps are inside the image; `out` holds 32 bytes.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn pixels<const TAPS: usize, const CAP: bool>(
        &self,
        ep: &DwEpilogue<CAP>,
        px: [*const u8; TAPS],
        out: *mut u8,
    ) {
        let k = DwKernel { c: 32, w: self.w.as_ptr(), bias: self.bias.as_ptr(), mult: self.mult.as_ptr(), ep };
        let step = self.step;
        // SAFETY: 16 bytes of tap t's pixel for each output, inside the image.
        let x = |t: usize, _ch: usize, _mask| unsafe {
            let two = _mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_loadu_si128(px[t].cast())),
                _mm_loadu_si128(px[t].add(step).cast()),
                1,
            );
            _mm512_cvtepu8_epi16(two)
        };
        unsafe { k.blocks(TAPS, x, out) }
    }
}

/// The depthwise requantisation of 32 channels (two accumulators of 16, in the packed order).
struct DwEpilogue<const CAP: bool> {
    cap: __m512,
    zero: __m512i,
    lo: __m512i,
    hi: __m512i,
    x_zero: __m512i,
}

impl<const CAP: bool> DwEpilogue<CAP> {
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    fn new(p: &crate::int8::depthwise::QDepthwise) -> Self {
        let r = p.requant;
        Self {
            cap: _mm512_set1_ps(r.bounds().1),
            zero: _mm512_set1_epi16(r.zero_point as i16),
            lo: _mm512_set1_epi16(r.lo as i16),
            hi: _mm512_set1_epi16(r.hi as i16),
            x_zero: _mm512_set1_epi16(p.x_zero as i16),
        }
    }

    /// The 32 bytes, in channel order: per 128-bit lane the low accumulator holds channels
    /// 8l..8l+3 and the high one 8l+4..8l+7, which the pack puts side by side. As `Pack64`:
    /// rounded under the cap, then the zero point and the bounds on the packed words.
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    fn bytes(&self, acc: [__m512i; 2], mult: [__m512; 2]) -> __m256i {
        let (a, b) = (round_capped::<CAP>(acc[0], mult[0], self.cap), round_capped::<CAP>(acc[1], mult[1], self.cap));
        let words = _mm512_adds_epi16(_mm512_packs_epi32(a, b), self.zero);
        _mm512_cvtepi16_epi8(_mm512_min_epi16(_mm512_max_epi16(words, self.lo), self.hi))
    }
}

/// What every pixel of a depthwise row shares.
struct DwKernel<'a, const CAP: bool> {
    c: usize,
    w: *const i16,
    bias: *const i32,
    mult: *const f32,
    ep: &'a DwEpilogue<CAP>,
}

impl<const CAP: bool> DwKernel<'_, CAP> {
    /// One pixel, all channels; `x(t, ch, mask)` gives tap t's 32 channels from ch as int16
    /// (`taps` taps, a pair's missing second one 0).
    ///
    /// # Safety
    /// `x` reads only inside the image; weights, bias and multipliers hold whole blocks;
    /// `out` is the pixel's c bytes.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn blocks(&self, taps: usize, x: impl Fn(usize, usize, __mmask32) -> __m512i, out: *mut u8) {
        use crate::int8::depthwise::BLOCK;
        let pairs = taps.div_ceil(2);
        let c = self.c;
        for (b, ch) in (0..c).step_by(BLOCK).enumerate() {
            let n = (c - ch).min(BLOCK);
            let mask: __mmask32 = if n == BLOCK { u32::MAX } else { (1u32 << n) - 1 };
            // SAFETY: packed weights, bias and multipliers hold whole blocks (`check`); the
            // masked store writes channels < c of the pixel.
            unsafe {
                let mut acc_lo = _mm512_loadu_si512(self.bias.add(b * BLOCK).cast());
                let mut acc_hi = _mm512_loadu_si512(self.bias.add(b * BLOCK + 16).cast());
                for pr in 0..pairs {
                    let x0 = x(tap_at(2 * pr, taps), ch, mask);
                    let x1 =
                        if 2 * pr + 1 < taps { x(tap_at(2 * pr + 1, taps), ch, mask) } else { _mm512_setzero_si512() };
                    let wp = self.w.add((b * pairs + pr) * 64);
                    // vpdpwssd: the pairs' products added to the accumulator in one instruction.
                    acc_lo = _mm512_dpwssd_epi32(acc_lo, _mm512_unpacklo_epi16(x0, x1), _mm512_loadu_si512(wp.cast()));
                    acc_hi = _mm512_dpwssd_epi32(
                        acc_hi,
                        _mm512_unpackhi_epi16(x0, x1),
                        _mm512_loadu_si512(wp.add(32).cast()),
                    );
                }
                let m = [_mm512_loadu_ps(self.mult.add(b * BLOCK)), _mm512_loadu_ps(self.mult.add(b * BLOCK + 16))];
                _mm256_mask_storeu_epi8(out.add(ch).cast(), mask, self.ep.bytes([acc_lo, acc_hi], m));
            }
        }
    }

    /// `count` pixels of a row of a 3x3 window at stride `S` (1 or 2), the first reading
    /// columns from `ix` to `ix + 3` of the three `rows`, block by block. In the pair order
    /// (`int8::depthwise::tap_at`) the first three pairs are a column's top two rows, which
    /// the pixels to the right that read that column use too, and the last two are the
    /// bottom row's (c0, c1) and (c2, c3) with c3's weight zero: both "column ix with ix + 1"
    /// of the bottom row, the second being the first of the pixel two columns on. So each
    /// column's pairs are formed once. Per pixel and block at stride 1: three loads widened
    /// and four unpacks, instead of nine and ten; at stride 2, six and six.
    ///
    /// # Safety
    /// Columns `ix .. ix + S * (count - 1) + 4` of each row are inside it (c bytes each);
    /// `out` holds `count` pixels; as `blocks` otherwise.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn sliding<const S: usize>(&self, rows: [*const u8; 3], ix: usize, count: usize, out: *mut u8) {
        use crate::int8::depthwise::BLOCK;
        let c = self.c;
        for (b, ch) in (0..c).step_by(BLOCK).enumerate() {
            let n = (c - ch).min(BLOCK);
            let mask: __mmask32 = if n == BLOCK { u32::MAX } else { (1u32 << n) - 1 };
            // SAFETY (all reads and the store below): as this function's contract; weights,
            // bias and multipliers hold whole blocks.
            unsafe {
                let x = |r: usize, ix: usize| {
                    _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(mask, rows[r].add(ix * c + ch).cast()))
                };
                let pair = |a: __m512i, b: __m512i| [_mm512_unpacklo_epi16(a, b), _mm512_unpackhi_epi16(a, b)];
                let column = |ix: usize| pair(x(0, ix), x(1, ix));
                let wp = self.w.add(b * 5 * 64);
                let w: [[__m512i; 2]; 5] = core::array::from_fn(|pr| {
                    [_mm512_loadu_si512(wp.add(pr * 64).cast()), _mm512_loadu_si512(wp.add(pr * 64 + 32).cast())]
                });
                let bias =
                    [_mm512_loadu_si512(self.bias.add(ch).cast()), _mm512_loadu_si512(self.bias.add(ch + 16).cast())];
                let m = [_mm512_loadu_ps(self.mult.add(ch)), _mm512_loadu_ps(self.mult.add(ch + 16))];
                let pixel = |i: usize, v: [[__m512i; 2]; 3], u0: [__m512i; 2], u2: [__m512i; 2]| {
                    let acc: [__m512i; 2] = core::array::from_fn(|h| {
                        let mut a = _mm512_dpwssd_epi32(bias[h], v[0][h], w[0][h]);
                        a = _mm512_dpwssd_epi32(a, v[1][h], w[1][h]);
                        a = _mm512_dpwssd_epi32(a, v[2][h], w[2][h]);
                        a = _mm512_dpwssd_epi32(a, u0[h], w[3][h]);
                        _mm512_dpwssd_epi32(a, u2[h], w[4][h])
                    });
                    _mm256_mask_storeu_epi8(out.add(i * c + ch).cast(), mask, self.ep.bytes(acc, m));
                };
                if S == 1 {
                    // Kept: the top pairs of columns ix and ix + 1, the bottom row's (ix, ix
                    // + 1) and (ix + 1, ix + 2), and its column ix + 2.
                    let (mut v0, mut v1) = (column(ix), column(ix + 1));
                    let mut last = x(2, ix + 2);
                    let (mut u0, mut u1) = (pair(x(2, ix), x(2, ix + 1)), pair(x(2, ix + 1), last));
                    for i in 0..count {
                        let v2 = column(ix + i + 2);
                        let next = x(2, ix + i + 3);
                        let u2 = pair(last, next);
                        pixel(i, [v0, v1, v2], u0, u2);
                        (v0, v1, u0, u1, last) = (v1, v2, u1, u2, next);
                    }
                } else {
                    // Kept: the top pairs of column ix and the bottom row's (ix, ix + 1).
                    let mut v0 = column(ix);
                    let mut u0 = pair(x(2, ix), x(2, ix + 1));
                    for i in 0..count {
                        let at = ix + S * i;
                        let (v1, v2) = (column(at + 1), column(at + 2));
                        let u2 = pair(x(2, at + 2), x(2, at + 3));
                        pixel(i, [v0, v1, v2], u0, u2);
                        (v0, u0) = (v2, u2);
                    }
                }
            }
        }
    }

    /// A pixel whose `TAPS` taps are all inside the image (the tap loop unrolled).
    ///
    /// # Safety
    /// Each `px[t]` points at a pixel of c bytes; as `blocks` otherwise.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn pixel<const TAPS: usize>(&self, px: [*const u8; TAPS], out: *mut u8) {
        // SAFETY: the masked load reads channels ch..ch + n of a pixel inside its row.
        let x = |t: usize, ch: usize, mask| unsafe {
            _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(mask, px[t].add(ch).cast()))
        };
        unsafe { self.blocks(TAPS, x, out) }
    }

    /// A pixel with taps outside the image (null in `px`), which read the zero point.
    ///
    /// # Safety
    /// Each non-null `px[t]` points at a pixel of c bytes; as `blocks` otherwise.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn pixel_any(&self, px: &[*const u8], out: *mut u8) {
        let xz = self.ep.x_zero;
        let x = |t: usize, ch: usize, mask| match px[t] {
            o if o.is_null() => xz,
            // SAFETY: as in `pixel`.
            o => unsafe { _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(mask, o.add(ch).cast())) },
        };
        unsafe { self.blocks(px.len(), x, out) }
    }
}

/// `convert::quantize` on 16 floats at a time (the same division, clamp and rounding).
///
/// # Safety
/// The CPU must have AVX-512F, BW and VL; `output.len() >= input.len()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn quantize(p: &crate::int8::convert::Quantize, input: &[f32], output: &mut [u8]) {
    let q = Quantize16::new(p);
    for (i, chunk) in input.chunks(16).enumerate() {
        let mask: __mmask16 = if chunk.len() == 16 { 0xffff } else { ((1u32 << chunk.len()) - 1) as u16 };
        // SAFETY: masked loads and stores of the chunk's elements, which both slices hold.
        unsafe {
            let bytes = q.bytes(_mm512_maskz_loadu_ps(mask, chunk.as_ptr()));
            _mm_mask_storeu_epi8(output.as_mut_ptr().add(i * 16).cast(), mask, bytes);
        }
    }
}

/// `convert::quantize` of one image of three planes into interleaved bytes (RGB), 16 pixels
/// at a time: each plane's 16 bytes side by side in one vector, then one `vpermb` into pixel
/// order.
///
/// # Safety
/// The CPU must have AVX-512F, BW, VL and VBMI; `input` and `output` hold `3 * p.plane`
/// elements.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi")]
pub(crate) unsafe fn quantize_rgb(p: &crate::int8::convert::Quantize, input: &[f32], output: &mut [u8]) {
    let plane = p.plane;
    debug_assert!(input.len() == 3 * plane && output.len() == 3 * plane);
    let q = Quantize16::new(p);
    // Output byte j is pixel j / 3's channel j % 3, which the concatenated planes hold at
    // 16 * (j % 3) + j / 3.
    let order: [u8; 64] = core::array::from_fn(|j| if j < 48 { (16 * (j % 3) + j / 3) as u8 } else { 0 });
    // SAFETY: 64 bytes.
    let order = unsafe { _mm512_loadu_si512(order.as_ptr().cast()) };
    for start in (0..plane).step_by(16) {
        let n = (plane - start).min(16);
        let mask: __mmask16 = if n == 16 { 0xffff } else { ((1u32 << n) - 1) as u16 };
        // SAFETY: masked reads of pixels start..start + n of each plane, and a masked store of
        // their 3 * n bytes, inside the image.
        unsafe {
            let plane_bytes = |ch: usize| q.bytes(_mm512_maskz_loadu_ps(mask, input.as_ptr().add(ch * plane + start)));
            let v = _mm512_inserti32x4(_mm512_castsi128_si512(plane_bytes(0)), plane_bytes(1), 1);
            let v = _mm512_inserti32x4(v, plane_bytes(2), 2);
            let out_mask: __mmask64 = (1u64 << (3 * n)) - 1;
            _mm512_mask_storeu_epi8(
                output.as_mut_ptr().add(3 * start).cast(),
                out_mask,
                _mm512_permutexvar_epi8(order, v),
            );
        }
    }
}

/// The quantisation of 16 floats to bytes.
struct Quantize16 {
    scale: __m512,
    zero: __m512i,
    lo: __m512,
    hi: __m512,
}

impl Quantize16 {
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn new(p: &crate::int8::convert::Quantize) -> Self {
        Self {
            scale: _mm512_set1_ps(p.scale),
            zero: _mm512_set1_epi32(p.zero_point),
            lo: _mm512_set1_ps((p.lo - p.zero_point) as f32),
            hi: _mm512_set1_ps((p.hi - p.zero_point) as f32),
        }
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    fn bytes(&self, x: __m512) -> __m128i {
        let v = _mm512_min_ps(_mm512_max_ps(_mm512_div_ps(x, self.scale), self.lo), self.hi);
        _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(v), self.zero))
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

/// `qgemm` with AVX2 and no dot-product instruction, exactly: four int8 weights of a column
/// become two pairs of int16 (a byte shuffle and a sign extension per 8 columns and 4 `k`),
/// each multiplied by a pair of the row's bytes with `vpmaddwd` (int16 products summed in
/// int32, so nothing saturates, unlike `vpmaddubsw`). Tiles of 4 rows by 16 columns.
///
/// # Safety
/// The CPU must have AVX2; as `qgemm_vnni` otherwise.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn qgemm_avx2(
    p: &QGemm,
    a: &[u8],
    b: &[i8],
    consts: &[i32],
    mult: &[f32],
    rows: Range<usize>,
    out: &mut [u8],
) {
    let (k, n) = (p.k, p.n);
    let (k4, panels) = (k.div_ceil(4), padded(n) / NR);
    let (bias, w_zero) = consts.split_at(padded(n));
    let ep = Epilogue8::new(p, mult, w_zero);
    // Per 128-bit lane: the (k0, k1) bytes of its 4 columns, then their (k2, k3).
    let split = _mm256_setr_epi8(
        0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15, 0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
    );
    // Four bytes of a row (zero past k) as the int16 pairs (a0, a1) and (a2, a3).
    let quad = |row: usize, kq: usize| -> (__m256i, __m256i) {
        let start = row * k + kq * 4;
        let q = match a.get(start..start + 4) {
            Some(four) if kq * 4 + 4 <= k => u32::from_le_bytes([four[0], four[1], four[2], four[3]]),
            _ => {
                let mut q = [0u8; 4];
                let len = k - kq * 4;
                q[..len].copy_from_slice(&a[start..start + len]);
                u32::from_le_bytes(q)
            }
        };
        let spread = |x: u32| _mm256_set1_epi32(((x & 0xff) | (x & 0xff00) << 8) as i32);
        (spread(q), spread(q >> 16))
    };
    let mut i = rows.start;
    while i < rows.end {
        let mr = (rows.end - i).min(4);
        let sums: [i32; 4] = core::array::from_fn(|r| {
            if p.row_sums && r < mr { a[(i + r) * k..][..k].iter().map(|&v| v as i32).sum() } else { 0 }
        });
        for panel in 0..panels {
            let mut acc = [[_mm256_setzero_si256(); 2]; 4];
            let bp = b[panel * k4 * NR * 4..].as_ptr();
            for kq in 0..k4 {
                // SAFETY: the packed panel holds k4 groups of 64 bytes.
                let (w01, w23): ([__m256i; 2], [__m256i; 2]) = unsafe {
                    let half = |h: usize| {
                        let v = _mm256_loadu_si256(bp.add((kq * NR + h * 8) * 4).cast());
                        let v = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(v, split), 0b11_01_10_00);
                        (
                            _mm256_cvtepi8_epi16(_mm256_castsi256_si128(v)),
                            _mm256_cvtepi8_epi16(_mm256_extracti128_si256(v, 1)),
                        )
                    };
                    let (x0, y0) = half(0);
                    let (x1, y1) = half(1);
                    ([x0, x1], [y0, y1])
                };
                for (r, acc) in acc.iter_mut().enumerate().take(mr) {
                    let (a01, a23) = quad(i + r, kq);
                    for h in 0..2 {
                        let s = _mm256_add_epi32(_mm256_madd_epi16(w01[h], a01), _mm256_madd_epi16(w23[h], a23));
                        acc[h] = _mm256_add_epi32(acc[h], s);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate().take(mr) {
                for (h, &v) in acc.iter().enumerate() {
                    let col = panel * NR + h * 8;
                    if col >= n {
                        continue;
                    }
                    // SAFETY: the constants hold padded(n) biases.
                    let v = _mm256_add_epi32(v, unsafe { _mm256_loadu_si256(bias.as_ptr().add(col).cast()) });
                    let at = (i - rows.start + r) * n + col;
                    // SAFETY: as this function's contract.
                    unsafe { ep.store(v, col, sums[r], &mut out[at..at + (n - col).min(8)]) };
                }
            }
        }
        i += mr;
    }
}

/// The AVX2 GEMMs' epilogue, 8 columns at a time: the zero-point correction, requantisation
/// and the bytes of the columns < n.
struct Epilogue8<'a> {
    row_sums: bool,
    mult: &'a [f32],
    w_zero: &'a [i32],
    lo: __m256,
    hi: __m256,
    zero: __m256i,
}

impl<'a> Epilogue8<'a> {
    #[target_feature(enable = "avx2")]
    #[inline]
    fn new(p: &QGemm, mult: &'a [f32], w_zero: &'a [i32]) -> Self {
        let (lo, hi) = p.requant.bounds();
        let (lo, hi, zero) = (_mm256_set1_ps(lo), _mm256_set1_ps(hi), _mm256_set1_epi32(p.requant.zero_point));
        Self { row_sums: p.row_sums, mult, w_zero, lo, hi, zero }
    }

    /// Columns `col..col + out.len()` (at most 8) of a row whose sums (bias included) are `v`
    /// and whose byte sum is `sum`.
    ///
    /// # Safety
    /// `mult` and `w_zero` hold 8 entries from `col` (whole padded panels).
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn store(&self, v: __m256i, col: usize, sum: i32, out: &mut [u8]) {
        // SAFETY: as this function's contract.
        let (mv, zw) = unsafe {
            (_mm256_loadu_ps(self.mult.as_ptr().add(col)), _mm256_loadu_si256(self.w_zero.as_ptr().add(col).cast()))
        };
        let mut v = v;
        if self.row_sums {
            v = _mm256_sub_epi32(v, _mm256_mullo_epi32(zw, _mm256_set1_epi32(sum)));
        }
        let f = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(v), mv), self.lo), self.hi);
        let mut lanes = [0i32; 8];
        // SAFETY: an 8-lane store into an 8-element array.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), _mm256_add_epi32(_mm256_cvtps_epi32(f), self.zero)) };
        for (o, &l) in out.iter_mut().zip(&lanes) {
            *o = l as u8;
        }
    }
}

/// An entry point of the 256-bit VNNI GEMM: `qgemm_dot256` compiled with `$features`, whose
/// dot products are the encoding `$evex` names.
macro_rules! dot256_entry {
    ($(#[$doc:meta])* $name:ident, $features:literal, $evex:literal) => {
        $(#[$doc])*
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn $name(
            p: &QGemm,
            a: &[u8],
            b: &[i8],
            consts: &[i32],
            mult: &[f32],
            rows: Range<usize>,
            out: &mut [u8],
        ) {
            // SAFETY: as this function's contract; the features enable the dot products' encoding.
            unsafe { qgemm_dot256::<$evex>(p, a, b, consts, mult, rows, out) }
        }
    };
}

dot256_entry!(
    /// `qgemm` with the 256-bit `vpdpbusd` of AVX-VNNI (CPUs with AVX2 and VNNI but no AVX-512).
    ///
    /// # Safety
    /// The CPU must have AVX2 and AVX-VNNI; as `qgemm_vnni` otherwise.
    qgemm_avx_vnni,
    "avx2,avxvnni",
    false
);

dot256_entry!(
    /// `qgemm_avx_vnni`'s code with the EVEX form of the same instruction (AVX-512 VNNI and
    /// VL), which is how AVX-512 machines test it.
    ///
    /// # Safety
    /// The CPU must have AVX2, AVX-512 VNNI and VL; as `qgemm_vnni` otherwise.
    qgemm_vnni256,
    "avx2,avx512f,avx512vl,avx512vnni",
    true
);

/// `vpdpbusd` on 256 bits, in the encoding `EVEX` names (inlined into an entry point that
/// enables it).
#[inline(always)]
unsafe fn dot256<const EVEX: bool>(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
    // SAFETY: the entry point enabled the features of the encoding asked for.
    unsafe { if EVEX { _mm256_dpbusd_epi32(acc, a, b) } else { _mm256_dpbusd_avx_epi32(acc, a, b) } }
}

/// The body of the 256-bit VNNI GEMM: tiles of up to 4 rows by 16 columns (one panel, two
/// vectors of 8) in 8 accumulators, a row's four bytes broadcast per step as in `qgemm_vnni`;
/// the epilogue as `qgemm_avx2`'s.
///
/// # Safety
/// Inlined only into `qgemm_avx_vnni` and `qgemm_vnni256`, whose contracts it has.
#[inline(always)]
unsafe fn qgemm_dot256<const EVEX: bool>(
    p: &QGemm,
    a: &[u8],
    b: &[i8],
    consts: &[i32],
    mult: &[f32],
    rows: Range<usize>,
    out: &mut [u8],
) {
    let (k, n) = (p.k, p.n);
    let (k4, kfull, panels) = (k.div_ceil(4), k / 4, padded(n) / NR);
    let (bias, w_zero) = consts.split_at(padded(n));
    // SAFETY (the block): the register work needs AVX2 only; reads as in `qgemm_vnni`.
    unsafe {
        let ep = Epilogue8::new(p, mult, w_zero);
        // Four bytes of a row at group kq (zero past k) as one int32.
        let quad = |row: usize, kq: usize| -> i32 {
            let start = row * k + kq * 4;
            if kq < kfull {
                i32::from_le_bytes(a[start..start + 4].try_into().expect("4 bytes"))
            } else {
                let mut four = [0u8; 4];
                four[..k - kq * 4].copy_from_slice(&a[start..row * k + k]);
                i32::from_le_bytes(four)
            }
        };
        let mut i = rows.start;
        while i < rows.end {
            let mr = (rows.end - i).min(4);
            let sums: [i32; 4] = core::array::from_fn(|r| {
                if p.row_sums && r < mr { a[(i + r) * k..][..k].iter().map(|&v| v as i32).sum() } else { 0 }
            });
            for panel in 0..panels {
                let col0 = panel * NR;
                let start = [
                    _mm256_loadu_si256(bias.as_ptr().add(col0).cast()),
                    _mm256_loadu_si256(bias.as_ptr().add(col0 + 8).cast()),
                ];
                let mut acc = [start; 4];
                let bp = b.as_ptr().add(panel * k4 * NR * 4);
                for kq in 0..k4 {
                    let bv = [
                        _mm256_loadu_si256(bp.add(kq * NR * 4).cast()),
                        _mm256_loadu_si256(bp.add(kq * NR * 4 + 32).cast()),
                    ];
                    for (r, acc) in acc.iter_mut().enumerate().take(mr) {
                        let av = _mm256_set1_epi32(quad(i + r, kq));
                        acc[0] = dot256::<EVEX>(acc[0], av, bv[0]);
                        acc[1] = dot256::<EVEX>(acc[1], av, bv[1]);
                    }
                }
                for (r, acc) in acc.iter().enumerate().take(mr) {
                    for (h, &v) in acc.iter().enumerate() {
                        let col = col0 + h * 8;
                        if col >= n {
                            continue;
                        }
                        let at = (i - rows.start + r) * n + col;
                        ep.store(v, col, sums[r], &mut out[at..at + (n - col).min(8)]);
                    }
                }
            }
            i += mr;
        }
    }
}

/// `depthwise_row` with AVX2: the same packed weights, 16 channels (half a block) at a time;
/// a pixel's last channels short of 16 are read through a zero-padded copy.
///
/// # Safety
/// The CPU must have AVX2; as `depthwise_row` otherwise.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn depthwise_row_avx2(
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
    let (lo, hi, zero) = (_mm256_set1_ps(lo), _mm256_set1_ps(hi), _mm256_set1_epi32(p.requant.zero_point));
    let xz = _mm256_set1_epi16(p.x_zero as i16);
    let mut pixels: [&[u8]; MAX_TAPS] = [&[]; MAX_TAPS];
    for ox in 0..p.out_w {
        let x0 = (ox * p.win.stride_w).wrapping_sub(p.win.pad_left);
        for (ky, row) in rows.iter().enumerate().take(p.win.kernel_h) {
            for kx in 0..kw {
                let ix = x0.wrapping_add(kx * p.win.dilation_w);
                pixels[ky * kw + kx] = if !row.is_empty() && ix < p.in_w { &row[ix * c..][..c] } else { &[] };
            }
        }
        for ch in (0..c).step_by(16) {
            let (b, half) = (ch / BLOCK, (ch % BLOCK) / 16);
            // 16 channels of tap t as int16 (the zero point outside the image; see `depthwise_row`).
            let x = |t: usize| -> __m256i {
                if t >= taps {
                    return _mm256_setzero_si256();
                }
                let px = pixels[t];
                if px.is_empty() {
                    return xz;
                }
                let mut tmp = [0u8; 16];
                let bytes = if ch + 16 <= c {
                    &px[ch..ch + 16]
                } else {
                    tmp[..c - ch].copy_from_slice(&px[ch..]);
                    &tmp[..]
                };
                // SAFETY: 16 readable bytes.
                let v = unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) };
                _mm256_cvtepu8_epi16(v)
            };
            let mut acc = [_mm256_setzero_si256(); 2];
            for pr in 0..pairs {
                let (x0, x1) = (x(tap_at(2 * pr, taps)), x(tap_at(2 * pr + 1, taps)));
                let wp = &w[(b * pairs + pr) * 64..][..64];
                // SAFETY: 16 int16 at offsets 16 * half and 32 + 16 * half of 64.
                let (w_lo, w_hi) = unsafe {
                    (
                        _mm256_loadu_si256(wp[half * 16..].as_ptr().cast()),
                        _mm256_loadu_si256(wp[32 + half * 16..].as_ptr().cast()),
                    )
                };
                acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(_mm256_unpacklo_epi16(x0, x1), w_lo));
                acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(_mm256_unpackhi_epi16(x0, x1), w_hi));
            }
            for (j, &v) in acc.iter().enumerate() {
                // Lanes of the low accumulator: channels 0-3 and 8-11 of these 16; high: 4-7, 12-15.
                let at = b * BLOCK + j * 16 + half * 8;
                // SAFETY: bias and multipliers hold whole blocks.
                let (bv, mv) =
                    unsafe { (_mm256_loadu_si256(bias[at..].as_ptr().cast()), _mm256_loadu_ps(mult[at..].as_ptr())) };
                let v = _mm256_add_epi32(v, bv);
                let f = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(v), mv), lo), hi);
                let mut lanes = [0i32; 8];
                // SAFETY: an 8-lane store into an 8-element array.
                unsafe {
                    _mm256_storeu_si256(lanes.as_mut_ptr().cast(), _mm256_add_epi32(_mm256_cvtps_epi32(f), zero))
                };
                for (l, &q) in lanes.iter().enumerate() {
                    let channel = ch + (l / 4) * 8 + j * 4 + l % 4;
                    if channel < c {
                        out[ox * c + channel] = q as u8;
                    }
                }
            }
        }
    }
}

/// `convert::lookup`, 64 bytes at a time: two 128-entry halves of the table by `vpermi2b`
/// (seven bits of each byte), the eighth bit choosing between them.
///
/// # Safety
/// The CPU must have AVX-512 VBMI and BW; `output.len() == input.len()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(crate) unsafe fn lookup(table: &[u8; 256], input: &[u8], output: &mut [u8]) {
    // SAFETY: four 64-byte loads of the 256-byte table.
    let t: [__m512i; 4] = core::array::from_fn(|i| unsafe { _mm512_loadu_si512(table.as_ptr().add(64 * i).cast()) });
    for (i, chunk) in input.chunks(64).enumerate() {
        let mask: __mmask64 = if chunk.len() == 64 { u64::MAX } else { (1u64 << chunk.len()) - 1 };
        // SAFETY: masked loads and stores of the chunk's bytes, which both slices hold.
        unsafe {
            let x = _mm512_maskz_loadu_epi8(mask, chunk.as_ptr().cast());
            let low = _mm512_permutex2var_epi8(t[0], x, t[1]);
            let high = _mm512_permutex2var_epi8(t[2], x, t[3]);
            let upper = _mm512_movepi8_mask(x);
            let y = _mm512_mask_blend_epi8(upper, low, high);
            _mm512_mask_storeu_epi8(output.as_mut_ptr().add(64 * i).cast(), mask, y);
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    /// The uncapped epilogue only where every multiplier is below 0.5, whichever lane of a
    /// partial chunk holds the exception.
    #[test]
    fn small_multipliers_needs_every_one_below_a_half() {
        if !std::is_x86_feature_detected!("avx512f") {
            return std::eprintln!("skipped: no AVX-512 here");
        }
        let small = |v: &[f32]| unsafe { super::small_multipliers(v) };
        let mut v = std::vec![0.4999f32; 37];
        assert!(small(&v));
        for (at, bad) in [(0, 0.5), (16, 7.0), (36, f32::NAN), (35, f32::INFINITY)] {
            let keep = v[at];
            v[at] = bad;
            assert!(!small(&v), "{bad} at {at}");
            v[at] = keep;
        }
        assert!(small(&[]));
    }
}
