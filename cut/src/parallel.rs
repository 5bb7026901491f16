//! [`Parallelism`]: how many threads cut a set of documents at once, and the ordered map
//! ([`Parallelism::map`]) that spreads the documents over them.
//!
//! Documents are independent (a cut is a pure function of one document's bytes and the rules),
//! so a scope is cut on several cores by handing its documents out, one at a time, to a bounded
//! number of threads, and putting the results back in input order. The output is the sequential
//! loop's, element for element, whatever the thread count and however the threads were
//! scheduled: the same units, in the same order, with the same hashes.
//!
//! Scoped threads (`std::thread::scope`) rather than a thread pool crate: the work comes in
//! whole documents, a shared counter balances them as well as work stealing would, and the cut
//! keeps its small set of dependencies. The threads live for one call: spawning one costs tens
//! of microseconds, far less than cutting the documents worth spreading.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many threads [`Parallelism::map`] uses at most, counting the calling thread.
///
/// [`Parallelism::available`] (the default) takes the cores this process may use;
/// [`Parallelism::SEQUENTIAL`] cuts on the calling thread alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Parallelism(NonZeroUsize);

impl Parallelism {
    /// One thread: the calling thread does all the work, and no thread is spawned.
    pub const SEQUENTIAL: Parallelism = Parallelism(NonZeroUsize::MIN);

    /// At most `threads` threads.
    pub fn new(threads: NonZeroUsize) -> Self {
        Parallelism(threads)
    }

    /// As many threads as the cores this process may use (its CPU affinity and cgroup quota
    /// included, as [`std::thread::available_parallelism`] reads them); one when that cannot be
    /// read.
    pub fn available() -> Self {
        std::thread::available_parallelism().map_or(Self::SEQUENTIAL, Parallelism)
    }

    /// The most threads used, the calling thread included.
    pub fn threads(self) -> usize {
        self.0.get()
    }

    /// `work` applied to every item, on up to [`threads`](Parallelism::threads) threads; the
    /// results in the order of `items`, exactly as `items.iter().map(work).collect()` gives
    /// them.
    ///
    /// The calling thread works too, so one thread (or fewer than two items) spawns nothing.
    /// Memory stays bounded: never more threads than asked for, each working on one item at a
    /// time, and no more results than items. A panic in `work` is resumed on the calling thread
    /// once every thread has stopped, as the sequential loop would have raised it.
    pub fn map<T, R, F>(self, items: &[T], work: F) -> Vec<R>
    where
        T: Sync,
        R: Send,
        F: Fn(&T) -> R + Sync,
    {
        let threads = self.threads().min(items.len());
        if threads <= 1 {
            return items.iter().map(work).collect();
        }
        let next = AtomicUsize::new(0);
        // Each thread takes the next item not yet taken, so a long document holds up one
        // thread while the others go on with the rest.
        let worker = || {
            let mut done = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(index) else {
                    return done;
                };
                done.push((index, work(item)));
            }
        };
        let mut done = std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(worker)).collect();
            let mut done = worker();
            for helper in helpers {
                match helper.join() {
                    Ok(more) => done.extend(more),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            done
        });
        // Every index was taken exactly once: sorting by index restores the input order.
        done.sort_unstable_by_key(|&(index, _)| index);
        done.into_iter().map(|(_, result)| result).collect()
    }
}

impl Default for Parallelism {
    /// [`Parallelism::available`].
    fn default() -> Self {
        Parallelism::available()
    }
}

#[cfg(test)]
mod tests;
