//! `export` over the simulator with the five real phases: every active unit once and in order
//! whatever the page size, and `since` a run: only what changed, with tombstones, refused where
//! the baseline is gone.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{CutRules, DocumentId, Preset, RunId, Scope};

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::{ExportError, ExportLine, ExportRequest, ExportSummary, ExportedUnit};

type BoxError = Box<dyn std::error::Error>;

const LAW_1_AMENDED: &str =
    "# Law one\n\nPreamble.\n\n## Article 1\n\nFirst, amended.\n\n## Article 3\n\nThird.\n";

/// A harness whose runs journal on a clock a minute apart, so that enact times order them.
struct Timed {
    h: Harness,
    clock: Arc<ManualClock>,
}

impl Timed {
    fn new() -> Self {
        Timed {
            h: Harness::new([("law/1", LAW_1), ("law/2", LAW_2)], true),
            clock: Arc::new(ManualClock::new(
                UNIX_EPOCH + Duration::from_secs(1_738_324_800),
            )),
        }
    }

    fn options(&self) -> RunOptions {
        self.clock.advance(Duration::from_secs(60));
        RunOptions::default().with_clock(self.clock.clone())
    }

    /// Runs `run` over `scope` to PASS.
    async fn pass(&self, run: &str, scope: Scope) -> Result<(), BoxError> {
        let request = RunRequest::new(run, scope, CutRules::preset(Preset::Markdown));
        let report = self.h.runner.run(request, self.options()).await?;
        if report.outcome == Outcome::Pass {
            Ok(())
        } else {
            Err(format!("expected PASS: {}", report.to_json()).into())
        }
    }

    /// r1 over law/1 and law/2 to PASS, then the application amends both.
    async fn r1_then_both_amended(&self) -> Result<(), BoxError> {
        self.pass("r1", both()).await?;
        self.h
            .sim
            .put_document(&DocumentId::new("law/1"), LAW_1_AMENDED)
            .await?;
        let law_2 = "Intro.\n\n# Part A\n\nText A, amended.\n";
        self.h
            .sim
            .put_document(&DocumentId::new("law/2"), law_2)
            .await?;
        Ok(())
    }

    /// Runs `run` over `scope` to PASS, held after write-verify.
    async fn hold(&self, run: &str, scope: Scope) -> Result<(), BoxError> {
        let request = RunRequest::new(run, scope, CutRules::preset(Preset::Markdown));
        let options = self
            .options()
            .with_until(iu_cutter_phase_core::names::WRITE_VERIFY);
        let report = self.h.runner.run(request, options).await?;
        if report.outcome == Outcome::Pass && report.held_after.is_some() {
            Ok(())
        } else {
            Err(format!("expected PASS, held: {}", report.to_json()).into())
        }
    }

    /// The application puts law/1 back to its first text, and `run` cuts it alone to PASS.
    async fn recut_law_1(&self, run: &str) -> Result<(), BoxError> {
        let law_1 = DocumentId::new("law/1");
        self.h.sim.put_document(&law_1, LAW_1).await?;
        self.pass(run, Scope::Ids(vec![law_1])).await
    }

    /// Rolls `run` back.
    async fn roll_back(&self, run: &str) -> Result<(), BoxError> {
        let report = self
            .h
            .runner
            .rollback_with(&RunId::new(run), self.options())
            .await?;
        if report.outcome == Outcome::RolledBack {
            Ok(())
        } else {
            Err(format!("expected ROLLED_BACK: {}", report.to_json()).into())
        }
    }

    /// The lines of `request`.
    async fn export(
        &self,
        request: &ExportRequest,
    ) -> Result<(Vec<ExportLine>, ExportSummary), ExportError> {
        let mut lines = Vec::new();
        let summary = self
            .h
            .runner
            .export(request, &mut |line: &ExportLine| {
                lines.push(line.clone());
                Ok(())
            })
            .await?;
        Ok((lines, summary))
    }

    /// The units of a full export.
    async fn everything(&self) -> Result<Vec<ExportedUnit>, BoxError> {
        let (lines, _) = self.export(&ExportRequest::default()).await?;
        Ok(upserts(lines))
    }

    async fn since(&self, run: &str) -> Result<Vec<ExportLine>, ExportError> {
        Ok(self.export(&since(run)).await?.0)
    }

    /// `export --since run`, `meanwhile` (another client's invocation) run to its end as the
    /// first line is written: the lines written, how the export ended, and what `meanwhile` gave,
    /// its error in words (`None`: no line was written).
    async fn since_racing<T: Send, E: std::fmt::Display>(
        &self,
        run: &str,
        meanwhile: impl std::future::Future<Output = Result<T, E>> + Send,
    ) -> (
        Vec<ExportLine>,
        Result<ExportSummary, ExportError>,
        Option<Result<T, String>>,
    ) {
        let (mut lines, mut meanwhile, mut gave) = (Vec::new(), Some(meanwhile), None);
        let exported = self
            .h
            .runner
            .export(&since(run), &mut |line: &ExportLine| {
                if let Some(work) = meanwhile.take() {
                    let handle = tokio::runtime::Handle::current();
                    let done = tokio::task::block_in_place(|| handle.block_on(work));
                    gave = Some(done.map_err(|e| e.to_string()));
                }
                lines.push(line.clone());
                Ok(())
            })
            .await;
        (lines, exported, gave)
    }

    /// The application adds `document` (law/2's text) and `run` cuts it alone to PASS: a run
    /// over a document no other run cut.
    async fn pass_new(&self, run: &str, document: &str) -> Result<(), BoxError> {
        let document = DocumentId::new(document);
        self.h.sim.put_document(&document, LAW_2).await?;
        self.pass(run, Scope::Ids(vec![document])).await
    }

