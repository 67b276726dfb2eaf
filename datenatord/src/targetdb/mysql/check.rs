//! MariaDB/MySQL's datasource check: what "Check datasource" tries, in words.
use super::ddl::{account_literal, identified_by};
use super::*;

impl MysqlTarget {
    pub(super) async fn run_check(&self) -> CheckReport {
        let s = &self.settings;
        let port = s.port_or_default();
        let all = [&CHECKS[..], &[CheckKind::BinlogTriggers]].concat();
        let mut report = CheckReport {
            results: Vec::new(),
            server_version: None,
            writer_mode: None,
        };
        let mut results = vec![tcp_probe(&s.host, port).await];
        if results[0].status != CheckStatus::Ok {
            skip_rest(&mut results, &all, "the host is not reachable");
            report.results = results;
            return report;
        }
        let mut conn = match MySqlConnection::connect_with(&options(s)).await {
            Ok(c) => c,
            Err(e) => {
                let refused = match errno(&e) {
                    Some(1049) => LoginRefused::NoDatabase {
                        fix: format!(
                            "CREATE DATABASE {};  -- or correct the database name (any existing database will do, e.g. mysql)",
                            q(&s.database)
                        ),
                    },
                    Some(1044) => LoginRefused::DatabaseDenied {
                        message: format!(
                            "user {} may not use database {}: {}",
                            s.user,
                            s.database,
                            db_message(&e)
                        ),
                        fix: format!(
                            "GRANT SELECT ON {}.* TO {}@'%';  -- or name a database the user may use",
                            q(&s.database),
                            lit(&s.user)
                        ),
                    },
                    Some(1045) | Some(1698) => LoginRefused::Rejected {
                        fix: "check the user name and password, and that the account may connect from this host (user@host)",
                    },
                    _ => LoginRefused::Other,
                };
                login_refused(&mut results, &all, s, &e, refused);
                report.results = results;
                return report;
            }
        };
        results.extend(logged_in(s));
        let account = match sqlx::query("SELECT CURRENT_USER()")
            .fetch_one(&mut conn)
            .await
        {
            Ok(r) => account_literal(&r.get::<String, _>(0)),
            Err(_) => format!("{}@'%'", lit(&s.user)),
        };
        match sqlx::query("SELECT VERSION()").fetch_one(&mut conn).await {
            Ok(r) => {
                let v: String = r.get(0);
                results.push(version_result(&v));
                report.server_version = Some(v);
            }
            Err(e) => results.push(failed(
                CheckKind::ServerVersion,
                format!("could not read the server version: {e}"),
                "check that the user may run SELECT VERSION()",
            )),
        }
        results.extend(self.probe_privileges(&mut conn, &account).await);
        if results
            .iter()
            .any(|r| r.check == CheckKind::CreateUser && r.status == CheckStatus::Ok)
        {
            report.writer_mode = Some(SyncWriterMode::SyncUser);
        }
        let _ = conn.close().await;
        report.results = results;
        report
    }

