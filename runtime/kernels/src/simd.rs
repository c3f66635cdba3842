//! The vector type every SIMD kernel body is written over, once: `Simd` has the handful of
//! f32 operations the kernels need (load, store, splat, FMA, min/max with x86's NaN rule, ...).
//! Each ISA implements it in `arch`: AVX2+FMA (8 lanes) and AVX-512F (16) on x86_64, NEON (4)
//! on aarch64, simd128 (4) on wasm32. `dispatch::simd_entry!` compiles each generic body once
//! per ISA inside a `#[target_feature]` entry point, and `dispatch!` enters the one the `Cpu`
//! token proved.
//!
//! The trait's methods are `#[inline(always)]`: they are only ever called from generic kernel
//! code that is itself inlined into such an entry point, so the intrinsics end up compiled
//! with the features they need.
//!
//! Loads and stores take slices and check their length, so the trait is safe to use; the only
//! unsafe operations are the raw-pointer intrinsics right after such a check.

use crate::act::AffineClamp;

pub(crate) trait Simd: Copy {
    const LANES: usize;
    /// The GEMM's register tile: up to `GEMM_ROWS` rows by `GEMM_COLS` vectors of columns,
    /// sized to the ISA's registers (`gemm::simd`).
    const GEMM_ROWS: usize = 4;
    const GEMM_COLS: usize = 4;
    /// Whether the GEMM reads four values of a row of `a` in one load and splats each lane
    /// (`splat_lanes`): ARM's FMA by lane. x86 and wasm broadcast each value from memory
    /// instead, which costs no more than a load there (on wasm, lane shuffles measured slower).
    const SPLAT_LANES: bool = false;
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

    /// Each of the first four lanes of `v`, splat (the ISAs with `SPLAT_LANES` override this
    /// with a lane operand or a shuffle; this default goes through memory).
    #[inline(always)]
    fn splat_lanes(v: Self::V) -> [Self::V; 4] {
        let mut t = [0f32; 64];
        Self::store(&mut t, v);
        [Self::splat(t[0]), Self::splat(t[1]), Self::splat(t[2]), Self::splat(t[3])]
    }

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