    /// `since` `run`, a run whose enact stopped part-way: refused, naming it as unfinished (it
    /// enacted some documents, so not "never enacted"; it has no end until finished).
    async fn assert_unfinished(&self, run: &str) {
        match self.since(run).await {
            Err(ExportError::Unfinished { run: named, why }) => {
                assert_eq!(named, RunId::new(run), "{why}");
                assert!(!why.contains("never enacted"), "{why}");
            }
            other => panic!("expected the unfinished run {run} named: {other:?}"),
        }
    }

    /// Why `export --since run` is refused (or a text saying it was not, which no test expects).
    async fn since_refusal(&self, run: &str) -> String {
        match self.since(run).await {
            Err(ExportError::Since(why)) => why,
            other => format!("not refused: {other:?}"),
        }
    }
}

/// The export of what changed since `run`.
fn since(run: &str) -> ExportRequest {
    ExportRequest {
        since: Some(RunId::new(run)),
        ..ExportRequest::default()
    }
}

/// law/1 and law/2.
fn both() -> Scope {
    Scope::Ids(vec![DocumentId::new("law/1"), DocumentId::new("law/2")])
}

/// How many active units `document` has now.
async fn now_units(t: &Timed, document: &DocumentId) -> Result<usize, BoxError> {
    Ok(t.h.sim.active_units(document).await?.len())
}

fn upserts(lines: Vec<ExportLine>) -> Vec<ExportedUnit> {
    lines
        .into_iter()
        .filter_map(|line| match line {
            ExportLine::Upsert(unit) => Some(unit),
            ExportLine::Remove(_) | ExportLine::RemoveDocument(_) => None,
        })
        .collect()
}

/// What an index holds after applying `lines` to `index`, keyed by (document, unit id), each
/// unit without the generation and revision it was last exported with (which `since` does not
/// re-send for an unchanged unit).
fn apply(
    index: &[ExportedUnit],
    lines: &[ExportLine],
) -> BTreeMap<(DocumentId, String), ExportedUnit> {
    let key = |u: &ExportedUnit| (u.document.clone(), u.unit_id.clone());
    let plain = |u: &ExportedUnit| ExportedUnit {
        generation: RunId::new("-"),
        revision: 0,
        ..u.clone()
    };
    let mut held: BTreeMap<_, _> = index.iter().map(|u| (key(u), plain(u))).collect();
    for line in lines {
        match line {
            ExportLine::Upsert(unit) => {
                held.insert(key(unit), plain(unit));
            }
            ExportLine::Remove(gone) => {
                let removed = held.remove(&(gone.document.clone(), gone.unit_id.clone()));
                assert!(
                    removed.is_some(),
                    "a tombstone for a unit never exported: {gone:?}"
                );
            }
            ExportLine::RemoveDocument(gone) => {
                held.retain(|(document, _), _| *document != gone.document);
            }
        }
    }
    held
}

/// Asserts that `lines`, applied to `index` (the full export taken after the since-run), give
/// `now`, unit by unit (document, unit id, text); a tombstone for a unit the index lacks is
/// harmless (an index that already held the newer units): dropped quietly.
fn assert_fed(index: &[ExportedUnit], lines: &[ExportLine], now: &[ExportedUnit]) {
    let key = |u: &ExportedUnit| (u.document.clone(), u.unit_id.clone());
    let mut held: BTreeMap<_, _> = index.iter().map(|u| (key(u), u.text.clone())).collect();
    for line in lines {
        match line {
            ExportLine::Upsert(u) => {
                held.insert(key(u), u.text.clone());
            }
            ExportLine::Remove(gone) => {
                held.remove(&(gone.document.clone(), gone.unit_id.clone()));
            }
            ExportLine::RemoveDocument(gone) => {
                held.retain(|(document, _), _| *document != gone.document);
            }
        }
    }
    let wanted: BTreeMap<_, _> = now.iter().map(|u| (key(u), u.text.clone())).collect();
    assert_eq!(
        held, wanted,
        "the index fed with the lines is not now: {lines:?}"
    );
}

