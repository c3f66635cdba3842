//! Conversions between f32 and 8-bit tensors (ONNX QuantizeLinear and DequantizeLinear with one
//! scale), and the byte kernels that only move bytes: a 256-entry table lookup (a requantisation,
//! or an activation such as HardSigmoid on 8-bit values) and a strided copy.

use crate::check::{Check, ensure, expect};
use crate::cpu::Cpu;
use crate::layout::{StridedCopy, checked_extent};
use crate::quant;

/// What `load` requires: `len` bytes in and room for them out.
pub fn check_load(len: usize, _flip: bool, input: usize, output: usize) -> Check {
    ensure!(input == len, "load: the input does not have len bytes");
    ensure!(output >= len, "load: the output is shorter than len");
    Ok(())
}

/// Copies the model's 8-bit input into the arena, flipping each byte's top bit when `flip`
/// (int8 stored as u8).
pub fn load(len: usize, flip: bool, input: &[u8], output: &mut [u8]) {
    expect(check_load(len, flip, input.len(), output.len()));
    let output = &mut output[..len];
    if flip {
        for (o, &x) in output.iter_mut().zip(input) {
            *o = x ^ 0x80;
        }
    } else {
        output.copy_from_slice(input);
    }
}

/// f32 to bytes: `quantize(x, scale, zero_point)` into `[lo, hi]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantize {
    /// Elements.
    pub len: usize,
    /// The scale.
    pub scale: f32,
    /// The zero point (as u8).
    pub zero_point: i32,
    /// Smallest byte.
    pub lo: i32,
    /// Largest byte.
    pub hi: i32,
    /// Channels interleaved on the way (a model's NCHW input becoming NHWC bytes): the input
    /// is `[images][channels][plane]`, the output `[images][plane][channels]`. 1: the order
    /// is kept (and `plane` is `len`).
    pub channels: usize,
    /// Elements of one channel of one image.
    pub plane: usize,
}

/// What `quantize` requires: `len` elements in and room for them out, whole images.
pub fn check_quantize(p: &Quantize, input: usize, output: usize) -> Check {
    ensure!(input >= p.len && output >= p.len, "quantize: slices shorter than len");
    ensure!(0 <= p.lo && p.lo <= p.hi && p.hi <= 255, "quantize: bounds outside a byte");
    ensure!(
        p.channels > 0 && p.plane > 0 && p.channels.checked_mul(p.plane).is_some_and(|i| p.len.is_multiple_of(i)),
        "quantize: len is not whole images of channels x plane"
    );
    Ok(())
}

