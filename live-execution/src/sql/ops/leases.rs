//! Run leases: one runner per run, expiring on the database's clock (never a runner's), so that
//! another runner may resume a run whose runner crashed. Journal state, never in the census.

use std::time::Duration;

use sqlx::{Pool, Transaction};

use crate::adapter::AdapterResult;
use crate::conflicts::lease_lost;
use crate::domain::{Lease, LeaseView, RunId, utc_millis};
use crate::error::AdapterError;
use crate::op::LeaseClaim;
use crate::sql::dialect::{Dialect, ForUpdate, for_update};
use crate::sql::error::sql;
use crate::sql::ops::row_by_key;
use crate::sql::query::Fields;

/// A run's lease: holder and expiry.
const LEASE: ForUpdate = for_update!("SELECT holder, expires_at_ms FROM run_leases WHERE run = $1");

/// A run's lease as a claimed mutation checks it: shared-locked where the backend locks rows, so
/// that a takeover (`acquire_lease` locks the row for update) waits for the claimed mutations
/// in flight and they cannot commit after it, while one holder's mutations still run side by
/// side.
const CLAIMED_LEASE: ForUpdate = ForUpdate::new(
    "SELECT holder, expires_at_ms FROM run_leases WHERE run = $1",
    "SELECT holder, expires_at_ms FROM run_leases WHERE run = $1 FOR SHARE",
);

/// Begins the write transaction of a call carrying `claim` (none: an ordinary write
/// transaction), and refuses with [`AdapterError::LeaseLost`] before anything is written unless
/// `claim.run`'s lease is its holder's and live on the database's clock, the one the lease
/// operations use. The check is inside the transaction, so the mutation that follows is applied
/// only under the lease it checked: SQLite's `BEGIN IMMEDIATE` holds the write lock from here to
/// commit, and PostgreSQL's shared row lock holds off any takeover until then.
pub(crate) async fn begin_claimed<D: Dialect>(
    pool: &Pool<D>,
    claim: Option<&LeaseClaim>,
    what: &'static str,
) -> AdapterResult<Transaction<'static, D>> {
    let mut tx = D::begin_write(pool).await.map_err(sql(what))?;
    if let Some(claim) = claim {
        check_claim::<D>(&mut tx, claim).await?;
    }
    Ok(tx)
}

/// Refuses, in its own transaction, a call carrying `claim` whose lease is not its holder's
/// live lease: for calls that are not claimed mutations (reads, and the writes that do not
/// change one run's state), which have nothing a lease protects to keep consistent with it.
pub(crate) async fn check_claim_alone<D: Dialect>(
    pool: &Pool<D>,
    claim: &LeaseClaim,
) -> AdapterResult<()> {
    let what = "checking a lease claim";
    let mut tx = D::begin_read(pool).await.map_err(sql(what))?;
    check_claim_in::<D>(&mut tx, claim, CLAIMED_LEASE.plain()).await?;
    tx.commit().await.map_err(sql(what))
}

/// Refuses `claim` unless its run's lease is its holder's and live (see [`begin_claimed`]).
async fn check_claim<D: Dialect>(
    conn: &mut D::Connection,
    claim: &LeaseClaim,
) -> AdapterResult<()> {
    check_claim_in::<D>(conn, claim, D::locked(&CLAIMED_LEASE)).await
}

/// The claim check, reading the lease with `statement`; the same findings, in the same words,
/// as the simulator's and as `renew_lease`'s.
async fn check_claim_in<D: Dialect>(
    conn: &mut D::Connection,
    claim: &LeaseClaim,
    statement: &'static str,
) -> AdapterResult<()> {
    let what = "checking a lease claim";
    let (lease, now) = read_lease::<D>(conn, &claim.run, statement, what).await?;
    held(&claim.run, &claim.holder, lease, now)
}

/// Refuses unless `holder` holds a live lease on `run`, given the lease row (holder, expiry) and
/// the database's now: the refusal every store words alike ([`lease_lost`]).
fn held(run: &RunId, holder: &str, lease: Option<(String, i64)>, now: i64) -> AdapterResult<()> {
    let lease = lease
        .as_ref()
        .map(|(current, expires)| (current.as_str(), ms(*expires)));
    lease_lost(run, holder, lease, ms(now)).map_or(Ok(()), Err)
}

fn lease_request<D: Dialect>(holder: &str, ttl: Duration) -> AdapterResult<i64> {
    if holder.is_empty() {
        return Err(AdapterError::Invalid(
            "a lease holder must not be empty".into(),
        ));
    }
    D::check_text("a lease holder", holder)?;
    let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    if ms <= 0 {
        return Err(AdapterError::Invalid(
            "a lease's time to live must be at least 1 ms".into(),
        ));
    }
    Ok(ms)
}