#[tokio::test]
async fn a_full_export_pages_through_every_active_unit_once_in_order() -> TestResult {
    let t = Timed::new();
    t.pass("r1", laws()).await?;
    t.h.sim
        .put_document(&DocumentId::new("law/0"), "never cut")
        .await?;
    let (lines, summary) = t.export(&ExportRequest::default()).await?;
    let units = upserts(lines);
    let mut expected = Vec::new();
    for (document, body) in [("law/1", LAW_1), ("law/2", LAW_2)] {
        let active = t.h.sim.active_units(&DocumentId::new(document)).await?;
        let text: String = active.iter().map(|u| u.body.as_str()).collect();
        assert_eq!(text, body, "{document}: the texts are the body");
        expected.extend(active);
    }
    let keys = |units: &[ExportedUnit]| -> Vec<(String, u32, String)> {
        units
            .iter()
            .map(|u| (u.document.to_string(), u.ordinal, u.unit_id.clone()))
            .collect()
    };
    let wanted: Vec<(String, u32, String)> = expected
        .iter()
        .map(|u| (u.document.to_string(), u.ordinal, u.unit_id.clone()))
        .collect();
    assert_eq!(keys(&units), wanted, "every active unit once, in order");
    assert_eq!(
        (summary.documents, summary.upserts),
        (2, wanted.len() as u64)
    );
    assert!(
        units
            .iter()
            .all(|u| u.revision == 1 && u.generation.as_str() == "r1")
    );
    // Small pages read the same lines, in as many pages as they take (the last one short).
    for page_size in [1, 2, 3] {
        let request = ExportRequest {
            page_size,
            ..ExportRequest::default()
        };
        let (lines, summary) = t.export(&request).await?;
        assert_eq!(upserts(lines), units, "pages of {page_size}");
        assert_eq!(
            summary.pages,
            units.len() as u64 / u64::from(page_size) + 1,
            "pages of {page_size}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn since_a_run_exports_only_what_changed_with_tombstones() -> TestResult {
    let t = Timed::new();
    t.pass("r1", laws()).await?;
    let after_r1 = t.everything().await?;
    assert!(t.since("r1").await?.is_empty(), "nothing changed since r1");

    let law_1 = DocumentId::new("law/1");
    let law_3 = DocumentId::new("law/3");
    t.h.sim.put_document(&law_1, LAW_1_AMENDED).await?;
    t.h.sim
        .put_document(&law_3, "# Law three\n\nOnly.\n")
        .await?;
    t.pass("r2", laws()).await?;
    let lines = t.since("r1").await?;
    assert!(
        lines.iter().all(|line| match line {
            ExportLine::Upsert(u) => u.document != DocumentId::new("law/2"),
            ExportLine::Remove(gone) => gone.document == law_1,
            ExportLine::RemoveDocument(_) => false,
        }),
        "law/2 is unchanged; only law/1 lost units: {lines:?}"
    );
    let removed: Vec<&str> = lines
        .iter()
        .filter_map(|line| match line {
            ExportLine::Remove(gone) => Some(gone.unit_id.as_str()),
            ExportLine::Upsert(_) | ExportLine::RemoveDocument(_) => None,
        })
        .collect();
    let article_2 = after_r1
        .iter()
        .find(|u| u.document == law_1 && u.path.ends_with("Article 2"))
        .map(|u| u.unit_id.as_str());
    assert_eq!(removed, article_2.into_iter().collect::<Vec<_>>());
    // A unit of law/1 whose line would be the same (its preamble) is not sent again.
    let law_1_upserts: Vec<&ExportedUnit> = lines
        .iter()
        .filter_map(|line| match line {
            ExportLine::Upsert(u) if u.document == law_1 => Some(u),
            _ => None,
        })
        .collect();
    assert!(!law_1_upserts.is_empty(), "{lines:?}");
    for unit in &law_1_upserts {
        assert!(
            !after_r1.iter().any(|old| old.document == law_1
                && old.unit_id == unit.unit_id
                && old.text == unit.text
                && (old.start, old.end) == (unit.start, unit.end)),
            "an unchanged unit was sent again: {unit:?}"
        );
    }
    assert!(
        law_1_upserts.len() < now_units(&t, &law_1).await?,
        "law/1's unchanged units are not all sent again"
    );
    let now = t.everything().await?;
    assert_eq!(
        apply(&after_r1, &lines),
        apply(&now, &[]),
        "the lines take an index from r1's end to now"
    );
    let law_3_units = now.iter().filter(|u| u.document == law_3).count();
    let law_3_lines = lines
        .iter()
        .filter(|line| matches!(line, ExportLine::Upsert(u) if u.document == law_3))
        .count();
    assert_eq!(law_3_lines, law_3_units);
    let small_pages = ExportRequest {
        since: Some(RunId::new("r1")),
        page_size: 1,
    };
    assert_eq!(
        t.export(&small_pages).await?.0,
        lines,
        "heads a page of 1 at a time"
    );
    assert!(t.since("r2").await?.is_empty(), "nothing changed since r2");
    Ok(())
}

/// A run journaled without its backup's change mark (a backup taken before the store kept a
/// change log) cannot say which documents were deleted since it: refused, not exported without
/// their tombstones.
#[tokio::test]
async fn since_refuses_a_run_that_journaled_no_change_mark() -> TestResult {
    let t = Timed::new();
    t.pass("r1", laws()).await?;
    assert!(t.since("r1").await?.is_empty(), "nothing changed since r1");
    let r1 = RunId::new("r1");
    let record = t.h.sim.load_run(&r1).await?.ok_or("r1 is journaled")?;
    let mut backup = record
        .phase(iu_cutter_phase_core::names::BACKUP)
        .ok_or("r1 backed up")?
        .clone();
    assert!(backup.evidence.remove("change_mark").is_some());
    t.h.sim.record_phase(&r1, &backup).await?;
    let why = t.since_refusal("r1").await;
    assert!(why.contains("no change mark"), "{why}");
    Ok(())
}

#[tokio::test]
async fn since_refuses_a_run_that_never_enacted_or_was_rolled_back() -> TestResult {
    let t = Timed::new();
    assert!(t.since_refusal("r0").await.contains("no run `r0`"));
    t.pass("r1", laws()).await?;
    t.hold("h", laws()).await?;
    assert!(t.since_refusal("h").await.contains("never enacted"));
    t.roll_back("h").await?;
    t.pass("r2", Scope::Ids(vec![DocumentId::new("law/1")]))
        .await?;
    t.roll_back("r2").await?;
    assert!(t.since_refusal("r2").await.contains("was rolled back"));
    Ok(())
}

/// A document whose baseline (the generation readers saw when the run finished) was rolled back
/// or purged since: which units to remove can no longer be measured against it. The export
/// refused (exit 8), sending its user to export the whole store again; the document is exported
/// whole instead, a `remove_document` then every active unit, and an index fed after the run
/// ends exactly on now.
#[tokio::test]
async fn since_exports_whole_a_document_whose_baseline_was_rolled_back_or_purged() -> TestResult {
    let t = Timed::new();
    let law_1 = DocumentId::new("law/1");
    let law_2 = DocumentId::new("law/2");
    t.pass("r1", laws()).await?;
    let after_r1 = t.everything().await?;
    t.h.sim.put_document(&law_1, LAW_1_AMENDED).await?;
    t.pass("r2", Scope::Ids(vec![law_1.clone()])).await?;
    t.h.sim.put_document(&law_2, "Intro.\n\n# Part C\n").await?;
    t.pass("r3", Scope::Ids(vec![law_2.clone()])).await?;
    let after_r3 = t.everything().await?;
    // When r3 finished, law/1 was r2's; r2 is rolled back since: law/1 goes whole.
    t.roll_back("r2").await?;
    let (lines, summary) = t.export(&since("r3")).await?;
    assert_whole(&lines, &law_1, now_units(&t, &law_1).await?);
    assert!(
        lines.iter().all(|line| line.document() == &law_1),
        "{lines:?}"
    );
    assert_eq!(
        (summary.documents_replaced, summary.removals),
        (1, 0),
        "{summary:?}"
    );
    assert_fed(&after_r3, &lines, &t.everything().await?);
    // Since r1, which law/1 is back to: only law/2 changed, by a diff.
    let (lines, summary) = t.export(&since("r1")).await?;
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|line| line.document() == &law_2));
    assert_eq!(summary.documents_replaced, 0, "{summary:?}");
    assert_fed(&after_r1, &lines, &t.everything().await?);

    // r1's generation of law/2, retired by r3 and purged: law/2 goes whole since r1.
    t.clock.advance(Duration::from_secs(7 * 24 * 3600));
    t.pass("r4", Scope::Ids(vec![law_2.clone()])).await?;
    t.clock.advance(Duration::from_secs(7 * 24 * 3600));
    let report =
        t.h.runner
            .purge_at(Duration::from_secs(3600), t.clock.now())
            .await;
    assert!(
        report
            .selected()
            .any(|e| e.document == law_2 && e.generation.as_str() == "r1"),
        "{report:?}"
    );
    let (lines, summary) = t.export(&since("r1")).await?;
    assert_whole(&lines, &law_2, now_units(&t, &law_2).await?);
    assert_eq!(summary.documents_replaced, 1, "{summary:?}");
    assert_fed(&after_r1, &lines, &t.everything().await?);
    Ok(())
}

