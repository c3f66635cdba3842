//! Borrowing several regions of the one arena at once, without unsafe code: the written region
//! splits the arena in three, and every read region must lie wholly before or after it.

/// A region of the arena: `(offset, len)` in f32 elements.
pub type Region = (usize, usize);

/// The arena around one or two written regions: what reads may borrow while those are written.
pub struct Around<'a> {
    /// The parts before, between and after the written regions, with their offsets.
    gaps: [(usize, &'a [f32]); 3],
}

impl<'a> Around<'a> {
    /// The region `r`, which must lie wholly outside the written regions (panics otherwise:
    /// the memory plan never produces that, and the compiler checks it before emitting code).
    pub fn view(&self, (off, len): Region) -> &'a [f32] {
        self.gaps
            .iter()
            .find(|(start, g)| off >= *start && off + len <= start + g.len())
            .map(|(start, g)| &g[off - start..off - start + len])
            .unwrap_or_else(|| panic!("arena read [{off}, {}) overlaps a write", off + len))
    }
}

/// Splits `arena` into the two written regions `a` and `b` (returned in that order) and the rest,
/// which reads borrow from. `b` may be empty.
pub fn around(arena: &mut [f32], a: Region, b: Region) -> (Around<'_>, &mut [f32], &mut [f32]) {
    let (first, second, swapped) = if a.0 <= b.0 { (a, b, false) } else { (b, a, true) };
    assert!(
        first.0 + first.1 <= second.0,
        "arena writes [{}, {}) and [{}, {}) overlap",
        first.0,
        first.0 + first.1,
        second.0,
        second.0 + second.1
    );
    let (gap0, rest) = arena.split_at_mut(first.0);
    let (w1, rest) = rest.split_at_mut(first.1);
    let (gap1, rest) = rest.split_at_mut(second.0 - first.0 - first.1);
    let (w2, gap2) = rest.split_at_mut(second.1);
    let gaps: [(usize, &[f32]); 3] = [(0, gap0), (first.0 + first.1, gap1), (second.0 + second.1, gap2)];
    let rest = Around { gaps };
    if swapped { (rest, w2, w1) } else { (rest, w1, w2) }
}

/// Returns the `R` read regions and the write region of `arena`. Panics if a read overlaps the
/// write.
#[inline]
pub fn split<const R: usize>(arena: &mut [f32], reads: [Region; R], write: Region) -> ([&[f32]; R], &mut [f32]) {
    let (rest, out, _) = around(arena, write, (write.0 + write.1, 0));
    (reads.map(|r| rest.view(r)), out)
}

/// Like [`split`], with two written regions (a kernel's output and its scratch memory); reads
/// may lie anywhere outside both.
#[inline]
pub fn split2<const R: usize>(
    arena: &mut [f32],
    reads: [Region; R],
    a: Region,
    b: Region,
) -> ([&[f32]; R], &mut [f32], &mut [f32]) {
    let (rest, w1, w2) = around(arena, a, b);
    (reads.map(|r| rest.view(r)), w1, w2)
}

/// Shared views of `R` regions (for steps that write outside the arena).
#[inline]
pub fn read<const R: usize>(arena: &[f32], reads: [Region; R]) -> [&[f32]; R] {
    reads.map(|(off, len)| &arena[off..off + len])
}

// Typed views of word memory. The arena and the weight blob are f32 words; 8-bit tensors
// live there four to a word, int32 constants one to a word. The views below are sound: u8, i8
// and i32 have no invalid bit patterns and no stricter alignment than f32, every f32 bit
// pattern is a valid u8/i8/i32 sequence, and every byte pattern written through `bytes_mut`
// leaves valid f32 words (f32 has no invalid bit patterns either). Bytes are in memory order
// (the compiler packs the blob little-endian, as every supported target is).

