//! The adapter contract suite against PostgreSQL (a new schema per test, dropped at the end),
//! plus the checks only live stores have and PostgreSQL's connection errors. Needs
//! `IU_CUTTER_TEST_PG_URL`; without it every test says it is skipped (and fails in CI).

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::sql::{ConnectOptions, connect_with};
use iu_cutter_live_execution::{AdapterError, DocumentId, LiveExecutionAdapter, RunId};
use iu_cutter_test_env::{pg_url, unique_name};
use iu_cutter_tests::change_log::changed;
use iu_cutter_tests::contract::error;
use iu_cutter_tests::fixture::{
    Fixture, PgFixture, RawSql, SqlFixture, blocks, exec, must, open_gate, refused_connection,
};
use iu_cutter_tests::{ok, put};
use sqlx::Connection;

iu_cutter_tests::sql_store_suites!(iu_cutter_tests::fixture::postgres);
iu_cutter_tests::live_suite!(iu_cutter_tests::fixture::postgres);
iu_cutter_tests::no_clobber_suite!(iu_cutter_tests::fixture::postgres);

/// The checks below over a fresh PostgreSQL schema each, as the suites run theirs.
mod on_postgres {
    iu_cutter_tests::fixture_tests!(#[tokio::test] iu_cutter_tests::fixture::postgres
        => crate::contract_postgres, fixture;
        large_values_are_compressed_with_lz4_when_the_server_has_it,
        a_writer_that_began_before_the_mark_and_commits_after_it_is_listed,
        a_truncate_lists_every_document,
        a_rolled_back_write_leaves_no_stamp,
        a_renewal_queued_behind_its_holders_own_write_keeps_the_lease,
    );
}

/// An unreachable server is `Unavailable`, naming the redacted URL and what to check.
#[tokio::test]
async fn unreachable_server_is_unavailable_and_redacted() {
    let url = "postgres://iu_cutter:hunter2@127.0.0.1:1/nowhere";
    let text = refused_connection(&ConnectOptions::new(url), "unreachable").await;
    assert!(!text.contains("hunter2"), "{text}");
    assert!(
        text.contains("postgres://iu_cutter:***@127.0.0.1:1/nowhere"),
        "{text}"
    );
    assert!(text.contains("check the URL"), "{text}");
}

/// A URL that asks for TLS gets it: a store is created and opened over `sslmode=require`. With
/// the test certificates (`IU_CUTTER_TEST_PG_TLS`), `verify-full` against a CA that signed
/// nothing the server uses is `Unavailable`, saying what to check, without the password.
#[tokio::test]
async fn a_url_asking_for_tls_gets_it_and_a_wrong_ca_is_refused() {
    use sqlx::Connection as _;
    let Some(url) = pg_url("a_url_asking_for_tls_gets_it_and_a_wrong_ca_is_refused") else {
        return;
    };
    let separator = if url.contains('?') { '&' } else { '?' };
    let schema = unique_name("t");
    let options =
        ConnectOptions::new(format!("{url}{separator}sslmode=require")).with_pg_schema(&schema);
    let created = iu_cutter_live_execution::sql::init_with(&options).await;
    let opened = match &created {
        Ok(_) => connect_with(&options, open_gate()).await.map(|_| ()),
        Err(_) => Ok(()),
    };
    if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE"
        )))
        .execute(&mut conn)
        .await;
        let _ = conn.close().await;
    }
    assert!(created.is_ok(), "init over TLS: {created:?}");
    assert!(opened.is_ok(), "connect over TLS: {opened:?}");

    let test = "a_url_asking_for_tls_gets_it_and_a_wrong_ca_is_refused (wrong CA)";
    let Some(dir) = iu_cutter_test_env::required(test, &[iu_cutter_test_env::PG_TLS]) else {
        return;
    };
    let other = std::path::Path::new(&dir[0]).join("other-ca.crt");
    let wrong = format!(
        "{url}{separator}sslmode=verify-full&sslrootcert={}",
        other.display()
    );
    let text = refused_connection(&ConnectOptions::new(wrong), "wrong CA").await;
    assert!(text.contains("not signed by a CA"), "{text}");
    assert!(
        text.contains("sslmode=verify-full (from the URL)"),
        "{text}"
    );
    if let Some(password) = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password)
    {
        assert!(!text.contains(&format!(":{password}@")), "{text}");
    }
}

