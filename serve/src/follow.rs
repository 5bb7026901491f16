//! Following a run driven elsewhere (the command line, another server): its events are not
//! broadcast here, so an event stream reads the run's journal record every
//! [`JOURNAL_POLL`] and tells the phases that started or ended and how the run ended, as the
//! runner's own events would.

use std::collections::VecDeque;
use std::time::Duration;

use iu_cutter_live_execution::{PhaseStatus, RunRecord, RunStatus};
use iu_cutter_phase_core::RunEvent;

/// How often a follower of a run driven elsewhere reads its journal record.
pub(crate) const JOURNAL_POLL: Duration = Duration::from_secs(1);

/// What a follower has seen of a run's journal record, and the events still to send.
pub(crate) struct JournalFollower {
    last: Option<RunRecord>,
    pending: VecDeque<RunEvent>,
    /// The server's own events told the latest changes: the next record read is taken silently.
    told_elsewhere: bool,
}

impl JournalFollower {
    /// A follower that has seen `record` (nothing is told of what happened before).
    pub(crate) fn new(record: Option<RunRecord>) -> Self {
        JournalFollower {
            last: record,
            pending: VecDeque::new(),
            told_elsewhere: false,
        }
    }

    /// The next event to send, if any.
    pub(crate) fn next(&mut self) -> Option<RunEvent> {
        self.pending.pop_front()
    }

    /// Takes the record read now and queues what changed since the last one.
    pub(crate) fn saw(&mut self, now: RunRecord) {
        if !std::mem::take(&mut self.told_elsewhere) {
            self.pending.extend(changes(self.last.as_ref(), &now));
        }
        self.last = Some(now);
    }

    /// The server's own invocation has just told an event of the run: what the journal shows
    /// next is not told again.
    pub(crate) fn told_elsewhere(&mut self) {
        self.told_elsewhere = true;
    }
}

/// The events that tell how the journal record `before` became `now`.
fn changes(before: Option<&RunRecord>, now: &RunRecord) -> Vec<RunEvent> {
    let run = now.run.clone();
    let mut events = Vec::new();
    for phase in &now.phases {
        let was = before.and_then(|b| b.phases.iter().find(|p| p.name == phase.name));
        let restarted = was.is_some_and(|w| w.started_at != phase.started_at);
        if was.map(|w| w.status) == Some(phase.status) && !restarted {
            continue;
        }
        let name = phase.name.clone();
        if restarted || was.is_none() || phase.status == PhaseStatus::Running {
            events.push(RunEvent::PhaseStarted {
                run: run.clone(),
                phase: name.clone(),
            });
        }
        if phase.status != PhaseStatus::Running {
            let status = match phase.status {
                PhaseStatus::Running | PhaseStatus::Done => "done",
                PhaseStatus::Blocked => "blocked",
                PhaseStatus::Failed => "failed",
            };
            events.push(RunEvent::PhaseFinished {
                run: run.clone(),
                phase: name,
                status: status.to_owned(),
            });
        }
    }
    let was = before.map(|b| b.status);
    if now.status != RunStatus::Running && (was != Some(now.status) || !events.is_empty()) {
        let outcome = serde_json::to_value(now.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        events.push(RunEvent::RunFinished { run, outcome });
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use iu_cutter_live_execution::{CutRules, PhaseRecord, Preset, RunId, Scope};

    fn record(status: RunStatus, phases: &[(&str, PhaseStatus, &str)]) -> RunRecord {
        let mut record = RunRecord::new(
            RunId::new("cli-run"),
            Scope::All,
            CutRules::preset(Preset::Markdown),
        );
        record.status = status;
        record.phases = phases
            .iter()
            .map(|(name, status, started)| PhaseRecord {
                name: (*name).to_owned(),
                status: *status,
                evidence: Default::default(),
                detail: None,
                started_at: Some((*started).to_owned()),
                first_started_at: None,
                finished_at: None,
            })
            .collect();
        record
    }

    fn told(events: Vec<RunEvent>) -> Vec<String> {
        events
            .into_iter()
            .map(|event| match event {
                RunEvent::PhaseStarted { phase, .. } => format!("started {phase}"),
                RunEvent::PhaseFinished { phase, status, .. } => format!("{phase} {status}"),
                RunEvent::RunFinished { outcome, .. } => format!("run {outcome}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn the_phases_that_moved_and_the_end_are_told_once() {
        use PhaseStatus::{Blocked, Done, Running};
        let first = record(RunStatus::Running, &[("backup", Running, "t1")]);
        let mut follower = JournalFollower::new(Some(first.clone()));
        follower.saw(first);
        assert_eq!(
            follower.next().map(|e| told(vec![e])),
            None,
            "nothing moved"
        );
        let later = record(
            RunStatus::Running,
            &[("backup", Done, "t1"), ("cut-leg-a", Running, "t2")],
        );
        follower.saw(later);
        let mut seen = Vec::new();
        while let Some(event) = follower.next() {
            seen.push(event);
        }
        assert_eq!(told(seen), ["backup done", "started cut-leg-a"]);
        let end = record(
            RunStatus::Blocked,
            &[
                ("backup", Done, "t1"),
                ("cut-leg-a", Done, "t2"),
                ("leg-b-record", Blocked, "t3"),
            ],
        );
        assert_eq!(
            told(changes(
                Some(&record(
                    RunStatus::Running,
                    &[("backup", Done, "t1"), ("cut-leg-a", Running, "t2")]
                )),
                &end
            )),
            [
                "cut-leg-a done",
                "started leg-b-record",
                "leg-b-record blocked",
                "run BLOCKED"
            ]
        );
        // A resume restarts a phase: told again although its status reads the same.
        let resumed = record(
            RunStatus::Running,
            &[("backup", Done, "t1"), ("cut-leg-a", Running, "t9")],
        );
        let before = record(
            RunStatus::Failed,
            &[("backup", Done, "t1"), ("cut-leg-a", Running, "t2")],
        );
        assert_eq!(
            told(changes(Some(&before), &resumed)),
            ["started cut-leg-a"]
        );
    }
}
