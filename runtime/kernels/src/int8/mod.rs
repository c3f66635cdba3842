//! 8-bit kernels: quantised convolutions, matrix products, pooling, additions, multiplications,
//! table lookups and the conversions to and from f32.
//!
//! Every 8-bit activation is stored as u8: the compiler turns an int8 tensor with zero point
//! `z` into the u8 tensor with zero point `z + 128` (each byte's top bit flipped), which stands
//! for the same real values. Weights are int8; uint8 weights are shifted by 128 the same way,
//! their zero point with them. A convolution accumulates `sum((x - x_zero) * (w - w_zero))`
//! exactly in int32 and requantises it with `crate::quant::requantize`, the rule the compiler's
//! reference interpreter follows, so every path gives the same bytes.
//!
//! Integer constants (int32 biases, int16 weights, int8 weights, lookup tables) come in the f32
//! words of the weight blob and are viewed with `crate::arena`'s typed views.

pub mod conv;
pub mod convert;
pub mod depthwise;
pub mod elementwise;
pub mod fused;
pub mod gemm;
pub mod pool;

/// How an int32 accumulator, scaled by its multiplier, becomes an output byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requant {
    /// The output's zero point (as u8).
    pub zero_point: i32,
    /// Smallest output byte (above 0 after a fused Relu or Clip).
    pub lo: i32,
    /// Largest output byte.
    pub hi: i32,
}

impl Requant {
    /// `requantize(acc, multiplier)` as a byte.
    #[inline(always)]
    pub fn apply(&self, acc: i32, multiplier: f32) -> u8 {
        crate::quant::requantize(acc, multiplier, self.zero_point, self.lo, self.hi) as u8
    }

    /// The bounds of the value before rounding: `[lo - zero_point, hi - zero_point]`.
    #[inline(always)]
    #[cfg_attr(not(kernel_simd), allow(dead_code))] // the SIMD epilogues
    pub(crate) fn bounds(&self) -> (f32, f32) {
        ((self.lo - self.zero_point) as f32, (self.hi - self.zero_point) as f32)
    }

    /// Whether the bounds are bytes and hold the zero point.
    pub(crate) fn is_valid(&self) -> bool {
        0 <= self.lo && self.lo <= self.hi && self.hi <= 255 && (0..=255).contains(&self.zero_point)
    }
}
