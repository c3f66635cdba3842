//! Where a model reads its weights from: the blob embedded in the binary (the default, nothing
//! to do at start-up), or a copy of it on 2 MiB pages.
//!
//! Why a copy can pay: the embedded blob is part of the executable's file mapping, which Linux
//! maps with 4 KiB pages only. MobileNetV2's 14 MB of weights are 3,400 of them, more than the
//! TLB holds, so every inference walks page tables for them, and the hardware prefetchers stop at
//! each page boundary; the classifier's 5 MB read is where it shows most. Measured on Zen 4
//! (`bench/ab.py`, a runner with and without the copy): MobileNetV2 about 2% faster in steady
//! state, MobileNetV3-large 2-3%. The copy costs about 3 ms once (V2), which is why it is an
//! opt-in for long-running processes and not what `new()` does.
//!
//! A process that starts, runs once and exits pays the other way: its first inference stops on
//! a page fault every 16 pages of weights (MobileNetV2: ~220 faults mapping 3,400 pages, about
//! 0.6-1 ms of a 7 ms first inference). [`WeightMemory::map_in_background`] maps them on a
//! helper thread instead, ahead of the layers that read them.

#[cfg(feature = "alloc")]
use crate::Arena;

/// The weights a model reads: embedded (default) or a copy the model owns.
#[derive(Debug, Default)]
pub struct WeightMemory {
    #[cfg(feature = "alloc")]
    copy: Option<Arena>,
}

impl WeightMemory {
    /// Read the weights where they are embedded.
    pub const fn embedded() -> Self {
        WeightMemory {
            #[cfg(feature = "alloc")]
            copy: None,
        }
    }

    /// The weights to read: the copy if there is one, else `embedded`.
    #[inline]
    pub fn get<'a>(&'a self, embedded: &'a [f32]) -> &'a [f32] {
        #[cfg(feature = "alloc")]
        if let Some(copy) = &self.copy {
            return copy.as_ref();
        }
        embedded
    }

    /// True once [`copy_to_huge_pages`](Self::copy_to_huge_pages) has run.
    pub fn is_copy(&self) -> bool {
        #[cfg(feature = "alloc")]
        return self.copy.is_some();
        #[cfg(not(feature = "alloc"))]
        false
    }

    /// Maps the pages of `embedded` into this process on a short-lived helper thread (it reads a
    /// byte of every 4 KiB page, in the order the layers read them, and ends), so that the first
    /// inference does not stop on those page faults itself. Returns at once. Does nothing if the
    /// weights are a copy already, without the `std` feature, on WebAssembly (no threads), or if
    /// the thread cannot be started.
    /// Meant for short-lived processes; a long-running one copies the weights instead (calling
    /// both can leave the embedded pages resident beside the copy).
    pub fn map_in_background(&self, embedded: &'static [f32]) {
        #[cfg(all(feature = "std", not(target_family = "wasm")))]
        if !self.is_copy() {
            let _ = background::spawn(embedded);
        }
        #[cfg(any(not(feature = "std"), target_family = "wasm"))]
        let _ = embedded;
    }

    /// Copies `embedded` into memory of its own (2 MiB pages on Linux where transparent huge
    /// pages are `always` or `madvise`; ordinary memory elsewhere) and reads that from now on.
    /// On Linux, each 2 MiB of the embedded blob is handed back to the OS once copied, if it
    /// lies in a read-only file mapping (the executable), so the process does not keep both
    /// resident: those pages would be read again from the file only if something read the
    /// embedded blob again. Calling it again does nothing, and so does calling it for weights
    /// under 1 MiB (they would not be put on huge pages, so a copy would gain nothing).
    #[cfg(feature = "alloc")]
    pub fn copy_to_huge_pages(&mut self, embedded: &[f32]) {
        if self.copy.is_none() && core::mem::size_of_val(embedded) >= crate::memory::HUGE_FROM {
            let release = release::FilePages::of_this_process();
            self.copy = Some(Arena::copy_of(embedded, |part| release.release(part)));
        }
    }
}

#[cfg(all(feature = "std", not(target_family = "wasm")))]
mod background {
    extern crate std;

    /// A thread that reads one element of each page of `weights`, front to back.
    pub fn spawn(weights: &'static [f32]) -> std::io::Result<std::thread::JoinHandle<()>> {
        // A small stack: the thread only loops (and a smaller stack is less to map).
        std::thread::Builder::new()
            .name("mobilenet-weights".into())
            .stack_size(64 * 1024)
            .spawn(move || touch_pages(weights))
    }

    /// Reads one element in every 4 KiB of `weights`, and the last (a chunk's start can lie
    /// past the last page's beginning).
    fn touch_pages(weights: &[f32]) {
        // `black_box` makes each read happen (its value is otherwise unused).
        for chunk in weights.chunks(crate::memory::PAGE / 4) {
            core::hint::black_box(chunk[0]);
        }
        core::hint::black_box(weights.last());
    }
}

#[cfg(all(feature = "alloc", feature = "std", target_os = "linux"))]
mod release {
    extern crate std;
    use crate::memory::PAGE;
    use std::vec::Vec;

    /// The process's read-only file mappings, from /proc/self/maps.
    pub struct FilePages {
        read_only_files: Vec<(usize, usize)>,
    }

    impl FilePages {
        pub fn of_this_process() -> Self {
            let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
            FilePages { read_only_files: maps.lines().filter_map(read_only_file_mapping).collect() }
        }

