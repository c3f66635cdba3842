//! x86_64 vector types behind one small trait, so each SIMD kernel is written once and compiled
//! for AVX2+FMA (8 lanes) and AVX-512F (16 lanes).
//!
//! The trait's methods are `#[inline(always)]`: they are only ever called from generic kernel
//! code that is itself inlined into a `#[target_feature]` entry point (`gemm::avx512`, ...), so
//! the intrinsics end up compiled with the features they need.
//!
//! Loads and stores take slices and check their length, so the trait is safe to use; the only
//! unsafe operations are the raw-pointer intrinsics right after such a check.

use core::arch::x86_64::*;

pub(crate) mod int8;

use crate::act::AffineClamp;

pub(crate) trait Simd: Copy {
    const LANES: usize;
    type V: Copy;
    /// A vector of half the lanes where there is one: for AVX-512 the 8-lane AVX2 vector, whose
    /// FMA costs half as much on Zen 4's 256-bit pipes; for AVX2 it is AVX2 itself (same lanes,
    /// so code asking for half-width vectors never takes that path).
    type Half: Simd;
    /// The low half of `v` (free: the same register).
    fn low_half(v: Self::V) -> <Self::Half as Simd>::V;
    fn splat(x: f32) -> Self::V;
    /// The first `LANES` elements of `s` (panics if shorter).
    fn load(s: &[f32]) -> Self::V;
    /// The first `n < LANES` elements of `s`, zeros after.
    fn load_partial(s: &[f32], n: usize) -> Self::V;
    fn store(s: &mut [f32], v: Self::V);
    /// `LANES` elements at `p`, unchecked.
    ///
    /// # Safety
    /// `p .. p + LANES` must be readable f32 (callers check the whole range a loop will touch
    /// once, before the loop).
    unsafe fn load_ptr(p: *const f32) -> Self::V;
    /// Stores the first `n < LANES` lanes.
    fn store_partial(s: &mut [f32], n: usize, v: Self::V);
    /// a * b + c
    fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    fn add(a: Self::V, b: Self::V) -> Self::V;
    fn mul(a: Self::V, b: Self::V) -> Self::V;
    fn sub(a: Self::V, b: Self::V) -> Self::V;
    fn div(a: Self::V, b: Self::V) -> Self::V;
    /// `a > b ? a : b` in each lane (`maxps`): `b` when either is NaN. See `act::max_lane`.
    fn max(a: Self::V, b: Self::V) -> Self::V;
    /// `a < b ? a : b` in each lane (`minps`): `b` when either is NaN.
    fn min(a: Self::V, b: Self::V) -> Self::V;
    /// `a + b` in the lanes where `a` or `b` is NaN (a NaN), `v` elsewhere.
    fn nan_where_either(a: Self::V, b: Self::V, v: Self::V) -> Self::V;

    /// `n` lanes from `s`: a full load when `n == LANES`, a partial one otherwise.
    #[inline(always)]
    fn load_n(s: &[f32], n: usize) -> Self::V {
        if n == Self::LANES { Self::load(s) } else { Self::load_partial(s, n) }
    }

    #[inline(always)]
    fn store_n(s: &mut [f32], n: usize, v: Self::V) {
        if n == Self::LANES { Self::store(s, v) } else { Self::store_partial(s, n, v) }
    }

    /// `x` clamped to `[lo, hi]`, as `act::clamp`: NaN stays NaN, a NaN bound is no bound.
    #[inline(always)]
    fn clamp(x: Self::V, lo: Self::V, hi: Self::V) -> Self::V {
        Self::min(hi, Self::max(lo, x))
    }

    /// The activation epilogue: `clamp(scale * x + shift, lo, hi)`, times x for hard-swish.
    /// For one vector in a loop (the depthwise columns): one form whatever the activation, as
    /// tests per vector cost more there than the FMA they would save (kernel benches: 3-11%
    /// slower with [`Simd::activate_tile`]'s three-way choice).
    #[inline(always)]
    fn activate(x: Self::V, c: &AffineClamp) -> Self::V {
        let y =
            Self::clamp(Self::fma(x, Self::splat(c.scale), Self::splat(c.shift)), Self::splat(c.lo), Self::splat(c.hi));
        if c.times_x { Self::mul(y, x) } else { y }
    }