fn ms(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// The database's clock, in ms.
async fn now_ms<D: Dialect>(conn: &mut D::Connection, what: &'static str) -> AdapterResult<i64> {
    D::query(D::NOW_MS)
        .fetch_one(conn)
        .await
        .and_then(|row| row.int(0))
        .map_err(sql(what))
}

/// The lease row of `run` (holder, expiry) and the database's now, locked for update.
async fn lease_row<D: Dialect>(
    conn: &mut D::Connection,
    run: &RunId,
) -> AdapterResult<(Option<(String, i64)>, i64)> {
    read_lease::<D>(conn, run, D::locked(&LEASE), "reading a lease").await
}

/// The lease row of `run` (holder, expiry) as `statement` reads it, and the database's now.
async fn read_lease<D: Dialect>(
    conn: &mut D::Connection,
    run: &RunId,
    statement: &'static str,
    what: &'static str,
) -> AdapterResult<(Option<(String, i64)>, i64)> {
    let now = now_ms::<D>(conn, what).await?;
    let lease = match row_by_key::<D>(conn, statement, run.as_str(), what).await? {
        Some(row) => Some((
            row.text(0).map_err(sql(what))?,
            row.int(1).map_err(sql(what))?,
        )),
        None => None,
    };
    Ok((lease, now))
}

/// Every lease, with the database's now, from one snapshot.
pub(crate) async fn load_leases<D: Dialect>(pool: &Pool<D>) -> AdapterResult<LeaseView> {
    let what = "reading the leases";
    let mut tx = D::begin_read(pool).await.map_err(sql(what))?;
    let now = now_ms::<D>(&mut tx, what).await?;
    let rows = D::query("SELECT run, holder, expires_at_ms FROM run_leases ORDER BY run")
        .fetch_all(&mut tx)
        .await
        .map_err(sql(what))?;
    let mut leases = Vec::with_capacity(rows.len());
    for row in &rows {
        leases.push(Lease {
            run: RunId::new(row.text(0).map_err(sql(what))?),
            holder: row.text(1).map_err(sql(what))?,
            expires_at_ms: ms(row.int(2).map_err(sql(what))?),
        });
    }
    tx.commit().await.map_err(sql(what))?;
    Ok(LeaseView {
        now_ms: ms(now),
        leases,
    })
}

/// Sets `holder`'s lease on `run` to expire `ttl_ms` after the database's now, and commits: how
/// taking a lease and renewing one end.
async fn put_lease<D: Dialect>(
    mut tx: Transaction<'static, D>,
    run: &RunId,
    holder: &str,
    ttl_ms: i64,
    what: &'static str,
) -> AdapterResult<Lease> {
    let expires = D::query(D::PUT_LEASE)
        .bind(run.as_str())
        .bind(holder)
        .bind(ttl_ms)
        .fetch_one(&mut tx)
        .await
        .and_then(|row| row.int(0))
        .map_err(sql("writing a lease"))?;
    tx.commit().await.map_err(sql(what))?;
    Ok(Lease {
        run: run.clone(),
        holder: holder.to_owned(),
        expires_at_ms: ms(expires),
    })
}

/// Takes or extends a run's lease (see the trait).
pub(crate) async fn acquire_lease<D: Dialect>(
    pool: &Pool<D>,
    run: &RunId,
    holder: &str,
    ttl: Duration,
) -> AdapterResult<Lease> {
    let what = "taking a lease";
    let ttl_ms = lease_request::<D>(holder, ttl)?;
    D::check_text("a run id", run.as_str())?;
    let mut tx = D::begin_write(pool).await.map_err(sql(what))?;
    // Two runners inserting the first lease of a run at once serialise on the primary key.
    D::query(
        "INSERT INTO run_leases (run, holder, expires_at_ms) VALUES ($1, $2, 0) \
         ON CONFLICT (run) DO NOTHING",
    )
    .bind(run.as_str())
    .bind(holder)
    .execute(&mut tx)
    .await
    .map_err(sql(what))?;
    let (row, now) = lease_row::<D>(&mut tx, run).await?;
    if let Some((current, expires)) = row
        && current != holder
        && expires > now
    {
        return Err(AdapterError::LeaseHeld {
            run: run.clone(),
            holder: current,
            expires_at: utc_millis(ms(expires)),
        });
    }
    put_lease(tx, run, holder, ttl_ms, what).await
}

/// Extends a live lease of `holder` (see the trait).
pub(crate) async fn renew_lease<D: Dialect>(
    pool: &Pool<D>,
    run: &RunId,
    holder: &str,
    ttl: Duration,
) -> AdapterResult<Lease> {
    let what = "renewing a lease";
    let ttl_ms = lease_request::<D>(holder, ttl)?;
    let mut tx = D::begin_write(pool).await.map_err(sql(what))?;
    let (row, now) = lease_row::<D>(&mut tx, run).await?;
    held(run, holder, row, now)?;
    put_lease(tx, run, holder, ttl_ms, what).await
}

/// Ends `holder`'s lease; anything else passes unchanged (see the trait).
pub(crate) async fn release_lease<D: Dialect>(
    pool: &Pool<D>,
    run: &RunId,
    holder: &str,
) -> AdapterResult<()> {
    let what = "releasing a lease";
    let mut tx = D::begin_write(pool).await.map_err(sql(what))?;
    D::query("DELETE FROM run_leases WHERE run = $1 AND holder = $2")
        .bind(run.as_str())
        .bind(holder)
        .execute(&mut tx)
        .await
        .map_err(sql(what))?;
    tx.commit().await.map_err(sql(what))
}