        /// Drops the whole pages of `part` from this process's page tables, if they all lie in
        /// one read-only file mapping. Failure is harmless (the pages just stay resident).
        pub fn release(&self, part: &[f32]) {
            use crate::memory::sys::{MADV_DONTNEED, madvise};
            let start = (part.as_ptr() as usize).next_multiple_of(PAGE);
            let end = (part.as_ptr() as usize + core::mem::size_of_val(part)) / PAGE * PAGE;
            if start < end && self.read_only_files.iter().any(|&(lo, hi)| lo <= start && end <= hi) {
                // SAFETY: the range is whole pages of a private or shared mapping of a file that
                // is mapped without write permission, so no page in it can hold anything but the
                // file's contents: after MADV_DONTNEED a later read faults the same bytes back in
                // from the file. Nothing is freed that Rust code owns.
                unsafe { madvise(start as *mut core::ffi::c_void, end - start, MADV_DONTNEED) };
            }
        }
    }

    /// `lo-hi perms offset dev inode path`: the range, if the mapping is of a file (inode not 0)
    /// and readable but not writable.
    fn read_only_file_mapping(line: &str) -> Option<(usize, usize)> {
        let mut fields = line.split_whitespace();
        let (lo, hi) = fields.next()?.split_once('-')?;
        let perms = fields.next()?.as_bytes();
        let inode = fields.nth(2)?;
        let read_only = perms.first() == Some(&b'r') && perms.get(1) == Some(&b'-');
        if !read_only || inode == "0" {
            return None;
        }
        Some((usize::from_str_radix(lo, 16).ok()?, usize::from_str_radix(hi, 16).ok()?))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn only_read_only_file_mappings_count() {
            let maps = "55d0c0a00000-55d0c1400000 r--p 00200000 fd:01 1234 /usr/bin/app\n\
                        55d0c1400000-55d0c1600000 rw-p 00e00000 fd:01 1234 /usr/bin/app\n\
                        7f0000000000-7f0000200000 r--p 00000000 00:00 0\n\
                        7f0000400000-7f0000600000 r-xp 00000000 fd:01 99 /lib/libc.so.6";
            let found: Vec<_> = maps.lines().filter_map(read_only_file_mapping).collect();
            assert_eq!(found, [(0x55d0c0a00000, 0x55d0c1400000), (0x7f0000400000, 0x7f0000600000)]);
        }
    }
}

/// Elsewhere the embedded pages stay as they are.
#[cfg(all(feature = "alloc", not(all(feature = "std", target_os = "linux"))))]
mod release {
    pub struct FilePages;

    impl FilePages {
        pub fn of_this_process() -> Self {
            FilePages
        }

        pub fn release(&self, _: &[f32]) {}
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    #[test]
    fn small_weights_stay_embedded() {
        let src = [1.0f32; 1000];
        let mut w = WeightMemory::embedded();
        w.copy_to_huge_pages(&src);
        assert!(!w.is_copy());
        assert_eq!(w.get(&src).as_ptr(), src.as_ptr());
    }

    #[test]
    fn the_copy_holds_the_same_values() {
        // Three huge pages' worth and a bit, so that parts and the rounded tail are exercised.
        let src: Vec<f32> = (0..(3 << 19) + 5).map(|i| i as f32 * 0.5 - 7.0).collect();
        let mut w = WeightMemory::embedded();
        assert!(!w.is_copy());
        assert_eq!(w.get(&src).as_ptr(), src.as_ptr());
        w.copy_to_huge_pages(&src);
        assert!(w.is_copy());
        assert_ne!(w.get(&src).as_ptr(), src.as_ptr());
        assert_eq!(w.get(&src), &src[..]);
    }

    /// The embedded blob of a real binary is a read-only file mapping: after the copy its pages
    /// are released, and reading them again gives the same bytes (faulted in from the file).
    #[test]
    fn embedded_pages_read_back_the_same_after_release() {
        static BLOB: crate::weights::Aligned<[u8; 3 << 20]> = crate::weights::Aligned([7; 3 << 20]);
        let embedded = crate::weights::as_f32(&BLOB);
        let expected = f32::from_le_bytes([7; 4]);
        assert!(embedded.iter().all(|&v| v == expected));
        let mut w = WeightMemory::embedded();
        #[cfg(all(feature = "std", target_os = "linux"))]
        {
            let resident = || crate::smaps_field_kb(embedded.as_ptr() as usize, "Rss").expect("the blob's mapping");
            let before = resident();
            w.copy_to_huge_pages(embedded);
            let after = resident();
            assert!(after + 2048 <= before, "the copied pages stay resident: {before} kB before, {after} kB after");
        }
        w.copy_to_huge_pages(embedded);
        assert!(w.get(embedded).iter().all(|&v| v == expected));
        assert!(
            embedded.iter().all(|&v| v == expected),
            "the embedded blob reads the same after its pages are released"
        );
    }

    /// The helper thread maps every page of an embedded blob that nothing has read yet (the
    /// pages of a file mapping are mapped only when first read, 16 at a time).
    #[cfg(all(feature = "std", target_os = "linux"))]
    #[test]
    fn the_helper_thread_maps_every_page() {
        static BLOB: crate::weights::Aligned<[u8; (1 << 20) + 12]> = crate::weights::Aligned([3; (1 << 20) + 12]);
        // Not from the first byte: the pages are not aligned to the slice.
        let blob = &crate::weights::as_f32(&BLOB)[1..];
        let mapped = || crate::mapped_pages(blob).expect("/proc/self/pagemap is readable");
        let (before, pages) = mapped();
        assert!(before < pages, "nothing read the blob, yet all its {pages} pages are mapped");
        super::background::spawn(blob).expect("a thread").join().expect("the thread ends");
        assert_eq!(mapped(), (pages, pages));
    }
}
