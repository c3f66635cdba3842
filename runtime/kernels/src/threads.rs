//! Work splitting across threads inside a layer.
//!
//! [`Threads`] is what kernels receive: one thread (always available, also without `std`), or a
//! pool of workers that lives as long as the model. A parallel kernel splits its output rows
//! into one contiguous range per thread; the calling thread takes the first range, so a pool of
//! N threads has N - 1 workers. Workers spin briefly for the next layer, then sleep.

#[cfg(kernel_threads)]
use std::boxed::Box;

/// Most threads a model may use (and that plans reserve scratch memory for).
pub const MAX_THREADS: usize = 16;

/// A range of rows with its part of the output and of the scratch memory.
type Part<'a, T> = (core::ops::Range<usize>, &'a mut [T], &'a mut [f32]);

/// What runs on one part: its rows, its part of the output (f32, or bytes for 8-bit kernels)
/// and its scratch memory.
pub type PartFn<'a, T = f32> = dyn Fn(core::ops::Range<usize>, &mut [T], &mut [f32]) + Sync + 'a;

/// The threads a kernel may use.
pub struct Threads {
    #[cfg(kernel_threads)]
    pool: Option<Box<pool::Pool>>,
}

impl Threads {
    /// Only the calling thread.
    pub const fn single() -> Threads {
        Threads {
            #[cfg(kernel_threads)]
            pool: None,
        }
    }

    /// `n` threads (the caller and `n - 1` workers); `n` is clamped to 1..=MAX_THREADS. Without
    /// `std`, and on WebAssembly, there are no workers and this is `single()`.
    pub fn new(n: usize) -> Threads {
        let n = n.clamp(1, MAX_THREADS);
        #[cfg(kernel_threads)]
        {
            Threads { pool: (n > 1).then(|| Box::new(pool::Pool::new(n))) }
        }
        #[cfg(not(kernel_threads))]
        {
            let _ = n;
            Threads::single()
        }
    }

    /// Threads work is split over (1 without a pool).
    pub fn count(&self) -> usize {
        #[cfg(kernel_threads)]
        if let Some(p) = &self.pool {
            return p.threads();
        }
        1
    }

    /// Runs `f(i)` for every i in 0..count(), each on its own thread, and returns when all have.
    pub fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        #[cfg(kernel_threads)]
        if let Some(p) = &self.pool {
            return p.run(f);
        }
        f(0)
    }

    /// Splits `rows` rows into `count()` contiguous ranges (as even as possible, at least
    /// `min_rows` per range so that tiny layers stay on one thread) and calls `f` with each
    /// range and the matching part of `out` (`row_len` elements per row), in parallel.
    pub fn for_rows<T: Send>(
        &self,
        rows: usize,
        min_rows: usize,
        out: &mut [T],
        row_len: usize,
        f: &(dyn Fn(core::ops::Range<usize>, &mut [T]) + Sync),
    ) {
        self.for_rows_with_scratch(rows, min_rows, out, row_len, &mut [], 0, &|r, o, _| f(r, o))
    }

    /// Like `for_rows`, also giving each range its own `scratch_len` elements of `scratch`
    /// (which must hold `count() * scratch_len`).
    pub fn for_rows_with_scratch<T: Send>(
        &self,
        rows: usize,
        min_rows: usize,
        out: &mut [T],
        row_len: usize,
        scratch: &mut [f32],
        scratch_len: usize,
        f: &PartFn<T>,
    ) {
        let parts = self.count().min(rows / min_rows.max(1)).max(1);
        self.split(parts, &|i| rows * i / parts, out, row_len, scratch, scratch_len, f)
    }

    /// Splits the `len` elements of `out` into `count()` contiguous ranges whose inner bounds
    /// are multiples of `align` (at most one range per `align` elements), and calls `f` with
    /// each range and its part of `out`, in parallel.
    pub fn for_ranges(
        &self,
        len: usize,
        align: usize,
        out: &mut [f32],
        f: &(dyn Fn(core::ops::Range<usize>, &mut [f32]) + Sync),
    ) {
        let align = align.max(1);
        let units = len.div_ceil(align);
        let parts = self.count().min(units).max(1);
        let bound = |i: usize| (units * i / parts * align).min(len);
        self.split(parts, &bound, out, 1, &mut [], 0, &|r, o, _| f(r, o))
    }

    /// Runs `f` on `parts` ranges `bound(i)..bound(i + 1)` (in rows of `row_len` elements of
    /// `out`, with `scratch_len` elements of scratch each), part 0 on the calling thread.
    #[allow(clippy::too_many_arguments)]
    fn split<T: Send>(
        &self,
        parts: usize,
        bound: &dyn Fn(usize) -> usize,
        out: &mut [T],
        row_len: usize,
        scratch: &mut [f32],
        scratch_len: usize,
        f: &PartFn<T>,
    ) {
        let rows = bound(parts);
        if parts == 1 {
            return f(0..rows, &mut out[..rows * row_len], &mut scratch[..scratch_len]);
        }
        assert!(scratch.len() >= parts * scratch_len, "threads: scratch for {parts} threads");
        // One slot per part, each taken by exactly one thread.
        let mut slots: [Option<Part<T>>; MAX_THREADS] = Default::default();
        let (mut out_rest, mut scratch_rest) = (&mut out[..rows * row_len], &mut scratch[..parts * scratch_len]);
        let mut start = 0;
        for (i, slot) in slots.iter_mut().enumerate().take(parts) {
            let end = bound(i + 1);
            let (o, ro) = core::mem::take(&mut out_rest).split_at_mut((end - start) * row_len);
            let (s, rs) = core::mem::take(&mut scratch_rest).split_at_mut(scratch_len);
            *slot = Some((start..end, o, s));
            (out_rest, scratch_rest, start) = (ro, rs, end);
        }
        let slots = Slots(slots.map(spin_cell::Cell::new));
        self.run(&|i| {
            if let Some((range, o, s)) = slots.0.get(i).and_then(|c| c.take()) {
                f(range, o, s)
            }
        });
    }
}

