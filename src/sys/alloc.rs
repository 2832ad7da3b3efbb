//! A global allocator that counts, for proving a loop allocates nothing.
//! Built for the library's own unit tests only (`src/tests.rs`), where it
//! is the test binary's global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

#[global_allocator]
pub(crate) static ALLOC: CountingAllocator = CountingAllocator { allocations: AtomicUsize::new(0) };

thread_local! {
    /// Whether this thread's allocations are counted: tests run in
    /// parallel threads, and only the measuring one must count.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

/// The system allocator, counting the allocations of the threads that
/// asked it to.
pub(crate) struct CountingAllocator {
    allocations: AtomicUsize,
}

impl CountingAllocator {
    /// Resets the count to zero and starts counting this thread's allocations.
    pub(crate) fn start(&self) {
        self.allocations.store(0, Ordering::SeqCst);
        COUNTING.with(|c| c.set(true));
    }

    /// Stops counting; returns how many allocations (and reallocations)
    /// this thread made since [`start`](Self::start).
    pub(crate) fn stop(&self) -> usize {
        COUNTING.with(|c| c.set(false));
        self.allocations.load(Ordering::SeqCst)
    }

    fn count(&self) {
        // `try_with`: a thread being torn down has no flag left; it is not measured.
        if COUNTING.try_with(Cell::get).unwrap_or(false) {
            self.allocations.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// SAFETY: every method forwards its arguments unchanged to the system
// allocator, which upholds GlobalAlloc's contract; counting only reads a
// const-initialised thread-local flag and bumps an atomic, and never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.count();
        // SAFETY: the caller upholds `alloc`'s contract, passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `dealloc`'s contract, passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.count();
        // SAFETY: the caller upholds `alloc_zeroed`'s contract, passed on unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.count();
        // SAFETY: the caller upholds `realloc`'s contract, passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
