//! x86_64: the `Simd` vector types AVX2+FMA (8 lanes) and AVX-512F (16 lanes), and the 8-bit
//! kernels' intrinsics (`int8`), which are x86-specific code of their own.

use core::arch::x86_64::*;

pub(crate) mod int8;

use crate::simd::Simd;

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
