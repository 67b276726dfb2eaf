//! PostgreSQL's datasource check: what "Check datasource" tries, in words.
use super::*;

impl PgTarget {
    pub(super) async fn run_check(&self) -> CheckReport {
        let s = &self.settings;
        let port = s.port_or_default();
        let all = CHECKS;
        let mut results = vec![tcp_probe(&s.host, port).await];
        let mut report = CheckReport {
            results: Vec::new(),
            server_version: None,
            writer_mode: None,
        };
        if results[0].status != datenator_shared::datasource::CheckStatus::Ok {
            skip_rest(&mut results, &all, "the host is not reachable");
            report.results = results;
            return report;
        }
        let mut conn = match PgConnection::connect_with(&admin_options(s)).await {
            Ok(c) => c,
            Err(e) => {
                let code = e
                    .as_database_error()
                    .and_then(|d| d.code())
                    .map(|c| c.to_string());
                let refused = match code.as_deref() {
                    Some("3D000") => LoginRefused::NoDatabase {
                        fix: format!(
                            "CREATE DATABASE {};  -- or correct the database name",
                            q(&s.database)
                        ),
                    },
                    Some("42501") => LoginRefused::DatabaseDenied {
                        message: format!(
                            "database {} exists, but user {} may not connect to it: {}",
                            s.database,
                            s.user,
                            db_message(&e)
                        ),
                        fix: format!(
                            "GRANT CONNECT ON DATABASE {} TO {};",
                            q(&s.database),
                            q(&s.user)
                        ),
                    },
                    Some("28P01") | Some("28000") => LoginRefused::Rejected {
                        fix: "check the user name and password; the server's pg_hba.conf must allow this user from this host",
                    },
                    _ => LoginRefused::Other,
                };
                login_refused(&mut results, &all, s, &e, refused);
                report.results = results;
                return report;
            }
        };
        results.extend(logged_in(s));
        match sqlx::query(
            "SELECT current_setting('server_version_num')::int, current_setting('server_version')",
        )
        .fetch_one(&mut conn)
        .await
        {
            Ok(row) => {
                let num: i32 = row.get(0);
                let text: String = row.get(1);
                report.server_version = Some(format!("PostgreSQL {text}"));
                if num >= 90600 {
                    results.push(ok(
                        CheckKind::ServerVersion,
                        format!("PostgreSQL {text} is supported"),
                    ));
                } else {
                    results.push(failed(
                        CheckKind::ServerVersion,
                        format!("PostgreSQL {text} is too old; Datenator needs 9.6 or newer"),
                        "upgrade the server to PostgreSQL 9.6 or newer",
                    ));
                }
            }
            Err(e) => results.push(failed(
                CheckKind::ServerVersion,
                format!("could not read the server version: {e}"),
                "check that the user may run SELECT current_setting('server_version_num')",
            )),
        }
        let privs = sqlx::query(
            "SELECT r.rolsuper, r.rolcreaterole, has_database_privilege(current_database(), 'CREATE') FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
        )
        .fetch_one(&mut conn)
        .await;
        let (superuser, createrole, create_db) = match privs {
            Ok(r) => (
                r.get::<bool, _>(0),
                r.get::<bool, _>(1),
                r.get::<bool, _>(2),
            ),
            Err(_) => (false, false, false),
        };
        if superuser || create_db {
            results.push(ok(CheckKind::CreateSchema, "the user may create schemas"));
        } else {
            results.push(failed(
                CheckKind::CreateSchema,
                format!(
                    "user {} may not create schemas in database {}",
                    s.user, s.database
                ),
                format!(
                    "GRANT CREATE ON DATABASE {} TO {};",
                    q(&s.database),
                    q(&s.user)
                ),
            ));
        }
        if superuser || createrole {
            report.writer_mode = Some(SyncWriterMode::SyncUser);
            results.push(ok(
                CheckKind::CreateUser,
                "the user may create the sync role; the engine will write as that role",
            ));
        } else {
            report.writer_mode = Some(SyncWriterMode::SessionMarking);
            results.push(warning(
                CheckKind::CreateUser,
                format!(
                    "user {} may not create roles: no sync role will be created; the engine will write as {} and mark its session (SET datenator.origin = 'sync'), which the triggers honour",
                    s.user, s.user
                ),
                format!("ALTER ROLE {} CREATEROLE;  -- to use a dedicated sync role instead", q(&s.user)),
            ));
        }
        if superuser || create_db {
            results.push(self.probe_triggers(&mut conn).await);
        } else {
            skip_rest(&mut results, &all, "the user may not create schemas");
        }
        let _ = conn.close().await;
        report.results = results;
        report
    }

    /// Creates a schema, table, trigger function and trigger in a transaction that is
    /// rolled back.
    pub(super) async fn probe_triggers(
        &self,
        conn: &mut PgConnection,
    ) -> datenator_shared::datasource::CheckResult {
        let probe = format!("_datenator_probe_{}", claim_token().replace('-', ""));
        let sql = format!(
            "CREATE SCHEMA {s}; CREATE TABLE {s}.t (id int); CREATE FUNCTION {s}.f() RETURNS trigger LANGUAGE plpgsql AS $p$ BEGIN RETURN NULL; END $p$; CREATE TRIGGER tr AFTER INSERT ON {s}.t FOR EACH ROW EXECUTE PROCEDURE {s}.f();",
            s = q(&probe)
        );
        let res = async {
            let mut tx = conn.begin().await?;
            let r = tx.execute(sqlx::raw_sql(AssertSqlSafe(sql))).await;
            tx.rollback().await?;
            r.map(|_| ())
        }
        .await;
        match res {
            Ok(()) => ok(
                CheckKind::CreateTrigger,
                "the user may create tables, PL/pgSQL functions and triggers",
            ),
            Err(e) => failed(
                CheckKind::CreateTrigger,
                format!("creating a trigger failed: {}", db_message(&e)),
                "CREATE EXTENSION IF NOT EXISTS plpgsql;  -- and make sure the user may create functions and triggers",
            ),
        }
    }

    /// Whether `c` still logs in (then re-generating keeps the password the engine uses).
    pub(super) async fn sync_login_works(&self, c: &SyncCredentials) -> bool {
        let opts = admin_options(&self.settings)
            .username(&c.user)
            .password(c.password.expose());
        match tokio::time::timeout(
            crate::targetdb::check::CONNECT_TIMEOUT,
            PgConnection::connect_with(&opts),
        )
        .await
        {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                true
            }
            _ => false,
        }
    }
}
