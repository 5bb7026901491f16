//! The schema: this build's migrations applied in order, one transaction each, and checked
//! before every use (`connect` and `preflight` refuse a missing, older, newer or edited schema).

use sqlx::Pool;

use crate::adapter::AdapterResult;
use crate::error::{AdapterError, UnavailableKind};
use crate::sql::InitPlan;
use crate::sql::dialect::Dialect;
use crate::sql::error::sql;
use crate::sql::layout;
use crate::sql::migrations::{self, CREATE_MIGRATIONS_TABLE, MIGRATIONS, SCHEMA_VERSION};
use crate::sql::query::Fields;

/// Applied migrations as (version, checksum), in order; empty when the table does not exist.
async fn applied_migrations<D: Dialect>(
    conn: &mut D::Connection,
) -> AdapterResult<Vec<(i64, String)>> {
    let what = "reading the schema version";
    let table = layout::named("schema_migrations").map_err(sql(what))?;
    let exists = D::query(D::MIGRATIONS_TABLE_EXISTS)
        .bind(table)
        .fetch_one(conn)
        .await
        .and_then(|row| row.flag(0))
        .map_err(sql(what))?;
    if !exists {
        return Ok(Vec::new());
    }
    let rows = D::query("SELECT version, checksum FROM schema_migrations ORDER BY version")
        .fetch_all(conn)
        .await
        .map_err(sql(what))?;
    rows.iter()
        .map(|row| Ok((row.int(0)?, row.text(1)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(sql(what))
}

/// Compares applied migrations with this build's list, `text` giving this backend's text of a
/// migration.
fn schema_gap(
    applied: &[(i64, String)],
    text: impl Fn(&migrations::Migration) -> &'static str,
) -> Option<AdapterError> {
    let Some((latest, _)) = applied.last() else {
        return Some(AdapterError::unavailable(
            UnavailableKind::NeedsInit,
            "the database has no iu-cutter schema; run `iu-cutter init` on it first",
        ));
    };
    if *latest > i64::from(SCHEMA_VERSION) {
        return Some(newer_schema(*latest));
    }
    for (version, checksum) in applied {
        let known = MIGRATIONS.iter().find(|m| i64::from(m.version) == *version);
        match known {
            Some(migration) if migrations::checksum(text(migration)) == *checksum => {}
            _ => return Some(edited_schema(*version)),
        }
    }
    if *latest < i64::from(SCHEMA_VERSION) {
        return Some(AdapterError::unavailable(
            UnavailableKind::NeedsInit,
            format!(
                "the database schema is at version {latest}, older than this build's \
                 (version {SCHEMA_VERSION}); run `iu-cutter init` to upgrade it"
            ),
        ));
    }
    None
}

fn newer_schema(latest: i64) -> AdapterError {
    AdapterError::unavailable(
        UnavailableKind::NewerSchema,
        format!(
            "the database schema is at version {latest}, newer than this build of iu-cutter \
             (version {SCHEMA_VERSION}); use a newer iu-cutter"
        ),
    )
}

fn edited_schema(version: impl std::fmt::Display) -> AdapterError {
    AdapterError::unavailable(
        UnavailableKind::EditedSchema,
        format!(
            "schema migration {version} in the database differs from this build's; the schema \
             was changed outside iu-cutter"
        ),
    )
}

/// Fails unless the schema is exactly this build's.
pub(crate) async fn check_schema<D: Dialect>(pool: &Pool<D>) -> AdapterResult<()> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(sql("connecting to the database"))?;
    let applied = applied_migrations::<D>(&mut conn).await?;
    match schema_gap(&applied, D::migration_text) {
        None => Ok(()),
        Some(gap) => Err(gap),
    }
}

/// Applies every missing migration, each in its own transaction; returns the versions applied.
pub(crate) async fn migrate<D: Dialect>(pool: &Pool<D>) -> AdapterResult<Vec<u32>> {
    {
        let mut conn = pool.acquire().await.map_err(sql("connecting"))?;
        D::execute_script(&mut conn, CREATE_MIGRATIONS_TABLE)
            .await
            .map_err(sql("creating the schema_migrations table"))?;
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter() {
        if apply::<D>(pool, migration).await? {
            applied.push(migration.version);
        }
    }
    Ok(applied)
}

/// Applies `migration` in its own transaction unless it is recorded; whether it was applied.
async fn apply<D: Dialect>(
    pool: &Pool<D>,
    migration: &migrations::Migration,
) -> AdapterResult<bool> {
    let text = D::migration_text(migration);
    let checksum = migrations::checksum(text);
    let mut tx = D::begin_write(pool)
        .await
        .map_err(sql("starting a migration"))?;
    if let Some(lock) = D::LOCK_MIGRATIONS {
        D::query(lock)
            .execute(&mut tx)
            .await
            .map_err(sql("locking the schema_migrations table"))?;
    }
    let done = applied_migrations::<D>(&mut tx).await?;
    if let Some((latest, _)) = done.last()
        && *latest > i64::from(SCHEMA_VERSION)
    {
        return Err(newer_schema(*latest));
    }
    match done
        .iter()
        .find(|(v, _)| *v == i64::from(migration.version))
    {
        Some((_, recorded)) if *recorded == checksum => return Ok(false),
        Some(_) => return Err(edited_schema(migration.version)),
        None => {}
    }
    D::execute_script(&mut tx, text)
        .await
        .map_err(sql("applying a schema migration"))?;
    D::query(
        "INSERT INTO schema_migrations (version, description, checksum, applied_at) \
         VALUES ($1, $2, $3, CAST(CURRENT_TIMESTAMP AS TEXT))",
    )
    .bind(i64::from(migration.version))
    .bind(migration.description)
    .bind(checksum.as_str())
    .execute(&mut tx)
    .await
    .map_err(sql("recording a schema migration"))?;
    tx.commit()
        .await
        .map_err(sql("committing a schema migration"))?;
    Ok(true)
}

/// What `init` would do to this database, read without changing anything: the versions
/// applied, the migrations pending, and (on a database without iu-cutter's schema) the objects
/// of the same names that something else already created there.
pub(crate) async fn init_plan<D: Dialect>(pool: &Pool<D>) -> AdapterResult<InitPlan> {
    let mut conn = pool.acquire().await.map_err(sql("connecting"))?;
    let applied = applied_migrations::<D>(&mut conn).await?;
    if let Some((latest, _)) = applied.last()
        && *latest > i64::from(SCHEMA_VERSION)
    {
        return Err(newer_schema(*latest));
    }
    let pending: Vec<&migrations::Migration> = MIGRATIONS
        .iter()
        .filter(|m| !applied.iter().any(|(v, _)| *v == i64::from(m.version)))
        .collect();
    let what = "looking for tables in the way";
    let mut collisions = Vec::new();
    if applied.is_empty() {
        for (kind, name) in migrations::created_objects(MIGRATIONS.iter().map(D::migration_text)) {
            let name = layout::named(&name).map_err(sql(what))?;
            let taken = D::query(D::RELATION_EXISTS)
                .bind(name.as_str())
                .fetch_one(&mut *conn)
                .await
                .and_then(|row| row.flag(0))
                .map_err(sql(what))?;
            if taken {
                collisions.push(format!("{kind} {name}"));
            }
        }
    }
    Ok(InitPlan {
        applied: applied
            .iter()
            .filter_map(|(v, _)| u32::try_from(*v).ok())
            .collect(),
        pending: pending.iter().map(|m| (m.version, m.description)).collect(),
        creates: migrations::created_objects(pending.iter().map(|m| D::migration_text(m)))
            .into_iter()
            .map(|(kind, name)| Ok(format!("{kind} {}", layout::named(&name)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(sql(what))?,
        collisions,
        source_view: false,
        view: layout::named("active_units").map_err(sql(what))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(migration: &migrations::Migration) -> &'static str {
        migration.postgres
    }

    fn recorded(versions: &[u32]) -> Vec<(i64, String)> {
        versions
            .iter()
            .map(|v| {
                let text = MIGRATIONS
                    .iter()
                    .find(|m| m.version == *v)
                    .map_or("unknown", text);
                (i64::from(*v), migrations::checksum(text))
            })
            .collect()
    }

    /// The gap's kind (what callers act on) and message (what the operator reads).
    fn gap(applied: &[(i64, String)]) -> (UnavailableKind, String) {
        match schema_gap(applied, text) {
            Some(AdapterError::Unavailable(why)) => (why.kind, why.message),
            other => panic!("expected a gap, got {other:?}"),
        }
    }

    #[test]
    fn schema_gap_names_the_next_action() {
        let all: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert!(schema_gap(&recorded(&all), text).is_none());
        let (kind, missing) = gap(&[]);
        assert_eq!(kind, UnavailableKind::NeedsInit);
        assert!(missing.contains("run `iu-cutter init`"), "{missing}");
        let (kind, older) = gap(&recorded(&all[..all.len() - 1]));
        assert_eq!(kind, UnavailableKind::NeedsInit);
        assert!(older.contains("older than this build"), "{older}");
        let (kind, newer) = gap(&recorded(&[SCHEMA_VERSION + 1]));
        assert_eq!(kind, UnavailableKind::NewerSchema);
        assert!(newer.contains("newer than this build"), "{newer}");
        let mut edited = recorded(&all);
        edited[0].1 = "0".repeat(64);
        let (kind, edited) = gap(&edited);
        assert_eq!(kind, UnavailableKind::EditedSchema);
        assert!(edited.contains("changed outside iu-cutter"), "{edited}");
    }
}
