//! How the native tool runs its work: on the thread pool its kernels use, keeping the memory it
//! frees for the next op.
//!
//! **Memory.** Every op allocates its output. On glibc an allocation above the mapping threshold (128 KB,
//! rising to at most 32 MB) is mapped fresh from the system and unmapped when freed, so every
//! op of a batch-16 pattern step page-faulted and zero-filled its tens of megabytes anew:
//! `perf` put 38% of the step in the kernel (`clear_page_erms`, page faults). Kept, the same
//! step takes 1.3-1.4 s instead of 2.2 s (BENCHMARKS.md); PyTorch keeps its freed buffers for
//! the same reason. The cost is that the process stays at its peak size until it exits,
//! which suits a command that runs one job. The page (wasm) has one linear memory that never
//! shrinks, so this is native only.

/// The stack of the pool's threads, which run every command (the main thread's size).
const STACK: usize = 8 << 20;

/// Runs `job` on a thread of the global pool and waits for it. Each parallel op of the
/// kernels then splits among the pool's threads directly; called from the main thread it would
/// hand itself over to the pool and sleep until done, a wake-up and a sleep per op (`perf`:
/// a fifth of a forward pass was in the system's scheduler and futexes).
pub fn on_pool<R: Send>(job: impl FnOnce() -> R + Send) -> R {
    // Fails only if the pool was built already, which leaves it as it is.
    let _ = rayon::ThreadPoolBuilder::new().stack_size(STACK).build_global();
    rayon::scope(|_| job())
}

/// Serves every allocation from the heap and keeps what is freed there. Returns whether the
/// allocator took both settings (always `true` where there is nothing to set).
pub fn keep_freed() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only changes glibc's allocation policy, for allocations made
        // after it; it is called first thing in `main`, before any other thread exists.
        unsafe { libc::mallopt(libc::M_MMAP_MAX, 0) == 1 && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    true
}

#[cfg(test)]
mod tests {
    #[test]
    fn jobs_run_on_the_pool() {
        assert_eq!(rayon::current_thread_index(), None);
        let (index, sum) = super::on_pool(|| (rayon::current_thread_index(), (0..1000u64).sum::<u64>()));
        assert!(index.is_some(), "the job ran off the pool");
        assert_eq!(sum, 499_500);
    }

    #[test]
    fn the_allocator_takes_the_settings() {
        assert!(super::keep_freed());
        // Allocations of the size that used to be mapped fresh still work.
        let big = vec![7u8; 48 << 20];
        assert!(big.iter().all(|&b| b == 7));
    }
}
