//! Run leases: while a runner works on a run it holds the run's lease in the store, renewed by a
//! heartbeat task every `ttl / 3`. Another runner is refused while the lease is live and may
//! take over (resume, roll back, enact or verify a held run) once it has expired, i.e. when its
//! holder crashed.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{AdapterError, LiveExecutionAdapter, RunId, RunStatus};
use iu_cutter_phase_core::CancelFlag;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::next::NextAction;
use crate::report::Outcome;

/// The lease time to live when none is configured.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

/// Who holds a run's lease and for how long each renewal keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseOptions {
    /// The holder, unique per process and invocation: `user@host:pid:nonce`.
    pub holder: String,
    /// How long the lease lives after each renewal; the heartbeat renews every `ttl / 3`.
    pub ttl: Duration,
}

impl LeaseOptions {
    /// A fresh holder ([`default_holder`]) with `ttl`.
    pub fn new(ttl: Duration) -> Self {
        LeaseOptions {
            holder: default_holder(),
            ttl,
        }
    }

    /// The named holder with `ttl` (tests, services with their own identity).
    pub fn with_holder(holder: impl Into<String>, ttl: Duration) -> Self {
        LeaseOptions {
            holder: holder.into(),
            ttl,
        }
    }
}

impl Default for LeaseOptions {
    fn default() -> Self {
        Self::new(DEFAULT_LEASE_TTL)
    }
}

/// `user@host:pid:nonce`, with a random 64-bit nonce so two invocations of one process differ.
pub fn default_holder() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned());
    holder_named(&user, &host)
}

/// `who@host:pid:nonce`: the lease holder for `who` (a user, or `user/role`) on `host`, with
/// this process's id and a random 64-bit nonce so that two invocations of one process differ.
pub fn holder_named(who: &str, host: &str) -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!(
        "{who}@{host}:{}:{:016x}",
        std::process::id(),
        hasher.finish()
    )
}

/// The outcome when the lease cannot be taken: `REFUSED` naming the holder and the expiry when
/// another runner holds it (or the kill switch refused), `FAILED` otherwise. Nothing was written.
pub(crate) fn refusal(
    run: &RunId,
    error: AdapterError,
    resume_from: Option<String>,
    again: NextAction,
) -> Outcome {
    match error {
        AdapterError::LeaseHeld {
            holder, expires_at, ..
        } => {
            warn!(%holder, %expires_at, "refused: another runner holds the run's lease");
            Outcome::Refused {
                reason: format!(
                    "run {run} is leased by `{holder}` until {expires_at} (store clock): another \
                     runner is working on it; nothing was written"
                ),
                switch: "lease".into(),
                next: vec![
                    NextAction::fix(format!(
                        "wait for `{holder}` to finish, or, if it crashed, for its lease to \
                         expire at {expires_at}"
                    )),
                    again,
                ],
                resume_from,
            }
        }
        error => Outcome::refused_or_failed(error, resume_from, |error| {
            (
                format!("cannot take the lease of run {run}: {error}"),
                vec![NextAction::fix("check that the store is reachable"), again],
            )
        }),
    }
}

/// The held lease and its renewing task.
pub(crate) struct Heartbeat {
    adapter: Arc<dyn LiveExecutionAdapter>,
    run: RunId,
    holder: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    lost: Arc<Mutex<Option<String>>>,
}

impl Heartbeat {
    /// Takes the lease of `run`, then renews it every `ttl / 3` until [`Heartbeat::finish`].
    /// When the store says the lease is gone (another holder, or expired), or no renewal has
    /// succeeded for a whole `ttl`, the lease is lost: `cancel` is set, so the run stops at its
    /// next phase or batch boundary. A renewal that fails for a moment (an unreachable store) is
    /// tried again at the next tick. Renewals do not pass the kill switch, so a closed switch
    /// stops the run as a refusal, never as a lost lease.
    pub(crate) async fn start(
        adapter: Arc<dyn LiveExecutionAdapter>,
        run: &RunId,
        lease: &LeaseOptions,
        cancel: CancelFlag,
    ) -> Result<Heartbeat, AdapterError> {
        let taken = adapter.acquire_lease(run, &lease.holder, lease.ttl).await?;
        info!(holder = %taken.holder, expires_at = %taken.expires_at_utc(), "lease taken");
        let (stop, mut stopped) = oneshot::channel::<()>();
        let lost = Arc::new(Mutex::new(None));
        let period = (lease.ttl / 3).max(Duration::from_millis(1));
        let task = {
            let (adapter, run, holder, ttl) = (
                adapter.clone(),
                run.clone(),
                lease.holder.clone(),
                lease.ttl,
            );
            let lost = lost.clone();
            tokio::spawn(async move {
                // The lease is ours until `ttl` after the last renewal the store confirmed.
                let mut renewed = tokio::time::Instant::now();
                loop {
                    // Stopped (or its sender dropped) within the period: done. Otherwise renew.
                    if tokio::time::timeout(period, &mut stopped).await.is_ok() {
                        return;
                    }
                    let lost_because = match adapter.renew_lease(&run, &holder, ttl).await {
                        Ok(_) => {
                            crate::metrics::lease_renewed();
                            renewed = tokio::time::Instant::now();
                            continue;
                        }
                        // The store says another holder has it, or it expired: stop now.
                        Err(error @ AdapterError::LeaseLost { .. }) => error.to_string(),
                        // A store that cannot be reached for a moment: try again at the next
                        // tick, until the lease may have expired without us.
                        Err(error) if renewed.elapsed() < ttl => {
                            warn!(%error, "could not renew the lease; trying again");
                            continue;
                        }
                        Err(error) => format!(
                            "not renewed for {} ms, longer than its time to live: {error}",
                            renewed.elapsed().as_millis()
                        ),
                    };
                    warn!(reason = %lost_because, "lease lost: stopping at the next boundary");
                    *lost.lock().unwrap_or_else(PoisonError::into_inner) = Some(lost_because);
                    cancel.cancel();
                    return;
                }
            })
        };
        Ok(Heartbeat {
            adapter,
            run: run.clone(),
            holder: lease.holder.clone(),
            stop: Some(stop),
            task: Some(task),
            lost,
        })
    }

