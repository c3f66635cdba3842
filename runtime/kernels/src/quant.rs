//! The arithmetic of 8-bit quantised tensors, `real = scale * (q - zero_point)`: rounding,
//! quantisation and requantisation defined once, so that the compiler's reference interpreter
//! and every kernel path compute the same integers.
//!
//! The rule follows ONNX Runtime's CPU kernels (MLAS): an int32 accumulator is converted to
//! f32, multiplied by one f32 multiplier (for a convolution `x_scale * w_scale / y_scale`,
//! computed in that order), clamped to the output type's range shifted by the zero point,
//! rounded to nearest with ties to even, and shifted by the zero point. Every step is one IEEE
//! single-precision operation, which SIMD lanes perform exactly as the scalar code does.

/// Rounds to the nearest integer, ties to even, for `|x| <= 2^22` (callers clamp first): the
/// rounding of SIMD float-to-int conversions under the default rounding mode, without `std`.
#[inline(always)]
pub fn round_ties_even(x: f32) -> f32 {
    // Adding 1.5 * 2^23 leaves no fraction bits; the addition rounds to even.
    const MAGIC: f32 = 12_582_912.0;
    (x + MAGIC) - MAGIC
}

/// Clamps to `[lo, hi]` in x86's operand order (a NaN becomes `lo`).
#[inline(always)]
fn clamp(v: f32, lo: f32, hi: f32) -> f32 {
    let v = if v > lo { v } else { lo };
    if v < hi { v } else { hi }
}

/// `zero_point + round_ties_even(clamp(value, lo - zero_point, hi - zero_point))`: a real
/// value, already divided by the output scale, as an integer of `[lo, hi]`.
#[inline(always)]
pub fn to_integer(value: f32, zero_point: i32, lo: i32, hi: i32) -> i32 {
    let v = clamp(value, (lo - zero_point) as f32, (hi - zero_point) as f32);
    round_ties_even(v) as i32 + zero_point
}

/// An int32 accumulator requantised with `multiplier` into `[lo, hi]` (the output type's range,
/// or narrower for a fused Relu or Clip).
#[inline(always)]
pub fn requantize(acc: i32, multiplier: f32, zero_point: i32, lo: i32, hi: i32) -> i32 {
    to_integer(acc as f32 * multiplier, zero_point, lo, hi)
}

/// ONNX QuantizeLinear: `saturate(round_ties_even(x / scale) + zero_point)` into `[lo, hi]`.
#[inline(always)]
pub fn quantize(x: f32, scale: f32, zero_point: i32, lo: i32, hi: i32) -> i32 {
    to_integer(x / scale, zero_point, lo, hi)
}

/// ONNX DequantizeLinear: `(q - zero_point) * scale`.
#[inline(always)]
pub fn dequantize(q: i32, scale: f32, zero_point: i32) -> f32 {
    (q - zero_point) as f32 * scale
}

/// Quantised addition (ONNX Runtime's QLinearAdd): each operand's offset from its zero point
/// scaled to the output (`a_ratio = a_scale / y_scale`), summed in f32, then as `to_integer`.
#[inline(always)]
pub fn add(a: i32, b: i32, p: &Add) -> i32 {
    let v = (a - p.a_zero_point) as f32 * p.a_ratio + (b - p.b_zero_point) as f32 * p.b_ratio;
    to_integer(v, p.y_zero_point, p.lo, p.hi)
}

/// The constants of a quantised addition.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Add {
    /// `a_scale / y_scale`.
    pub a_ratio: f32,
    /// Zero point of `a`.
    pub a_zero_point: i32,
    /// `b_scale / y_scale`.
    pub b_ratio: f32,
    /// Zero point of `b`.
    pub b_zero_point: i32,
    /// Zero point of the result.
    pub y_zero_point: i32,
    /// Smallest result.
    pub lo: i32,
    /// Largest result.
    pub hi: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_to_nearest_even() {
        for (x, r) in [(0.5, 0.0), (1.5, 2.0), (2.5, 2.0), (-0.5, 0.0), (-1.5, -2.0), (2.4999, 2.0), (-2.6, -3.0)] {
            assert_eq!(round_ties_even(x), r, "{x}");
        }
        for i in -4_194_304..=4_194_304 {
            let x = i as f32 / 2.0;
            let expected = {
                let f = x.floor();
                let d = x - f;
                if d > 0.5 || (d == 0.5 && f % 2.0 != 0.0) { f + 1.0 } else { f }
            };
            assert_eq!(round_ties_even(x), expected, "{x}");
        }
    }

    #[test]
    fn requantisation_saturates_and_clamps_nan_low() {
        assert_eq!(requantize(1000, 0.5, 10, 0, 255), 255);
        assert_eq!(requantize(-1000, 0.5, 10, 0, 255), 0);
        assert_eq!(requantize(5, 0.5, 10, 0, 255), 12); // 2.5 rounds to 2
        assert_eq!(requantize(7, 0.5, 10, 0, 255), 14); // 3.5 rounds to 4
        assert_eq!(requantize(7, 0.5, -3, -128, 127), 1);
        assert_eq!(quantize(f32::NAN, 0.1, 3, 0, 255), 0);
        assert_eq!(quantize(f32::INFINITY, 0.1, 3, -128, 127), 127);
        assert_eq!(quantize(-0.25, 0.5, 0, -128, 127), 0); // -0.5 rounds to 0
        assert_eq!(dequantize(200, 0.5, 128), 36.0);
    }
}