/// ONNX QuantizeLinear with one scale.
pub fn quantize(cpu: Cpu, p: &Quantize, input: &[f32], output: &mut [u8]) {
    expect(check_quantize(p, input.len(), output.len()));
    let (input, output) = (&input[..p.len], &mut output[..p.len]);
    let byte = |x: f32| quant::quantize(x, p.scale, p.zero_point, p.lo, p.hi) as u8;
    if p.channels > 1 {
        let image = p.channels * p.plane;
        for (x, o) in input.chunks_exact(image).zip(output.chunks_exact_mut(image)) {
            #[cfg(target_arch = "x86_64")]
            if cpu.byte_permute() && p.channels == 3 {
                // SAFETY: `byte_permute` implies AVX-512F/BW/VL and VBMI; x and o are one image.
                unsafe { crate::arch::int8::quantize_rgb(p, x, o) };
                continue;
            }
            for (px, o) in o.chunks_exact_mut(p.channels).enumerate() {
                for (ch, o) in o.iter_mut().enumerate() {
                    *o = byte(x[ch * p.plane + px]);
                }
            }
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if cpu.int8_dot() {
        // SAFETY: `int8_dot` implies AVX-512F/BW/VL; the lengths were checked.
        return unsafe { crate::arch::int8::quantize(p, input, output) };
    }
    let _ = cpu;
    for (o, &x) in output.iter_mut().zip(input) {
        *o = byte(x);
    }
}

/// Bytes to f32: `(q - zero_point) * scale`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dequantize {
    /// Elements.
    pub len: usize,
    /// The scale.
    pub scale: f32,
    /// The zero point (as u8).
    pub zero_point: i32,
}

/// What `dequantize` requires: `len` elements in and room for them out.
pub fn check_dequantize(p: &Dequantize, input: usize, output: usize) -> Check {
    ensure!(input >= p.len && output >= p.len, "dequantize: slices shorter than len");
    Ok(())
}

/// ONNX DequantizeLinear with one scale.
pub fn dequantize(p: &Dequantize, input: &[u8], output: &mut [f32]) {
    expect(check_dequantize(p, input.len(), output.len()));
    for (o, &q) in output[..p.len].iter_mut().zip(&input[..p.len]) {
        *o = quant::dequantize(q as i32, p.scale, p.zero_point);
    }
}

/// What `lookup` requires: a 256-byte table, `len` bytes in and room for them out.
pub fn check_lookup(len: usize, table: usize, input: usize, output: usize) -> Check {
    ensure!(table >= 256, "lookup: the table has fewer than 256 entries");
    ensure!(input >= len && output >= len, "lookup: slices shorter than len");
    Ok(())
}

/// `output[i] = table[input[i]]` for the first `len` bytes.
pub fn lookup(cpu: Cpu, len: usize, table: &[u8], input: &[u8], output: &mut [u8]) {
    expect(check_lookup(len, table.len(), input.len(), output.len()));
    let table: &[u8; 256] = table[..256].try_into().expect("checked");
    #[cfg(target_arch = "x86_64")]
    if cpu.byte_permute() {
        // SAFETY: `byte_permute` is true only where AVX-512 VBMI and BW were detected.
        return unsafe { crate::arch::int8::lookup(table, &input[..len], &mut output[..len]) };
    }
    let _ = cpu;
    for (o, &x) in output[..len].iter_mut().zip(&input[..len]) {
        *o = table[x as usize];
    }
}

/// What `copy_bytes` requires: both views inside their slices.
pub fn check_copy_bytes(p: &StridedCopy, src: usize, dst: usize) -> Check {
    ensure!(
        checked_extent(&p.shape, &p.src_strides, p.src_offset).is_some_and(|e| e <= src),
        "copy_bytes: source view out of bounds"
    );
    ensure!(
        checked_extent(&p.shape, &p.dst_strides, p.dst_offset).is_some_and(|e| e <= dst),
        "copy_bytes: destination view out of bounds"
    );
    Ok(())
}

/// `layout::copy` for bytes (strides and offsets in bytes).
pub fn copy_bytes(p: &StridedCopy, src: &[u8], dst: &mut [u8]) {
    expect(check_copy_bytes(p, src.len(), dst.len()));
    crate::layout::copy_body(p, src, dst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_copies_follow_the_strides() {
        // [2][3][4] bytes to their [2][4][3] transpose (an NCHW -> NHWC change), at an offset.
        let src: std::vec::Vec<u8> = (0..24).collect();
        let p = StridedCopy {
            shape: [1, 1, 1, 2, 4, 3],
            src_strides: [0, 0, 0, 12, 1, 4],
            src_offset: 0,
            dst_strides: [0, 0, 0, 12, 3, 1],
            dst_offset: 1,
        };
        let mut dst = std::vec![0u8; 25];
        copy_bytes(&p, &src, &mut dst);
        for (n, y, x) in (0..2).flat_map(|n| (0..4).flat_map(move |y| (0..3).map(move |x| (n, y, x)))) {
            assert_eq!(dst[1 + n * 12 + y * 3 + x], src[n * 12 + x * 4 + y]);
        }
        assert_eq!(dst[0], 0);
    }

    #[test]
    fn conversions_round_trip_and_saturate() {
        let p = Quantize { len: 4, scale: 0.5, zero_point: 128, lo: 0, hi: 255, channels: 1, plane: 4 };
        let mut q = [0u8; 4];
        for level in crate::cpu::SimdLevel::ALL {
            let Some(cpu) = Cpu::with_level(level) else { continue };
            quantize(cpu, &p, &[0.0, 0.25, -100.0, 1.0], &mut q);
            assert_eq!(q, [128, 128, 0, 130]);
            let x: std::vec::Vec<f32> =
                (0..100).map(|i| (i as f32 - 50.0) * 0.37).chain([f32::NAN, f32::INFINITY, -0.0]).collect();
            let mut all = std::vec![0u8; x.len()];
            let p =
                Quantize { len: x.len(), scale: 0.25, zero_point: 100, lo: 3, hi: 250, channels: 1, plane: x.len() };
            quantize(cpu, &p, &x, &mut all);
            let want: std::vec::Vec<u8> =
                x.iter().map(|&v| crate::quant::quantize(v, 0.25, 100, 3, 250) as u8).collect();
            assert_eq!(all, want, "{level:?}");
            // Planes interleaved (two images of 3 or 2 channels, planes of 37: a tail of 5).
            for channels in [3, 2] {
                let x: std::vec::Vec<f32> = (0..2 * channels * 37).map(|i| (i as f32 * 0.77).sin() * 40.0).collect();
                let p = Quantize { len: x.len(), scale: 0.25, zero_point: 100, lo: 3, hi: 250, channels, plane: 37 };
                let mut all = std::vec![0u8; x.len()];
                let mut plain = std::vec![0u8; x.len()];
                quantize(cpu, &p, &x, &mut all);
                // Without VBMI, the scalar interleave.
                quantize(cpu.without_int8_dot(), &p, &x, &mut plain);
                assert_eq!(all, plain, "{level:?} {channels} channels");
                let want: std::vec::Vec<u8> = (0..x.len())
                    .map(|o| {
                        let (img, px, ch) = (o / (channels * 37), (o / channels) % 37, o % channels);
                        crate::quant::quantize(x[(img * channels + ch) * 37 + px], 0.25, 100, 3, 250) as u8
                    })
                    .collect();
                assert_eq!(all, want, "{level:?} {channels} channels");
            }
        }
        let mut back = [0f32; 4];
        dequantize(&Dequantize { len: 4, scale: 0.5, zero_point: 128 }, &q, &mut back);
        assert_eq!(back, [0.0, 0.0, -64.0, 1.0]);
        let table: [u8; 256] = core::array::from_fn(|i| (i as u8) ^ 0x80);
        let mut out = [0u8; 3];
        lookup(Cpu::scalar(), 3, &table, &[0, 127, 255], &mut out);
        assert_eq!(out, [128, 255, 127]);
        // Every path, every byte, with a tail.
        let table: [u8; 256] = core::array::from_fn(|i| (i as u8).wrapping_mul(97).wrapping_add(13));
        let input: std::vec::Vec<u8> = (0..300).map(|i| (i * 7 % 256) as u8).collect();
        for level in crate::cpu::SimdLevel::ALL {
            let Some(cpu) = Cpu::with_level(level) else { continue };
            let mut out = std::vec![0u8; 300];
            lookup(cpu, 300, &table, &input, &mut out);
            assert!(out.iter().zip(&input).all(|(&o, &x)| o == table[x as usize]), "{level:?}");
        }
    }
}
