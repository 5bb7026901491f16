//! Cut benchmarks: iu-cutter's cut + hash against the peers (text-splitter's MarkdownSplitter,
//! LangChain's RecursiveCharacterTextSplitter), the hashing floor (sha256 of every unit span and
//! of every unit id's input, raw) and a bare sha256, on the same corpus in the same run; the same
//! cut on two threads against one; then one large document against many small ones of the same
//! total size.

use std::any::Any;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use iu_cutter_cut::{CutUnit, Cutter, Parallelism, Sha256Digest, UNIT_ID_BYTES, UnitIds};
use iu_cutter_live_execution::{CutRules, LevelRule, MarkerSet, Preset};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::corpus::{Doc, Kind, total_bytes};
use crate::report::{Bound, Figure, Measurement, Report, time_interleaved};

/// The Python side, written next to the corpus and run with the venv's interpreter.
const LANGCHAIN_SCRIPT: &str = include_str!("langchain_split.py");

pub(crate) struct CutSettings {
    pub(crate) reps: usize,
    /// iu-cutter's `max_unit_bytes`.
    pub(crate) max_unit_bytes: u64,
    /// The peers' chunk capacity, in characters (default: our mean unit size).
    pub(crate) chunk_chars: Option<usize>,
    /// The Python interpreter with `langchain-text-splitters`, if one was set up.
    pub(crate) python: Option<PathBuf>,
    /// Where the corpus files go (the Python side reads them).
    pub(crate) corpus_dir: PathBuf,
}