    /// Whether the lease was lost: the heartbeat, not the operator, set the cancel flag.
    pub(crate) fn is_lost(&self) -> bool {
        self.lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Stops the heartbeat, releases the lease (best effort: an unreleased lease expires) and
    /// turns an outcome the lost lease cut short into `FAILED` "lease lost".
    pub(crate) async fn finish(mut self, outcome: Outcome) -> Outcome {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Err(error) = self.adapter.release_lease(&self.run, &self.holder).await {
            warn!(%error, "could not release the lease; it expires on its own");
        }
        let lost = self
            .lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let after_loss = match lost {
            Some(_) => self.after_loss().await,
            None => AfterLoss::Open,
        };
        match (lost, outcome) {
            (
                Some(reason),
                Outcome::Failed {
                    error,
                    resume_from,
                    next,
                },
            ) => {
                if let AfterLoss::Finished(status) = after_loss {
                    // Nothing is left to resume or retry: advising it would send the operator
                    // after a run that is already over.
                    return Outcome::Failed {
                        error: format!(
                            "lease lost ({reason}); the run stopped at a phase or batch boundary \
                             ({error}), and another runner has since finished it: its journal \
                             says {status:?}"
                        ),
                        resume_from: None,
                        next: vec![NextAction::fix(
                            "nothing is left to do for this invocation: read the run's report \
                             (the runs' status names what finished it)",
                        )],
                    };
                }
                // A rollback stopped by the loss is finished by rolling back again, never by a
                // resume (which refuses a run whose rollback began); what it said it had done
                // stays in the error.
                // So is a run another runner began rolling back since, whatever this one did.
                let rolling_back = after_loss == AfterLoss::RolledBackInPart
                    || next
                        .iter()
                        .any(|n| matches!(n, NextAction::Rollback { run } if *run == self.run));
                let resume_from = resume_from.filter(|_| !rolling_back);
                let again = if rolling_back {
                    NextAction::rollback(&self.run)
                } else {
                    NextAction::resume(&self.run)
                };
                Outcome::Failed {
                    error: format!(
                        "lease lost ({reason}); the run stopped at a phase or batch boundary so \
                         that only one runner works on it ({error})"
                    ),
                    resume_from,
                    next: vec![
                        NextAction::fix(
                            "check that no other runner resumed it (the runs' status names their \
                             lease holders)",
                        ),
                        again,
                    ],
                }
            }
            (_, outcome) => outcome,
        }
    }
}

/// What the journal says of a run after its runner lost the lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterLoss {
    /// Another runner finished it (passed or rolled back): its status.
    Finished(RunStatus),
    /// Another runner began rolling it back and has not finished: only rolling back again
    /// continues it (a resume refuses it).
    RolledBackInPart,
    /// Neither, or the journal cannot say.
    Open,
}