/// The bytes of `words`.
#[inline]
pub fn bytes(words: &[f32]) -> &[u8] {
    // SAFETY: see above; the length in bytes is `4 * words.len()`, inside the same allocation.
    unsafe { core::slice::from_raw_parts(words.as_ptr().cast::<u8>(), core::mem::size_of_val(words)) }
}

/// The bytes of `words`, to write.
#[inline]
pub fn bytes_mut(words: &mut [f32]) -> &mut [u8] {
    // SAFETY: see above; the borrow of `words` is moved to the result.
    unsafe { core::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), core::mem::size_of_val(words)) }
}

/// The bytes of `words` as int8.
#[inline]
pub fn signed(words: &[f32]) -> &[i8] {
    // SAFETY: as for `bytes`.
    unsafe { core::slice::from_raw_parts(words.as_ptr().cast::<i8>(), core::mem::size_of_val(words)) }
}

/// The words as int32 (bit patterns; the compiler stores int32 constants with `f32::from_bits`).
#[inline]
pub fn ints(words: &[f32]) -> &[i32] {
    // SAFETY: i32 and f32 have the same size and alignment; see above.
    unsafe { core::slice::from_raw_parts(words.as_ptr().cast::<i32>(), words.len()) }
}

/// int8 values as their bytes.
#[inline]
pub fn i8_bytes(v: &[i8]) -> &[u8] {
    // SAFETY: i8 and u8 have the same size, alignment and (all) valid bit patterns.
    unsafe { core::slice::from_raw_parts(v.as_ptr().cast::<u8>(), v.len()) }
}

/// Pairs of bytes as int16 (`2 * words.len()` of them, in memory order).
#[inline]
pub fn shorts(words: &[f32]) -> &[i16] {
    // SAFETY: i16 has alignment 2 <= 4 and no invalid bit patterns; see above.
    unsafe { core::slice::from_raw_parts(words.as_ptr().cast::<i16>(), words.len() * 2) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn typed_views_see_the_same_memory() {
        let mut w = [f32::from_bits(0x0403_0201), f32::from_bits(0xfffe_fdfc)];
        assert_eq!(bytes(&w)[..4], u32::to_ne_bytes(0x0403_0201));
        assert_eq!(ints(&w), [0x0403_0201, 0xfffe_fdfc_u32 as i32]);
        assert_eq!(signed(&w).len(), 8);
        assert_eq!(shorts(&w).len(), 4);
        bytes_mut(&mut w)[0..4].copy_from_slice(&7i32.to_ne_bytes());
        assert_eq!(ints(&w)[0], 7);
    }

    use super::*;

    #[test]
    fn splits_around_the_write() {
        let mut a: [f32; 10] = core::array::from_fn(|i| i as f32);
        let ([x, y], out) = split(&mut a, [(0, 2), (7, 3)], (3, 4));
        assert_eq!(x, [0.0, 1.0]);
        assert_eq!(y, [7.0, 8.0, 9.0]);
        out[0] = x[1] + y[2];
        assert_eq!(a[3], 10.0);
    }

    #[test]
    fn splits_around_two_writes() {
        let mut a: [f32; 12] = core::array::from_fn(|i| i as f32);
        let ([x, y], o, s) = split2(&mut a, [(0, 2), (10, 2)], (6, 3), (2, 3));
        assert_eq!((x, y), (&[0.0, 1.0][..], &[10.0, 11.0][..]));
        assert_eq!((o[0], s[0]), (6.0, 2.0));
    }

    /// A read overlapping the second write is refused. (A test of its own, as `should_panic`:
    /// where panics abort, as on wasm32, the harness skips it instead of dying.)
    #[test]
    #[should_panic(expected = "overlaps")]
    fn refuses_a_read_over_the_second_write() {
        let mut a = [0f32; 12];
        let _ = split2(&mut a, [(4, 3)], (6, 3), (2, 3));
    }

    #[test]
    #[should_panic(expected = "overlaps")]
    fn refuses_overlap() {
        let mut a = [0f32; 10];
        let _ = split(&mut a, [(2, 3)], (3, 4));
    }
}
