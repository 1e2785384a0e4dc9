//! Giving freed memory back to the system after a pass over the mailbox.
//!
//! glibc's malloc keeps what a program frees for its next allocations, in every
//! arena a thread used. A backlog with 5 MB attachments leaves tens of megabytes of
//! free but resident heap behind; trimming returns the free pages of every arena
//! for the cost of one call. Once per pass, not per batch: since the store writes a
//! large message into its row in place (`store::messages`), a trim after each batch
//! kept the benchmark's intake at 56-57 MiB but cost 11% of its rate (966 against
//! 1,070 msg/s; 66-71 MiB without it, medians of 3). A daemon at rest after a
//! backlog holds what it needs, not what the backlog needed.

/// Returns free heap memory to the system (glibc); nothing elsewhere.
pub fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only walks malloc's own arenas
    // under their locks and advises the kernel about whole free pages.
    unsafe {
        libc::malloc_trim(0);
    }
}