impl Heartbeat {
    /// What the journal says of the run now that this runner lost its lease.
    async fn after_loss(&self) -> AfterLoss {
        match self.adapter.load_run(&self.run).await {
            Ok(Some(record))
                if matches!(record.status, RunStatus::Pass | RunStatus::RolledBack) =>
            {
                AfterLoss::Finished(record.status)
            }
            Ok(Some(record)) if crate::journal::rolled_back_in_part(&record) => {
                AfterLoss::RolledBackInPart
            }
            Ok(_) => AfterLoss::Open,
            Err(error) => {
                warn!(%error, "could not read the run after losing its lease");
                AfterLoss::Open
            }
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iu_cutter_live_execution::{CutRules, Preset, RunRecord, Scope};

    /// A heartbeat whose lease was lost (`stolen`), over a store that holds no lease.
    fn lost_heartbeat(run: &RunId) -> Heartbeat {
        lost_heartbeat_over(Arc::new(iu_cutter_simulator::Simulator::new()), run)
    }

    fn lost_heartbeat_over(adapter: Arc<dyn LiveExecutionAdapter>, run: &RunId) -> Heartbeat {
        Heartbeat {
            adapter,
            run: run.clone(),
            holder: "me@h:1:x".into(),
            stop: None,
            task: None,
            lost: Arc::new(Mutex::new(Some("stolen".into()))),
        }
    }

    /// A rollback cut short by a lost lease is finished by rolling back again (a resume refuses a
    /// run whose rollback began), and keeps what it said it had done; a run's is resumed.
    #[tokio::test]
    async fn a_lost_lease_keeps_a_rollbacks_next_action_and_its_words() {
        let run = RunId::new("r1");
        let failed = |next: NextAction| Outcome::Failed {
            error: "restoring a batch failed: refused; nothing was changed".into(),
            resume_from: None,
            next: vec![NextAction::fix("retry"), next],
        };

        let rollback = lost_heartbeat(&run)
            .finish(failed(NextAction::rollback(&run)))
            .await;
        let run_again = lost_heartbeat(&run)
            .finish(failed(NextAction::resume(&run)))
            .await;

        let Outcome::Failed { error, next, .. } = rollback else {
            panic!("expected FAILED, got {rollback:?}");
        };
        assert!(error.starts_with("lease lost (stolen)"), "{error}");
        assert!(error.contains("nothing was changed"), "{error}");
        assert_eq!(next.last(), Some(&NextAction::rollback(&run)));
        let Outcome::Failed { next, .. } = run_again else {
            panic!("expected FAILED, got {run_again:?}");
        };
        assert_eq!(next.last(), Some(&NextAction::resume(&run)));
    }

    /// A runner that lost its lease to one that then finished the run says so, and advises
    /// neither a resume nor a rollback of a run that is already over; one whose run is still
    /// unfinished is told to resume.
    #[tokio::test]
    async fn a_run_another_runner_finished_is_not_advised_a_resume() -> Result<(), AdapterError> {
        let run = RunId::new("r1");
        let failed = || Outcome::Failed {
            error: "cancelled during phase `write-verify`".into(),
            resume_from: Some("write-verify".into()),
            next: vec![NextAction::resume(&run)],
        };
        let store = Arc::new(iu_cutter_simulator::Simulator::new());
        let record = RunRecord::new(run.clone(), Scope::All, CutRules::preset(Preset::Markdown));
        store.begin_run(&record).await?;

        let unfinished = lost_heartbeat_over(store.clone(), &run)
            .finish(failed())
            .await;
        store.set_run_status(&run, RunStatus::Pass).await?;
        let finished = lost_heartbeat_over(store.clone(), &run)
            .finish(failed())
            .await;

        let Outcome::Failed { next, .. } = unfinished else {
            panic!("expected FAILED, got {unfinished:?}");
        };
        assert_eq!(next.last(), Some(&NextAction::resume(&run)));
        let Outcome::Failed {
            error,
            resume_from,
            next,
        } = finished
        else {
            panic!("expected FAILED, got {finished:?}");
        };
        assert!(
            error.contains("another runner has since finished it"),
            "{error}"
        );
        assert!(error.contains("Pass"), "{error}");
        assert_eq!(resume_from, None);
        assert!(
            next.iter().all(|n| n.run().is_none()),
            "no action on the finished run: {next:?}"
        );
        Ok(())
    }
    /// Adversarial (adv51): a runner cutting the run lost its lease, and another runner then
    /// began rolling the run back and stopped part-way (`BLOCKED`, rolled back in part). The
    /// loser must not advise a resume, which refuses a run whose rollback began: the run is
    /// finished by rolling it back again.
    #[tokio::test]
    async fn a_run_another_runner_began_rolling_back_is_not_advised_a_resume()
    -> Result<(), AdapterError> {
        let run = RunId::new("r1");
        let store = Arc::new(iu_cutter_simulator::Simulator::new());
        let record = RunRecord::new(run.clone(), Scope::All, CutRules::preset(Preset::Markdown));
        store.begin_run(&record).await?;
        let rollback = iu_cutter_live_execution::PhaseRecord {
            name: crate::ROLLBACK_PHASE.into(),
            status: iu_cutter_live_execution::PhaseStatus::Blocked,
            evidence: Default::default(),
            detail: Some("stopped part-way".into()),
            started_at: None,
            first_started_at: None,
            finished_at: None,
        };
        store.record_phase(&run, &rollback).await?;
        store.set_run_status(&run, RunStatus::Blocked).await?;

        let outcome = lost_heartbeat_over(store, &run)
            .finish(Outcome::Failed {
                error: "cancelled during phase `write-verify`".into(),
                resume_from: Some("write-verify".into()),
                next: vec![NextAction::resume(&run)],
            })
            .await;

        let Outcome::Failed {
            resume_from, next, ..
        } = outcome
        else {
            panic!("expected FAILED, got {outcome:?}");
        };
        assert!(
            !next.contains(&NextAction::resume(&run)),
            "a resume refuses a run whose rollback began: {next:?}"
        );
        assert_eq!(next.last(), Some(&NextAction::rollback(&run)));
        assert_eq!(resume_from, None);
        Ok(())
    }
}