impl Default for Threads {
    fn default() -> Self {
        Threads::single()
    }
}

impl core::fmt::Debug for Threads {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Threads({})", self.count())
    }
}

struct Slots<T>([spin_cell::Cell<T>; MAX_THREADS]);

/// A value handed to exactly one of several threads.
mod spin_cell {
    use core::sync::atomic::{AtomicBool, Ordering};

    pub struct Cell<T> {
        taken: AtomicBool,
        value: core::cell::UnsafeCell<Option<T>>,
    }

    // SAFETY: the value is moved out by at most one thread (the one that flips `taken` first,
    // see `take`), and nothing else ever reads it, so sharing the cell is like sending T.
    unsafe impl<T: Send> Sync for Cell<T> {}

    impl<T> Cell<T> {
        pub fn new(value: Option<T>) -> Self {
            Cell { taken: AtomicBool::new(false), value: core::cell::UnsafeCell::new(value) }
        }

        /// The value, to the first caller only.
        pub fn take(&self) -> Option<T> {
            if self.taken.swap(true, Ordering::AcqRel) {
                return None;
            }
            // SAFETY: only the thread that changed `taken` from false to true gets here, once;
            // no other access to `value` exists (the constructor's write happened-before, via
            // the Release/Acquire of the handoff to the thread).
            unsafe { (*self.value.get()).take() }
        }
    }
}

#[cfg(kernel_threads)]
mod pool {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread::{JoinHandle, Thread};
    use std::vec::Vec;

