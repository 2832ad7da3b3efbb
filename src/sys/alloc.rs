//! A global allocator that counts, for proving a loop allocates nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The system allocator, counting allocations while counting is on.
///
/// Install it in a test binary of your own to prove that your handlers'
/// steady state allocates nothing (the crate's `tests/no_alloc.rs` does
/// this for echo traffic):
///
/// ```
/// use pollreactor::CountingAllocator;
///
/// #[global_allocator]
/// static ALLOC: CountingAllocator = CountingAllocator::new();
///
/// ALLOC.start();
/// let v = vec![1u8; 16];
/// let counted = ALLOC.stop();
/// assert_eq!(counted, 1);
/// # drop(v);
/// ```
#[derive(Debug)]
pub struct CountingAllocator {
    counting: AtomicBool,
    allocations: AtomicUsize,
}

impl CountingAllocator {
    /// An allocator that is not counting yet.
    pub const fn new() -> CountingAllocator {
        CountingAllocator { counting: AtomicBool::new(false), allocations: AtomicUsize::new(0) }
    }

    /// Resets the count to zero and starts counting (on every thread).
    pub fn start(&self) {
        self.allocations.store(0, Ordering::SeqCst);
        self.counting.store(true, Ordering::SeqCst);
    }

    /// Stops counting; returns how many allocations (and reallocations)
    /// were made since [`start`](Self::start).
    pub fn stop(&self) -> usize {
        self.counting.store(false, Ordering::SeqCst);
        self.allocations.load(Ordering::SeqCst)
    }

    fn count(&self) {
        if self.counting.load(Ordering::Relaxed) {
            self.allocations.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Default for CountingAllocator {
    fn default() -> CountingAllocator {
        CountingAllocator::new()
    }
}

// SAFETY: every method forwards its arguments unchanged to the system
// allocator, which upholds GlobalAlloc's contract; counting only touches
// atomics and never allocates.
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
