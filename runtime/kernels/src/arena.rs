//! Borrowing several regions of the one arena at once, without unsafe code: the written region
//! splits the arena in three, and every read region must lie wholly before or after it.

/// A region of the arena: `(offset, len)` in f32 elements.
pub type Region = (usize, usize);

/// Returns the `R` read regions and the write region of `arena`. Panics if a read overlaps the
/// write (the memory plan never produces that; the compiler checks it before emitting code).
#[inline]
pub fn split<const R: usize>(arena: &mut [f32], reads: [Region; R], write: Region) -> ([&[f32]; R], &mut [f32]) {
    let (before, rest) = arena.split_at_mut(write.0);
    let (out, after) = rest.split_at_mut(write.1);
    let (before, after): (&[f32], &[f32]) = (before, after);
    let end = write.0 + write.1;
    let views = reads.map(|(off, len)| {
        if off + len <= write.0 {
            &before[off..off + len]
        } else if off >= end {
            &after[off - end..off - end + len]
        } else {
            panic!("arena read [{off}, {}) overlaps the write [{}, {end})", off + len, write.0)
        }
    });
    (views, out)
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
    #[should_panic(expected = "overlaps")]
    fn refuses_overlap() {
        let mut a = [0f32; 10];
        let _ = split(&mut a, [(2, 3)], (3, 4));
    }
}