/// A wrong password is `Unavailable`, and the message does not repeat it.
#[tokio::test]
async fn wrong_password_is_unavailable_and_redacted() {
    let Some(url) = pg_url("wrong_password_is_unavailable_and_redacted") else {
        return;
    };
    let Some((scheme_user, rest)) = url.split_once('@') else {
        eprintln!("skipped: the test URL has no credentials to get wrong");
        return;
    };
    let user = scheme_user.split(':').take(2).collect::<Vec<_>>().join(":");
    let wrong = format!("{user}:Wr0ngSecret@{rest}");
    let err = refused_connection(&ConnectOptions::new(wrong), "wrong password").await;
    assert!(!err.contains("Wr0ngSecret"), "{err}");
}

/// A LATIN1 database cannot hold Vietnamese text: storing it is refused as invalid input whose
/// message names the encodings and says what to do (keep to the database's characters, or a
/// UTF8 database), not as a bare database error.
#[tokio::test]
async fn a_text_outside_the_databases_encoding_is_refused_naming_it() {
    let Some(url) = pg_url("a_text_outside_the_databases_encoding_is_refused_naming_it") else {
        return;
    };
    let database = unique_name("latin1");
    let mut admin = ok_connect(&url).await;
    must(
        &mut admin,
        &format!(
            "CREATE DATABASE {database} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' \
             TEMPLATE template0"
        ),
    )
    .await;
    let (base, query) = url.split_once('?').unwrap_or((&url, ""));
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    let latin1 = format!("{server}/{database}?{query}");
    let stored = async {
        let options = ConnectOptions::new(latin1);
        iu_cutter_live_execution::sql::init_with(&options).await?;
        let store = connect_with(&options, open_gate()).await?;
        store
            .put_document(&DocumentId::new("luat/1"), "Điều 1. Phạm vi điều chỉnh")
            .await
    }
    .await;
    let dropped = exec(
        &mut admin,
        &format!("DROP DATABASE {database} WITH (FORCE)"),
    )
    .await;
    let _ = admin.close().await;
    let Err(AdapterError::Invalid(text)) = stored else {
        panic!("expected an invalid-input refusal, got {stored:?}");
    };
    assert!(text.contains("LATIN1"), "{text}");
    assert!(text.contains("UTF8 database"), "{text}");
    assert!(text.contains("nothing of this call was changed"), "{text}");
    assert!(dropped.is_ok(), "dropping the test database: {dropped:?}");
}

/// A connection to `url`, or a failed test.
async fn ok_connect(url: &str) -> sqlx::PgConnection {
    match sqlx::PgConnection::connect(url).await {
        Ok(conn) => conn,
        Err(e) => panic!("connect: {e}"),
    }
}

/// A schema `init` never ran on is refused with the next action.
#[tokio::test]
async fn connect_without_the_schema_says_run_init() {
    let Some(url) = pg_url("connect_without_the_schema_says_run_init") else {
        return;
    };
    let options = ConnectOptions::new(url).with_pg_schema(unique_name("t"));
    let err = refused_connection(&options, "no schema").await;
    assert!(err.contains("run `iu-cutter init`"), "{err}");
    let bad = options.clone().with_pg_schema("x; DROP TABLE documents");
    error(
        connect_with(&bad, open_gate()).await,
        |e| matches!(e, AdapterError::Invalid(_)),
        "unsafe schema name",
    );
}