/// One cutter per kind of document, with the same size limit.
pub(crate) fn cutters(max_unit_bytes: u64) -> Result<HashMap<Kind, Cutter>, String> {
    Kind::ALL
        .into_iter()
        .map(|kind| {
            let rules = CutRules::preset(kind.preset()).with_max_unit_bytes(max_unit_bytes);
            Cutter::new(&rules)
                .map(|cutter| (kind, cutter))
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// Every document of `docs` cut by its kind's cutter, one after the other.
pub(crate) fn cut_all(
    cutters: &HashMap<Kind, Cutter>,
    docs: &[Doc],
) -> Result<Vec<Vec<CutUnit>>, String> {
    cut_all_on(cutters, docs, Parallelism::SEQUENTIAL)
}

/// [`cut_all`] on up to `parallelism` threads, the way a run cuts its plan
/// ([`Parallelism::map`]).
fn cut_all_on(
    cutters: &HashMap<Kind, Cutter>,
    docs: &[Doc],
    parallelism: Parallelism,
) -> Result<Vec<Vec<CutUnit>>, String> {
    parallelism
        .map(docs, |doc| {
            cutters
                .get(&doc.kind)
                .ok_or_else(|| format!("no cutter for {:?}", doc.kind))?
                .cut(&doc.id, &doc.text)
                .map_err(|e| format!("{}: {e}", doc.id))
        })
        .into_iter()
        .collect()
}

/// A sha256 over every unit of every document of `corpus` cut by every preset, a custom level
/// set and at several size limits (none, 64, 300, 2,048 and 65,536 bytes): each unit's ordinal,
/// id, sha256, part, span and path, in order. A change meant to make the cut faster must leave
/// it unchanged (`iu-cutter-bench --profile digest`).
pub(crate) fn output_digest(corpus: &[Doc]) -> Result<(String, usize), String> {
    let custom = MarkerSet::Custom(vec![
        LevelRule {
            name: "chapter".to_owned(),
            pattern: r"(?i)(chapter|chương)\s+\S+".to_owned(),
        },
        LevelRule {
            name: "article".to_owned(),
            pattern: r"(article|điều|#+)\s*(\S+)".to_owned(),
        },
    ]);
    let markers = Preset::ALL
        .into_iter()
        .map(MarkerSet::Preset)
        .chain(std::iter::once(custom));
    let mut hasher = Sha256::new();
    let mut units = 0;
    for markers in markers {
        for max in [None, Some(64), Some(300), Some(2048), Some(65_536)] {
            let rules = CutRules {
                markers: markers.clone(),
                max_unit_bytes: max,
            };
            let cutter = Cutter::new(&rules).map_err(|e| e.to_string())?;
            let cut = Parallelism::available().map(corpus, |doc| cutter.cut(&doc.id, &doc.text));
            for (doc, cut) in corpus.iter().zip(cut) {
                let cut = cut.map_err(|e| format!("{}: {e}", doc.id))?;
                hasher.update(format!("{}\0{}\0", doc.id, cut.len()));
                for unit in &cut {
                    hasher.update(format!(
                        "{} {} {} {:?} {} {} {}\0",
                        unit.ordinal,
                        unit.unit_id.hex(),
                        unit.sha256.hex(),
                        unit.part,
                        unit.start,
                        unit.end,
                        unit.path
                    ));
                }
                units += cut.len();
            }
        }
    }
    Ok((
        Sha256Digest::from_bytes(hasher.finalize().into()).hex(),
        units,
    ))
}

/// Runs the cut benchmarks and adds their measurements and figures to `report`.
pub(crate) fn run(
    corpus: &[Doc],
    big: &Doc,
    smalls: &[Doc],
    settings: &CutSettings,
    report: &mut Report,
) -> Result<(), String> {
    let cutters = cutters(settings.max_unit_bytes)?;
    // Correctness first, outside any timing: every cut succeeds (and is checked lossless by the
    // engine itself); count the units for the report.
    let units = CorpusUnits::cut(&cutters, corpus)?;
    let capacities = peer_capacities(settings, units.mean_chars, report);
    let ours = measure_ours(&cutters, corpus, &units, settings.reps, report);
    compare_with_peers(corpus, &ours.cut, &capacities, settings, report)?;
    report.figure(Figure::measured(
        "cut_vs_hashing_floor",
        "cut + hash vs the hashing floor (sha256 of the unit spans + the unit ids)",
        ours.cut.bytes_per_s() / ours.floor.bytes_per_s().max(f64::MIN_POSITIVE),
        "×",
        Bound::AtLeast,
        0.7,
        format!(
            "{:.0} MB/s vs {:.0} MB/s (raw digests, each document's share of the id input \
             hashed once, as the engine does); bare sha256 of every document: {:.0} MB/s \
             ({:.2}×)",
            ours.cut.bytes_per_s() / 1e6,
            ours.floor.bytes_per_s() / 1e6,
            ours.sha.bytes_per_s() / 1e6,
            ours.cut.bytes_per_s() / ours.sha.bytes_per_s().max(f64::MIN_POSITIVE)
        ),
    ));
    two_cores(&cutters, corpus, settings.reps, report);
    linearity(&cutters, big, smalls, settings.reps, report)
}

/// The cut + hash of the corpus on two threads against one, interleaved, as a run cuts its plan
/// ([`Parallelism::map`]); skipped where fewer than two cores are available.
///
/// On a shared machine another process takes a core from the two-thread runs first, so the note
/// says how noisy the figure was: the spread of the per-repetition ratios, the load average, the
/// CPU time each cut took (equal on one and two threads when the threads add no work) and how
/// many cores the two-thread runs actually got (their CPU time over their wall time).
fn two_cores(cutters: &HashMap<Kind, Cutter>, corpus: &[Doc], reps: usize, report: &mut Report) {
    let key = "cut_2_cores_vs_1";
    let figure = "cut + hash on 2 cores ÷ on 1 core";
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let Some(two) = NonZeroUsize::new(2).filter(|_| cores >= 2) else {
        report.figure(Figure::skipped(
            key,
            figure,
            "×",
            Bound::AtLeast,
            1.7,
            format!("{cores} core available to this process, two needed"),
        ));
        return;
    };
    let bytes = total_bytes(corpus);
    // Per workload: its parallelism, wall seconds per sample, CPU seconds over all samples.
    let mut runs: [(Parallelism, Vec<f64>, Option<f64>); 2] = [
        (Parallelism::SEQUENTIAL, Vec::with_capacity(reps), Some(0.0)),
        (Parallelism::new(two), Vec::with_capacity(reps), Some(0.0)),
    ];
    // One warm-up each, then interleaved (1, 2, 1, 2, …) as `time_interleaved` does, so that a
    // change of load hits both alike.
    for (parallelism, _, _) in &runs {
        drop(std::hint::black_box(cut_all_on(
            cutters,
            corpus,
            *parallelism,
        )));
    }
    for _ in 0..reps {
        for (parallelism, wall, cpu) in &mut runs {
            let cpu_before = process_cpu_s();
            let started = Instant::now();
            let out = std::hint::black_box(cut_all_on(cutters, corpus, *parallelism));
            wall.push(started.elapsed().as_secs_f64());
            *cpu = cpu
                .zip(cpu_before)
                .zip(process_cpu_s())
                .map(|((sum, before), after)| sum + after - before);
            drop(out);
        }
    }
    let [(_, one_wall, one_cpu), (_, two_wall, two_cpu)] = runs;
    let ratios: Vec<f64> = one_wall
        .iter()
        .zip(&two_wall)
        .map(|(one, two)| one / two.max(f64::MIN_POSITIVE))
        .collect();
    let (low, high) = ratios
        .iter()
        .fold((f64::INFINITY, 0.0_f64), |(low, high), &r| {
            (low.min(r), high.max(r))
        });
    let cpu_note = match (one_cpu, two_cpu) {
        (Some(one), Some(two)) => format!(
            "; CPU per cut {:.0} ms on 1 thread, {:.0} ms on 2, which got {:.2} cores",
            one / reps as f64 * 1e3,
            two / reps as f64 * 1e3,
            two / two_wall.iter().sum::<f64>().max(f64::MIN_POSITIVE)
        ),
        _ => String::new(),
    };
    let one = report.add(
        Measurement::new(
            "cut.one_thread",
            "iu-cutter cut + hash on 1 thread, Parallelism::map (mixed corpus)",
            one_wall,
        )
        .bytes(bytes),
    );
    let both = report.add(
        Measurement::new(
            "cut.two_threads",
            "iu-cutter cut + hash on 2 threads, Parallelism::map (mixed corpus)",
            two_wall,
        )
        .bytes(bytes)
        .detail("cores_available", cores as u64),
    );
    report.figure(Figure::measured(
        key,
        figure,
        both.bytes_per_s() / one.bytes_per_s().max(f64::MIN_POSITIVE),
        "×",
        Bound::AtLeast,
        1.7,
        format!(
            "{:.0} MB/s vs {:.0} MB/s; per repetition {low:.2}× to {high:.2}×; {cores} cores \
             available, load average {}{cpu_note}",
            both.bytes_per_s() / 1e6,
            one.bytes_per_s() / 1e6,
            load_average()
        ),
    ));
}

/// The CPU time this process has used, in seconds (every thread's, user and system), from
/// /proc/self/stat; `None` where there is none.
fn process_cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (which may hold spaces, inside parentheses): utime and
    // stime are the 12th and 13th, in clock ticks of 1/100 s (USER_HZ, fixed by Linux's ABI).
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / 100.0)
}

/// The time the calling thread has spent on a CPU, in nanoseconds (the first field of
/// /proc/thread-self/schedstat); `None` where there is none.
pub(crate) fn thread_on_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The 1-minute load average, as /proc/loadavg says (`?` where there is none): how much else
/// the machine was doing.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|load| load.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// The corpus cut once, untimed: what the timed parts of the cut work on.
struct CorpusUnits<'a> {
    /// How many units (at least 1, as a divisor).
    count: usize,
    /// The mean unit size in characters (at least 16).
    mean_chars: usize,
    /// Every unit's bytes, to time hashing them alone.
    spans: Vec<&'a [u8]>,
    /// Per document: its id, and each unit's span, path, occurrence and part, to time the
    /// hashing floor (the span's sha256 and the unit id's, nothing else).
    documents: Vec<DocumentUnits<'a>>,
}

