//! A counting global allocator: the bytes live now and the most live since the last
//! [`start`], so the fuzzer can tell how much memory one call of a loader took.
//!
//! A program installs it with `#[global_allocator] static A: Counting = Counting;`. A single
//! request that would take the live bytes past [`HARD_LIMIT`] is refused (the allocator returns
//! null) after [`set_on_refusal`]'s hook has saved the input: such a request is a loader
//! trusting a size from the file, and granting it could exhaust the machine.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering::Relaxed};

/// Live bytes above which a request is refused.
pub const HARD_LIMIT: usize = 2 << 30;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static REFUSED: AtomicUsize = AtomicUsize::new(0);
static ON_REFUSAL: AtomicPtr<()> = AtomicPtr::new(std::ptr::null_mut());

/// The system allocator, counting.
pub struct Counting;

impl Counting {
    fn grew(&self, by: usize) {
        let now = LIVE.fetch_add(by, Relaxed) + by;
        PEAK.fetch_max(now, Relaxed);
    }

    /// Whether a request of `size` more bytes may go ahead; calls the hook once if not.
    fn allowed(&self, size: usize) -> bool {
        if LIVE.load(Relaxed).saturating_add(size) <= HARD_LIMIT {
            return true;
        }
        if REFUSED.swap(size, Relaxed) == 0 {
            let hook = ON_REFUSAL.load(Relaxed);
            if !hook.is_null() {
                // SAFETY: only `set_on_refusal` stores here, and it stores an `fn(usize)`.
                let hook: fn(usize) = unsafe { std::mem::transmute::<*mut (), fn(usize)>(hook) };
                hook(size);
            }
        }
        false
    }
}

// SAFETY: every method forwards to `System` with the caller's layout; the counters are atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !self.allowed(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract is `System`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            self.grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !self.allowed(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            self.grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        if new_size > old && !self.allowed(new_size - old) {
            return std::ptr::null_mut();
        }
        // SAFETY: as `alloc` and `dealloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= old {
                self.grew(new_size - old);
            } else {
                LIVE.fetch_sub(old - new_size, Relaxed);
            }
        }
        p
    }
}

/// Starts a measurement: the peak becomes the bytes live now, which are returned.
pub fn start() -> usize {
    REFUSED.store(0, Relaxed);
    let now = LIVE.load(Relaxed);
    PEAK.store(now, Relaxed);
    now
}

/// The most bytes live since [`start`] (above `base`, what it returned), and the size of a
/// request refused since then (0 if none).
pub fn peak_since(base: usize) -> (usize, usize) {
    (PEAK.load(Relaxed).saturating_sub(base), REFUSED.load(Relaxed))
}

/// Whether the counting allocator is installed (it has seen an allocation).
pub fn installed() -> bool {
    drop(std::hint::black_box(vec![0u8; 64]));
    PEAK.load(Relaxed) > 0 || LIVE.load(Relaxed) > 0
}

/// Sets what runs, once per measurement, when a request is refused: it gets the request's
/// size, and may allocate (small amounts).
pub fn set_on_refusal(hook: fn(usize)) {
    ON_REFUSAL.store(hook as *mut (), Relaxed);
}
