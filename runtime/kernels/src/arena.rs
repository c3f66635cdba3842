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

#[cfg(test)]
mod tests {
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
        let r = std::panic::catch_unwind(|| {
            let mut a = [0f32; 12];
            let _ = split2(&mut a, [(4, 3)], (6, 3), (2, 3));
        });
        assert!(r.is_err(), "a read overlapping a write is refused");
    }

    #[test]
    #[should_panic(expected = "overlaps")]
    fn refuses_overlap() {
        let mut a = [0f32; 10];
        let _ = split(&mut a, [(2, 3)], (3, 4));
    }
}