/// One document's share of [`CorpusUnits`].
struct DocumentUnits<'a> {
    id: &'a str,
    units: Vec<(&'a [u8], String, u32, Option<u32>)>,
}

impl DocumentUnits<'_> {
    /// The unit ids of the document, raw, from one [`UnitIds`] (the engine's way: the
    /// document's share of the input hashed once).
    fn id_digests(&self) -> Vec<[u8; UNIT_ID_BYTES]> {
        let ids = UnitIds::new(self.id);
        self.units
            .iter()
            .map(|(_, path, occurrence, part)| ids.digest(path, *occurrence, *part))
            .collect()
    }

    /// The hashing floor of the document: every span's sha256 and every unit id, raw.
    fn floor(&self) -> Vec<([u8; 32], [u8; UNIT_ID_BYTES])> {
        let ids = UnitIds::new(self.id);
        self.units
            .iter()
            .map(|(span, path, occurrence, part)| {
                (
                    Sha256::digest(span).into(),
                    ids.digest(path, *occurrence, *part),
                )
            })
            .collect()
    }
}

impl<'a> CorpusUnits<'a> {
    fn cut(cutters: &HashMap<Kind, Cutter>, corpus: &'a [Doc]) -> Result<Self, String> {
        let chars: usize = corpus.iter().map(|d| d.text.chars().count()).sum();
        let units = cut_all(cutters, corpus)?;
        let count: usize = units.iter().map(Vec::len).sum::<usize>().max(1);
        let spans: Vec<&[u8]> = units
            .iter()
            .zip(corpus)
            .flat_map(|(units, doc)| {
                units
                    .iter()
                    .filter_map(|u| u.text(&doc.text).map(str::as_bytes))
            })
            .collect();
        let documents = units
            .iter()
            .zip(corpus)
            .map(|(units, doc)| DocumentUnits {
                id: &doc.id,
                units: units
                    .iter()
                    .zip(occurrences(units))
                    .map(|(u, occurrence)| {
                        let span = u.text(&doc.text).map(str::as_bytes).unwrap_or_default();
                        (span, u.path.as_str().to_owned(), occurrence, u.part)
                    })
                    .collect(),
            })
            .collect();
        Ok(Self {
            count,
            mean_chars: (chars / count).max(16),
            spans,
            documents,
        })
    }
}