/// Migration 4: plans, document bodies and reports are compressed with lz4 when the server was
/// built with it (pglz, the default, is several times slower on megabytes of plan).
pub(crate) async fn large_values_are_compressed_with_lz4_when_the_server_has_it(
    fixture: &PgFixture,
) {
    let Some(schema) = fixture.options().pg_schema.clone() else {
        panic!("the fixture has no schema");
    };
    let mut conn = match sqlx::PgConnection::connect(&fixture.options().url).await {
        Ok(conn) => conn,
        Err(e) => panic!("connect: {e}"),
    };
    let has_lz4: bool = match sqlx::query_scalar(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'",
    )
    .fetch_one(&mut conn)
    .await
    {
        Ok(has) => has,
        Err(e) => panic!("pg_settings: {e}"),
    };
    let methods: Vec<(String, String)> = match sqlx::query_as(
        "SELECT c.relname::text || '.' || a.attname::text, a.attcompression::text \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         WHERE c.relnamespace = to_regnamespace($1) \
         AND (c.relname, a.attname) IN (('run_plans', 'plan'), ('documents', 'body'), \
         ('run_reports', 'report')) ORDER BY 1",
    )
    .bind(&schema)
    .fetch_all(&mut conn)
    .await
    {
        Ok(methods) => methods,
        Err(e) => panic!("pg_attribute: {e}"),
    };
    let method = if has_lz4 { "l" } else { "" };
    assert_eq!(
        methods,
        [
            ("documents.body", method),
            ("run_plans.plan", method),
            ("run_reports.report", method)
        ]
        .map(|(column, method)| (column.to_owned(), method.to_owned()))
    );
    let _ = conn.close().await;
}

/// The commit-order case: transaction ids are not given out in commit order, so a writer that
/// began before a scope census's mark and commits after it (its id below one the census saw
/// committed) is still listed by `changed_since`, and the later writer the census did see is
/// not.
pub(crate) async fn a_writer_that_began_before_the_mark_and_commits_after_it_is_listed(
    fixture: &PgFixture,
) {
    let (a, b) = a_and_b(fixture).await;
    let store: &dyn LiveExecutionAdapter = fixture.adapter();

    let mut writer = fixture.connection().await;
    let run = |statement: &'static str| sqlx::query(statement);
    let step = |result: Result<sqlx::postgres::PgQueryResult, sqlx::Error>, what: &str| {
        if let Err(e) = result {
            panic!("{what}: {e}");
        }
    };
    step(run("BEGIN").execute(&mut writer).await, "begin A");
    step(
        run("UPDATE units SET body = body WHERE document = 'none'")
            .execute(&mut writer)
            .await,
        "A touches nothing yet",
    );
    step(
        run("UPDATE documents SET revision = revision + 1 WHERE id = 'a'")
            .execute(&mut writer)
            .await,
        "A writes",
    );
    // B begins after A (a larger transaction id) and commits before the mark: the census sees it.
    ok(
        store.put_document(&b, "Điều 1. B, again.").await,
        "B writes",
    );
    let census = ok(
        store.scope_census(&[a.clone(), b.clone()]).await,
        "scope census",
    );
    step(run("COMMIT").execute(&mut writer).await, "commit A");
    let _ = writer.close().await;

    assert_eq!(
        changed(store, &census.mark).await,
        vec![a.clone()],
        "A committed after the mark: listed; B before it: not"
    );
    let whole = ok(store.census().await, "census");
    assert_ne!(
        census.census.per_document.get(&a),
        whole.per_document.get(&a),
        "the census did not see A"
    );
    assert_eq!(
        census.census.per_document.get(&b),
        whole.per_document.get(&b)
    );
}