    /// [`Simd::activate`] over a whole register tile, with the tests made once: each
    /// branch is then a straight-line loop that unrolls, so the tile stays in registers (with
    /// the test inside, the loop did not unroll and the tile went through the stack).
    #[inline(always)]
    fn activate_tile<const R: usize, const N: usize>(xs: &mut [[Self::V; N]; R], c: &AffineClamp) {
        let (scale, shift, lo, hi) = (Self::splat(c.scale), Self::splat(c.shift), Self::splat(c.lo), Self::splat(c.hi));
        if c.is_identity() {
            // No activation (the linear projections): nothing to do.
        } else if c.is_clamp() {
            // Relu, Relu6, Clip (most layers): the clamp alone. The scale-and-shift FMA would
            // take an FMA pipe slot per output vector: in a 16-deep GEMM one in 17.
            for row in xs.iter_mut() {
                for x in row.iter_mut() {
                    *x = Self::clamp(*x, lo, hi);
                }
            }
        } else if c.times_x {
            for row in xs.iter_mut() {
                for x in row.iter_mut() {
                    *x = Self::mul(Self::clamp(Self::fma(*x, scale, shift), lo, hi), *x);
                }
            }
        } else {
            for row in xs.iter_mut() {
                for x in row.iter_mut() {
                    *x = Self::clamp(Self::fma(*x, scale, shift), lo, hi);
                }
            }
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Avx2;

impl Simd for Avx2 {
    const LANES: usize = 8;
    type V = __m256;
    type Half = Avx2;
    #[inline(always)]
    fn low_half(v: __m256) -> __m256 {
        v
    }
    #[inline(always)]
    fn splat(x: f32) -> __m256 {
        // SAFETY: Avx2 methods run inside `#[target_feature(enable = "avx2,fma")]` entry points
        // reached only through a `Cpu` that detected AVX2 and FMA.
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    fn load(s: &[f32]) -> __m256 {
        let s = &s[..8];
        // SAFETY: `s` holds 8 readable f32 (sliced above); features as in `splat`.
        unsafe { _mm256_loadu_ps(s.as_ptr()) }
    }
    #[inline(always)]
    unsafe fn load_ptr(p: *const f32) -> __m256 {
        // SAFETY: the caller guarantees 8 readable f32 at p; features as in `splat`.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    fn load_partial(s: &[f32], n: usize) -> __m256 {
        let mut tmp = [0f32; 8];
        tmp[..n].copy_from_slice(&s[..n]);
        Self::load(&tmp)
    }
    #[inline(always)]
    fn store(s: &mut [f32], v: __m256) {
        let s = &mut s[..8];
        // SAFETY: `s` holds 8 writable f32 (sliced above); features as in `splat`.
        unsafe { _mm256_storeu_ps(s.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn store_partial(s: &mut [f32], n: usize, v: __m256) {
        let mut tmp = [0f32; 8];
        Self::store(&mut tmp, v);
        s[..n].copy_from_slice(&tmp[..n]);
    }
    #[inline(always)]
    fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: features as in `splat`.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn add(a: __m256, b: __m256) -> __m256 {
        // SAFETY: features as in `splat`.
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    fn mul(a: __m256, b: __m256) -> __m256 {
        // SAFETY: features as in `splat`.
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    fn sub(a: __m256, b: __m256) -> __m256 {
        // SAFETY: features as in `splat`.
        unsafe { _mm256_sub_ps(a, b) }
    }
    #[inline(always)]
    fn div(a: __m256, b: __m256) -> __m256 {
        // SAFETY: features as in `splat`.
        unsafe { _mm256_div_ps(a, b) }
    }
    #[inline(always)]
    fn max(a: __m256, b: __m256) -> __m256 {
        // SAFETY: features as in `splat`.
        unsafe { _mm256_max_ps(a, b) }
    }
    #[inline(always)]
    fn min(a: __m256, b: __m256) -> __m256 {
        // SAFETY: features as in `splat`.
        unsafe { _mm256_min_ps(a, b) }
    }
    #[inline(always)]
    fn nan_where_either(a: __m256, b: __m256, v: __m256) -> __m256 {
        // SAFETY: features as in `splat`.
        unsafe { _mm256_blendv_ps(v, _mm256_add_ps(a, b), _mm256_cmp_ps::<_CMP_UNORD_Q>(a, b)) }
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Avx512;

#[inline(always)]
fn mask(n: usize) -> __mmask16 {
    ((1u32 << n) - 1) as __mmask16
}

impl Simd for Avx512 {
    const LANES: usize = 16;
    type V = __m512;
    type Half = Avx2;
    #[inline(always)]
    fn low_half(v: __m512) -> __m256 {
        // SAFETY: features as in `splat` (a register reinterpretation, no memory access).
        unsafe { _mm512_castps512_ps256(v) }
    }
    #[inline(always)]
    fn splat(x: f32) -> __m512 {
        // SAFETY: Avx512 methods run inside `#[target_feature(enable = "avx512f,avx2,fma")]`
        // entry points reached only through a `Cpu` that detected AVX-512F.
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    fn load(s: &[f32]) -> __m512 {
        let s = &s[..16];
        // SAFETY: `s` holds 16 readable f32 (sliced above); features as in `splat`.
        unsafe { _mm512_loadu_ps(s.as_ptr()) }
    }
    #[inline(always)]
    unsafe fn load_ptr(p: *const f32) -> __m512 {
        // SAFETY: the caller guarantees 16 readable f32 at p; features as in `splat`.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    fn load_partial(s: &[f32], n: usize) -> __m512 {
        let s = &s[..n];
        // SAFETY: the mask enables lanes 0..n only, and `s` holds n readable f32 (sliced above);
        // masked-off lanes are not accessed. Features as in `splat`.
        unsafe { _mm512_maskz_loadu_ps(mask(n), s.as_ptr()) }
    }
    #[inline(always)]
    fn store(s: &mut [f32], v: __m512) {
        let s = &mut s[..16];
        // SAFETY: `s` holds 16 writable f32 (sliced above); features as in `splat`.
        unsafe { _mm512_storeu_ps(s.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn store_partial(s: &mut [f32], n: usize, v: __m512) {
        let s = &mut s[..n];
        // SAFETY: only lanes 0..n are written and `s` holds n writable f32 (sliced above).
        unsafe { _mm512_mask_storeu_ps(s.as_mut_ptr(), mask(n), v) }
    }
    #[inline(always)]
    fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: features as in `splat`.
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn add(a: __m512, b: __m512) -> __m512 {
        // SAFETY: features as in `splat`.
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    fn mul(a: __m512, b: __m512) -> __m512 {
        // SAFETY: features as in `splat`.
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    fn sub(a: __m512, b: __m512) -> __m512 {
        // SAFETY: features as in `splat`.
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    fn div(a: __m512, b: __m512) -> __m512 {
        // SAFETY: features as in `splat`.
        unsafe { _mm512_div_ps(a, b) }
    }
    #[inline(always)]
    fn max(a: __m512, b: __m512) -> __m512 {
        // SAFETY: features as in `splat`.
        unsafe { _mm512_max_ps(a, b) }
    }
    #[inline(always)]
    fn min(a: __m512, b: __m512) -> __m512 {
        // SAFETY: features as in `splat`.
        unsafe { _mm512_min_ps(a, b) }
    }
    #[inline(always)]
    fn nan_where_either(a: __m512, b: __m512, v: __m512) -> __m512 {
        // SAFETY: features as in `splat`.
        unsafe { _mm512_mask_add_ps(v, _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, b), a, b) }
    }
}
