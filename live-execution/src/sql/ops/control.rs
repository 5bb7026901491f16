//! The shared control row: a kill-switch source every runner on the database reads at every
//! check (`sql::ControlRow`), set by the program's `control` command.

use sqlx::Pool;

use crate::adapter::AdapterResult;
use crate::error::AdapterError;
use crate::sql::ControlState;
use crate::sql::dialect::Dialect;
use crate::sql::error::sql;
use crate::sql::query::Fields;

/// Reads the control row.
pub(crate) async fn control_state<D: Dialect>(pool: &Pool<D>) -> AdapterResult<ControlState> {
    let what = "reading the control row";
    let mut conn = pool.acquire().await.map_err(sql(what))?;
    let row = D::query("SELECT execution_enabled, reason, updated_at FROM control WHERE id = 1")
        .fetch_optional(&mut conn)
        .await
        .map_err(sql(what))?;
    let Some(row) = row else {
        return Err(AdapterError::NotFound("the control row".to_owned()));
    };
    Ok(ControlState {
        execution_enabled: row.flag(0).map_err(sql(what))?,
        reason: row.text(1).map_err(sql(what))?,
        updated_at: row.text(2).map_err(sql(what))?,
    })
}

/// Sets (or restores) the control row.
pub(crate) async fn set_control<D: Dialect>(
    pool: &Pool<D>,
    enabled: bool,
    reason: &str,
) -> AdapterResult<ControlState> {
    let what = "setting the control row";
    D::check_text("the reason", reason)?;
    let mut conn = pool.acquire().await.map_err(sql(what))?;
    D::query(
        "INSERT INTO control (id, execution_enabled, reason, updated_at) \
         VALUES (1, $1, $2, CAST(CURRENT_TIMESTAMP AS TEXT)) \
         ON CONFLICT (id) DO UPDATE SET execution_enabled = excluded.execution_enabled, \
         reason = excluded.reason, updated_at = excluded.updated_at",
    )
    .bind(enabled)
    .bind(reason)
    .execute(&mut conn)
    .await
    .map_err(sql(what))?;
    drop(conn);
    control_state(pool).await
}
