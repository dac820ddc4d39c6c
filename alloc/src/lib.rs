//! The native binary's global allocator: mimalloc, called the way its own `malloc` is when the
//! alignment asks for nothing more.
//!
//! The `mimalloc` crate's `GlobalAlloc` passes every request to `mi_malloc_aligned`. mimalloc
//! (v2 and v3) takes its plain path there only when a free block of the size class happens to
//! be at hand, or when the class's size is a power of two; any other request (a 48-byte box
//! with its free list empty, a 1.5 KB future) goes to the over-allocating aligned path: more
//! instructions, a larger block, and a `free` that must find the block's start again. Rust
//! asks for at most 16-byte alignment almost always, and every mimalloc block of at least that
//! size is 16-byte aligned already (`MI_MAX_ALIGN_SIZE`: size classes are multiples of 16 above
//! 8 bytes, pages start 16-aligned), as C's `malloc` promises; std's `System` allocator relies
//! on the same promise with the same test. So those requests take `mi_malloc`, `mi_zalloc` and
//! `mi_realloc`, and only larger alignments the `_aligned` calls. Measured: 2.5 % fewer
//! instructions per request on bench scenario a, 2.3 % on b (bench/profile-notes.md,
//! "mimalloc's aligned path").

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// The alignment every `mi_malloc` block of at least that many bytes has (mimalloc's
/// `MI_MAX_ALIGN_SIZE`, `alignof(max_align_t)`).
const MIN_ALIGN: usize = 16;

/// mimalloc as the global allocator (`#[global_allocator] static A: Mimalloc = Mimalloc;`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Mimalloc;

/// Whether a block of `size` bytes from the plain calls is aligned enough for `align`.
#[inline]
fn plain(size: usize, align: usize) -> bool {
    align <= MIN_ALIGN && align <= size
}

// SAFETY: every pointer handed out comes from mimalloc and goes back to it
// (`mi_free` and `mi_realloc*` take blocks of either kind of call), and each block is at
// least `layout.size()` bytes aligned to `layout.align()`: by `plain` for the plain calls,
// by mimalloc for the `_aligned` ones. A null return reports exhaustion, as `GlobalAlloc`
// allows.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if plain(layout.size(), layout.align()) {
            // SAFETY: `mi_malloc` takes any size.
            return unsafe { mi::mi_malloc(layout.size()) }.cast();
        }
        // SAFETY: `layout.align()` is a power of two, as `mi_malloc_aligned` requires.
        unsafe { mi::mi_malloc_aligned(layout.size(), layout.align()) }.cast()
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if plain(layout.size(), layout.align()) {
            // SAFETY: as `mi_malloc`.
            return unsafe { mi::mi_zalloc(layout.size()) }.cast();
        }
        // SAFETY: as `mi_malloc_aligned`.
        unsafe { mi::mi_zalloc_aligned(layout.size(), layout.align()) }.cast()
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: the caller passes a block this allocator returned, not yet freed.
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if plain(new_size, layout.align()) {
            // SAFETY: `ptr` is a live block of this allocator; the new block keeps the
            // alignment by `plain`.
            return unsafe { mi::mi_realloc(ptr.cast::<c_void>(), new_size) }.cast();
        }
        // SAFETY: `ptr` is a live block of this allocator; the alignment is a power of two.
        unsafe { mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()) }.cast()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Many blocks of every size class up to 4 KiB at every alignment up to 4 KiB (interleaved,
    /// so the size classes' free lists are both full and empty): each is aligned as asked,
    /// zeroed when asked, keeps its bytes through a `realloc`, and is freed.
    #[test]
    fn every_block_is_aligned_as_asked_and_keeps_its_bytes() {
        let a = Mimalloc;
        let mut live = Vec::new();
        for round in 0..3 {
            for size in (1..=4096).step_by(7).chain([8, 16, 24, 32, 48, 1536, 4096]) {
                for shift in 0..=12 {
                    let align = 1usize << shift;
                    let layout = Layout::from_size_align(size, align).unwrap();
                    let zeroed = (size + shift + round) % 2 == 0;
                    // SAFETY: a non-zero size; the block is freed below.
                    let p = unsafe {
                        if zeroed {
                            a.alloc_zeroed(layout)
                        } else {
                            a.alloc(layout)
                        }
                    };
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size}, align {align}");
                    // SAFETY: `p` is `size` bytes, ours.
                    let bytes = unsafe { std::slice::from_raw_parts_mut(p, size) };
                    if zeroed {
                        assert!(bytes.iter().all(|&b| b == 0), "size {size}, align {align}");
                    }
                    bytes.fill(shift as u8);
                    live.push((p, layout));
                }
            }
            // Free every other one now, so the next round finds free lists of every state.
            let mut kept = Vec::new();
            for (i, (p, layout)) in live.drain(..).enumerate() {
                if i % 2 == 0 {
                    // SAFETY: allocated above with `layout`, freed once.
                    unsafe { a.dealloc(p, layout) };
                } else {
                    kept.push((p, layout));
                }
            }
            live = kept;
        }
        for (p, layout) in live {
            let grown = layout.size() * 3 + 5;
            // SAFETY: a live block of `layout`; a non-zero new size.
            let q = unsafe { a.realloc(p, layout, grown) };
            assert!(!q.is_null());
            assert_eq!(q as usize % layout.align(), 0, "realloc of {layout:?}");
            // SAFETY: the first `layout.size()` bytes were copied over.
            let kept = unsafe { std::slice::from_raw_parts(q, layout.size()) };
            let fill = layout.align().trailing_zeros() as u8;
            assert!(kept.iter().all(|&b| b == fill), "realloc of {layout:?}");
            let new = Layout::from_size_align(grown, layout.align()).unwrap();
            // SAFETY: the block `realloc` returned, with its new layout.
            unsafe { a.dealloc(q, new) };
        }
    }
}
