//! The kill switch: an [`ExecutionGate`] made of sources, and [`Guarded`], the layer that wraps
//! any adapter and checks the gate before every mutating call.
//!
//! The gate opens only when at least one source opens it (the configuration's
//! `execution_enabled`, or `--execute`) and no source closes it (a stop file, the control row in
//! the database). It is checked at every mutating call, never cached, so closing it mid-run stops
//! the run at its next mutation.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use crate::adapter::{AdapterResult, LiveExecutionAdapter};
use crate::domain::AdapterInfo;
use crate::error::AdapterError;
use crate::op::{LeaseClaim, Op, Reply};

/// What one source says about execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// This source enables execution.
    Open,
    /// This source has no opinion (a stop file that is absent).
    Abstain,
    /// This source forbids execution.
    Closed {
        /// How the operator opens it again.
        how_to_open: String,
    },
}

/// One source of the kill switch.
#[async_trait]
pub trait GateSource: Send + Sync + fmt::Debug {
    /// Short name shown in refusals, e.g. `configuration (execution_enabled)`.
    fn name(&self) -> String;
    /// The source's current verdict. Read afresh at every call.
    async fn verdict(&self) -> Result<Verdict, AdapterError>;
}

/// A switch held in memory: the configuration and `--execute`, or a handle a service or a test
/// flips while a run is going.
#[derive(Clone, Debug)]
pub struct ManualSwitch {
    name: String,
    how_to_open: String,
    open: Arc<AtomicBool>,
}

impl ManualSwitch {
    /// A switch named `name`, initially `open` or closed; `how_to_open` is the next action shown
    /// when it refuses.
    pub fn new(name: impl Into<String>, open: bool, how_to_open: impl Into<String>) -> Self {
        ManualSwitch {
            name: name.into(),
            how_to_open: how_to_open.into(),
            open: Arc::new(AtomicBool::new(open)),
        }
    }

    /// Opens or closes the switch; every clone sees it.
    pub fn set(&self, open: bool) {
        self.open.store(open, Ordering::SeqCst);
    }

    /// Whether it is open.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl GateSource for ManualSwitch {
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn verdict(&self) -> Result<Verdict, AdapterError> {
        Ok(if self.is_open() {
            Verdict::Open
        } else {
            Verdict::Closed {
                how_to_open: self.how_to_open.clone(),
            }
        })
    }
}

/// A stop file: while it exists, execution is closed for every runner that watches it.
#[derive(Clone, Debug)]
pub struct StopFile {
    path: PathBuf,
}

impl StopFile {
    /// Watches `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StopFile { path: path.into() }
    }
}

#[async_trait]
impl GateSource for StopFile {
    fn name(&self) -> String {
        format!("stop file {}", self.path.display())
    }

    async fn verdict(&self) -> Result<Verdict, AdapterError> {
        Ok(if self.path.exists() {
            Verdict::Closed {
                how_to_open: format!("remove {} once it is safe to run", self.path.display()),
            }
        } else {
            Verdict::Abstain
        })
    }
}

/// The kill switch: every source is asked at every check.
#[derive(Clone, Debug, Default)]
pub struct ExecutionGate {
    sources: Vec<Arc<dyn GateSource>>,
}

impl ExecutionGate {
    /// A gate with no sources: closed, since nothing enabled execution.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a source.
    pub fn with_source(mut self, source: impl GateSource + 'static) -> Self {
        self.sources.push(Arc::new(source));
        self
    }

    /// Adds a shared source.
    pub fn with_shared_source(mut self, source: Arc<dyn GateSource>) -> Self {
        self.sources.push(source);
        self
    }

    /// Ok when at least one source opens the gate and none closes it; otherwise the refusal
    /// names the source that closed it and how to open it.
    pub async fn check(&self) -> Result<(), AdapterError> {
        let mut opened = false;
        for source in &self.sources {
            match source.verdict().await? {
                Verdict::Open => opened = true,
                Verdict::Abstain => {}
                Verdict::Closed { how_to_open } => {
                    return Err(AdapterError::GateClosed {
                        switch: source.name(),
                        how_to_open,
                    });
                }
            }
        }
        if opened {
            Ok(())
        } else {
            Err(AdapterError::GateClosed {
                switch: "default (no source enabled execution)".into(),
                how_to_open: "set execution_enabled = true in the configuration or pass --execute"
                    .into(),
            })
        }
    }
}

/// Wraps an adapter so that every mutating call passes the kill switch first.
///
/// Reads pass straight through. The live SQL adapter is only handed out wrapped in this type.
#[derive(Debug)]
pub struct Guarded<A> {
    inner: A,
    gate: ExecutionGate,
}

impl<A: LiveExecutionAdapter> Guarded<A> {
    /// Wraps `inner` behind `gate`.
    pub fn new(inner: A, gate: ExecutionGate) -> Self {
        Guarded { inner, gate }
    }

    /// The gate.
    pub fn gate(&self) -> &ExecutionGate {
        &self.gate
    }

    /// The wrapped adapter, within this crate only: handing it out would let callers mutate
    /// past the gate. Only the SQL store uses it (to close its pool).
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn inner(&self) -> &A {
        &self.inner
    }
}

#[async_trait]
impl<A: LiveExecutionAdapter> LiveExecutionAdapter for Guarded<A> {
    fn info(&self) -> AdapterInfo {
        self.inner.info()
    }

    /// Every gated call ([`crate::OpSpec::gated`]: every mutation but renewing and releasing a
    /// lease, which only extend or give up a claim taken through the gate, and the preflight)
    /// asks the gate first, every time; reads pass straight through.
    async fn call<'a>(&self, op: Op<'a>, claim: Option<&'a LeaseClaim>) -> AdapterResult<Reply> {
        if op.kind().gated() {
            self.gate.check().await?;
        }
        self.inner.call(op, claim).await
    }
}
