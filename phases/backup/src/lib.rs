//! Phase 1 of five, **backup**: before anything is mutated, snapshots every row the run may
//! touch (each scoped document, its generation records and its active units) together with a
//! census of the whole store, and writes it as one backup artifact through the run's
//! [`BackupStore`](iu_cutter_phase_core::BackupStore) (JSON Lines with a sha256 manifest, written
//! atomically). Later phases read the backup, never the live rows, as the truth of the pre-run
//! state: cut-leg-a fences from it, write-verify checks losslessness and the census against it,
//! lifecycle-enact enacts against it, and rollback restores it.
//!
//! The phase only reads the store. It is idempotent in the strongest sense: once a backup exists
//! for the run it is reused, never re-taken, because after the fence the store is no longer in
//! its pre-run state.

use std::sync::Arc;

use async_trait::async_trait;
use iu_cutter_live_execution::{
    Backup as BackupArtifact, DocumentSnapshot, Evidence, SCHEMA_VERSION,
};
use iu_cutter_phase_core::{BackupReceipt, Phase, PhaseError, RunContext, names};

/// Phase 1: takes (or reuses) the run's backup.
///
/// Evidence: `backup_sha256`, `location`, `documents`, `units` (active units backed up),
/// `census_fingerprint`, `census_documents`, `census_units`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Backup;

#[async_trait]
impl Phase for Backup {
    fn name(&self) -> &str {
        names::BACKUP
    }

    async fn run(&self, ctx: &mut RunContext) -> Result<Evidence, PhaseError> {
        let run = ctx.record.run.clone();
        if let Some((backup, receipt)) = ctx.backups.load(&run).await? {
            tracing::info!(run = %run, sha256 = %receipt.sha256, "reusing the run's backup");
            let evidence = evidence(&backup, &receipt);
            ctx.set_backup(Arc::new(backup));
            return Ok(evidence);
        }

        // The runner's opening census, when it took one moments ago (nothing of this run has
        // mutated the store since): a census reads every unit of the store, so not taking it
        // twice matters on a large store.
        let census = match ctx.take_opening_census() {
            Some(census) => census,
            None => ctx.adapter.census().await?,
        };
        let mut documents = ctx.adapter.load_scope(&ctx.record.scope).await?;
        documents.sort_by(|a, b| a.id.cmp(&b.id));
        let total = documents.len() as u64;
        let mut snapshots = Vec::with_capacity(documents.len());
        for (done, document) in documents.into_iter().enumerate() {
            ctx.check_cancelled()?;
            let generations = ctx.adapter.generations(&document.id).await?;
            let active_units = ctx.adapter.active_units(&document.id).await?;
            snapshots.push(DocumentSnapshot {
                document,
                generations,
                active_units,
            });
            ctx.progress(names::BACKUP, done as u64 + 1, total);
        }
        let backup = BackupArtifact {
            schema_version: SCHEMA_VERSION,
            run: run.clone(),
            census,
            documents: snapshots,
        };
        let receipt = ctx.backups.save(&backup).await?;
        tracing::info!(
            run = %run,
            sha256 = %receipt.sha256,
            documents = receipt.documents,
            units = receipt.units,
            location = %receipt.location,
            "backup written"
        );
        let evidence = evidence(&backup, &receipt);
        ctx.set_backup(Arc::new(backup));
        Ok(evidence)
    }
}

fn evidence(backup: &BackupArtifact, receipt: &BackupReceipt) -> Evidence {
    Evidence::from([
        ("backup_sha256".to_owned(), receipt.sha256.clone()),
        ("location".to_owned(), receipt.location.clone()),
        ("documents".to_owned(), receipt.documents.to_string()),
        ("units".to_owned(), receipt.units.to_string()),
        (
            "census_fingerprint".to_owned(),
            backup.census.fingerprint.clone(),
        ),
        (
            "census_documents".to_owned(),
            backup.census.documents.to_string(),
        ),
        ("census_units".to_owned(), backup.census.units.to_string()),
    ])
}

#[cfg(test)]
mod tests;
