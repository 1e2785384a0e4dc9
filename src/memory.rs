//! Giving freed memory back to the system after a large piece of work.
//!
//! glibc's malloc keeps what a program frees for its next allocations, in every
//! arena a thread used. A batch of messages with 5 MB attachments (the raw message,
//! its decoded parts, SQLite's copy) leaves tens of megabytes of free but resident
//! heap behind. Trimming once after each batch returns the free pages of every arena
//! for the cost of one call: the benchmark's 10,000-message backlog peaked at
//! 128 MiB instead of 147 MiB, as fast as before. (Sending every allocation over 1 MB
//! to mmap instead peaks at 71 MiB but makes intake 40% slower; two arenas instead of
//! sixteen: 123 MiB, 6% slower.) Measured again once case records stopped carrying
//! a copy of the original: 84 MiB with the trim, 93 MiB and 4% faster without.

/// Returns free heap memory to the system (glibc); nothing elsewhere.
pub fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only walks malloc's own arenas
    // under their locks and advises the kernel about whole free pages.
    unsafe {
        libc::malloc_trim(0);
    }
}