/// `document`'s lines in `lines` are those of a document exported whole: a `remove_document`,
/// then an upsert of each of its `active` units, and nothing else.
fn assert_whole(lines: &[ExportLine], document: &DocumentId, active: usize) {
    let mine: Vec<&ExportLine> = lines.iter().filter(|l| l.document() == document).collect();
    assert!(
        matches!(mine.first(), Some(ExportLine::RemoveDocument(_))),
        "{document} not exported whole: {mine:?}"
    );
    assert!(
        mine[1..].iter().all(|l| matches!(l, ExportLine::Upsert(_))),
        "{mine:?}"
    );
    assert_eq!(mine.len(), 1 + active, "{mine:?}");
}

/// A run rolled back while `since` walks a page of heads: the page said law/2's active
/// generation was r2, whose units the rollback dropped before the export read them, so the
/// export told an index to remove every unit of law/2 (back at r1, its units all there), a
/// state law/2 was never in. The export must stop rather than say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_never_removes_the_units_of_a_document_rolled_back_while_it_is_exported() -> TestResult
{
    let t = Timed::new();
    let law_2 = DocumentId::new("law/2");
    t.pass("r1", laws()).await?;
    let r1_index = t.everything().await?;
    t.h.sim
        .put_document(&DocumentId::new("law/1"), LAW_1_AMENDED)
        .await?;
    t.h.sim
        .put_document(&law_2, "Intro.\n\n# Part A\n\nText A, amended.\n")
        .await?;
    t.pass("r2", laws()).await?;
    // Both heads are read in one page; r2 is rolled back as law/1's first line is written.
    let (lines, exported, undone) = t.since_racing("r1", t.roll_back("r2")).await;
    assert!(matches!(undone, Some(Ok(()))), "{undone:?}");
    assert_eq!(now_units(&t, &law_2).await?, 3, "law/2 is back at r1");
    let removed: Vec<_> = lines
        .iter()
        .filter(|line| matches!(line, ExportLine::Remove(gone) if gone.document == law_2))
        .collect();
    match exported {
        Err(ExportError::Moved(why)) => assert!(why.contains("law/2"), "{why}"),
        other => {
            let index = apply(&r1_index, &lines);
            let law_2_units = index.keys().filter(|(d, _)| *d == law_2).count();
            panic!(
                "not refused ({other:?}): the index keeps {law_2_units} units of law/2, \
                 removed: {removed:?}"
            );
        }
    }
    Ok(())
}

/// A run that enacts a document while `since` walks the heads: its generation is active before
/// the journal the export read says when it was enacted. The export was refused as if `since`
/// named a run it can never measure from ("export everything again and rebuild"), where running
/// it again, as for any run enacting meanwhile, is what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_tells_a_run_enacted_meanwhile_from_a_lost_baseline() -> TestResult {
    let t = Timed::new();
    let law_1 = DocumentId::new("law/1");
    let law_2 = DocumentId::new("law/2");
    // law/2 is never cut before the export: no generation of it is a baseline.
    t.pass("r1", Scope::Ids(vec![law_1.clone()])).await?;
    t.h.sim.put_document(&law_1, LAW_1_AMENDED).await?;
    t.pass("r2", Scope::Ids(vec![law_1.clone()])).await?;
    // The application edits law/2 and r3 cuts and enacts it as law/1's first line is written.
    let edit_and_cut = async {
        let edited = "Intro.\n\n# Part A\n\nText A, amended.\n";
        t.h.sim.put_document(&law_2, edited).await?;
        t.pass("r3", Scope::Ids(vec![law_2.clone()])).await
    };
    let (_, exported, passed) = t.since_racing("r1", edit_and_cut).await;
    assert!(matches!(passed, Some(Ok(()))), "{passed:?}");
    match exported {
        Err(ExportError::Since(why)) => panic!("refused as a lost baseline: {why}"),
        Err(ExportError::Moved(why)) => assert!(why.contains("law/2"), "{why}"),
        other => assert!(other.is_ok(), "{other:?}"),
    }
    Ok(())
}

