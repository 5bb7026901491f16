//! `Timed`: an adapter layer that times every call to the adapter under it, per operation, so
//! that a full run's time can be split into what each store operation cost (the profile of the
//! store benchmarks). It adds two clock reads and a lock per call, nothing else.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use iu_cutter_live_execution::{
    AdapterInfo, AdapterResult, LeaseClaim, LiveExecutionAdapter, Op, Reply,
};
/// Calls and total time, per operation name.
pub(crate) type Timings = BTreeMap<&'static str, (u64, Duration)>;

pub(crate) struct Timed {
    inner: Arc<dyn LiveExecutionAdapter>,
    timings: Mutex<Timings>,
}

impl Timed {
    pub(crate) fn new(inner: Arc<dyn LiveExecutionAdapter>) -> Self {
        Timed {
            inner,
            timings: Mutex::new(BTreeMap::new()),
        }
    }

    pub(crate) fn timings(&self) -> Timings {
        self.timings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn time<T>(&self, name: &'static str, call: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = call.await;
        let spent = started.elapsed();
        let mut timings = self.timings.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = timings.entry(name).or_default();
        entry.0 += 1;
        entry.1 += spent;
        out
    }
}

#[async_trait]
impl LiveExecutionAdapter for Timed {
    fn info(&self) -> AdapterInfo {
        self.inner.info()
    }

    async fn call<'a>(&self, op: Op<'a>, claim: Option<&'a LeaseClaim>) -> AdapterResult<Reply> {
        self.time(op.kind().name(), self.inner.call(op, claim))
            .await
    }
}