/// Each unit's occurrence index: how many units before splitting had its path before it (what
/// its id is computed with).
fn occurrences(units: &[CutUnit]) -> Vec<u32> {
    let mut seen: HashMap<&str, u32> = HashMap::new();
    let mut current = 0;
    units
        .iter()
        .map(|unit| {
            if matches!(unit.part, None | Some(1)) {
                let count = seen.entry(&unit.path).or_default();
                current = *count;
                *count += 1;
            }
            current
        })
        .collect()
}

/// The peers' chunk capacities, recorded as settings. The peers cut as finely as we do: their
/// capacity is our mean unit size, in characters (they count characters). They are also
/// measured at our size limit, for reference.
fn peer_capacities(
    settings: &CutSettings,
    mean_unit_chars: usize,
    report: &mut Report,
) -> Vec<usize> {
    let capacity = settings.chunk_chars.unwrap_or(mean_unit_chars);
    let mut capacities = vec![capacity];
    let limit = usize::try_from(settings.max_unit_bytes).unwrap_or(usize::MAX);
    if limit != capacity {
        capacities.push(limit);
    }
    report.setting("peer_chunk_chars", capacity as u64);
    report.setting("peer_chunk_chars_reference", limit as u64);
    capacities
}

/// Our cut and what the figures compare it with.
struct OurTimes {
    /// iu-cutter's cut + sha256 per unit.
    cut: Measurement,
    /// A bare sha256 of every document.
    sha: Measurement,
    /// sha256 of each unit span and of each unit id's input, raw: the hashing floor.
    floor: Measurement,
}