/// Edits `law/2` once the enact has committed its first batch, as an application would
/// between two batches.
struct EditBetweenEnactBatches {
    sim: Arc<Simulator>,
    edited: std::sync::atomic::AtomicBool,
}

impl iu_cutter_phase_core::EventSink for EditBetweenEnactBatches {
    fn emit(&self, event: iu_cutter_phase_core::RunEvent) {
        use std::sync::atomic::Ordering;
        let iu_cutter_phase_core::RunEvent::Progress { phase, done, .. } = event else {
            return;
        };
        if phase != "lifecycle-enact" || done < 1 || self.edited.swap(true, Ordering::SeqCst) {
            return;
        }
        let handle = tokio::runtime::Handle::current();
        let edited = tokio::task::block_in_place(|| {
            handle.block_on(self.sim.put_document(
                &DocumentId::new("law/2"),
                "Intro.\n\n# Part A\n\nEdited again.\n",
            ))
        });
        assert!(edited.is_ok(), "{edited:?}");
    }
}

/// r1 over law/1 and law/2, then r2 over both, whose enact stops part-way (law/1 enacted in its
/// first batch, law/2 edited by the application before the second), then r3 over law/3 alone.
async fn r2_stopped_part_way_before_r3(t: &Timed) -> TestResult {
    t.r1_then_both_amended().await?;
    let editor = Arc::new(EditBetweenEnactBatches {
        sim: t.h.sim.clone(),
        edited: std::sync::atomic::AtomicBool::new(false),
    });
    let options = t
        .options()
        .with_batch_documents(iu_cutter_phase_core::DocumentBatches::Of(1))
        .with_events(editor);
    let request = RunRequest::new("r2", both(), CutRules::preset(Preset::Markdown));
    let report = t.h.runner.run(request, options).await?;
    assert!(
        matches!(report.outcome, Outcome::Blocked { .. }),
        "{}",
        report.to_json()
    );
    let heads = t.h.sim.load_heads(&both()).await?;
    assert_eq!(
        heads[0].active_generation,
        Some(RunId::new("r2")),
        "law/1 enacted in the first batch: {}",
        report.to_json()
    );
    // Since r1, the changes are told: law/1 on r2's generation (its baseline, r1's, is dated).
    let lines = t.since("r1").await?;
    assert_eq!(lines.len(), 3, "{lines:?}");
    t.pass_new("r3", "law/3").await
}

/// [`r2_stopped_part_way_before_r3`] on a new harness, then `run` cuts law/1 back to its first
/// text: the harness.
async fn law_1_recut_after_r2_stopped(run: &str) -> Result<Timed, BoxError> {
    let t = Timed::new();
    r2_stopped_part_way_before_r3(&t).await?;
    t.recut_law_1(run).await?;
    Ok(t)
}

/// A run whose enact stopped part-way (blocked on a document the application edited between
/// two of its batches) leaves the generations it enacted active with no enact time in the
/// journal: `since` was refused as a baseline it can never measure ("export everything again
/// and rebuild"), where resuming or rolling that run back, then exporting again, is what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_names_a_run_whose_enact_stopped_part_way() -> TestResult {
    let t = Timed::new();
    r2_stopped_part_way_before_r3(&t).await?;
    // Since r3 (over another document): r2's enact stopped, journaled, before r3 began, so
    // law/1 was on r2's generation when r3 finished, as it is now: nothing to tell (it was once
    // refused as Unfinished, though the journal tells it; see
    // `since_tells_a_generation_whose_enact_stopped_before_the_run_and_was_retired_after`).
    let lines = t.since("r3").await?;
    assert!(lines.is_empty(), "nothing changed since r3: {lines:?}");
    t.assert_unfinished("r2").await;
    Ok(())
}

/// Following the advice of [`ExportError::Unfinished`] by rolling the run back: law/1 was on
/// r2's generation when r3 finished (an index fed then holds r2's units of it), and is on r1's
/// again now. The export since r3 must tell law/1's change or refuse; it told nothing of law/1
/// (r2, never dated as enacted, was no suspect), leaving the index with rolled-back units.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_after_rolling_back_a_run_whose_enact_stopped_part_way_is_not_silent() -> TestResult {
    let t = Timed::new();
    r2_stopped_part_way_before_r3(&t).await?;
    assert!(t.since("r3").await?.is_empty(), "law/1 is as r3 left it");
    let after_r3 = t.everything().await?;
    t.roll_back("r2").await?;
    let law_1 = DocumentId::new("law/1");
    assert_eq!(
        t.h.sim.load_heads(&Scope::Ids(vec![law_1])).await?[0].active_generation,
        Some(RunId::new("r1")),
        "law/1 is back on r1's generation"
    );
    let lines = t.since("r3").await?;
    let told = lines.iter().any(|line| line.document().as_str() == "law/1");
    assert!(told, "law/1's return to r1 untold since r3: {lines:?}");
    assert_fed(&after_r3, &lines, &t.everything().await?);
    Ok(())
}

/// A generation whose run's enact stopped part-way is undated, but once a later run, dated no
/// later than RUN, has enacted over it, the document's baseline is that later run's generation
/// whatever the undated one's time: the active generation is the last enacted. `since` was
/// refused as Unfinished, advising to resume the stopped run (blocked again: the application
/// edited law/2) or roll it back (refused: the later run holds law/1, so rolling back that
/// good run first), where nothing needed finishing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_tells_a_document_enacted_over_a_run_whose_enact_stopped_part_way() -> TestResult {
    let t = law_1_recut_after_r2_stopped("r4").await?;
    t.pass_new("r5", "law/4").await?;
    let lines = t.since("r5").await?;
    assert!(lines.is_empty(), "nothing changed since r5: {lines:?}");
    Ok(())
}

