//! Typed evidence values: a JSON report shows a count as a number, the Markdown renders values as
//! the untyped strings did, and a journal written before values were typed (every value a
//! string) still serves enact and rollback, on the simulator and on SQLite.

use std::collections::BTreeMap;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{PhaseRecord, PhaseStatus};
use iu_cutter_phase_core::evidence::BACKUP_SHA256;
use iu_cutter_phase_core::names;
use serde_json::{Value, json};

use super::*;
use crate::PhaseEntryStatus;

type BoxError = Box<dyn std::error::Error>;

/// The entry of phase `name` in `report`'s JSON.
fn json_phase<'a>(json: &'a Value, name: &str) -> Result<&'a Value, String> {
    json["phases"]
        .as_array()
        .and_then(|phases| phases.iter().find(|p| p["name"] == name))
        .ok_or_else(|| format!("no phase {name} in {json}"))
}

/// Runs `r1` over the laws to the end, checks it passed, and returns its report with the report's
/// JSON.
async fn passed_r1(h: &Harness) -> Result<(RunReport, Value), BoxError> {
    let report = h
        .runner
        .run(law_request("r1"), RunOptions::default())
        .await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    let json = serde_json::from_str(&report.to_json())?;
    Ok((report, json))
}

#[tokio::test]
async fn a_json_report_carries_counts_as_numbers_and_checks_as_booleans() -> TestResult {
    let h = Harness::new([("law/1", LAW_1), ("law/2", LAW_2)], true);
    let (_, json) = passed_r1(&h).await?;

    let backup = &json_phase(&json, names::BACKUP)?["evidence"];
    assert_eq!(backup["documents"], json!(2), "{backup}");
    assert!(backup["units"].is_u64(), "{backup}");
    assert!(backup["backup_sha256"].is_string(), "{backup}");
    let cut = &json_phase(&json, names::CUT_LEG_A)?["evidence"];
    assert_eq!(cut["documents_fenced"], json!(2), "{cut}");
    assert!(
        cut["units_planned"].as_u64().is_some_and(|n| n > 2),
        "{cut}"
    );
    let written = &json_phase(&json, names::LEG_B_RECORD)?["evidence"];
    assert_eq!(written["units_written"], cut["units_planned"], "{written}");
    let enacted = &json_phase(&json, names::LIFECYCLE_ENACT)?["evidence"];
    assert_eq!(enacted["documents_enacted"], json!(2), "{enacted}");

    let rolled = h.runner.rollback(&RunId::new("r1")).await?;
    assert_eq!(rolled.outcome, Outcome::RolledBack, "{}", rolled.to_json());
    let json: Value = serde_json::from_str(&rolled.to_json())?;
    let check = &json["phases"][0]["evidence"];
    assert_eq!(check["restored_documents"], json!(2), "{check}");
    assert_eq!(check["census_matches_backup"], json!(true), "{check}");
    assert_eq!(check["kept_edits"], json!(0), "{check}");
    assert!(check["backup_sha256"].is_string(), "{check}");
    Ok(())
}

#[tokio::test]
async fn a_json_report_lists_unstructured_documents_as_an_array() -> TestResult {
    let flat = "No heading here, only prose. ".repeat(200);
    let h = Harness::new([("law/1", LAW_1), ("law/flat", flat.as_str())], true);
    let (report, json) = passed_r1(&h).await?;
    let cut = &json_phase(&json, names::CUT_LEG_A)?["evidence"];
    assert_eq!(cut["unstructured_documents"], json!(["law/flat"]), "{cut}");
    assert!(
        report
            .to_markdown()
            .contains("`unstructured_documents=law/flat`")
    );
    Ok(())
}