/// Times our cut, the bare hash and the parts of our cost ([`time_parts`]), adds them to
/// `report` and notes where the cut's time goes.
fn measure_ours(
    cutters: &HashMap<Kind, Cutter>,
    corpus: &[Doc],
    units: &CorpusUnits<'_>,
    reps: usize,
    report: &mut Report,
) -> OurTimes {
    let bytes = total_bytes(corpus);
    let mut samples = time_parts(cutters, corpus, units, reps).into_iter();
    // Every figure here is of the whole corpus, timed by the next of the interleaved samples.
    let mut measured = |name: &str, what: &str| {
        Measurement::new(name, what, samples.next().unwrap_or_default()).bytes(bytes)
    };
    let cut = report.add(
        measured(
            "cut.iu_cutter",
            "iu-cutter cut + sha256 per unit (mixed corpus)",
        )
        .detail("units", units.count as u64)
        .detail("mean_unit_bytes", bytes / units.count as u64)
        .detail("mean_unit_chars", units.mean_chars as u64),
    );
    let sha = report.add(measured(
        "cut.bare_sha256",
        "bare sha256 of every document (mixed corpus)",
    ));
    // Hashing per unit: sha256 of exactly our units' spans, nothing else (each digest pays its
    // padding and finalisation, so many small spans cost more than one text).
    let spans = report.add(
        measured(
            "cut.per_unit_sha256",
            "sha256 of each of iu-cutter's unit spans alone (raw, no cut, no id, no hex)",
        )
        .detail("spans", units.spans.len() as u64),
    );
    let id_time = report.add(
        measured(
            "cut.unit_id_digests",
            "every unit id alone, raw (UnitIds::digest, one UnitIds per document)",
        )
        .detail("units", units.count as u64),
    );
    // The issue's hashing floor: both of the above, in one pass per document, raw. A cut that
    // hashes every unit and derives its id by hash cannot do less.
    let floor = report.add(
        measured(
            "cut.hashing_floor",
            "sha256 of each unit span + each unit id, raw, in one pass per document",
        )
        .detail("units", units.count as u64),
    );
    report.note(format!(
        "where the cut's time goes (medians, mixed corpus): cut + hash {:.1} ms = the hashing \
         floor {:.1} ms (sha256 of the spans {:.1} ms, unit ids {:.1} ms) + the rest (scan, \
         labels and paths, hex, allocation, checks) {:.1} ms",
        cut.median_s * 1e3,
        floor.median_s * 1e3,
        spans.median_s * 1e3,
        id_time.median_s * 1e3,
        (cut.median_s - floor.median_s) * 1e3
    ));
    OurTimes { cut, sha, floor }
}

/// The timing samples, interleaved so that their ratios hold: our cut + hash, a bare sha256 of
/// every document, sha256 of each unit span, every unit id, and both (the hashing floor).
fn time_parts(
    cutters: &HashMap<Kind, Cutter>,
    corpus: &[Doc],
    units: &CorpusUnits<'_>,
    reps: usize,
) -> Vec<Vec<f64>> {
    let CorpusUnits {
        spans, documents, ..
    } = units;
    time_interleaved(
        reps,
        vec![
            Box::new(|| Box::new(cut_all(cutters, corpus)) as Box<dyn Any>),
            Box::new(|| each(corpus, |d| Sha256::digest(d.text.as_bytes()))),
            Box::new(|| each(spans, |span| Sha256::digest(*span))),
            Box::new(|| each(documents, DocumentUnits::id_digests)),
            Box::new(|| each(documents, DocumentUnits::floor)),
        ],
    )
}

/// A workload's output: `work` of each of `items`, collected (so that none is optimised away).
fn each<T, R: 'static>(items: &[T], work: impl Fn(&T) -> R) -> Box<dyn Any> {
    Box::new(items.iter().map(work).collect::<Vec<_>>())
}

/// Measures the peers (text-splitter, and LangChain when it is set up) at `capacities` and adds
/// their figures against our cut, `ours`.
fn compare_with_peers(
    corpus: &[Doc],
    ours: &Measurement,
    capacities: &[usize],
    settings: &CutSettings,
    report: &mut Report,
) -> Result<(), String> {
    let bytes = total_bytes(corpus);
    let peers = text_splitter(corpus, bytes, capacities, settings.reps, report)?;
    peer_figure(
        report,
        ours,
        peers,
        "cut_vs_text_splitter",
        "cut + hash throughput vs text-splitter MarkdownSplitter",
        5.0,
        "",
    );
    let (peers, why, version) = langchain(corpus, bytes, capacities, settings, report)?;
    let figure = "cut + hash vs LangChain RecursiveCharacterTextSplitter";
    match why {
        Some(why) => {
            report.note(format!("LangChain skipped: {why}"));
            report.figure(Figure::skipped(
                "cut_vs_langchain",
                figure,
                "×",
                Bound::AtLeast,
                25.0,
                why,
            ));
        }
        None => peer_figure(
            report,
            ours,
            Ok(peers),
            "cut_vs_langchain",
            figure,
            25.0,
            &version,
        ),
    }
    Ok(())
}

