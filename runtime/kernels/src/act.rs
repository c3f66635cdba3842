//! Activations applied in kernel epilogues, and the `exp` they need (core has none).

/// An elementwise activation. `None` is the identity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    /// x.
    None,
    /// max(x, 0).
    Relu,
    /// clamp(x, min, max); Relu6 is `Clip { min: 0.0, max: 6.0 }`.
    Clip {
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
    /// clamp(alpha * x + beta, 0, 1).
    HardSigmoid {
        /// Slope.
        alpha: f32,
        /// Offset.
        beta: f32,
    },
    /// x * clamp(x / 6 + 1/2, 0, 1).
    HardSwish,
    /// 1 / (1 + exp(-x)).
    Sigmoid,
}

impl Act {
    /// The activation of one value, as every SIMD path computes it (`clamp` below); NaN stays
    /// NaN, as in ONNX Runtime and the ONNX reference.
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Act::None => x,
            Act::Relu => clamp(x, 0.0, f32::INFINITY),
            Act::Clip { min, max } => clamp(x, min, max),
            Act::HardSigmoid { alpha, beta } => clamp(alpha * x + beta, 0.0, 1.0),
            Act::HardSwish => x * clamp(x * (1.0 / 6.0) + 0.5, 0.0, 1.0),
            Act::Sigmoid => 1.0 / (1.0 + exp(-x)),
        }
    }
    /// The activation as clamp bounds plus a hard-swish flag, which is how the SIMD epilogues
    /// apply every activation but Sigmoid: `y = clamp(a*x + b, lo, hi) * (x if swish else 1)`.
    /// Returns `None` for Sigmoid.
    /// Plain clamps shift by -0.0, the one addend that keeps every x as it is (x + 0.0 turns
    /// -0.0 into 0.0, where ONNX Runtime's Relu keeps it).
    #[inline(always)]
    pub fn as_affine_clamp(self) -> Option<AffineClamp> {
        let inf = f32::INFINITY;
        Some(match self {
            Act::None => AffineClamp { scale: 1.0, shift: -0.0, lo: -inf, hi: inf, times_x: false },
            Act::Relu => AffineClamp { scale: 1.0, shift: -0.0, lo: 0.0, hi: inf, times_x: false },
            Act::Clip { min, max } => AffineClamp { scale: 1.0, shift: -0.0, lo: min, hi: max, times_x: false },
            Act::HardSigmoid { alpha, beta } => {
                AffineClamp { scale: alpha, shift: beta, lo: 0.0, hi: 1.0, times_x: false }
            }
            Act::HardSwish => AffineClamp { scale: 1.0 / 6.0, shift: 0.5, lo: 0.0, hi: 1.0, times_x: true },
            Act::Sigmoid => return None,
        })
    }
}

impl Act {
    /// What SIMD epilogues apply in registers, and whether a scalar pass must follow (Sigmoid,
    /// which has no clamp form, is applied in that pass).
    #[inline(always)]
    pub fn for_simd(self) -> (AffineClamp, bool) {
        match self.as_affine_clamp() {
            Some(c) => (c, false),
            None => (AffineClamp::IDENTITY, true),
        }
    }
}

/// `clamp(scale * x + shift, lo, hi)`, multiplied by x when `times_x`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AffineClamp {
    /// Factor before the clamp.
    pub scale: f32,
    /// Added before the clamp.
    pub shift: f32,
    /// Lower bound.
    pub lo: f32,
    /// Upper bound.
    pub hi: f32,
    /// Multiply the clamped value by x (HardSwish).
    pub times_x: bool,
}

impl AffineClamp {
    /// x itself.
    pub const IDENTITY: AffineClamp =
        AffineClamp { scale: 1.0, shift: -0.0, lo: f32::NEG_INFINITY, hi: f32::INFINITY, times_x: false };

    /// No scaling or shift before the clamp (Relu, Relu6, Clip, none).
    #[inline(always)]
    pub fn is_clamp(&self) -> bool {
        self.scale == 1.0 && self.shift == 0.0 && !self.times_x
    }

    #[inline(always)]
    /// No change to x at all.
    pub fn is_identity(&self) -> bool {
        self.is_clamp() && self.lo == f32::NEG_INFINITY && self.hi == f32::INFINITY
    }
}

/// x86's `maxps` on one lane, which every path uses: `a > b ? a : b`, so `b` when either is
/// NaN (and when they are equal, `-0.0` and `0.0` included).
#[inline(always)]
pub fn max_lane(a: f32, b: f32) -> f32 {
    pick(a > b, a, b)
}