    /// Probes, inside the org's own database name, what generating needs: creating the
    /// database (when it does not exist yet) and a table in it, a trigger on that table, and
    /// a user granted rights on it. Everything the probe creates is dropped again.
    pub(super) async fn probe_privileges(
        &self,
        conn: &mut MySqlConnection,
        account: &str,
    ) -> Vec<CheckResult> {
        let mut out = Vec::new();
        let token: String = claim_token().replace('-', "").chars().take(12).collect();
        let db = q(&self.schema);
        let table = self.qs(&format!("_datenator_probe_{}", &token));
        let user = lit(&format!("_dn_probe_{}", &token));
        let fix = admin_grant_fix(account, &self.schema);
        let binlog = sqlx::query("SELECT @@log_bin, @@log_bin_trust_function_creators")
            .fetch_one(&mut *conn)
            .await
            .map(|r| (r.get::<i64, _>(0) != 0, r.get::<i64, _>(1) != 0))
            .unwrap_or((false, false));
        let mut created_db = false;
        let schema_ok = match conn
            .execute(sqlx::raw_sql(AssertSqlSafe(format!(
                "CREATE DATABASE {db} CHARACTER SET utf8mb4"
            ))))
            .await
        {
            Ok(_) => {
                created_db = true;
                Ok(())
            }
            // The org's database exists (generated before, or made by the DBA).
            Err(e) if errno(&e) == Some(1007) => Ok(()),
            Err(e) => Err(e),
        };
        let schema_ok = match schema_ok {
            Ok(()) => conn
                .execute(sqlx::raw_sql(AssertSqlSafe(format!(
                    "CREATE TABLE {table} (`id` INT)"
                ))))
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        match &schema_ok {
            Ok(()) => out.push(ok(
                CheckKind::CreateSchema,
                format!(
                    "the user may create the org's database {} and tables in it",
                    self.schema
                ),
            )),
            Err(e) => out.push(failed(
                CheckKind::CreateSchema,
                format!(
                    "the user may not create the org's database {} or tables in it: {}",
                    self.schema,
                    db_message(e)
                ),
                fix.clone(),
            )),
        }
        let schema_ok = schema_ok.is_ok();
        if schema_ok {
            let r = conn
                .execute(sqlx::raw_sql(AssertSqlSafe(format!(
                    "CREATE TRIGGER {} AFTER INSERT ON {table} FOR EACH ROW SET @datenator_probe = 1",
                    self.qs(&format!("_dn_probe_tr_{}", &token))
                ))))
                .await;
            match r {
                Ok(_) => {
                    out.push(ok(CheckKind::CreateTrigger, "the user may create triggers"));
                    out.push(ok(
                        CheckKind::BinlogTriggers,
                        if !binlog.0 {
                            "binary logging is off".to_string()
                        } else if binlog.1 {
                            "binary logging is on and log_bin_trust_function_creators = 1"
                                .to_string()
                        } else {
                            "binary logging is on; the user may create triggers anyway (SUPER)"
                                .to_string()
                        },
                    ));
                }
                Err(e) if errno(&e) == Some(1419) => {
                    out.push(failed(
                        CheckKind::CreateTrigger,
                        "creating triggers is refused while binary logging is on (see the binlog check)",
                        "SET GLOBAL log_bin_trust_function_creators = 1;",
                    ));
                    out.push(failed(
                        CheckKind::BinlogTriggers,
                        format!("binary logging is on and log_bin_trust_function_creators = 0, so only SUPER may create triggers: {}", db_message(&e)),
                        "SET GLOBAL log_bin_trust_function_creators = 1;  -- and log_bin_trust_function_creators = 1 in the server's configuration so it survives a restart",
                    ));
                }
                Err(e) => {
                    out.push(failed(
                        CheckKind::CreateTrigger,
                        format!("the user may not create triggers: {}", db_message(&e)),
                        fix.clone(),
                    ));
                    out.push(ok(
                        CheckKind::BinlogTriggers,
                        format!("binary logging is {}", if binlog.0 { "on" } else { "off" }),
                    ));
                }
            }
        } else {
            let mut skipped = Vec::new();
            skip_rest(
                &mut skipped,
                &[CheckKind::CreateTrigger],
                "the user may not create the org's database",
            );
            out.extend(skipped);
            if binlog.0 && !binlog.1 {
                out.push(failed(
                    CheckKind::BinlogTriggers,
                    "binary logging is on and log_bin_trust_function_creators = 0: creating triggers needs SUPER",
                    "SET GLOBAL log_bin_trust_function_creators = 1;",
                ));
            } else {
                out.push(ok(
                    CheckKind::BinlogTriggers,
                    format!("binary logging is {}", if binlog.0 { "on" } else { "off" }),
                ));
            }
        }
        let host = self.sync_account_host(conn).await;
        let probe = format!("{user}@{}", lit(&host));
        let r = async {
            let identified = identified_by(conn, &random_password()).await;
            conn.execute(sqlx::raw_sql(AssertSqlSafe(format!(
                "CREATE USER {probe} {identified}"
            ))))
            .await?;
            let g = conn
                .execute(sqlx::raw_sql(AssertSqlSafe(format!(
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON {}.* TO {probe}",
                    grant_db(&self.schema)
                ))))
                .await;
            let _ = conn
                .execute(sqlx::raw_sql(AssertSqlSafe(format!("DROP USER {probe}"))))
                .await;
            g
        }
        .await;
        match r {
            Ok(_) => out.push(ok(
                CheckKind::CreateUser,
                format!(
                    "the user may create the sync user (at host {host}) and grant it rights on {}",
                    self.schema
                ),
            )),
            Err(e) => out.push(failed(
                CheckKind::CreateUser,
                format!(
                    "the user may not create the sync user and grant it rights on {}: {}",
                    self.schema,
                    db_message(&e)
                ),
                fix,
            )),
        }
        let cleanup = if created_db {
            format!("DROP DATABASE IF EXISTS {db}")
        } else {
            format!("DROP TABLE IF EXISTS {table}")
        };
        let _ = conn.execute(sqlx::raw_sql(AssertSqlSafe(cleanup))).await;
        out
    }
}

pub(super) fn version_result(v: &str) -> CheckResult {
    let (maj, min, patch) = parse_version(
        v.split("-MariaDB")
            .next()
            .unwrap_or(v)
            .trim_start_matches("5.5.5-"),
    );
    let mariadb = v.contains("MariaDB");
    let supported = if mariadb {
        (maj, min, patch) >= (10, 2, 3)
    } else {
        (maj, min, patch) >= (5, 7, 8)
    };
    if supported {
        ok(CheckKind::ServerVersion, format!("{v} is supported"))
    } else {
        failed(
            CheckKind::ServerVersion,
            format!(
                "{v} is too old: the change triggers need JSON_OBJECT, available from MariaDB 10.2.3 and MySQL 5.7.8"
            ),
            "upgrade the server to MariaDB 10.2.3+ or MySQL 5.7.8+",
        )
    }
}
