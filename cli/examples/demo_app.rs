//! The application of `cargo xtask demo`'s second part: a stand-in for a real user's program
//! that keeps its laws in its own SQLite table, `laws`, which iu-cutter attaches to through a
//! `[source]` mapping and only ever reads.
//!
//! ```text
//! demo_app create FILE DIR   # the table `laws`, one published row per file of DIR, and a draft
//! demo_app edit FILE ID TEXT # the application appends TEXT to law ID and moves its updated_at
//! demo_app read FILE         # what the application reads: reader contract v1, per document
//! ```
//!
//! iu-cutter never writes `laws`; this program is the only writer of it, as an application is.

use std::path::Path;
use std::process::ExitCode;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Row};

type Error = Box<dyn std::error::Error>;

/// The application's own table: it predates iu-cutter and knows nothing of it.
const CREATE: &str = "CREATE TABLE laws (\
    id INTEGER PRIMARY KEY, content TEXT NOT NULL, updated_at INTEGER NOT NULL, \
    status TEXT NOT NULL, title TEXT NOT NULL, lang TEXT NOT NULL)";

/// What an application runs to read the live units (README, "Reading the units"), one line per
/// document here.
const READ: &str = "SELECT document, generation, source_revision, stale, count(*) AS units, \
    json_extract(metadata, '$.title') AS title \
    FROM iu_cutter_active_units GROUP BY document, generation, source_revision, stale, metadata \
    ORDER BY document";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["create", file, dir] => create(file, Path::new(dir)).await,
        ["edit", file, id, text] => edit(file, id, text).await,
        ["read", file] => read(file).await,
        _ => Err("usage: demo_app create FILE DIR | edit FILE ID TEXT | read FILE".into()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo_app: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn open(file: &str, create: bool) -> Result<SqliteConnection, Error> {
    let options = SqliteConnectOptions::new()
        .filename(file)
        .create_if_missing(create);
    Ok(SqliteConnection::connect_with(&options).await?)
}

/// One published law per `.txt` file of `dir`, by name, titled by its first line; and one draft,
/// which the mapping's filter leaves out.
async fn create(file: &str, dir: &Path) -> Result<(), Error> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.retain(|p| p.extension().is_some_and(|e| e == "txt"));
    paths.sort();
    let mut conn = open(file, true).await?;
    sqlx::query(CREATE).execute(&mut conn).await?;
    let mut rows: Vec<(String, &str)> = Vec::new();
    for path in &paths {
        rows.push((std::fs::read_to_string(path)?, "published"));
    }
    rows.push((
        "DRAFT BILL\n\nArticle 1. Not yet published.\n".into(),
        "draft",
    ));
    for (id, (content, status)) in (1_i64..).zip(&rows) {
        let title = content.lines().next().unwrap_or_default().trim();
        sqlx::query(
            "INSERT INTO laws (id, content, updated_at, status, title, lang) \
             VALUES ($1, $2, 1, $3, $4, 'en')",
        )
        .bind(id)
        .bind(content)
        .bind(*status)
        .bind(title)
        .execute(&mut conn)
        .await?;
        println!("laws: row {id} ({status}): {title}");
    }
    Ok(())
}

/// The application edits law `id`: appends `text` and moves `updated_at`, as it would.
async fn edit(file: &str, id: &str, text: &str) -> Result<(), Error> {
    let id: i64 = id.parse()?;
    let mut conn = open(file, false).await?;
    let changed = sqlx::query(
        "UPDATE laws SET content = content || $2, updated_at = updated_at + 1 WHERE id = $1",
    )
    .bind(id)
    .bind(text)
    .execute(&mut conn)
    .await?
    .rows_affected();
    if changed != 1 {
        return Err(format!("no law {id}").into());
    }
    println!("laws: the application edited row {id}");
    Ok(())
}

/// Reads reader contract v1 as an application does, and prints a line per document.
async fn read(file: &str) -> Result<(), Error> {
    let mut conn = open(file, false).await?;
    println!("{READ};");
    for row in sqlx::query(READ).fetch_all(&mut conn).await? {
        let document: String = row.try_get("document")?;
        let generation: String = row.try_get("generation")?;
        let revision: Option<String> = row.try_get("source_revision")?;
        let stale: bool = row.try_get("stale")?;
        let units: i64 = row.try_get("units")?;
        let title: Option<String> = row.try_get("title")?;
        println!(
            "  law {document}: {units} units of generation {generation}, cut from revision {}{} \
             ({})",
            revision.as_deref().unwrap_or("-"),
            if stale { ", STALE" } else { "" },
            title.as_deref().unwrap_or("-"),
        );
    }
    Ok(())
}
