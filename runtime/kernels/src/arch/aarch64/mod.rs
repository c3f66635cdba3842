//! aarch64: `Simd` over NEON's 128-bit `float32x4_t` (4 lanes), and the 8-bit GEMM with the
//! dot-product instructions (`int8`). NEON is part of the aarch64 baseline, so a `Cpu` at the
//! `Neon` level exists on every aarch64 target; dotprod is detected at run time.
//!
//! min and max follow x86's rule (`a > b ? a : b`, so `b` when either is NaN, see
//! `act::max_lane`) by a compare and a bit select: NEON's own `fmax` returns NaN instead,
//! and every path has to give the scalar reference's results.

use core::arch::aarch64::*;

pub(crate) mod int8;

use crate::simd::Simd;

#[derive(Clone, Copy)]
pub(crate) struct Neon;

impl Simd for Neon {
    const LANES: usize = 4;
    // 32 vector registers: a tile of 5 rows by 4 vectors (16 columns) keeps 20 accumulators,
    // the 4 vectors of a row of b and one vector of four `a` values per row (29 registers),
    // and multiplies by lane (`fmla v.4s, v.4s, v.s[j]`): per 4 k, 5 loads of `a` and 16 of b
    // feed 80 FMAs. The 4 x 4 tile of x86 would leave 8 registers unused and load b once per
    // 16 FMAs instead of 20. (See docs/ARCHITECTURE.md.)
    const GEMM_ROWS: usize = 5;
    const SPLAT_LANES: bool = true;
    type V = float32x4_t;
    type Half = Neon;
    #[inline(always)]
    fn low_half(v: float32x4_t) -> float32x4_t {
        v
    }
    #[inline(always)]
    fn splat(x: f32) -> float32x4_t {
        // SAFETY: NEON is baseline on aarch64 (and the entry points enable it).
        unsafe { vdupq_n_f32(x) }
    }
    #[inline(always)]
    fn splat_lanes(v: float32x4_t) -> [float32x4_t; 4] {
        // SAFETY: as in `splat`. Each feeds one `vfmaq_f32`, which LLVM turns into an FMA by
        // element (no separate dup).
        unsafe { [vdupq_laneq_f32::<0>(v), vdupq_laneq_f32::<1>(v), vdupq_laneq_f32::<2>(v), vdupq_laneq_f32::<3>(v)] }
    }
    #[inline(always)]
    fn load(s: &[f32]) -> float32x4_t {
        let s = &s[..4];
        // SAFETY: `s` holds 4 readable f32 (sliced above).
        unsafe { vld1q_f32(s.as_ptr()) }
    }
    #[inline(always)]
    unsafe fn load_ptr(p: *const f32) -> float32x4_t {
        // SAFETY: the caller guarantees 4 readable f32 at p.
        unsafe { vld1q_f32(p) }
    }
    #[inline(always)]
    fn load_partial(s: &[f32], n: usize) -> float32x4_t {
        let mut tmp = [0f32; 4];
        tmp[..n].copy_from_slice(&s[..n]);
        Self::load(&tmp)
    }
    #[inline(always)]
    fn store(s: &mut [f32], v: float32x4_t) {
        let s = &mut s[..4];
        // SAFETY: `s` holds 4 writable f32 (sliced above).
        unsafe { vst1q_f32(s.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn store_partial(s: &mut [f32], n: usize, v: float32x4_t) {
        let mut tmp = [0f32; 4];
        Self::store(&mut tmp, v);
        s[..n].copy_from_slice(&tmp[..n]);
    }
    #[inline(always)]
    fn fma(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        // SAFETY: NEON is baseline on aarch64. (`vfmaq_f32(c, a, b)` is c + a * b, fused.)
        unsafe { vfmaq_f32(c, a, b) }
    }
    #[inline(always)]
    fn add(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: as in `splat`.
        unsafe { vaddq_f32(a, b) }
    }
    #[inline(always)]
    fn mul(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: as in `splat`.
        unsafe { vmulq_f32(a, b) }
    }
    #[inline(always)]
    fn sub(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: as in `splat`.
        unsafe { vsubq_f32(a, b) }
    }
    #[inline(always)]
    fn div(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: as in `splat`.
        unsafe { vdivq_f32(a, b) }
    }
    #[inline(always)]
    fn max(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: as in `splat`.
        unsafe { vbslq_f32(vcgtq_f32(a, b), a, b) }
    }
    #[inline(always)]
    fn min(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: as in `splat`.
        unsafe { vbslq_f32(vcltq_f32(a, b), a, b) }
    }
    #[inline(always)]
    fn nan_where_either(a: float32x4_t, b: float32x4_t, v: float32x4_t) -> float32x4_t {
        // SAFETY: as in `splat`. A lane equals itself unless it is NaN.
        unsafe {
            let ordered = vandq_u32(vceqq_f32(a, a), vceqq_f32(b, b));
            vbslq_f32(ordered, v, vaddq_f32(a, b))
        }
    }
}
