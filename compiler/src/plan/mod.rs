//! The static memory plan: every arena buffer gets a constant offset in one arena, buffers whose
//! lifetimes do not overlap share memory, and elementwise steps whose input dies with them run
//! in place. The result is checked: every step's reads and write lie inside the arena, and a
//! write never overlaps a read unless the step runs in place on exactly that region.

use crate::error::{Error, Result};
use mobilenet_kernels as k;

use crate::lower::call::{self, CheckArgs};
use crate::lower::{Loc, Program, Region, Step};

mod place;

/// Arena buffers start at multiples of this many f32 (64 bytes).
pub const ARENA_ALIGN: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
/// The memory plan: where each arena buffer lives.
pub struct Plan {
    /// Offset (in f32) of every buffer of the program.
    pub offsets: Vec<usize>,
    /// Arena size in f32.
    pub arena_len: usize,
    /// What one buffer per tensor would need, in f32 (for statistics).
    pub naive_len: usize,
}

impl Plan {
    /// Arena size in bytes.
    pub fn arena_bytes(&self) -> usize {
        self.arena_len * 4
    }
    /// What one buffer per tensor would need, in bytes.
    pub fn naive_bytes(&self) -> usize {
        self.naive_len * 4
    }
    /// The arena element range of a region (None for the input and the weights).
    pub fn arena_range(&self, r: &Region) -> Option<(usize, usize)> {
        match r.loc {
            Loc::Arena(b) => Some((self.offsets[b] + r.offset, r.len)),
            _ => None,
        }
    }
}

/// Plans `prog`, rewriting it where steps run in place.
pub fn plan(prog: &mut Program) -> Result<Plan> {
    let naive_len = prog.buffers.iter().map(|b| b.len.next_multiple_of(ARENA_ALIGN)).sum();
    run_in_place(prog);
    let n = prog.buffers.len();
    // Lifetime of each buffer in step indices: [first write, last read], the output to the end.
    let mut first = vec![usize::MAX; n];
    let mut last = vec![0usize; n];
    for (i, s) in prog.steps.iter().enumerate() {
        for w in std::iter::once(&s.write).chain(&s.scratch) {
            if let Loc::Arena(b) = w.loc {
                first[b] = first[b].min(i);
                last[b] = last[b].max(i);
            }
        }
        for r in &s.reads {
            if let Loc::Arena(b) = r.loc {
                last[b] = last[b].max(i);
            }
        }
    }
    if let Loc::Arena(b) = prog.output.loc {
        last[b] = prog.steps.len();
    }
    // Inside the image loop, a buffer holding every image is written by each image in turn:
    // it lives from the loop's start (the other buffers of the loop live within one image).
    for &(loc, _) in prog.image_loop.iter().flat_map(|lp| &lp.strided) {
        if let Loc::Arena(b) = loc {
            first[b] = 0;
        }
    }
    let buffers: Vec<Lifetime> = (0..n)
        .filter(|&b| first[b] != usize::MAX)
        .map(|b| Lifetime {
            buffer: b,
            len: prog.buffers[b].len.next_multiple_of(ARENA_ALIGN),
            first: first[b],
            last: last[b],
        })
        .collect();
    let mut offsets = vec![0usize; n];
    let arena_len = place::greedy_by_size(&buffers, prog.steps.len() + 1, &mut offsets)
        .unwrap_or_else(|| place::in_time_order(&buffers, &mut offsets));
    let plan = Plan { offsets, arena_len, naive_len };
    check(prog, &plan)?;
    Ok(plan)
}

/// A buffer to place: its length (rounded to the alignment) and the steps it lives through.
#[derive(Clone, Copy, Debug)]
struct Lifetime {
    buffer: usize,
    len: usize,
    first: usize,
    last: usize,
}

