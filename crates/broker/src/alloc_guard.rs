//! A global allocator that keeps hostile length fields from aborting the process.
//!
//! The message decoders size a `Vec` from an array count read off the wire before
//! reading any element. A count of two billion in a 20-byte request asks for hundreds
//! of gigabytes; the system allocator refuses and Rust aborts the whole broker. This
//! allocator serves such huge requests with address space only (`MAP_NORESERVE`): the
//! decoder then fails on the first missing element, the vector is dropped unused, and
//! the connection is closed. Ordinary allocations go to the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations at least this large are mapped without reserving memory.
pub const RESERVE_FREE_ALLOCATION_BYTES_MIN: usize = 256 << 20;
/// Page size assumed for alignment of mapped allocations.
const PAGE_BYTES: usize = 4096;

pub struct GuardedAllocator;

/// Buffers below this size come from the heap and are reused after being freed.
const HEAP_ALLOCATION_BYTES_MAX: i32 = 64 << 20;
/// Freed heap memory below this amount stays with the process.
const HEAP_TRIM_BYTES_MIN: i32 = 256 << 20;

/// Keeps fetch and produce buffers (up to tens of MiB) on the heap so they are reused:
/// by default glibc maps each large buffer afresh, and the kernel then zeroes every page
/// of it on first touch, which costs more than the data copy itself.
pub fn tune_heap_for_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator thresholds; called before threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, HEAP_ALLOCATION_BYTES_MAX);
        libc::mallopt(libc::M_TRIM_THRESHOLD, HEAP_TRIM_BYTES_MIN);
    }
}

fn is_mapped(layout: &Layout) -> bool {
    layout.size() >= RESERVE_FREE_ALLOCATION_BYTES_MIN && layout.align() <= PAGE_BYTES
}

unsafe impl GlobalAlloc for GuardedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_mapped(&layout) {
            // SAFETY: an anonymous private mapping with no address hint; the result is
            // checked for MAP_FAILED before use.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    layout.size(),
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                return std::ptr::null_mut();
            }
            return p as *mut u8;
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_mapped(&layout) {
            // Fresh anonymous mappings are zero-filled.
            // SAFETY: same contract as alloc.
            return unsafe { self.alloc(layout) };
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_mapped(&layout) {
            // SAFETY: ptr came from our mmap of exactly layout.size() bytes.
            unsafe {
                libc::munmap(ptr as *mut libc::c_void, layout.size());
            }
            return;
        }
        // SAFETY: ptr came from System with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the new layout keeps the alignment of a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !is_mapped(&layout) && !is_mapped(&new_layout) {
            // SAFETY: ptr came from System with this layout.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: allocate, copy the common prefix, free the old block.
        unsafe {
            let new_ptr = self.alloc(new_layout);
            if !new_ptr.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new_ptr
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_allocation_is_address_space_only_and_small_ones_work() {
        let a = GuardedAllocator;
        unsafe {
            let huge = Layout::from_size_align(200 << 30, 8).unwrap();
            let p = a.alloc(huge);
            assert!(!p.is_null(), "200 GiB of address space is available");
            *p = 7;
            assert_eq!(*p, 7);
            a.dealloc(p, huge);

            let small = Layout::from_size_align(64, 8).unwrap();
            let q = a.alloc(small);
            assert!(!q.is_null());
            let q = a.realloc(q, small, RESERVE_FREE_ALLOCATION_BYTES_MIN + 1);
            assert!(!q.is_null());
            a.dealloc(
                q,
                Layout::from_size_align(RESERVE_FREE_ALLOCATION_BYTES_MIN + 1, 8).unwrap(),
            );
        }
    }
}
