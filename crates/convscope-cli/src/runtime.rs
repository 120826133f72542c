//! How the native tool runs its work: on the thread pool its kernels use, keeping the memory it
//! frees for the next op.
//!
//! **Memory.** Every op allocates its output. glibc maps an allocation above its mapping
//! threshold (128 KB, rising to at most 32 MB as large blocks are freed) fresh from the system
//! and unmaps it when freed; and a thread other than the main one allocates from an arena that
//! grows in blocks of at most 64 MB, so anything larger is mapped fresh whatever the threshold.
//! A batch-16 pattern step's large tensors (77 MB for the 96-channel 112x112 layer) were thus
//! page-faulted and zero-filled anew at every op: `perf` put 38% of the step in the system's
//! kernel (`clear_page_erms`, page faults). [`keep_freed`] serves every allocation from the
//! one main heap and keeps what is freed there (BENCHMARKS.md: the step 2.2 s -> 1.3-1.4 s, and
//! 1.29 M -> 0.21 M page faults); PyTorch keeps its freed buffers for the same reason. The
//! cost is that the process stays at its peak size until it exits, which suits a command that
//! runs one job. The page (wasm) has one linear memory that never shrinks: native only.
//!
//! **Threads.** [`on_pool`] runs the command itself on the pool.

/// The stack of the pool's threads, which run every command (the main thread's size).
pub const STACK: usize = 8 << 20;

/// Runs `job` on a thread of the global pool and waits for it. Each parallel op of the
/// kernels then splits among the pool's threads directly; called from the main thread it would
/// hand itself over to the pool and sleep until done, a wake-up and a sleep per op (`perf`:
/// a fifth of a forward pass was in the system's scheduler and futexes).
pub fn on_pool<R: Send>(job: impl FnOnce() -> R + Send) -> R {
    // An error here means the pool exists already (it is then used as it is) or its threads
    // could not be started (then `scope` panics, as any parallel op would).
    let _ = rayon::ThreadPoolBuilder::new().stack_size(STACK).build_global();
    rayon::scope(|_| job())
}

/// Serves every allocation from the main heap (one arena, nothing mapped apart) and keeps what
/// is freed there. glibc only; elsewhere nothing is set.
///
/// # Safety
/// No other thread may be running: glibc's `mallopt` changes settings that other threads'
/// allocations read without a lock. Call it first thing in `main`.
pub unsafe fn keep_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: the caller guarantees that this is the only thread; the settings are valid.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
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

    /// Whether freed memory is kept: glibc only.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    mod glibc {
        /// Page faults of this process so far (`minflt` in `/proc/self/stat`).
        fn faults() -> u64 {
            let stat = std::fs::read_to_string("/proc/self/stat").expect("procfs");
            let after_name = stat.rsplit(')').next().expect("a stat line");
            after_name.split_whitespace().nth(7).and_then(|v| v.parse().ok()).expect("minflt")
        }

        /// Run alone by [`freed_memory_is_reused`], in a process of its own.
        #[test]
        #[ignore = "run by freed_memory_is_reused in a process of its own"]
        fn alone_reuse() {
            // SAFETY: this process runs this one test, and nothing else allocates meanwhile.
            unsafe { crate::runtime::keep_freed() };
            // An allocation on a thread other than the main one (as the pool's are), larger than
            // a thread arena's 64 MB block: written whole, freed, then again. Kept, the second
            // one faults in no new pages (mapped fresh, it faulted in all 25,600).
            std::thread::spawn(|| {
                let touch = || drop(std::hint::black_box(vec![1u8; 100 << 20]));
                touch();
                let before = faults();
                touch();
                let new = faults() - before;
                assert!(new < 2_000, "{new} page faults for memory freed and allocated again");
            })
            .join()
            .expect("the allocating thread");
        }

        #[test]
        fn freed_memory_is_reused() {
            let exe = std::env::current_exe().expect("the test binary");
            let out = std::process::Command::new(exe)
                .args(["runtime::tests::glibc::alone_reuse", "--exact", "--ignored", "--test-threads=1", "--nocapture"])
                .output()
                .expect("the test binary runs");
            let log = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success() && log.contains("1 passed"), "{log}");
        }
    }
}
