//! The packed weight blob: bytes embedded in the binary, viewed as f32 without copying.

/// 64-byte alignment for an embedded blob (a cache line, and enough for any SIMD load).
#[repr(C, align(64))]
pub struct Aligned<T: ?Sized>(pub T);

/// The blob's bytes as f32 values.
///
/// The generated code embeds the blob as `static W: Aligned<[u8; N]>`, with N a multiple of 4
/// and the values in little-endian order (the compiler writes them so).
pub fn as_f32<const N: usize>(blob: &Aligned<[u8; N]>) -> &[f32] {
    const { assert!(N.is_multiple_of(4), "the weight blob is a whole number of f32 values") };
    #[cfg(target_endian = "big")]
    compile_error!("the weight blob is little-endian; big-endian targets are not supported");
    let bytes: &[u8; N] = &blob.0;
    // SAFETY: the pointer is 64-byte aligned (repr(align(64)) on Aligned), so aligned for f32;
    // the N bytes it covers are initialised and live as long as `blob`; N / 4 f32 values fit in
    // them exactly (N % 4 == 0, asserted above); every bit pattern is a valid f32; and the
    // returned shared slice inherits the shared borrow of `blob`, so nothing can write to it.
    unsafe { core::slice::from_raw_parts(bytes.as_ptr().cast::<f32>(), N / 4) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_little_endian_floats() {
        static BLOB: Aligned<[u8; 8]> = Aligned([0, 0, 128, 63, 0, 0, 0, 192]);
        assert_eq!(as_f32(&BLOB), [1.0, -2.0]);
    }
}
