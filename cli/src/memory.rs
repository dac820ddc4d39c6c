//! The process's memory settings, applied once at start: no transparent huge pages for the heap.
//!
//! mimalloc (v3, the global allocator) `madvise`s its arenas `MADV_HUGEPAGE`, so on a host whose
//! THP mode is `madvise` (Debian's default) or `always`, the first byte touched in each 2 MiB of
//! heap brings in a whole 2 MiB page. The gateway's heap is small and busy in few places: idle
//! it held 8 MiB of huge pages for about 1 MiB of data, and the peak RSS of every bench scenario
//! was 6 to 17 MB higher than with 4 KiB pages, at the same instruction count
//! (bench/profile-notes.md, "Peak memory"). mimalloc's own switch is the environment variable
//! `MIMALLOC_ALLOW_THP`; when it is set, it decides, and this does nothing.

use std::ffi::OsStr;

/// The variable with which an operator chooses for themselves (`1` allows huge pages).
pub const ALLOW_THP_VAR: &str = "MIMALLOC_ALLOW_THP";

/// Turn transparent huge pages off for this process unless `MIMALLOC_ALLOW_THP` is set; true
/// when they were turned off. Call it first thing in `main`: what was touched before main
/// (mimalloc's first two huge pages, 4 MiB) stays; `MIMALLOC_ALLOW_THP=0` in the environment
/// avoids those too (mimalloc then sets the same flag before its first allocation). A kernel
/// that refuses (no THP support) leaves nothing to turn off.
pub fn no_transparent_huge_pages() -> bool {
    apply(std::env::var_os(ALLOW_THP_VAR).as_deref())
}

fn apply(choice: Option<&OsStr>) -> bool {
    if choice.is_some() {
        return false;
    }
    disable()
}

#[cfg(target_os = "linux")]
fn disable() -> bool {
    // PR_SET_THP_DISABLE: for the whole process (its mm), kept across fork and exec.
    rustix::thread::disable_transparent_huge_pages(true).is_ok()
}

#[cfg(not(target_os = "linux"))]
fn disable() -> bool {
    false
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn huge_pages_go_off_unless_the_operator_chose() {
        // The flag is per process and there is no other test here that reads it.
        let before = rustix::thread::transparent_huge_pages_are_disabled().unwrap();
        assert!(!apply(Some(OsStr::new("1"))));
        assert_eq!(
            rustix::thread::transparent_huge_pages_are_disabled().unwrap(),
            before
        );
        assert!(apply(None));
        assert!(rustix::thread::transparent_huge_pages_are_disabled().unwrap());
    }
}