/// One peer's figure: the first measurement is at the comparable capacity, any further one at
/// our size limit (quoted in the note). `Err` carries why the peer was skipped.
fn peer_figure(
    report: &mut Report,
    ours: &Measurement,
    peers: Result<Vec<(usize, Measurement)>, String>,
    key: &str,
    figure: &str,
    target: f64,
    version: &str,
) {
    let ratio = |peer: &Measurement| ours.bytes_per_s() / peer.bytes_per_s().max(f64::MIN_POSITIVE);
    let peers = match peers {
        Ok(peers) if !peers.is_empty() => peers,
        Ok(_) => return,
        Err(why) => {
            report.note(format!("{figure}: skipped: {why}"));
            report.figure(Figure::skipped(
                key,
                figure,
                "×",
                Bound::AtLeast,
                target,
                why,
            ));
            return;
        }
    };
    let mut note = String::new();
    for (i, (capacity, peer)) in peers.iter().enumerate() {
        let chunks = peer
            .detail
            .get("chunks")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or_default();
        if i == 0 {
            note.push_str(&format!(
                "{:.0} MB/s vs {:.1} MB/s at capacity {capacity} chars ({chunks} chunks vs {} units)",
                ours.bytes_per_s() / 1e6,
                peer.bytes_per_s() / 1e6,
                ours.detail
                    .get("units")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or_default()
            ));
        } else {
            note.push_str(&format!(
                "; at capacity {capacity} chars: {:.1} MB/s, {:.2}× ({chunks} chunks)",
                peer.bytes_per_s() / 1e6,
                ratio(peer)
            ));
        }
    }
    if !version.is_empty() {
        note.push_str(&format!("; {version}"));
    }
    let value = peers
        .first()
        .map(|(_, peer)| ratio(peer))
        .unwrap_or_default();
    report.figure(Figure::measured(
        key,
        figure,
        value,
        "×",
        Bound::AtLeast,
        target,
        note,
    ));
}

#[cfg(feature = "peers")]
fn text_splitter(
    corpus: &[Doc],
    bytes: u64,
    capacities: &[usize],
    reps: usize,
    report: &mut Report,
) -> Result<Result<Vec<(usize, Measurement)>, String>, String> {
    use text_splitter::{ChunkConfig, MarkdownSplitter};

    use crate::report::time;

    let mut out = Vec::new();
    for &capacity in capacities {
        let splitter = MarkdownSplitter::new(ChunkConfig::new(capacity).with_trim(false));
        let mut chunks = 0u64;
        for doc in corpus {
            let parts: Vec<&str> = splitter.chunks(&doc.text).collect();
            chunks += parts.len() as u64;
            if parts.concat() != doc.text {
                return Err(format!(
                    "text-splitter's MarkdownSplitter is not lossless on {} (trim is off)",
                    doc.id
                ));
            }
        }
        let m = report.add(
            Measurement::new(
                &format!("cut.text_splitter_{capacity}"),
                &format!(
                    "text-splitter 0.33 MarkdownSplitter, capacity {capacity} chars, trim off (mixed corpus)"
                ),
                time(reps, || {
                    corpus
                        .iter()
                        .map(|d| splitter.chunks(&d.text).collect::<Vec<&str>>())
                        .collect::<Vec<_>>()
                }),
            )
            .bytes(bytes)
            .detail("chunks", chunks)
            .detail("mean_chunk_bytes", bytes / chunks.max(1))
            .detail("capacity_chars", capacity as u64),
        );
        out.push((capacity, m));
    }
    Ok(Ok(out))
}

#[cfg(not(feature = "peers"))]
fn text_splitter(
    _corpus: &[Doc],
    _bytes: u64,
    _capacities: &[usize],
    _reps: usize,
    _report: &mut Report,
) -> Result<Result<Vec<(usize, Measurement)>, String>, String> {
    Ok(Err(
        "built without the `peers` feature (cargo xtask bench enables it)".to_owned(),
    ))
}

/// What the Python side prints.
#[derive(Debug, Deserialize)]
struct LangChainOutput {
    version: String,
    python: String,
    bytes: u64,
    results: Vec<LangChainResult>,
}

#[derive(Debug, Deserialize)]
struct LangChainResult {
    chunk_size: usize,
    chunks: u64,
    lossless: bool,
    samples_s: Vec<f64>,
}

/// LangChain's measurements, one per capacity; or why it was skipped; and its version.
type LangChainMeasured = (Vec<(usize, Measurement)>, Option<String>, String);