#[test]
fn the_markdown_renders_typed_values_as_the_untyped_strings_did() {
    let mut entry = crate::report::PhaseEntry::not_run("backup");
    entry.status = PhaseEntryStatus::Done;
    entry.evidence = Evidence::from([
        ("backup_sha256".to_owned(), EvidenceValue::from("ab12")),
        ("documents".to_owned(), EvidenceValue::from(2u64)),
        (
            "census_matches_backup".to_owned(),
            EvidenceValue::from(true),
        ),
        (
            "unstructured_documents".to_owned(),
            EvidenceValue::from(vec!["law/1".to_owned(), "law/2".to_owned()]),
        ),
    ]);
    let typed = markdown_of(entry.clone());
    // Pinned: what the report rendered when the values were the strings "2", "true" and
    // "law/1, law/2".
    assert!(
        typed.contains(
            "| backup | done | - | - | `backup_sha256=ab12` `census_matches_backup=true` \
             `documents=2` `unstructured_documents=law/1, law/2` |\n"
        ),
        "{typed}"
    );
    // The same evidence as a journal written before typing holds it renders the same bytes.
    entry.evidence = entry
        .evidence
        .iter()
        .map(|(k, v)| (k.clone(), EvidenceValue::Text(v.to_string())))
        .collect();
    assert_eq!(markdown_of(entry), typed);
}

/// The Markdown of a report whose only phase is `entry`.
fn markdown_of(entry: crate::report::PhaseEntry) -> String {
    let report = RunReport {
        schema_version: crate::REPORT_SCHEMA_VERSION,
        run: RunId::new("r1"),
        command: crate::Command::Run,
        mode: "simulate".into(),
        started_at: T0.into(),
        finished_at: T0.into(),
        provenance: None,
        adapter: mock_info(),
        outcome: Outcome::Pass,
        plan_sha256: None,
        backup_sha256: None,
        held_after: None,
        phases: vec![entry],
        census_before: None,
        census_after: None,
        rollback: None,
        holds: None,
        attestation: None,
        notes: Vec::new(),
        lease_lost: None,
        duration_ms: 1,
    };
    report.to_markdown()
}

#[test]
fn a_version_3_report_with_string_evidence_still_reads() -> TestResult {
    let v3 = r#"{"schema_version":3,"run":"r1","command":"run",
        "adapter":{"kind":"sqlite","live":true,"location":"sqlite://x"},
        "outcome":{"name":"PASS"},"held_after":null,
        "phases":[{"name":"backup","status":"done",
            "evidence":{"backup_sha256":"ab12","documents":"2"},
            "detail":null,"duration_ms":3}],
        "census_before":null,"census_after":null,"rollback":null,"notes":[],"duration_ms":3}"#;
    let report = RunReport::from_json(v3)?;
    let evidence = &report.phases[0].evidence;
    assert_eq!(
        evidence.get("documents"),
        Some(&EvidenceValue::Text("2".into()))
    );
    assert_eq!(BACKUP_SHA256.get(evidence), Some("ab12"));
    assert!(
        report
            .to_markdown()
            .contains("`backup_sha256=ab12` `documents=2`")
    );
    Ok(())
}

/// Runs `r1` over `store` (holding [`LAW_1`] and [`LAW_2`]) held after write-verify, and
/// returns the runner and each done phase's evidence as a journal written before typing holds
/// it: a JSON object of strings.
async fn held_run(
    store: Arc<dyn LiveExecutionAdapter>,
) -> Result<(Runner, Vec<(String, String)>), BoxError> {
    store.put_document(&DocumentId::new("law/1"), LAW_1).await?;
    store.put_document(&DocumentId::new("law/2"), LAW_2).await?;
    let runner = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    held_law_run(&runner, "r1").await?;
    let record = store
        .load_run(&RunId::new("r1"))
        .await?
        .ok_or("r1 not journaled")?;
    let backup = record.phase(names::BACKUP).ok_or("no backup phase")?;
    assert_eq!(
        backup.evidence.get("documents"),
        Some(&EvidenceValue::Count(2))
    );
    let mut old = Vec::new();
    for phase in &record.phases {
        let strings: BTreeMap<&str, String> = phase
            .evidence
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_string()))
            .collect();
        old.push((phase.name.clone(), serde_json::to_string(&strings)?));
    }
    Ok((runner, old))
}

