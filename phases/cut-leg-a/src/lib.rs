//! Phase 2 of five, **cut-leg-a**: computes the run's *plan* by cutting every scoped source
//! document with the cut rules (pure and deterministic: the same sources and rules always give
//! the same plan and the same plan sha256), then fences each source document by compare-and-set,
//! from the sha256/revision recorded at backup to `cutting(run)`. A document that changed since
//! the backup stops the run, naming it.
//!
//! The cut engine itself is the `iu-cutter-cut` crate: a [`Cutter`] compiles [`CutRules`] once
//! and cuts a document into units, exact byte spans that cover the source losslessly, each with
//! its ordinal, hierarchical path, stable id and sha256. This crate turns those units into the
//! plan and fences the sources.
//!
//! [`Cutter`]: iu_cutter_cut::Cutter
//! [`CutRules`]: iu_cutter_live_execution::CutRules

mod phase;

pub use iu_cutter_cut::Parallelism;
pub use phase::{
    CutLegA, PlanError, UNSTRUCTURED_WARNING_BYTES, compute_plan, compute_plan_with,
    plan_for_backup, plan_for_backup_with, presets_chosen, spawn_compute_plan,
    unstructured_documents,
};
