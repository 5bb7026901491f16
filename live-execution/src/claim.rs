//! [`Claimed`]: the layer that sends a runner's lease claim with every call that changes its
//! run, so that the store can refuse a runner that lost its lease before it writes
//! ([`LeaseClaim`]).

use async_trait::async_trait;

use crate::adapter::{AdapterResult, LiveExecutionAdapter};
use crate::domain::AdapterInfo;
use crate::op::{LeaseClaim, Op, Reply};

/// `inner` as seen by the holder of `claim`: every call that changes `claim.run`'s state
/// ([`crate::OpSpec::claimed`]) carries the claim, and the store checks it inside the call's
/// transaction. Other calls pass as they are.
#[derive(Debug)]
pub struct Claimed<S> {
    inner: S,
    claim: LeaseClaim,
}

impl<S> Claimed<S> {
    /// `inner`, with `claim` sent along with the calls on `claim.run`.
    pub fn new(inner: S, claim: LeaseClaim) -> Self {
        Claimed { inner, claim }
    }

    /// The claim it sends.
    pub fn claim(&self) -> &LeaseClaim {
        &self.claim
    }
}

#[async_trait]
impl<S: LiveExecutionAdapter> LiveExecutionAdapter for Claimed<S> {
    fn info(&self) -> AdapterInfo {
        self.inner.info()
    }

    async fn call<'a>(&self, op: Op<'a>, claim: Option<&'a LeaseClaim>) -> AdapterResult<Reply> {
        let ours = op.kind().spec().claimed && op.claimed_run() == Some(&self.claim.run);
        match claim {
            Some(claim) => self.inner.call(op, Some(claim)).await,
            None if ours => self.inner.call(op, Some(&self.claim)).await,
            None => self.inner.call(op, None).await,
        }
    }
}