/// Enacts and rolls back `r1`, whose journal holds evidence written before typing: the journal
/// reads back as written, the runner finds the backup's sha256 in it, and the reports show the
/// skipped phases' strings beside the re-run phases' numbers.
async fn old_journal_serves(store: &Arc<dyn LiveExecutionAdapter>, runner: &Runner) -> TestResult {
    let run = RunId::new("r1");
    let record = store.load_run(&run).await?.ok_or("r1 not journaled")?;
    let backup = record.phase(names::BACKUP).ok_or("no backup phase")?;
    assert_eq!(
        backup.evidence.get("documents"),
        Some(&EvidenceValue::Text("2".into())),
        "an old value reads back as the text it was written as"
    );
    assert!(BACKUP_SHA256.get(&backup.evidence).is_some());

    let enacted = runner.enact(&run, RunOptions::default()).await?;
    assert_eq!(enacted.outcome, Outcome::Pass, "{}", enacted.to_json());
    assert_enacted_from_held(&enacted);
    let json: Value = serde_json::from_str(&enacted.to_json())?;
    assert_eq!(
        json_phase(&json, names::BACKUP)?["evidence"]["documents"],
        json!("2")
    );
    assert_eq!(
        json_phase(&json, names::WRITE_VERIFY)?["evidence"]["documents_verified"],
        json!(2)
    );
    assert_eq!(
        enacted.backup_sha256.as_deref(),
        BACKUP_SHA256.get(&backup.evidence)
    );
    assert!(enacted.to_markdown().contains("`documents=2`"));

    let rolled = runner.rollback(&run).await?;
    assert_eq!(rolled.outcome, Outcome::RolledBack, "{}", rolled.to_json());
    assert_eq!(
        rolled.rollback.as_ref().map(|c| c.restored_documents),
        Some(2)
    );
    Ok(())
}

#[tokio::test]
async fn a_journal_of_string_evidence_still_loads_on_the_simulator() -> TestResult {
    let sim = Arc::new(Simulator::new());
    let store: Arc<dyn LiveExecutionAdapter> = sim.clone();
    let (runner, old) = held_run(store.clone()).await?;
    // The simulator keeps its journal in memory: the old journal is the records an old journal
    // decodes to, recorded again.
    let record = stored_run(&sim, "r1").await?;
    for (name, evidence) in old {
        let phase = record.phase(&name).ok_or("phase gone")?;
        let mut json = serde_json::to_value(phase)?;
        json["evidence"] = serde_json::from_str(&evidence)?;
        let decoded: PhaseRecord = serde_json::from_value(json)?;
        assert_eq!(decoded.status, PhaseStatus::Done);
        sim.record_phase(&record.run, &decoded).await?;
    }
    old_journal_serves(&store, &runner).await
}

#[tokio::test]
async fn a_journal_of_string_evidence_still_loads_on_sqlite() -> TestResult {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    iu_cutter_live_execution::sql::init(&url).await?;
    let gate = ExecutionGate::new().with_source(ManualSwitch::new("test", true, "open it"));
    let store: Arc<dyn LiveExecutionAdapter> =
        Arc::new(iu_cutter_live_execution::sql::connect(&url, gate).await?);
    let (runner, old) = held_run(store.clone()).await?;
    // Write the journal's evidence column as a build before typing wrote it.
    let pool = sqlx::SqlitePool::connect(&url).await?;
    for (name, evidence) in old {
        let changed =
            sqlx::query("UPDATE run_phases SET evidence = $1 WHERE run = $2 AND name = $3")
                .bind(&evidence)
                .bind("r1")
                .bind(&name)
                .execute(&pool)
                .await?
                .rows_affected();
        assert_eq!(changed, 1, "{name}");
    }
    let stored: String =
        sqlx::query_scalar("SELECT evidence FROM run_phases WHERE run = 'r1' AND name = 'backup'")
            .fetch_one(&pool)
            .await?;
    assert!(stored.contains(r#""documents":"2""#), "{stored}");
    pool.close().await;
    old_journal_serves(&store, &runner).await
}
