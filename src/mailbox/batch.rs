//! How a listing of waiting messages is cut into batches, for IMAP and Maildir alike.

/// A batch holds at most this many bytes of message bodies (or one message, when a
/// single one is larger); two batches are in memory at once, one committed while
/// the next is fetched. Over the benchmark's attachment mix (benches/run.sh, 5 MB
/// attachments) intake peaked at 85 MiB of RSS with 6 MB batches, 83 with 4 MB and
/// 90–100 with 8 MB, which the rules' and the model's growth had taken to the
/// 100 MiB target (4 December); 4 MB ran slower in two of four runs. Ordinary mail
/// still makes batches of the full `batch_size`.
pub const BATCH_BYTES: u64 = 6 * 1024 * 1024;

/// Groups `listing` into batches of at most `count` messages and about BATCH_BYTES.
/// A message over `max_message` counts nothing: only its header is read.
pub fn batches<T>(
    listing: &[T],
    size: impl Fn(&T) -> u64,
    count: usize,
    max_message: u64,
) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, item) in listing.iter().enumerate() {
        let size = size(item);
        let size = if size > max_message { 0 } else { size };
        if i > start && (i - start >= count.max(1) || bytes + size > BATCH_BYTES) {
            if let Some(b) = listing.get(start..i) {
                out.push(b);
            }
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if let Some(b) = listing.get(start..).filter(|b| !b.is_empty()) {
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lengths(sizes: &[u64], count: usize, max: u64) -> Vec<usize> {
        batches(sizes, |s| *s, count, max)
            .iter()
            .map(|b| b.len())
            .collect()
    }

    #[test]
    fn batches_respect_count() {
        assert_eq!(lengths(&[10; 5], 2, 100), vec![2, 2, 1]);
    }

    #[test]
    fn batches_respect_bytes_and_a_large_message_goes_alone() {
        let half = BATCH_BYTES / 2;
        let max = 10 * BATCH_BYTES;
        // Two halves fit; a third would pass the bound; one larger than the bound
        // goes alone; the small ones after it fit.
        assert_eq!(
            lengths(&[half, half, half, 2 * BATCH_BYTES, 1, 1], 100, max),
            vec![2, 1, 1, 2]
        );
        // A message over the limit is only its header: it costs the batch nothing.
        assert_eq!(lengths(&[half, 20 * BATCH_BYTES, half], 100, max), vec![3]);
        assert!(lengths(&[], 10, max).is_empty());
    }
}