/// The change log is this store's whatever the writer's `search_path`: an application session
/// whose path names another iu-cutter store (or no store at all) and that writes this store's
/// tables by their qualified names stamps this store's log, and leaves the other store's alone.
/// Through the writer's path, the first write stamped the other store's log (this store's
/// `changed_since` missed it) and the second failed ("document_changes does not exist").
#[tokio::test]
async fn a_writer_whose_search_path_names_another_store_stamps_this_stores_log() {
    let name = "a_writer_whose_search_path_names_another_store_stamps_this_stores_log";
    let Some(this) = iu_cutter_tests::fixture::postgres(name).await else {
        return;
    };
    let (a, b) = a_and_b(&this).await;
    let Some(other) = iu_cutter_tests::fixture::postgres(name).await else {
        return;
    };
    let store: &dyn LiveExecutionAdapter = this.adapter();
    ok(
        other.adapter().put_document(&a, "Điều 1. A, there.").await,
        "put a there",
    );
    let schema = this.options().pg_schema.clone().unwrap_or_default();
    let census = ok(store.scope_census(&[]).await, "mark");
    let other_census = ok(other.adapter().scope_census(&[]).await, "the other's mark");

    // A session in the other store's schema, writing this store's document `a` by name.
    let mut writer = other.connection().await;
    execute_each(
        &mut writer,
        [format!(
            "UPDATE {schema}.documents SET revision = revision + 1 WHERE id = 'a'"
        )],
    )
    .await;
    let _ = writer.close().await;
    assert_eq!(
        changed(store, &census.mark).await,
        vec![a.clone()],
        "this store's log lists its document"
    );
    assert_eq!(
        changed(other.adapter(), &other_census.mark).await,
        [],
        "the other store's log is left alone"
    );

    // A session whose path names no store at all (the server's default).
    let url = iu_cutter_test_env::pg_url(name).unwrap_or_default();
    let mut writer = match sqlx::PgConnection::connect(&url).await {
        Ok(conn) => conn,
        Err(e) => panic!("connect: {e}"),
    };
    execute_each(
        &mut writer,
        [format!("DELETE FROM {schema}.documents WHERE id = 'b'")],
    )
    .await;
    let _ = writer.close().await;
    assert_eq!(changed(store, &census.mark).await, vec![a, b]);
    other.finish().await;
    this.finish().await;
}

/// TRUNCATE fires no row or transition-table trigger, yet empties a table every census covers
/// (a store's owner may run it): the change log lists every document it knows of, as the whole
/// census, which saw the store emptied, would have. Before, nothing was listed.
pub(crate) async fn a_truncate_lists_every_document(fixture: &PgFixture) {
    let store: &dyn LiveExecutionAdapter = fixture.adapter();
    let (a, b) = (DocumentId::new("a"), DocumentId::new("b"));
    let a_doc = ok(
        store.put_document(&a, "Điều 1. A.\nĐiều 2. A.\n").await,
        "put a",
    );
    ok(store.put_document(&b, "Điều 1. B.").await, "put b");
    iu_cutter_tests::contract::cut(store, &RunId::new("r1"), &[a_doc], 2).await;

    let census = ok(store.scope_census(&[]).await, "mark");
    fixture.execute_raw("TRUNCATE units", &[]).await;
    assert_eq!(
        changed(store, &census.mark).await,
        vec![a.clone(), b.clone()],
        "every document the log knows"
    );
    let census = ok(store.scope_census(&[]).await, "mark");
    fixture
        .execute_raw("TRUNCATE documents, generations", &[])
        .await;
    assert_eq!(changed(store, &census.mark).await, vec![a, b]);
}

/// A stamp is part of its writer's transaction: a transaction rolled back, or a savepoint
/// rolled back inside one that commits, leaves nothing listed (no stamp that would block every
/// later run), and a savepoint released into a commit is listed.
pub(crate) async fn a_rolled_back_write_leaves_no_stamp(fixture: &PgFixture) {
    let (_, b) = a_and_b(fixture).await;
    let store: &dyn LiveExecutionAdapter = fixture.adapter();
    let census = ok(store.scope_census(&[]).await, "mark");

    let mut writer = fixture.connection().await;
    let statements = [
        "BEGIN",
        "UPDATE documents SET revision = revision + 1",
        "ROLLBACK",
        "BEGIN",
        "SAVEPOINT s",
        "DELETE FROM documents WHERE id = 'a'",
        "ROLLBACK TO SAVEPOINT s",
        "SAVEPOINT t",
        "UPDATE documents SET revision = revision + 1 WHERE id = 'b'",
        "RELEASE SAVEPOINT t",
        "COMMIT",
    ];
    execute_each(&mut writer, statements.map(str::to_owned)).await;
    let _ = writer.close().await;
    assert_eq!(
        changed(store, &census.mark).await,
        vec![b],
        "only the savepoint released into a commit"
    );
}

