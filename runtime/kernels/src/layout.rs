//! Data movement: a strided copy covers transposes, slices, concatenation, padding and layout
//! changes (NCHW <-> NHWC); `fill` sets padding values.

use crate::check::{Check, ensure, expect};
use crate::cpu::Cpu;

/// Largest rank the strided kernels handle (shapes are padded with leading 1s).
pub const MAX_RANK: usize = 6;

/// Copies the elements of a `shape`-shaped view of `src` (element `i` at
/// `src_offset + Σ i[a] * src_strides[a]`) into a view of `dst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StridedCopy {
    /// Shape of the copied view, padded with leading 1s.
    pub shape: [usize; MAX_RANK],
    /// Strides of the source view in elements.
    pub src_strides: [usize; MAX_RANK],
    /// First source element.
    pub src_offset: usize,
    /// Strides of the destination view in elements.
    pub dst_strides: [usize; MAX_RANK],
    /// First destination element.
    pub dst_offset: usize,
}

/// One past the largest element offset a view touches (0 for an empty view), or `None` when
/// that does not fit a usize.
pub(crate) fn checked_extent(shape: &[usize; MAX_RANK], strides: &[usize; MAX_RANK], offset: usize) -> Option<usize> {
    if shape.contains(&0) {
        return Some(0);
    }
    let mut end = offset;
    for (&d, &s) in shape.iter().zip(strides) {
        end = end.checked_add((d - 1).checked_mul(s)?)?;
    }
    end.checked_add(1)
}

/// Calls `f(a_offset, b_offset, c_offset, run)` for every innermost run of a 6-D walk over
/// `shape`, with three stride sets; `run` is `shape[5]`.
#[inline(always)]
pub(crate) fn walk3(
    shape: &[usize; MAX_RANK],
    strides: [&[usize; MAX_RANK]; 3],
    offsets: [usize; 3],
    mut f: impl FnMut(usize, usize, usize, usize),
) {
    if shape.contains(&0) {
        return;
    }
    let [sa, sb, sc] = strides;
    for i0 in 0..shape[0] {
        for i1 in 0..shape[1] {
            for i2 in 0..shape[2] {
                for i3 in 0..shape[3] {
                    for i4 in 0..shape[4] {
                        let off = |s: &[usize; MAX_RANK], base: usize| {
                            base + i0 * s[0] + i1 * s[1] + i2 * s[2] + i3 * s[3] + i4 * s[4]
                        };
                        f(off(sa, offsets[0]), off(sb, offsets[1]), off(sc, offsets[2]), shape[5]);
                    }
                }
            }
        }
    }
}

/// What `copy` requires: both views inside their slices (the view's extent computed without
/// overflow).
pub fn check_copy(p: &StridedCopy, src: usize, dst: usize) -> Check {
    ensure!(
        checked_extent(&p.shape, &p.src_strides, p.src_offset).is_some_and(|e| e <= src),
        "copy: source view out of bounds"
    );
    ensure!(
        checked_extent(&p.shape, &p.dst_strides, p.dst_offset).is_some_and(|e| e <= dst),
        "copy: destination view out of bounds"
    );
    Ok(())
}

/// Copies the view of `src` into the view of `dst`.
pub fn copy(cpu: Cpu, p: &StridedCopy, src: &[f32], dst: &mut [f32]) {
    expect(check_copy(p, src.len(), dst.len()));
    dispatch!(cpu, copy_entry, copy_body(p, src, dst), (p, src, dst));
}

/// One body for every level and element type (f32 here, bytes in `int8::convert::copy_bytes`):
/// contiguous runs are `copy_from_slice` (memcpy); the strided gathers of layout changes are
/// compiled with AVX2 or AVX-512 enabled by the entry points.
#[inline(always)]
pub(crate) fn copy_body<T: Copy>(p: &StridedCopy, src: &[T], dst: &mut [T]) {
    let (ss, ds) = (p.src_strides[5], p.dst_strides[5]);
    walk3(
        &p.shape,
        [&p.src_strides, &p.dst_strides, &p.dst_strides],
        [p.src_offset, p.dst_offset, 0],
        |s, d, _, run| {
            if ss == 1 && ds == 1 {
                dst[d..d + run].copy_from_slice(&src[s..s + run]);
            } else {
                for i in 0..run {
                    dst[d + i * ds] = src[s + i * ss];
                }
            }
        },
    );
}

/// What `fill` requires: nothing.
pub fn check_fill(_dst: usize, _value: f32) -> Check {
    Ok(())
}

/// Sets every element of `dst` to `value`.
pub fn fill(dst: &mut [f32], value: f32) {
    dst.fill(value);
}

#[cfg(kernel_simd)]
mod simd {
    use super::*;
    simd_entry!(copy_entry => same copy_body(p: &StridedCopy, src: &[f32], dst: &mut [f32]));
}
#[cfg(kernel_simd)]
use simd::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposes_nchw_to_nhwc() {
        // [1, 2, 2, 3] NCHW -> NHWC: walk the output (n, h, w, c) reading the input's strides.
        let src: [f32; 12] = core::array::from_fn(|i| i as f32);
        let mut dst = [0f32; 12];
        let p = StridedCopy {
            shape: [1, 1, 1, 2, 3, 2],
            src_strides: [0, 0, 12, 3, 1, 6],
            src_offset: 0,
            dst_strides: [0, 0, 12, 6, 2, 1],
            dst_offset: 0,
        };
        for level in crate::SimdLevel::ALL {
            if let Some(cpu) = Cpu::with_level(level) {
                dst = [0f32; 12];
                copy(cpu, &p, &src, &mut dst);
                assert_eq!(dst, [0.0, 6.0, 1.0, 7.0, 2.0, 8.0, 3.0, 9.0, 4.0, 10.0, 5.0, 11.0]);
            }
        }
        assert_eq!(dst, [0.0, 6.0, 1.0, 7.0, 2.0, 8.0, 3.0, 9.0, 4.0, 10.0, 5.0, 11.0]);
    }
}