/// Merges the output buffer of an elementwise step into its first input when that input is a
/// whole arena buffer of the same size that nothing reads afterwards. Linear: merged buffers
/// are tracked with a union-find and the regions renamed once at the end.
fn run_in_place(prog: &mut Program) {
    let n = prog.buffers.len();
    let mut last_read = vec![None; n];
    let mut writes = vec![0usize; n];
    for (i, s) in prog.steps.iter().enumerate() {
        for r in &s.reads {
            if let Loc::Arena(b) = r.loc {
                last_read[b] = Some(i);
            }
        }
        if let Loc::Arena(b) = s.write.loc {
            writes[b] += 1;
        }
    }
    // merged_into[b] = b until b is merged into another buffer.
    let mut merged_into: Vec<usize> = (0..n).collect();
    fn root(m: &mut [usize], mut b: usize) -> usize {
        while m[b] != b {
            m[b] = m[m[b]];
            b = m[b];
        }
        b
    }
    for i in 0..prog.steps.len() {
        let s = &prog.steps[i];
        let (Some(input), write) = (s.reads.first().copied(), s.write) else { continue };
        let (Loc::Arena(src), Loc::Arena(dst)) = (input.loc, write.loc) else { continue };
        let (src, dst) = (root(&mut merged_into, src), root(&mut merged_into, dst));
        let output = match prog.output.loc {
            Loc::Arena(o) => Some(root(&mut merged_into, o)),
            _ => None,
        };
        let whole = |r: &Region, b: usize| r.offset == 0 && r.len == prog.buffers[b].len;
        let dies_here = last_read[src] == Some(i) && Some(src) != output;
        if !s.may_run_in_place()
            || src == dst
            || !dies_here
            || writes[dst] != 1
            || !whole(&input, src)
            || !whole(&write, dst)
        {
            continue;
        }
        // Everything that refers to dst now refers to src.
        merged_into[dst] = src;
        writes[src] += writes[dst];
        last_read[src] = last_read[dst];
        prog.steps[i].in_place = true;
    }
    let mut rename = |r: &mut Region| {
        if let Loc::Arena(b) = r.loc {
            r.loc = Loc::Arena(root(&mut merged_into, b));
        }
    };
    for t in prog.steps.iter_mut() {
        t.reads.iter_mut().for_each(&mut rename);
        rename(&mut t.write);
    }
    rename(&mut prog.output);
}

/// Every access in bounds (for every image of the image loop); writes never overlap reads
/// except in place.
pub fn check(prog: &Program, plan: &Plan) -> Result<()> {
    let bad =
        |i: usize, what: String| Error::internal(format!("memory plan, step {i} ({}): {what}", prog.steps[i].label));
    // Every kernel call gets arguments its own check accepts (the check it runs on entry).
    for (i, s) in prog.steps.iter().enumerate() {
        for threads in 1..=prog.max_threads {
            check_call(s, threads, if prog.input_type.is_byte() { prog.input_len() } else { 0 })
                .map_err(|e| bad(i, format!("the kernel would refuse its arguments ({e})")))?;
        }
    }
    for (i, image) in prog.schedule() {
        let s = &*prog.step_at(i, image);
        let Some((wo, wl)) = plan.arena_range(&s.write) else {
            return Err(bad(i, "writes outside the arena".into()));
        };
        if wo + wl > plan.arena_len {
            return Err(bad(i, format!("write [{wo}, {}) past the arena ({})", wo + wl, plan.arena_len)));
        }
        if let Some(scratch) = &s.scratch {
            let Some((so, sl)) = plan.arena_range(scratch) else {
                return Err(bad(i, "scratch outside the arena".into()));
            };
            let clear_of = |(o, l): (usize, usize)| o + l <= so || so + sl <= o;
            let reads_clear = s.reads.iter().filter_map(|r| plan.arena_range(r)).all(clear_of);
            if so + sl > plan.arena_len || !clear_of((wo, wl)) || !reads_clear {
                return Err(bad(
                    i,
                    format!("scratch [{so}, {}) overlaps the step's other regions or leaves the arena", so + sl),
                ));
            }
        }
        for (k, r) in s.reads.iter().enumerate() {
            match plan.arena_range(r) {
                Some((ro, rl)) => {
                    if ro + rl > plan.arena_len {
                        return Err(bad(i, format!("read [{ro}, {}) past the arena", ro + rl)));
                    }
                    let overlaps = ro < wo + wl && wo < ro + rl;
                    let in_place = s.in_place && k == 0 && (ro, rl) == (wo, wl);
                    if overlaps && !in_place {
                        return Err(bad(i, format!("read [{ro}, {}) overlaps the write [{wo}, {})", ro + rl, wo + wl)));
                    }
                }
                None if r.loc == Loc::Input && r.offset + r.len > prog.input_len() => {
                    return Err(bad(i, "reads past the input".into()));
                }
                None if r.loc == Loc::Weights && r.offset + r.len > prog.weights.len() => {
                    return Err(bad(i, "reads past the weights".into()));
                }
                None => {}
            }
        }
    }
    match plan.arena_range(&prog.output) {
        Some((o, l)) if o + l <= plan.arena_len && l == prog.output_words() => Ok(()),
        _ => Err(Error::internal("memory plan: the output is not a whole region of the arena")),
    }
}

/// The kernel's own check of a step's arguments (`mobilenet_kernels::check`), with the lengths
/// of the regions generated code passes, for `threads` threads.
fn check_call(s: &Step, threads: usize, input_bytes: usize) -> k::check::Check {
    let skip = usize::from(s.in_place);
    let reads = s.reads.iter().skip(skip).map(|r| r.len).collect();
    let args = CheckArgs { threads, reads, out: s.write.len, scratch: s.scratch.map_or(0, |r| r.len), input_bytes };
    call::check(s, &args)
}
