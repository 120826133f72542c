//! The page's allocator: the system's (dlmalloc in wasm), counting the bytes it has handed
//! out and not taken back.
//!
//! A wasm memory only grows, and it grows whenever the allocator finds no free block large
//! enough: its size is a high-water mark that fragmentation raises now and then (one 2048 x
//! 2048 photo's 12.6 MB, once, in the soak) without any leak. What is still allocated is what
//! a leak raises, so the soak test watches [`live_bytes`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use wasm_bindgen::prelude::*;

static LIVE: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// Each method is kept out of line: inlined, the system allocator came with it into every
// allocation's caller (72 KB more wasm before wasm-opt, against 10 KB out of line).

// SAFETY: every call is forwarded to `System` unchanged; only a counter is updated beside it.
unsafe impl GlobalAlloc for Counting {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Relaxed);
        }
        p
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Relaxed);
        }
        p
    }

    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    #[inline(never)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size, Relaxed);
            LIVE.fetch_sub(layout.size(), Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The bytes this instance's allocator has handed out and not taken back (see the module's
/// note: the wasm memory's size is only its high-water mark).
#[wasm_bindgen(js_name = liveBytes)]
pub fn live_bytes() -> f64 {
    LIVE.load(Relaxed) as f64
}
