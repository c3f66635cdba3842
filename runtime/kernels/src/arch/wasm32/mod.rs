//! wasm32: `Simd` over simd128's `v128` as four f32 lanes, and the 8-bit kernels (`int8`). Chosen at compile time: a module
//! with any SIMD instruction fails to load on an engine without SIMD, so this code exists only
//! when the crate is built with `-C target-feature=+simd128` (the `kernel_simd` cfg, set by
//! build.rs); otherwise the kernels take the scalar path.
//!
//! `fma` is a multiply then an add (two roundings), or, in a module built with relaxed-simd too
//! (`-C target-feature=+simd128,+relaxed-simd`, for engines that have it: Chromium, node 20
//! with `--experimental-wasm-relaxed-simd`), `f32x4.relaxed_madd`, which engines with FMA fuse.
//! min and max follow x86's rule (`a > b ? a : b`, `b` when either is NaN), which is exactly
//! wasm's `pmax(b, a)` and `pmin(b, a)`. With relaxed-simd enabled LLVM turns those (and any
//! compare-and-select of the same two values) into `relaxed_max`/`relaxed_min`, whose NaN
//! result the engine picks (V8 on x86 lost a NaN through a Relu): there they are a compare and
//! a `v128.bitselect`, which it leaves alone (and `act::max_lane` hides its condition).

use core::arch::wasm32::*;

pub(crate) mod int8;

use crate::simd::Simd;

#[derive(Clone, Copy)]
pub(crate) struct Simd128;

impl Simd for Simd128 {
    const LANES: usize = 4;
    // Engines map v128 values onto the host's vector registers: 16 on x86-64 (SSE/AVX) and
    // the first choice of wasm engines. 4 rows x 2 vectors (8 accumulators, 2 of b, the
    // splat) fits them; x86's 4 x 4 tile would spill in the inner loop.
    const GEMM_COLS: usize = 2;
    type V = v128;
    type Half = Simd128;
    #[inline(always)]
    fn low_half(v: v128) -> v128 {
        v
    }
    #[inline(always)]
    fn splat(x: f32) -> v128 {
        f32x4_splat(x)
    }
    #[inline(always)]
    fn load(s: &[f32]) -> v128 {
        let s = &s[..4];
        // SAFETY: `s` holds 4 readable f32 (sliced above); v128_load has no alignment needs.
        unsafe { v128_load(s.as_ptr().cast()) }
    }
    #[inline(always)]
    unsafe fn load_ptr(p: *const f32) -> v128 {
        // SAFETY: the caller guarantees 4 readable f32 at p.
        unsafe { v128_load(p.cast()) }
    }
    #[inline(always)]
    fn load_partial(s: &[f32], n: usize) -> v128 {
        let mut tmp = [0f32; 4];
        tmp[..n].copy_from_slice(&s[..n]);
        Self::load(&tmp)
    }
    #[inline(always)]
    fn store(s: &mut [f32], v: v128) {
        let s = &mut s[..4];
        // SAFETY: `s` holds 4 writable f32 (sliced above).
        unsafe { v128_store(s.as_mut_ptr().cast(), v) }
    }
    #[inline(always)]
    fn store_partial(s: &mut [f32], n: usize, v: v128) {
        let mut tmp = [0f32; 4];
        Self::store(&mut tmp, v);
        s[..n].copy_from_slice(&tmp[..n]);
    }
    #[inline(always)]
    fn fma(a: v128, b: v128, c: v128) -> v128 {
        #[cfg(target_feature = "relaxed-simd")]
        return f32x4_relaxed_madd(a, b, c);
        #[cfg(not(target_feature = "relaxed-simd"))]
        f32x4_add(f32x4_mul(a, b), c)
    }
    #[inline(always)]
    fn add(a: v128, b: v128) -> v128 {
        f32x4_add(a, b)
    }
    #[inline(always)]
    fn mul(a: v128, b: v128) -> v128 {
        f32x4_mul(a, b)
    }
    #[inline(always)]
    fn sub(a: v128, b: v128) -> v128 {
        f32x4_sub(a, b)
    }
    #[inline(always)]
    fn div(a: v128, b: v128) -> v128 {
        f32x4_div(a, b)
    }
    #[inline(always)]
    fn max(a: v128, b: v128) -> v128 {
        #[cfg(target_feature = "relaxed-simd")]
        return v128_bitselect(a, b, f32x4_gt(a, b));
        #[cfg(not(target_feature = "relaxed-simd"))]
        f32x4_pmax(b, a)
    }
    #[inline(always)]
    fn min(a: v128, b: v128) -> v128 {
        #[cfg(target_feature = "relaxed-simd")]
        return v128_bitselect(a, b, f32x4_lt(a, b));
        #[cfg(not(target_feature = "relaxed-simd"))]
        f32x4_pmin(b, a)
    }
    #[inline(always)]
    fn nan_where_either(a: v128, b: v128, v: v128) -> v128 {
        // A lane equals itself unless it is NaN.
        let ordered = v128_and(f32x4_eq(a, a), f32x4_eq(b, b));
        v128_bitselect(v, f32x4_add(a, b), ordered)
    }
}

#[cfg(all(test, target_feature = "relaxed-simd"))]
mod tests {
    use super::*;

    /// A relaxed-simd build multiplies and adds with one rounding where the engine has FMA (node
    /// on x86-64 here): (1 + e)(1 - e) - 1 is -e^2 fused and 0 rounded twice.
    #[test]
    fn relaxed_builds_fuse_the_multiply_add() {
        let e = f32::EPSILON;
        let v = Simd128::fma(f32x4_splat(1.0 + e), f32x4_splat(1.0 - e), f32x4_splat(-1.0));
        assert_eq!(f32x4_extract_lane::<0>(v), -e * e);
    }
}