/// A live runner's renewal that queues behind the runner's own claimed write (a fence held up
/// by the application's lock on a document, as on a live database) must still extend the lease:
/// no other runner could take the run meanwhile (a takeover waits for that write too), so the
/// lease was never free. The claimed write's shared lock on the lease row held the renewal up,
/// and the renewal found the lease expired once it got the row, so the live runner lost its
/// lease and stopped, FAILED, with nobody else about.
pub(crate) async fn a_renewal_queued_behind_its_holders_own_write_keeps_the_lease(
    fixture: &PgFixture,
) {
    use iu_cutter_live_execution::{Claimed, ExpectedRevision, LeaseClaim, RunRecord, Scope};
    use iu_cutter_live_execution::{CutRules, Preset};
    let run = RunId::new("r-own");
    let ttl = std::time::Duration::from_secs(1);
    let store = fixture.shared();
    let a = put(store.as_ref(), "a", "Điều 1. A.").await;
    ok(
        store
            .begin_run(&RunRecord::new(
                run.clone(),
                Scope::All,
                CutRules::preset(Preset::LegalVi),
            ))
            .await,
        "begin_run",
    );
    let first = ok(store.acquire_lease(&run, "live", ttl).await, "lease");
    let mut application = fixture
        .holding("SELECT 1 FROM documents WHERE id = 'a' FOR UPDATE")
        .await;
    let fencing = tokio::spawn({
        let claimed = Claimed::new(
            store.clone(),
            LeaseClaim {
                run: run.clone(),
                holder: "live".to_owned(),
            },
        );
        let (run, expected) = (run.clone(), ExpectedRevision::of(&a));
        async move { claimed.fence(&run, &[expected]).await }
    });
    blocks(&mut application, 1, || fencing.is_finished()).await;
    let renewing = tokio::spawn({
        let (store, run) = (store.clone(), run.clone());
        // Renewed for long, so that a renewal that got through keeps the lease to the end.
        async move { store.renew_lease(&run, "live", ttl * 60).await }
    });
    blocks(&mut application, 2, || renewing.is_finished()).await;
    // The fence waits (and the renewal behind it did, or got through): let the lease as taken
    // expire on the database's clock.
    let expired = format!(
        "SELECT {} < CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT)",
        first.expires_at_ms
    );
    loop {
        match sqlx::query_scalar::<_, bool>(sqlx::AssertSqlSafe(expired.clone()))
            .fetch_one(&mut application)
            .await
        {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => panic!("reading the expiry: {e}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    must(&mut application, "COMMIT").await;
    match fencing.await {
        Ok(fenced) => ok(fenced, "the holder's fence"),
        Err(e) => panic!("the fence task: {e}"),
    };
    let renewed = match renewing.await {
        Ok(renewed) => renewed,
        Err(e) => panic!("the renewal task: {e}"),
    };
    assert!(
        renewed.is_ok(),
        "the live holder's renewal behind its own write must keep the lease, got {renewed:?}"
    );
    match store.acquire_lease(&run, "other", ttl).await {
        Err(AdapterError::LeaseHeld { holder, .. }) => assert_eq!(holder, "live"),
        other => panic!("the live holder must keep the lease, got {other:?}"),
    }
}

/// Puts the documents `a` and `b`, one article each, for the change-log cases: their ids.
async fn a_and_b(fixture: &PgFixture) -> (DocumentId, DocumentId) {
    let (a, b) = (DocumentId::new("a"), DocumentId::new("b"));
    for (document, body) in [(&a, "Điều 1. A."), (&b, "Điều 1. B.")] {
        iu_cutter_tests::ok(fixture.adapter().put_document(document, body).await, "put");
    }
    (a, b)
}

/// Runs each statement on `writer`, as another session of the application would, naming the
/// one that failed.
async fn execute_each(
    writer: &mut sqlx::PgConnection,
    statements: impl IntoIterator<Item = String>,
) {
    for statement in statements {
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&mut *writer)
            .await
        {
            panic!("{statement}: {e}");
        }
    }
}

// The change log's checks that need PostgreSQL's concurrency (see each in
// `iu_cutter_tests::change_log`).
iu_cutter_tests::fixture_tests!(#[tokio::test] iu_cutter_tests::fixture::postgres
    => iu_cutter_tests::change_log, fixture;
    an_edit_committing_across_the_backup_census_stays_listed,
);
iu_cutter_tests::fixture_tests!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    iu_cutter_tests::fixture::postgres => iu_cutter_tests::change_log, fixture;
    an_edit_racing_the_rollback_stays_listed,
    an_edit_racing_the_fence_stays_listed,
);