/// r1 over law/1 and law/2, both amended since; then run `x` over both, a document an enact
/// batch, the store's `occurrence`th `Enact` call (counted since the harness began) failing as
/// `kind`: x's report.
async fn x_with_a_failing_enact(
    t: &Timed,
    occurrence: u64,
    kind: iu_cutter_simulator::FaultKind,
) -> Result<RunReport, BoxError> {
    t.r1_then_both_amended().await?;
    t.h.sim
        .inject_on(iu_cutter_live_execution::OpKind::Enact, occurrence, kind);
    let options = t
        .options()
        .with_batch_documents(iu_cutter_phase_core::DocumentBatches::Of(1));
    let request = RunRequest::new("x", both(), CutRules::preset(Preset::Markdown));
    Ok(t.h.runner.run(request, options).await?)
}

/// [`x_with_a_failing_enact`] on a new harness, x's process dying in its enact right after
/// committing law/1's batch (the simulator recovered since): the harness and x's answer.
async fn x_crashed_part_way() -> (Timed, Result<RunReport, BoxError>) {
    let t = Timed::new();
    let crashed = x_with_a_failing_enact(&t, 1, iu_cutter_simulator::FaultKind::CrashAfter).await;
    t.h.sim.recover();
    (t, crashed)
}

/// A run `x` whose enact failed part-way before RUN (r3) finished (law/1 enacted in its first
/// batch), resumed to the end after RUN as [`ExportError::Unfinished`] advises, then retired by
/// `y`, which cuts law/1 back to r1's text. Readers saw x's generation of law/1 when r3
/// finished; the export took r1's (the last *dated* no later than r3) as the baseline, found it
/// the same as y's and told nothing of law/1: an index fed since r3 keeps x's units.
#[tokio::test]
async fn since_is_not_silent_over_a_retired_generation_whose_enact_straddled_the_run() -> TestResult
{
    use iu_cutter_simulator::FaultKind;
    let t = Timed::new();
    let law_1 = DocumentId::new("law/1");
    // x's second enact batch (the store's second Enact call since r1's) fails.
    let report = x_with_a_failing_enact(&t, 2, FaultKind::Error).await?;
    assert_ne!(report.outcome, Outcome::Pass, "{}", report.to_json());
    let heads = t.h.sim.load_heads(&both()).await?;
    assert_eq!(
        (
            heads[0].active_generation.clone(),
            heads[1].active_generation.clone()
        ),
        (Some(RunId::new("x")), Some(RunId::new("r1"))),
        "x enacted law/1 only: {}",
        report.to_json()
    );
    t.assert_unfinished("x").await;
    t.pass_new("r3", "law/3").await?;
    let after_r3 = t.everything().await?;
    assert!(
        after_r3
            .iter()
            .any(|u| u.document == law_1 && u.generation.as_str() == "x"),
        "readers saw x's law/1 when r3 finished"
    );
    // As Unfinished advises: resume x to the end.
    let resumed = t.h.runner.resume(&RunId::new("x"), t.options()).await?;
    assert_eq!(resumed.outcome, Outcome::Pass, "{}", resumed.to_json());
    t.recut_law_1("y").await?;
    let lines = t.since("r3").await?;
    assert_fed(&after_r3, &lines, &t.everything().await?);
    Ok(())
}

/// A run `x` whose process died in its enact after committing law/1's batch: its journal still
/// says the enact is running, and nothing will finish it until it is resumed or rolled back.
/// `since` a run after it must not advise "run the export again" (`Moved`), which never
/// helps: it names the run to finish (`Unfinished`) or refuses.
#[tokio::test]
async fn since_over_an_enact_that_crashed_part_way_does_not_say_run_again() -> TestResult {
    let (t, crashed) = x_crashed_part_way().await;
    let heads = t.h.sim.load_heads(&both()).await?;
    assert_eq!(
        heads[0].active_generation,
        Some(RunId::new("x")),
        "x enacted law/1 before dying: {crashed:?}"
    );
    t.assert_unfinished("x").await;
    t.pass_new("r3", "law/3").await?;
    let after_r3 = t.everything().await?;
    for _ in 0..3 {
        match t.since("r3").await {
            Err(ExportError::Moved(why)) => panic!("'run the export again' never helps: {why}"),
            Err(ExportError::Unfinished { run, .. }) => assert_eq!(run, RunId::new("x")),
            other => assert!(
                matches!(other, Err(ExportError::Since(_))),
                "expected x named or a refusal: {other:?}"
            ),
        }
    }
    // The advice followed: x resumed to the end, the export since r3 takes the index to now
    // (a tombstone for a unit it never held is harmless).
    let resumed = t.h.runner.resume(&RunId::new("x"), t.options()).await?;
    assert_eq!(resumed.outcome, Outcome::Pass, "{}", resumed.to_json());
    let lines = t.since("r3").await?;
    assert_fed(&after_r3, &lines, &t.everything().await?);
    Ok(())
}

/// r2's enact stopped part-way (blocked: law/2 edited between its batches) before r3 finished,
/// law/1 on r2's generation; after r3, `y` cut law/1 again. When r3 finished, readers saw r2's
/// generation of law/1 (r2's enact had stopped, journaled, before r3 began, and nothing enacted
/// law/1 until y): the baseline is told. The export was refused as Unfinished, naming r2 to
/// resume (blocked again: law/2 is still edited) or roll back (refused: y, a later run, holds
/// law/1, so rolling back a good run first): advice that cannot be followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_tells_a_generation_whose_enact_stopped_before_the_run_and_was_retired_after()
-> TestResult {
    let t = Timed::new();
    r2_stopped_part_way_before_r3(&t).await?;
    let after_r3 = t.everything().await?;
    t.recut_law_1("y").await?;
    let exported = t.since("r3").await;
    if let Err(ExportError::Unfinished { run, why }) = &exported {
        // The advice, followed: neither resuming nor rolling back r2 can be done.
        let resumed = t.h.runner.resume(run, t.options()).await?;
        let rolled = t.h.runner.rollback_with(run, t.options()).await?;
        panic!(
            "refused as Unfinished ({why}), naming {run}: resume gives {}, rollback gives {}",
            resumed.outcome.name(),
            rolled.outcome.name()
        );
    }
    let lines = exported?;
    assert_eq!(
        apply(&after_r3, &lines),
        apply(&t.everything().await?, &[]),
        "the lines since r3 take an index from r3's end to now: {lines:?}"
    );
    Ok(())
}

