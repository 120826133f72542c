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
//! **Threads.** [`on_pool`] runs the command itself on the pool, the pool's other threads kept
//! awake meanwhile ([`awake`]).

/// The stack of the pool's threads, which run every command (the main thread's size).
pub const STACK: usize = 8 << 20;

/// Runs `job` on a thread of the global pool and waits for it. Each parallel op of the
/// kernels then splits among the pool's threads directly; called from the main thread it would
/// hand itself over to the pool and sleep until done, a wake-up and a sleep per op (`perf`:
/// a fifth of a forward pass was in the system's scheduler and futexes).
///
/// With `keep_awake`, the pool's other threads are kept awake meanwhile ([`awake`]); without,
/// they sleep when idle (for a job that runs its work on pools of its own: spinning, they
/// would take those pools' cores).
pub fn on_pool<R: Send>(keep_awake: bool, job: impl FnOnce() -> R + Send) -> R {
    // An error here means the pool exists already (it is then used as it is) or its threads
    // could not be started (then `scope` panics, as any parallel op would).
    let _ = rayon::ThreadPoolBuilder::new().stack_size(STACK).build_global();
    rayon::scope(|_| if keep_awake { awake(job) } else { job() })
}

/// Runs `job` (on a thread of the current pool) with the pool's other threads kept awake
/// until it returns: each looks for work to steal and, finding none, spins or yields its core
/// rather than sleeping. A sleeping thread is woken for each parallel op, and on a virtual
/// machine a wake-up takes tens of microseconds: dozens of ops per forward pass (BENCHMARKS.md,
/// "Threads"). onnxruntime's pool spins the same way while a model runs. A thread that has
/// found no work for a millisecond (the job reads a file, or waits for a GPU) naps 50 µs
/// between looks (about 100 µs with the timer's slack), so that each waiting thread costs a
/// few percent of a core rather than all of it.
pub fn awake<R>(job: impl FnOnce() -> R) -> R {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    let me = rayon::current_thread_index();
    let done = AtomicBool::new(false);
    rayon::in_place_scope(|s| {
        s.spawn_broadcast(|_, ctx| {
            // Not on the job's own thread: it would spin under the job until the job is done.
            if Some(ctx.index()) == me {
                return;
            }
            let mut idle = 0u32;
            let mut since = Instant::now();
            while !done.load(Ordering::Acquire) {
                if let Some(rayon::Yield::Executed) = rayon::yield_now() {
                    idle = 0;
                    since = Instant::now();
                } else if idle < 64 {
                    idle += 1;
                    std::hint::spin_loop();
                } else if since.elapsed() < Duration::from_millis(1) {
                    // Let other processes run on this core; this thread stays runnable.
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        });
        // Set when the job ends, returning or unwinding (the scope waits for the spinners
        // before a panic goes on: unset, it would wait forever).
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Release);
            }
        }
        let _stop = Stop(&done);
        job()
    })
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
        let (index, sum) = super::on_pool(true, || (rayon::current_thread_index(), (0..1000u64).sum::<u64>()));
        assert!(index.is_some(), "the job ran off the pool");
        assert_eq!(sum, 499_500);
    }

    #[test]
    fn a_job_kept_awake_runs_its_parallel_work_and_returns() {
        use rayon::prelude::*;
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        // Twice in a row, a parallel sum inside: the other thread's spinning ends with the job.
        for _ in 0..2 {
            let (sum, trivial) = pool.install(|| super::awake(|| ((0..100_000u64).into_par_iter().sum::<u64>(), super::awake(|| 7))));
            assert_eq!((sum, trivial), (4_999_950_000, 7));
        }
        // A job that panics: the panic goes on once the other thread has stopped spinning (it
        // used to spin on, and the scope to wait for it forever).
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.install(|| super::awake(|| panic!("a bug in a command")))));
            let _ = tx.send(caught.is_err());
        });
        assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(20)), Ok(true), "the panic reached the caller, in time");
        // A pool of one thread: nothing to keep awake.
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        assert_eq!(one.install(|| super::awake(|| (0..10u32).into_par_iter().sum::<u32>())), 45);
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
