//! SIGINT and SIGTERM: the first one asks the invocation to stop at its next safe point (a phase
//! or batch boundary), so that the lease is released, the journal says where to resume and the
//! report is written; the program then exits 130. A second signal exits at once (130): every
//! store operation is one transaction, so even that loses nothing, and `resume` or `rollback`
//! take it from there.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use iu_cutter_phase_core::CancelFlag;

/// The exit code of a program stopped by a signal (128 + SIGINT), as shells expect.
pub(crate) const INTERRUPTED: u8 = 130;

/// This process's cancellation, shared by every runner invocation it makes.
struct Interrupt {
    cancel: CancelFlag,
    received: AtomicBool,
}

fn interrupt() -> &'static Interrupt {
    static INTERRUPT: OnceLock<Interrupt> = OnceLock::new();
    INTERRUPT.get_or_init(|| Interrupt {
        cancel: CancelFlag::new(),
        received: AtomicBool::new(false),
    })
}

/// The flag a signal sets; runner invocations take it as their cancellation.
pub(crate) fn cancel_flag() -> CancelFlag {
    interrupt().cancel.clone()
}

/// Whether a signal asked this process to stop.
pub(crate) fn received() -> bool {
    interrupt().received.load(Ordering::SeqCst)
}

/// Listens for SIGINT and SIGTERM on the current runtime for the rest of the process.
pub(crate) fn listen() {
    tokio::spawn(async {
        let Some(mut signals) = Signals::new() else {
            tracing::warn!("cannot listen for SIGINT and SIGTERM; they stop the program at once");
            return;
        };
        let mut seen = 0u32;
        while let Some(name) = signals.next().await {
            seen += 1;
            let interrupt = interrupt();
            interrupt.received.store(true, Ordering::SeqCst);
            interrupt.cancel.cancel();
            if seen > 1 {
                eprintln!("{name} again: exiting now; `iu-cutter status` shows where to resume");
                std::process::exit(i32::from(INTERRUPTED));
            }
            eprintln!(
                "{name}: stopping at the next safe point (a phase or batch boundary), then \
                 releasing the lease and writing the report; send it again to exit at once"
            );
        }
    });
}

/// The signals that stop the program, registered once for the life of the process.
#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> Option<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Some(Signals {
            interrupt: signal(SignalKind::interrupt()).ok()?,
            terminate: signal(SignalKind::terminate()).ok()?,
        })
    }

    async fn next(&mut self) -> Option<&'static str> {
        tokio::select! {
            received = self.interrupt.recv() => received.map(|()| "SIGINT"),
            received = self.terminate.recv() => received.map(|()| "SIGTERM"),
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> Option<Self> {
        Some(Signals)
    }

    async fn next(&mut self) -> Option<&'static str> {
        tokio::signal::ctrl_c().await.ok().map(|()| "Ctrl-C")
    }
}
