//! The linker's work spread over every core: items are cut into chunks that threads take in
//! turn, and the chunks' results come back in the items' order, so a parallel run decides
//! exactly as a serial one.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Items per chunk: enough to make a chunk's hand-over cheap, few enough to balance the threads.
const CHUNK: usize = 8192;

/// Runs `work` over `0..n` cut into chunks, on up to `threads` threads; returns each chunk's
/// result in the order of the chunks.
pub fn in_chunks<R: Send>(n: usize, threads: usize, work: impl Fn(Range<usize>) -> R + Sync) -> Vec<R> {
    chunked(n, CHUNK, threads, work)
}

/// `f` of each item, in order, one item at a time per thread: for items that are each much
/// work (a batch of rows).
pub fn map_each<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    chunked(items.len(), 1, threads, |r| f(&items[r.start]))
}

fn chunked<R: Send>(n: usize, chunk: usize, threads: usize, work: impl Fn(Range<usize>) -> R + Sync) -> Vec<R> {
    let chunks = n.div_ceil(chunk);
    let range = |c: usize| c * chunk..((c + 1) * chunk).min(n);
    if threads <= 1 || chunks <= 1 {
        return (0..chunks).map(|c| work(range(c))).collect();
    }
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(chunks))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let c = next.fetch_add(1, Ordering::Relaxed);
                        if c >= chunks {
                            return mine;
                        }
                        mine.push((c, work(range(c))));
                    }
                })
            })
            .collect();
        // A worker's panic is a bug in the linker: it goes on as this thread's.
        workers.into_iter().flat_map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    done.sort_unstable_by_key(|(c, _)| *c);
    done.into_iter().map(|(_, r)| r).collect()
}

/// `f` of every item of `0..n`, in order, computed on up to `threads` threads.
pub fn map<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let mut out = Vec::with_capacity(n);
    for chunk in in_chunks(n, threads, |r| r.map(&f).collect::<Vec<T>>()) {
        out.extend(chunk);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_order_whatever_the_threads() {
        let n = 3 * CHUNK + 17;
        let serial = map(n, 1, |i| i * 3);
        assert_eq!(map(n, 2, |i| i * 3), serial);
        assert_eq!(map(n, 5, |i| i * 3), serial);
        assert_eq!(serial.len(), n);
        assert!(map(0, 2, |i| i).is_empty());
        let items: Vec<usize> = (0..9).collect();
        assert_eq!(map_each(&items, 3, |i| i * 2), (0..9).map(|i| i * 2).collect::<Vec<_>>());
    }
}