fn langchain(
    corpus: &[Doc],
    bytes: u64,
    capacities: &[usize],
    settings: &CutSettings,
    report: &mut Report,
) -> Result<LangChainMeasured, String> {
    let skipped = |why: String| Ok((Vec::new(), Some(why), String::new()));
    let Some(python) = &settings.python else {
        return skipped(
            "no Python environment with langchain-text-splitters (cargo xtask bench sets one up \
             in target/bench/venv when python3 with venv and pip is available)"
                .to_owned(),
        );
    };
    let manifest = write_corpus(corpus, &settings.corpus_dir)?;
    let script = settings.corpus_dir.join("langchain_split.py");
    std::fs::write(&script, LANGCHAIN_SCRIPT)
        .map_err(|e| format!("cannot write {}: {e}", script.display()))?;
    let sizes = capacities
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let output = Command::new(python)
        .arg(&script)
        .arg(&manifest)
        .arg(settings.reps.to_string())
        .arg(sizes)
        .output();
    let output = match output {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            return skipped(format!(
                "{} failed ({}): {}",
                python.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Err(e) => return skipped(format!("cannot run {}: {e}", python.display())),
    };
    let parsed: LangChainOutput = serde_json::from_slice(&output.stdout).map_err(|e| {
        format!(
            "cannot read the LangChain timings ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })?;
    if parsed.bytes != bytes {
        return Err(format!(
            "the Python side read {} bytes, the corpus has {bytes}",
            parsed.bytes
        ));
    }
    let mut out = Vec::new();
    for result in parsed.results {
        if !result.lossless {
            report.note(format!(
                "LangChain's RecursiveCharacterTextSplitter was not lossless on this corpus at \
                 chunk size {}",
                result.chunk_size
            ));
        }
        let m = report.add(
            Measurement::new(
                &format!("cut.langchain_{}", result.chunk_size),
                &format!(
                    "LangChain {} RecursiveCharacterTextSplitter, chunk size {} chars, split only (mixed corpus, Python {})",
                    parsed.version, result.chunk_size, parsed.python
                ),
                result.samples_s,
            )
            .bytes(bytes)
            .detail("chunks", result.chunks)
            .detail("mean_chunk_bytes", bytes / result.chunks.max(1))
            .detail("chunk_size_chars", result.chunk_size as u64)
            .detail("lossless", result.lossless)
            .detail("version", parsed.version.clone())
            .detail("python", parsed.python.clone()),
        );
        out.push((result.chunk_size, m));
    }
    let version = format!(
        "langchain-text-splitters {}, Python {}",
        parsed.version, parsed.python
    );
    Ok((out, None, version))
}

/// Writes the corpus as one file per document and a manifest listing them; returns the
/// manifest's path.
pub(crate) fn write_corpus(corpus: &[Doc], dir: &Path) -> Result<PathBuf, String> {
    let files_dir = dir.join("files");
    if files_dir.exists() {
        std::fs::remove_dir_all(&files_dir)
            .map_err(|e| format!("cannot clear {}: {e}", files_dir.display()))?;
    }
    std::fs::create_dir_all(&files_dir)
        .map_err(|e| format!("cannot create {}: {e}", files_dir.display()))?;
    let mut files = Vec::with_capacity(corpus.len());
    for doc in corpus {
        let path = files_dir.join(format!("{}.{}", doc.id, doc.kind.extension()));
        std::fs::write(&path, &doc.text)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        let absolute = std::fs::canonicalize(&path).unwrap_or(path);
        files.push(absolute.display().to_string());
    }
    let manifest = dir.join("manifest.json");
    let text = serde_json::json!({ "files": files }).to_string();
    std::fs::write(&manifest, text)
        .map_err(|e| format!("cannot write {}: {e}", manifest.display()))?;
    Ok(manifest)
}

fn linearity(
    cutters: &HashMap<Kind, Cutter>,
    big: &Doc,
    smalls: &[Doc],
    reps: usize,
    report: &mut Report,
) -> Result<(), String> {
    let cutter = cutters
        .get(&big.kind)
        .ok_or_else(|| "no cutter for the large document".to_owned())?;
    let big_units = cutter
        .cut(&big.id, &big.text)
        .map_err(|e| format!("{}: {e}", big.id))?
        .len();
    let small_units: usize = cut_all(cutters, smalls)?.iter().map(Vec::len).sum();
    let small_bytes = total_bytes(smalls);
    let mut samples = time_interleaved(
        reps,
        vec![
            Box::new(|| Box::new(cutter.cut(&big.id, &big.text)) as Box<dyn Any>),
            Box::new(|| Box::new(cut_all(cutters, smalls))),
        ],
    )
    .into_iter();
    let mut next = || samples.next().unwrap_or_default();
    let one = report.add(
        Measurement::new(
            "cut.one_large",
            &format!(
                "iu-cutter cut + hash, one {:.0} MB Vietnamese law",
                big.text.len() as f64 / 1e6
            ),
            next(),
        )
        .bytes(big.text.len() as u64)
        .detail("units", big_units as u64),
    );
    let many = report.add(
        Measurement::new(
            "cut.many_small",
            &format!(
                "iu-cutter cut + hash, {} Vietnamese laws of {:.0} KB",
                smalls.len(),
                small_bytes as f64 / smalls.len().max(1) as f64 / 1e3
            ),
            next(),
        )
        .bytes(small_bytes)
        .detail("units", small_units as u64),
    );
    report.figure(Figure::measured(
        "one_large_vs_many_small",
        &format!(
            "one {:.0} MB document vs {} × {:.0} KB (per byte)",
            big.text.len() as f64 / 1e6,
            smalls.len(),
            small_bytes as f64 / smalls.len().max(1) as f64 / 1e3
        ),
        one.bytes_per_s() / many.bytes_per_s().max(f64::MIN_POSITIVE),
        "×",
        Bound::AtLeast,
        0.8,
        format!(
            "{:.0} MB/s vs {:.0} MB/s",
            one.bytes_per_s() / 1e6,
            many.bytes_per_s() / 1e6
        ),
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{CorpusSpec, corpus};

    fn small_corpus() -> Vec<Doc> {
        corpus(&CorpusSpec::quick(11))
    }

    #[test]
    fn the_corpus_files_hold_the_documents_byte_for_byte() -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let docs = small_corpus();
        let manifest = write_corpus(&docs, dir.path())?;
        let listed: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(manifest).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        let files = listed["files"].as_array().cloned().unwrap_or_default();
        assert_eq!(files.len(), docs.len());
        for (file, doc) in files.iter().zip(&docs) {
            let path = file.as_str().unwrap_or_default();
            assert_eq!(
                std::fs::read_to_string(path).map_err(|e| e.to_string())?,
                doc.text
            );
        }
        Ok(())
    }

    /// The hashing floor hashes exactly what the cut hashes: its id digests are the cut's ids,
    /// its spans the cut's spans.
    #[test]
    fn the_hashing_floor_hashes_the_cuts_spans_and_id_inputs() -> Result<(), String> {
        let docs = small_corpus();
        let cutters = cutters(256)?;
        let cut = cut_all(&cutters, &docs)?;
        let units = CorpusUnits::cut(&cutters, &docs)?;
        assert_eq!(units.documents.len(), docs.len());
        for ((document, cut), doc) in units.documents.iter().zip(&cut).zip(&docs) {
            let floor = document.floor();
            assert_eq!(floor.len(), cut.len());
            assert_eq!(document.id_digests().len(), cut.len());
            for ((digest, id), unit) in floor.iter().zip(cut) {
                assert_eq!(id, unit.unit_id.as_bytes(), "{}: {unit:?}", doc.id);
                assert_eq!(digest, unit.sha256.as_bytes(), "{}: {unit:?}", doc.id);
            }
        }
        Ok(())
    }

    #[cfg(feature = "peers")]
    #[test]
    fn text_splitter_with_trim_off_is_lossless_on_the_corpus() {
        use text_splitter::{ChunkConfig, MarkdownSplitter};
        for capacity in [256, 1024, 4096] {
            let splitter = MarkdownSplitter::new(ChunkConfig::new(capacity).with_trim(false));
            for doc in small_corpus() {
                let chunks: Vec<&str> = splitter.chunks(&doc.text).collect();
                if doc.text.chars().count() > 2 * capacity {
                    assert!(chunks.len() > 1, "{}", doc.id);
                }
                assert_eq!(chunks.concat(), doc.text, "{} at {capacity}", doc.id);
            }
        }
    }
}