    /// A job as workers see it: the lifetime of the caller's closure is erased (see `run`).
    type Job = *const (dyn Fn(usize) + Sync + 'static);

    struct Shared {
        /// Bumped for every job (and once more to stop).
        generation: AtomicUsize,
        job: Mutex<Option<SendJob>>,
        /// Workers still running the current job.
        pending: AtomicUsize,
        stop: AtomicBool,
        panicked: AtomicBool,
        /// More threads than the process may run at once.
        oversubscribed: bool,
        caller: Mutex<Option<Thread>>,
    }

    struct SendJob(Job);
    // SAFETY: the pointee is `Sync` (shared calls are fine from any thread) and `run` keeps it
    // alive until every worker is done with it.
    unsafe impl Send for SendJob {}

    pub struct Pool {
        shared: Arc<Shared>,
        workers: Vec<(JoinHandle<()>, Thread)>,
    }

    /// Spins this many times for the next job before sleeping (a layer takes tens of
    /// microseconds; waking a sleeping thread costs about as much).
    const SPINS: usize = 20_000;

    /// One turn of a wait loop: spin, then sleep (`park`). With more threads than the process
    /// may run at once (`available_parallelism`), each turn yields the core instead of spinning:
    /// the thread whose part of the layer is still to run may be waiting for that core, and
    /// spinning would keep it waiting for the scheduler's time slice (MobileNetV2 on 2 cores,
    /// `mobilenetc bench --threads N`: 3 threads 26 ms per inference spinning, 4.2 yielding;
    /// 4 threads 3.6; 2 threads 3.2). With enough cores the threads only spin, which answers
    /// sooner (yielding after 2,000 spins made 2 threads 1% slower).
    #[inline]
    fn wait_turn(spins: usize, oversubscribed: bool, park: impl FnOnce()) {
        if spins >= SPINS {
            park();
        } else if oversubscribed {
            std::thread::yield_now();
        } else {
            core::hint::spin_loop();
        }
    }

    impl Pool {
        pub fn new(threads: usize) -> Pool {
            let shared = Arc::new(Shared {
                generation: AtomicUsize::new(0),
                job: Mutex::new(None),
                pending: AtomicUsize::new(0),
                stop: AtomicBool::new(false),
                panicked: AtomicBool::new(false),
                oversubscribed: std::thread::available_parallelism().is_ok_and(|n| threads > n.get()),
                caller: Mutex::new(None),
            });
            let workers = (1..threads)
                .map(|index| {
                    let s = Arc::clone(&shared);
                    let handle = std::thread::Builder::new()
                        .name(std::format!("mobilenet-worker-{index}"))
                        .spawn(move || worker(&s, index))
                        .expect("spawning a worker thread");
                    let thread = handle.thread().clone();
                    (handle, thread)
                })
                .collect();
            Pool { shared, workers }
        }

        pub fn threads(&self) -> usize {
            self.workers.len() + 1
        }

        pub fn run(&self, f: &(dyn Fn(usize) + Sync)) {
            let s = &self.shared;
            // SAFETY: the transmute only erases the lifetime. Workers use the pointer between
            // seeing the new generation below and decrementing `pending`; this function does not
            // return (or unwind) before `pending` is back to 0, so `f` outlives every use.
            let job: Job =
                unsafe { core::mem::transmute::<&(dyn Fn(usize) + Sync), &'static (dyn Fn(usize) + Sync)>(f) };
            *s.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(SendJob(job));
            *s.caller.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::thread::current());
            s.pending.store(self.workers.len(), Ordering::Release);
            s.generation.fetch_add(1, Ordering::AcqRel);
            for (_, t) in &self.workers {
                t.unpark();
            }
            let mine = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(0)));
            let mut spins = 0;
            while s.pending.load(Ordering::Acquire) != 0 {
                spins += 1;
                wait_turn(spins, s.oversubscribed, || std::thread::park_timeout(std::time::Duration::from_micros(200)));
            }
            *s.job.lock().unwrap_or_else(|e| e.into_inner()) = None;
            if let Err(p) = mine {
                std::panic::resume_unwind(p);
            }
            if s.panicked.swap(false, Ordering::AcqRel) {
                panic!("a worker thread panicked in a kernel");
            }
        }
    }

    fn worker(s: &Shared, index: usize) {
        let mut seen = 0;
        loop {
            let mut spins = 0;
            let generation = loop {
                let g = s.generation.load(Ordering::Acquire);
                if g != seen {
                    break g;
                }
                spins += 1;
                wait_turn(spins, s.oversubscribed, std::thread::park);
            };
            seen = generation;
            if s.stop.load(Ordering::Acquire) {
                return;
            }
            let job = s.job.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|j| j.0);
            if let Some(job) = job {
                // SAFETY: see `Pool::run`: the closure is alive until `pending` reaches 0,
                // which this thread causes only after the call below.
                let f = unsafe { &*job };
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(index))).is_err() {
                    s.panicked.store(true, Ordering::Release);
                }
            }
            if s.pending.fetch_sub(1, Ordering::AcqRel) == 1
                && let Some(t) = s.caller.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
            {
                t.unpark();
            }
        }
    }

    impl Drop for Pool {
        fn drop(&mut self) {
            self.shared.stop.store(true, Ordering::Release);
            self.shared.generation.fetch_add(1, Ordering::AcqRel);
            for (handle, thread) in self.workers.drain(..) {
                thread.unpark();
                let _ = handle.join();
            }
        }
    }
}

#[cfg(all(test, kernel_threads))]
mod tests {
    use super::*;
    use std::vec;

    #[test]
    fn every_row_once() {
        for n in 1..5 {
            let t = Threads::new(n);
            let mut out = vec![0f32; 37 * 3];
            t.for_rows(37, 1, &mut out, 3, &|range, o| {
                for (i, r) in range.clone().enumerate() {
                    o[i * 3..i * 3 + 3].fill(r as f32 + 1.0);
                }
            });
            for r in 0..37 {
                assert_eq!(out[r * 3..r * 3 + 3], [r as f32 + 1.0; 3], "{n} threads, row {r}");
            }
        }
    }

    #[test]
    fn panics_reach_the_caller() {
        let t = Threads::new(2);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            t.run(&|i| {
                if i == 1 {
                    panic!("boom");
                }
            })
        }));
        assert!(r.is_err());
        // The pool still works afterwards.
        let mut out = vec![0f32; 8];
        t.for_rows(8, 1, &mut out, 1, &|range, o| o.fill(range.start as f32));
        assert_eq!(out, [0.0, 0.0, 0.0, 0.0, 4.0, 4.0, 4.0, 4.0]);
    }
}