/// x86's `minps` on one lane: `a < b ? a : b`.
#[inline(always)]
pub fn min_lane(a: f32, b: f32) -> f32 {
    pick(a < b, a, b)
}

/// `if c { a } else { b }`.
#[inline(always)]
fn pick(c: bool, a: f32, b: f32) -> f32 {
    // With relaxed-simd, LLVM turns a vectorised compare-and-select of the same two values into
    // `f32x4.relaxed_max`/`relaxed_min`, whose NaN result the engine chooses (V8 on x86 gave
    // the other operand), even when the select is written on the bits: the condition goes
    // through `black_box`, out of its sight (this scalar code then stays scalar).
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    if core::hint::black_box(c) {
        a
    } else {
        b
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "relaxed-simd")))]
    if c { a } else { b }
}

/// `x` clamped to `[lo, hi]` as `min_lane(hi, max_lane(lo, x))`: a NaN `x` stays NaN and a NaN
/// bound is no bound (what ONNX Runtime's Clip does with either).
#[inline(always)]
pub fn clamp(x: f32, lo: f32, hi: f32) -> f32 {
    min_lane(hi, max_lane(lo, x))
}

/// e^x for f32 with a relative error below 2e-7 over the whole range (Cody-Waite reduction to
/// [-ln2/2, ln2/2] and a degree-6 polynomial); saturates to 0 and +inf outside it.
#[inline]
pub fn exp(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x > 88.72284 {
        return f32::INFINITY;
    }
    if x < -103.97208 {
        return 0.0;
    }
    const LOG2E: f32 = core::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let k = (x * LOG2E + if x >= 0.0 { 0.5 } else { -0.5 }) as i32;
    let kf = k as f32;
    let r = x - kf * LN2_HI - kf * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2^k, split in two steps so that k down to -149 stays representable.
    let half = k / 2;
    let pow = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
    p * pow(half) * pow(k - half)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate() {
        let mut x = -100.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            if want < f32::MIN_POSITIVE as f64 {
                // Subnormal results carry fewer bits; an absolute bound is what holds there.
                assert!((got - want).abs() < 1e-44, "exp({x}) = {got}, want {want}");
            } else {
                assert!(((got - want) / want).abs() < 3e-7, "exp({x}) = {got}, want {want}");
            }
            x += 0.0137;
        }
        assert_eq!(exp(-200.0), 0.0);
        assert_eq!(exp(200.0), f32::INFINITY);
    }

    #[test]
    fn nan_stays_nan_and_nan_bounds_are_no_bounds() {
        let acts = [
            Act::Relu,
            Act::Clip { min: 0.0, max: 6.0 },
            Act::HardSigmoid { alpha: 0.2, beta: 0.5 },
            Act::HardSwish,
            Act::Sigmoid,
        ];
        for a in acts {
            assert!(a.apply(f32::NAN).is_nan(), "{a:?}");
        }
        assert_eq!(Act::Clip { min: f32::NAN, max: 1.0 }.apply(-5.0), -5.0);
        assert_eq!(Act::Clip { min: 0.0, max: f32::NAN }.apply(5.0), 5.0);
        assert_eq!(Act::Relu.apply(-0.0).to_bits(), (-0.0f32).to_bits(), "as ONNX Runtime: -0 stays");
        let c = Act::Relu.as_affine_clamp().unwrap();
        assert_eq!((-0.0f32).mul_add(c.scale, c.shift).to_bits(), (-0.0f32).to_bits(), "the SIMD form keeps it too");
        assert_eq!(Act::Clip { min: 2.0, max: 1.0 }.apply(0.0), 1.0, "min > max gives max");
    }

    #[test]
    fn affine_clamp_matches_apply() {
        let acts = [
            Act::None,
            Act::Relu,
            Act::Clip { min: 0.0, max: 6.0 },
            Act::HardSigmoid { alpha: 0.2, beta: 0.5 },
            Act::HardSwish,
        ];
        for a in acts {
            let c = a.as_affine_clamp().unwrap();
            for i in -80..80 {
                let x = i as f32 * 0.1;
                let y = clamp(c.scale * x + c.shift, c.lo, c.hi) * if c.times_x { x } else { 1.0 };
                assert!((y - a.apply(x)).abs() < 1e-6, "{a:?} at {x}");
            }
        }
    }
}
