//! Bounded transactions: the fence and the enact go to the store in batches of documents, each
//! batch one store call and so one transaction, so that no transaction of a run grows with its
//! scope, and a run can be stopped (kill switch, cancellation, lost lease) between two batches.

use std::time::Duration;

use iu_cutter_live_execution::{Evidence, EvidenceValue};

/// Documents per fence or enact transaction unless configured: a few hundred row updates, well
/// under a second on either store, so that a batch holds its row locks briefly and a stop waits
/// for one batch only.
pub const DEFAULT_BATCH_DOCUMENTS: usize = 500;

/// Evidence key: how many store transactions the phase's batched calls took.
pub const BATCHES: &str = "batches";
/// Evidence key: the longest of those transactions, in milliseconds (the phase's longest single
/// transaction, as the bench measures it).
pub const LONGEST_BATCH_MS: &str = "longest_batch_ms";

/// How a phase splits its documents into transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentBatches {
    /// At most this many documents per transaction (at least 1).
    Of(usize),
    /// The whole scope in one transaction: all or nothing across the scope, however large.
    WholeScope,
}

impl DocumentBatches {
    /// From the configured `batch_documents`: `0` means the whole scope in one transaction.
    pub fn from_setting(batch_documents: usize) -> Self {
        match batch_documents {
            0 => DocumentBatches::WholeScope,
            n => DocumentBatches::Of(n),
        }
    }

    /// The configured figure back (`0` for the whole scope).
    pub fn setting(self) -> usize {
        match self {
            DocumentBatches::Of(n) => n,
            DocumentBatches::WholeScope => 0,
        }
    }

    /// `items` cut into the batches a phase *reads* them in: as [`DocumentBatches::split`], but
    /// never the whole scope at once, since a read needs no atomicity across the scope and the
    /// whole scope's bodies would not fit a bounded memory ([`DEFAULT_BATCH_DOCUMENTS`] each
    /// under [`DocumentBatches::WholeScope`]).
    pub fn read_chunks<T>(self, items: &[T]) -> std::slice::Chunks<'_, T> {
        items.chunks(self.read_size())
    }

    /// Documents per read (what [`read_chunks`](Self::read_chunks) cuts into): the batch size,
    /// or [`DEFAULT_BATCH_DOCUMENTS`] for the whole scope.
    pub fn read_size(self) -> usize {
        match self {
            DocumentBatches::Of(n) => n.max(1),
            DocumentBatches::WholeScope => DEFAULT_BATCH_DOCUMENTS,
        }
    }

    /// `items` cut into batches (one batch, possibly empty, for the whole scope).
    pub fn split<T>(self, items: &[T]) -> Vec<&[T]> {
        match self {
            DocumentBatches::Of(n) => items.chunks(n.max(1)).collect(),
            DocumentBatches::WholeScope => vec![items],
        }
    }
}

impl Default for DocumentBatches {
    fn default() -> Self {
        DocumentBatches::Of(DEFAULT_BATCH_DOCUMENTS)
    }
}

/// Times a phase's batches: how many, and the longest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchTimes {
    batches: u64,
    longest: Duration,
}

impl BatchTimes {
    /// Runs one batch (`call`, one store transaction) and records how long it took.
    pub async fn time<T>(&mut self, call: impl Future<Output = T>) -> T {
        let started = tokio::time::Instant::now();
        let result = call.await;
        self.record(started.elapsed());
        result
    }

    /// Records one batch that took `took`.
    pub fn record(&mut self, took: Duration) {
        self.batches += 1;
        self.longest = self.longest.max(took);
    }

    /// Batches recorded.
    pub fn batches(&self) -> u64 {
        self.batches
    }

    /// The longest batch, in whole milliseconds.
    pub fn longest_ms(&self) -> u64 {
        u64::try_from(self.longest.as_millis()).unwrap_or(u64::MAX)
    }

    /// Adds [`BATCHES`] and [`LONGEST_BATCH_MS`] to `evidence`.
    pub fn record_in(&self, evidence: &mut Evidence) {
        evidence.insert(BATCHES.to_owned(), EvidenceValue::from(self.batches));
        evidence.insert(
            LONGEST_BATCH_MS.to_owned(),
            EvidenceValue::from(self.longest_ms()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_into_batches_or_stay_whole() {
        let items: Vec<u32> = (0..7).collect();
        let sizes = |batches: DocumentBatches| -> Vec<usize> {
            batches.split(&items).iter().map(|b| b.len()).collect()
        };
        assert_eq!(sizes(DocumentBatches::from_setting(3)), [3, 3, 1]);
        assert_eq!(sizes(DocumentBatches::from_setting(7)), [7]);
        assert_eq!(sizes(DocumentBatches::from_setting(0)), [7]);
        assert_eq!(
            DocumentBatches::from_setting(0),
            DocumentBatches::WholeScope
        );
        assert_eq!(DocumentBatches::from_setting(0).setting(), 0);
        assert_eq!(
            DocumentBatches::default().setting(),
            DEFAULT_BATCH_DOCUMENTS
        );
        let flat: Vec<u32> = DocumentBatches::Of(2).split(&items).concat();
        assert_eq!(flat, items, "every item once, in order");
        assert!(DocumentBatches::Of(2).split::<u32>(&[]).is_empty());
        assert_eq!(DocumentBatches::WholeScope.split::<u32>(&[]).len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn batch_times_count_batches_and_keep_the_longest() {
        let mut times = BatchTimes::default();
        for ms in [30, 120, 70] {
            times
                .time(tokio::time::sleep(Duration::from_millis(ms)))
                .await;
        }
        assert_eq!((times.batches(), times.longest_ms()), (3, 120));
        let mut evidence = Evidence::new();
        times.record_in(&mut evidence);
        assert_eq!(evidence.get(BATCHES), Some(&EvidenceValue::from(3u64)));
        assert_eq!(
            evidence.get(LONGEST_BATCH_MS),
            Some(&EvidenceValue::from(120u64))
        );
    }
}
