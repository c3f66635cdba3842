//! Offsets for buffers with known lifetimes, in one arena.
//!
//! `greedy_by_size` places the largest buffers first, each at the lowest offset that is free
//! during its whole lifetime (as TFLite's planner does): the tightest arenas for MobileNets.
//! It looks only at buffers alive at the same time, through a list per step of the buffers
//! placed and alive then; the work that costs is bounded (`WORK_PER_BUFFER`), and a graph that
//! needs more (thousands of buffers alive at once) is placed by `in_time_order` instead, a
//! best-fit allocator that runs through the steps in O(n log n).

use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use super::Lifetime;

/// Work `greedy_by_size` may spend per buffer, on average, before it gives up.
const WORK_PER_BUFFER: usize = 256;

/// Places `buffers`, writing `offsets[buffer]`; returns the arena length, or `None` when the
/// work bound was reached (nothing useful is left in `offsets` then).
pub(super) fn greedy_by_size(buffers: &[Lifetime], steps: usize, offsets: &mut [usize]) -> Option<usize> {
    let mut budget = WORK_PER_BUFFER * (buffers.len() + 1) + steps;
    let mut order: Vec<&Lifetime> = buffers.iter().collect();
    order.sort_by_key(|b| (std::cmp::Reverse(b.len), b.buffer));
    // alive[t]: indices into `order` of placed buffers alive at step t.
    let mut alive: Vec<Vec<u32>> = vec![Vec::new(); steps.max(1)];
    let mut seen = vec![usize::MAX; order.len()];
    let mut busy: Vec<(usize, usize)> = Vec::new();
    let mut arena_len = 0;
    for (k, b) in order.iter().enumerate() {
        busy.clear();
        let span = b.first..=b.last.min(steps - 1);
        budget = budget.checked_sub(span.clone().count())?;
        for t in span.clone() {
            budget = budget.checked_sub(alive[t].len())?;
            for &o in &alive[t] {
                // Each overlapping buffer once, however many steps it shares.
                if std::mem::replace(&mut seen[o as usize], k) != k {
                    let o = order[o as usize];
                    busy.push((offsets[o.buffer], offsets[o.buffer] + o.len));
                }
            }
        }
        busy.sort_unstable();
        let mut at = 0;
        for &(start, end) in &busy {
            if at + b.len <= start {
                break;
            }
            at = at.max(end);
        }
        offsets[b.buffer] = at;
        arena_len = arena_len.max(at + b.len);
        for t in span {
            alive[t].push(k as u32);
        }
    }
    Some(arena_len)
}

/// Places `buffers` in the order they come to life, each in the smallest free block that fits
/// (blocks freed by buffers that died are merged with their free neighbours), or at the end of
/// the arena. O(n log n).
pub(super) fn in_time_order(buffers: &[Lifetime], offsets: &mut [usize]) -> usize {
    let mut order: Vec<&Lifetime> = buffers.iter().collect();
    order.sort_by_key(|b| (b.first, b.buffer));
    // Free blocks by offset (to merge neighbours) and by (len, offset) (to find the best fit).
    let mut by_offset: BTreeMap<usize, usize> = BTreeMap::new();
    let mut by_len: BTreeSet<(usize, usize)> = BTreeSet::new();
    // Live buffers, soonest to die first: (last step, offset, len).
    let mut live: BinaryHeap<std::cmp::Reverse<(usize, usize, usize)>> = BinaryHeap::new();
    let mut arena_len = 0;
    for b in order {
        while let Some(&std::cmp::Reverse((last, offset, len))) = live.peek() {
            if last >= b.first {
                break;
            }
            live.pop();
            free(&mut by_offset, &mut by_len, offset, len);
        }
        let at = match by_len.range((b.len, 0)..).next().copied() {
            Some((len, offset)) => {
                by_len.remove(&(len, offset));
                by_offset.remove(&offset);
                if len > b.len {
                    by_offset.insert(offset + b.len, len - b.len);
                    by_len.insert((len - b.len, offset + b.len));
                }
                offset
            }
            None => {
                // A free block at the end of the arena grows to fit.
                let tail = by_offset.iter().next_back().map(|(&o, &l)| (o, l)).filter(|&(o, l)| o + l == arena_len);
                let at = match tail {
                    Some((o, l)) => {
                        by_offset.remove(&o);
                        by_len.remove(&(l, o));
                        o
                    }
                    None => arena_len,
                };
                arena_len = at + b.len;
                at
            }
        };
        offsets[b.buffer] = at;
        live.push(std::cmp::Reverse((b.last, at, b.len)));
    }
    arena_len
}

fn free(by_offset: &mut BTreeMap<usize, usize>, by_len: &mut BTreeSet<(usize, usize)>, offset: usize, len: usize) {
    let (mut start, mut end) = (offset, offset + len);
    if let Some((&o, &l)) = by_offset.range(..start).next_back()
        && o + l == start
    {
        by_offset.remove(&o);
        by_len.remove(&(l, o));
        start = o;
    }
    if let Some(&l) = by_offset.get(&end) {
        by_offset.remove(&end);
        by_len.remove(&(l, end));
        end += l;
    }
    by_offset.insert(start, end - start);
    by_len.insert((end - start, start));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random lifetimes: both placements keep buffers alive at the same step apart.
    #[test]
    fn no_two_live_buffers_overlap() {
        let mut seed = 12345u64;
        let mut rand = |m: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize % m
        };
        for round in 0..200 {
            let n = 1 + rand(60);
            let steps = 1 + rand(40);
            let buffers: Vec<Lifetime> = (0..n)
                .map(|buffer| {
                    let first = rand(steps);
                    let last = first + rand(steps - first);
                    Lifetime { buffer, len: 16 * (1 + rand(8)), first, last }
                })
                .collect();
            let mut a = vec![0; n];
            let mut b = vec![0; n];
            let greedy = greedy_by_size(&buffers, steps, &mut a).expect("small enough for greedy");
            let timed = in_time_order(&buffers, &mut b);
            for (offsets, arena) in [(&a, greedy), (&b, timed)] {
                for x in &buffers {
                    assert!(offsets[x.buffer] + x.len <= arena, "round {round}");
                    for y in &buffers {
                        let live_together = x.first <= y.last && y.first <= x.last;
                        let apart = offsets[x.buffer] + x.len <= offsets[y.buffer]
                            || offsets[y.buffer] + y.len <= offsets[x.buffer];
                        assert!(x.buffer == y.buffer || !live_together || apart, "round {round}: {x:?} {y:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn greedy_gives_up_on_thousands_of_live_buffers() {
        let buffers: Vec<Lifetime> = (0..5000).map(|buffer| Lifetime { buffer, len: 16, first: 0, last: 1 }).collect();
        let mut offsets = vec![0; buffers.len()];
        assert_eq!(greedy_by_size(&buffers, 2, &mut offsets), None);
        assert_eq!(in_time_order(&buffers, &mut offsets), 5000 * 16);
    }
}
