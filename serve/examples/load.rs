//! The load test of `iu-cutter serve` (`cargo xtask load`; not part of the test run): the
//! server on a fresh SQLite store holding the demo corpus (`examples/corpus`), a live run
//! executing (throttled so that it lasts a few seconds), and N concurrent readers (200 by
//! default), each following the run's events (`GET /runs/{id}/events`) and reading `GET /runs`
//! in a loop until the run ends. Prints, and writes to the file given as the first argument,
//! the latency percentiles of `/runs`, the time to the first byte of the event streams, the
//! events received and every error.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use iu_cutter_live_execution::{CutRules, DocumentId, Preset};
use iu_cutter_orchestrator::{RunOptions, Throttle};
use support::{Events, Server, TOKEN, request};

/// What one reader saw.
#[derive(Default)]
struct Reader {
    /// `/runs` requests: when each was sent, and its latency.
    lists: Vec<(Instant, Duration)>,
    /// Time to the event stream's head.
    connect: Option<Duration>,
    events: u64,
    finished: bool,
    errors: Vec<String>,
}

fn corpus(dir: &Path, base: &Path, into: &mut Vec<(DocumentId, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            corpus(&path, base, into);
        } else if let (Ok(body), Ok(id)) = (std::fs::read_to_string(&path), path.strip_prefix(base))
        {
            into.push((DocumentId::new(id.display().to_string()), body));
        }
    }
}

async fn reader(addr: std::net::SocketAddr, run: String) -> Reader {
    let mut seen = Reader::default();
    let started = Instant::now();
    let events_path = format!("/runs/{run}/events");
    let mut events = tokio::spawn(async move {
        let opened = Instant::now();
        let mut stream = Events::open(addr, &events_path).await;
        let connect = opened.elapsed();
        let mut count = 0u64;
        while let Some(event) = stream.next(Duration::from_secs(120)).await {
            count += 1;
            if event["event"] == "run_finished" {
                return (connect, count, true);
            }
        }
        (connect, count, false)
    });
    loop {
        let asked = Instant::now();
        let list = request(addr, "GET", "/runs", None, "").await;
        seen.lists.push((asked, asked.elapsed()));
        if list.status != 200 {
            seen.errors.push(format!("GET /runs: {}", list.status));
        }
        if events.is_finished() || started.elapsed() > Duration::from_secs(120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    match (&mut events).await {
        Ok((connect, count, finished)) => {
            seen.connect = Some(connect);
            seen.events = count;
            seen.finished = finished;
            if !finished {
                seen.errors
                    .push("the event stream ended without run_finished".into());
            }
        }
        Err(error) => seen.errors.push(format!("event stream: {error}")),
    }
    seen
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let out = std::env::args().nth(1).map(PathBuf::from);
    let readers: usize = std::env::var("IU_CUTTER_LOAD_READERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/corpus");
    let mut documents = Vec::new();
    corpus(&root, &root, &mut documents);
    let bytes: usize = documents.iter().map(|(_, b)| b.len()).sum();
    // Small batches with a pause: the run lasts long enough for every reader to follow it.
    let options = RunOptions::default()
        .with_batch_units(20)
        .with_throttle(Throttle {
            max_units_per_second: None,
            pause_between_batches: Duration::from_millis(100),
        });
    let server = Server::start_on(
        Some(TOKEN),
        true,
        options,
        documents.clone(),
        CutRules::preset(Preset::Auto),
    )
    .await;
    let addr = server.addr;
    // The run exists (held after backup) before the readers subscribe, then resumes under load.
    let first = server
        .post("/runs?mode=live&until=backup", r#"{"run":"load-1"}"#)
        .await;
    assert_eq!(first.status, 202, "{}", first.body);
    server.settled("load-1").await;

    let tasks: Vec<_> = (0..readers)
        .map(|_| tokio::spawn(reader(addr, "load-1".to_owned())))
        .collect();
    // Let every reader subscribe before the run goes on.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let began = Instant::now();
    let resumed = server.post("/runs/load-1/resume", "").await;
    assert_eq!(resumed.status, 202, "{}", resumed.body);
    let mut seen = Vec::new();
    for task in tasks {
        match task.await {
            Ok(reader) => seen.push(reader),
            Err(error) => seen.push(Reader {
                errors: vec![format!("reader task: {error}")],
                ..Reader::default()
            }),
        }
    }
    let run_took = began.elapsed();
    let detail = server.settled("load-1").await;
    let outcome = detail["report"]["outcome"]["name"]
        .as_str()
        .unwrap_or("none")
        .to_owned();

    let mut lists: Vec<Duration> = seen
        .iter()
        .flat_map(|r| r.lists.iter().map(|(_, d)| *d))
        .collect();
    lists.sort();
    // The requests sent while the run executed, apart from the opening burst of connections.
    let mut during: Vec<Duration> = seen
        .iter()
        .flat_map(|r| {
            r.lists
                .iter()
                .filter(|(at, _)| *at >= began)
                .map(|(_, d)| *d)
        })
        .collect();
    during.sort();
    let mut connects: Vec<Duration> = seen.iter().filter_map(|r| r.connect).collect();
    connects.sort();
    let errors: Vec<&String> = seen.iter().flat_map(|r| r.errors.iter()).collect();
    let finished = seen.iter().filter(|r| r.finished).count();
    let events: u64 = seen.iter().map(|r| r.events).sum();
    let report = format!(
        "iu-cutter serve load test (serve/examples/load.rs, dev profile: dependencies at \
         opt-level 2)\n\
         store: SQLite, {} documents of examples/corpus ({} bytes); run load-1 resumed after \
         backup, 20 units per batch, 100 ms pause per batch; outcome {outcome}; run took {}\n\
         readers: {readers}, each following GET /runs/load-1/events and polling GET /runs \
         every 100 ms until the run ended\n\
         GET /runs, all: {} requests; p50 {}, p90 {}, p99 {}, max {}\n\
         GET /runs while the run executed: {} requests; p50 {}, p90 {}, p99 {}, max {}\n\
         GET /runs/load-1/events: {} streams opened; head p50 {}, p99 {}, max {}; {finished} \
         of {readers} saw run_finished; {events} events received\n\
         errors: {}\n{}",
        documents.len(),
        bytes,
        ms(run_took),
        lists.len(),
        ms(percentile(&lists, 50.0)),
        ms(percentile(&lists, 90.0)),
        ms(percentile(&lists, 99.0)),
        ms(lists.last().copied().unwrap_or_default()),
        during.len(),
        ms(percentile(&during, 50.0)),
        ms(percentile(&during, 90.0)),
        ms(percentile(&during, 99.0)),
        ms(during.last().copied().unwrap_or_default()),
        connects.len(),
        ms(percentile(&connects, 50.0)),
        ms(percentile(&connects, 99.0)),
        ms(connects.last().copied().unwrap_or_default()),
        errors.len(),
        errors
            .iter()
            .take(10)
            .map(|e| format!("  {e}\n"))
            .collect::<String>(),
    );
    print!("{report}");
    if let Some(out) = out {
        if let Some(dir) = out.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(error) = std::fs::write(&out, &report) {
            eprintln!("cannot write {}: {error}", out.display());
        }
    }
    server.stop().await;
    if !errors.is_empty() {
        std::process::exit(1);
    }
}