/// z cut law/1 before r3 finished; after r3, w cut law/0; then, as the export since r3 writes
/// law/0's first line, z is rolled back (law/1 back on r1's generation). law/1's baseline, z's
/// generation, is gone: the export was refused, rightly then, but the refusal said it "was
/// purged", from the journal read before the rollback. It was rolled back; law/1 is now
/// exported whole, and an index fed after r3 ends on now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_over_a_baseline_rolled_back_while_it_exports_ends_on_now() -> TestResult {
    let (t, after_r3) = z_before_r3_then_w().await?;
    let (lines, exported, undone) = t.since_racing("r3", t.roll_back("z")).await;
    assert!(matches!(undone, Some(Ok(()))), "{undone:?}");
    assert_law_1_whole_or_moved(&t, &after_r3, &lines, exported).await
}

/// x's enact failed part-way before r3 (law/1 enacted, law/2 not); after r3, w cut law/0. As the
/// export since r3 writes law/0's first line, x is resumed to the end, enacting law/2. The
/// journal the export read says x stopped before r3 finished, and dating x's generations by that
/// stop (512f20e, this branch) took x's generation of law/2, activated just now, as law/2's
/// baseline: the export sent lines from it back to r1's (law/2's head, read before the resume)
/// and ended, leaving an index fed since r3 on r1's units of law/2 where x's are active.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_never_dates_a_stopped_enact_resumed_while_it_exports_by_its_stop() -> TestResult {
    use iu_cutter_simulator::FaultKind;
    let t = Timed::new();
    let law_0 = DocumentId::new("law/0");
    let report = x_with_a_failing_enact(&t, 2, FaultKind::Error).await?;
    assert_ne!(report.outcome, Outcome::Pass, "{}", report.to_json());
    t.pass_new("r3", "law/3").await?;
    let after_r3 = t.everything().await?;
    t.h.sim.put_document(&law_0, LAW_2).await?;
    t.pass("w", Scope::Ids(vec![law_0])).await?;
    let x = RunId::new("x");
    let resume_x = t.h.runner.resume(&x, t.options());
    let (lines, exported, resumed) = t.since_racing("r3", resume_x).await;
    assert!(
        matches!(&resumed, Some(Ok(r)) if r.outcome == Outcome::Pass),
        "{resumed:?}"
    );
    match exported {
        Ok(_) => {
            assert_fed(&after_r3, &lines, &t.everything().await?);
        }
        // x enacted while the export read: running it again is what to do.
        Err(ExportError::Moved(why)) => assert!(why.contains("run `x`"), "{why}"),
        Err(other) => panic!("expected law/2 told, or 'run again': {other:?}"),
    }
    Ok(())
}

/// `since = r2`, r2's enact blocked part-way (law/2 edited between its batches) and y, a later
/// run, cutting law/1 since: refused as Unfinished, naming r2 to resume (blocked again: law/2
/// is still edited) or roll back (refused: y holds law/1). With nothing else said, an operator
/// following the advice goes round: the refusal must name the way out that needs neither, an
/// earlier run to measure from (or a full export).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_a_run_that_cannot_be_finished_names_another_way() -> TestResult {
    let t = law_1_recut_after_r2_stopped("y").await?;
    let Err(ExportError::Unfinished { run, why }) = t.since("r2").await else {
        return Err("expected r2 named as unfinished".into());
    };
    let resumed = t.h.runner.resume(&run, t.options()).await?;
    let rolled = t.h.runner.rollback_with(&run, t.options()).await?;
    assert_ne!(resumed.outcome, Outcome::Pass, "{}", resumed.to_json());
    assert_ne!(rolled.outcome, Outcome::RolledBack, "{}", rolled.to_json());
    assert!(
        why.contains("another run") && why.contains("full export"),
        "resume gives {}, rollback gives {}, and the refusal says no other way: {why}",
        resumed.outcome.name(),
        rolled.outcome.name()
    );
    Ok(())
}

/// x's process died in its enact after committing law/1's batch (its journal says running);
/// r3 over law/3; then y cut law/1 again. Since r3: Unfinished, naming x. Resuming x blocks
/// (law/1 is y's now), rolling x back is refused (y holds law/1), and the export since r3 is
/// then refused again, naming x, blocked: the advice goes round. Whether readers saw x's
/// generation of law/1 when r3 finished cannot be told from the journal (the crash has no time),
/// so the refusal is right; it must name the way out, a full export.
#[tokio::test]
async fn since_over_a_run_that_cannot_be_finished_names_a_full_export() -> TestResult {
    let (t, crashed) = x_crashed_part_way().await;
    assert!(crashed.is_err() || crashed.is_ok_and(|r| r.outcome != Outcome::Pass));
    t.pass_new("r3", "law/3").await?;
    t.recut_law_1("y").await?;
    let x = RunId::new("x");
    assert!(matches!(t.since("r3").await, Err(ExportError::Unfinished { run, .. }) if run == x));
    let resumed = t.h.runner.resume(&x, t.options()).await?;
    let rolled = t.h.runner.rollback_with(&x, t.options()).await?;
    assert_ne!(resumed.outcome, Outcome::Pass, "{}", resumed.to_json());
    assert_ne!(rolled.outcome, Outcome::RolledBack, "{}", rolled.to_json());
    match t.since("r3").await {
        Err(ExportError::Unfinished { run, why }) => {
            assert_eq!(run, x, "{why}");
            assert!(
                why.contains("full export"),
                "resume gives {}, rollback gives {}, and the refusal names no way out: {why}",
                resumed.outcome.name(),
                rolled.outcome.name()
            );
        }
        other => panic!("expected x named: {other:?}"),
    }
    Ok(())
}

