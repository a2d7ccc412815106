//! Process-wide settings, made first thing (in `main`, or when the Python module is
//! imported), before the library starts any thread.

/// Tells glibc's allocator to serve blocks up to 32 MiB from its heaps and to keep freed
/// memory for reuse, instead of mapping each large tensor fresh from the kernel and
/// unmapping it when dropped. Every tensor of a forward or backward pass is such a block,
/// so without this the threads spend their time in page faults and in the TLB shootdowns
/// of `munmap`: training runs about 1.5–2× faster with it and inference about 5 % (see
/// docs/performance.md). Freed memory (up to 1 GiB at the top of a heap) is kept for
/// reuse, so peak memory does not grow: the next tensors take the same blocks.
pub fn keep_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator thresholds; it is called before any thread
    // is started.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// The environment variable through which candle reads how long its elementwise workers
/// spin, waiting for the next job, before they sleep.
const CANDLE_SPIN_LIMIT: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";

/// Makes candle's elementwise worker threads sleep as soon as they are idle (unless the
/// user chose otherwise through `CANDLE_BARRIER_POOL_SPIN_LIMIT`). By default they spin
/// for a while after every job, in case another follows; here the next work almost always
/// goes to rayon's threads instead, so a spinning candle worker only takes a core from
/// them. Training at batch 64 runs about 15 % faster without the spinning; inference is
/// unchanged (see docs/performance.md).
pub fn park_idle_candle_workers() {
    if std::env::var_os(CANDLE_SPIN_LIMIT).is_none() {
        // Called before any thread is started, so nothing reads the environment meanwhile.
        std::env::set_var(CANDLE_SPIN_LIMIT, "0");
    }
}

/// The environment variable through which rayon and candle read the thread count.
const THREAD_COUNT: &str = "RAYON_NUM_THREADS";

/// The threads to use: `requested`, else `RAYON_NUM_THREADS`, else every core.
pub fn thread_count(requested: Option<usize>) -> usize {
    let from_env = std::env::var(THREAD_COUNT)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0);
    requested
        .or(from_env)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Records `threads` in `RAYON_NUM_THREADS`, which sizes rayon's global pool and candle's
/// parallel kernels: without it candle re-detects the core count (reading /proc) on every
/// matrix product, which costs inference about a third of its speed on small machines.
pub fn set_thread_count(threads: usize) {
    // Called before the library starts any thread (see the module documentation).
    std::env::set_var(THREAD_COUNT, threads.to_string());
}