/// A run held before its enact (`until` write-verify) whose backup began before RUN (r3)
/// finished and whose enact ran after, then retired by `y`: its enact began after r3, so it was
/// never active when r3 finished and law/1's baseline since r3 is r1's generation. `since` was
/// refused for good ("straddled"): the earliest step of the held run, its backup, was taken as
/// when its enact might have begun.
#[tokio::test]
async fn since_tells_a_held_run_enacted_after_the_run_and_retired_since() -> TestResult {
    let t = Timed::new();
    let law_1 = DocumentId::new("law/1");
    t.pass("r1", laws()).await?;
    t.h.sim.put_document(&law_1, LAW_1_AMENDED).await?;
    t.hold("h", Scope::Ids(vec![law_1.clone()])).await?;
    let law_3 = DocumentId::new("law/3");
    t.h.sim.put_document(&law_3, LAW_2).await?;
    t.pass("r3", Scope::Ids(vec![law_3])).await?;
    let after_r3 = t.everything().await?;
    let enacted = t.h.runner.enact(&RunId::new("h"), t.options()).await?;
    assert_eq!(enacted.outcome, Outcome::Pass, "{}", enacted.to_json());
    t.recut_law_1("y").await?;
    let lines = t.since("r3").await?;
    assert_fed(&after_r3, &lines, &t.everything().await?);
    assert!(
        lines.is_empty(),
        "law/1 is back on r1's text, as when r3 finished: {lines:?}"
    );
    Ok(())
}

/// (adv53) As `since_says_a_baseline_rolled_back_while_it_exports_was_rolled_back`, a page of
/// one head at a time, so that law/1's head is read after z's rollback: law/1 is on r1's
/// generation again, and the change log, read as the export began, lists nothing of it since
/// r3's backup. z's enact ended before that backup began, which made z's generation look gone
/// before r3 ran (98b8389, this branch): no line for law/1, and an index fed after r3 kept z's
/// units where r1's are active. The rollback, journaled, is told: refused as rolled back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_never_takes_a_baseline_rolled_back_while_it_exports_as_gone_before() -> TestResult {
    let (t, after_r3) = z_before_r3_then_w().await?;
    let request = ExportRequest {
        page_size: 1,
        ..since("r3")
    };
    let (mut meanwhile, mut undone, mut lines) = (Some(t.roll_back("z")), None, Vec::new());
    let exported =
        t.h.runner
            .export(&request, &mut |line: &ExportLine| {
                if let Some(work) = meanwhile.take() {
                    let handle = tokio::runtime::Handle::current();
                    undone = Some(tokio::task::block_in_place(|| handle.block_on(work)).is_ok());
                }
                lines.push(line.clone());
                Ok(())
            })
            .await;
    assert_eq!(undone, Some(true));
    assert_law_1_whole_or_moved(&t, &after_r3, &lines, exported).await
}

/// A new harness where r1 is over law/0 and law/1; z cuts law/1 again; r3 cuts law/3 alone;
/// after r3, w cuts law/0 again: z's generation of law/1 is its baseline since r3. Returns the
/// harness and the full export taken right after r3.
async fn z_before_r3_then_w() -> Result<(Timed, Vec<ExportedUnit>), BoxError> {
    let t = Timed::new();
    let (law_0, law_1, law_3) = (
        DocumentId::new("law/0"),
        DocumentId::new("law/1"),
        DocumentId::new("law/3"),
    );
    t.h.sim.put_document(&law_0, LAW_2).await?;
    t.pass("r1", Scope::All).await?;
    t.h.sim.put_document(&law_1, LAW_1_AMENDED).await?;
    t.pass("z", Scope::Ids(vec![law_1])).await?;
    t.h.sim.put_document(&law_3, LAW_2).await?;
    t.pass("r3", Scope::Ids(vec![law_3])).await?;
    let after_r3 = t.everything().await?;
    t.h.sim
        .put_document(&law_0, "Intro.\n\n# Part A\n\nText A, amended.\n")
        .await?;
    t.pass("w", Scope::Ids(vec![law_0])).await?;
    Ok((t, after_r3))
}

/// The export since r3 of [`z_before_r3_then_w`], z rolled back while it ran: law/1,
/// whose baseline (z's generation) is gone, exported whole, and `after_r3` fed with the `lines`
/// is now; or the export stopped, saying law/1 moved under it. It was refused (exit 8),
/// sending its user to export the whole store again.
async fn assert_law_1_whole_or_moved(
    t: &Timed,
    after_r3: &[ExportedUnit],
    lines: &[ExportLine],
    exported: Result<ExportSummary, ExportError>,
) -> TestResult {
    match exported {
        Ok(summary) => {
            let law_1 = DocumentId::new("law/1");
            assert_whole(lines, &law_1, now_units(t, &law_1).await?);
            assert_eq!(summary.documents_replaced, 1, "{summary:?}");
            assert_fed(after_r3, lines, &t.everything().await?);
        }
        Err(ExportError::Moved(why)) => assert!(why.contains("law/1"), "{why}"),
        other => panic!("expected law/1 exported whole: {other:?}"),
    }
    Ok(())
}
