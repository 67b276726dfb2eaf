//! SQLite's datasource check: what "Check datasource" tries, in words.
use super::*;

impl SqliteTarget {
    pub(super) async fn run_check(&self) -> CheckReport {
        let all = CHECKS;
        let mut results = Vec::new();
        let mut report = CheckReport {
            results: Vec::new(),
            server_version: None,
            writer_mode: Some(SyncWriterMode::TransactionMarking),
        };
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            results.push(failed(
                CheckKind::HostReachable,
                format!("directory {} does not exist", dir.display()),
                format!("mkdir -p {}  (or choose another file path)", dir.display()),
            ));
            skip_rest(&mut results, &all, "the directory does not exist");
            report.results = results;
            return report;
        }
        results.push(ok(
            CheckKind::HostReachable,
            format!("directory {} exists", dir.display()),
        ));
        results.push(ok(
            CheckKind::Authentication,
            "SQLite has no users; access is the file's permissions",
        ));
        let mut conn = match self.pool.acquire().await {
            Ok(c) => c,
            Err(e) => {
                results.push(failed(
                    CheckKind::DatabaseExists,
                    format!("cannot open or create {}: {e}", self.path.display()),
                    "make the file and its directory writable by the daemon's user",
                ));
                skip_rest(&mut results, &all, "the file cannot be opened");
                report.results = results;
                return report;
            }
        };
        results.push(ok(
            CheckKind::DatabaseExists,
            format!("{} opens for writing", self.path.display()),
        ));
        match sqlx::query("SELECT sqlite_version(), json_array(1)")
            .fetch_one(&mut *conn)
            .await
        {
            Ok(r) => {
                let v: String = r.get(0);
                report.server_version = Some(format!("SQLite {v}"));
                if parse_version(&v) >= (3, 35, 0) {
                    results.push(ok(
                        CheckKind::ServerVersion,
                        format!("SQLite {v} is supported"),
                    ));
                } else {
                    results.push(failed(
                        CheckKind::ServerVersion,
                        format!("SQLite {v} is too old: Datenator needs 3.35 or newer (RETURNING, DROP COLUMN)"),
                        "build the daemon against a newer SQLite",
                    ));
                }
            }
            Err(e) => results.push(failed(
                CheckKind::ServerVersion,
                format!("SQLite lacks the JSON functions the triggers need: {e}"),
                "build the daemon against an SQLite with JSON support (3.38+ has it built in)",
            )),
        }
        let probe = format!("_datenator_probe_{}", claim_token().replace('-', ""));
        let r = async {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            tx.execute(sqlx::raw_sql(AssertSqlSafe(format!(
                "CREATE TABLE {p} (\"id\" integer); CREATE TRIGGER {t} AFTER INSERT ON {p} BEGIN SELECT 1; END;",
                p = q(&probe),
                t = q(&format!("{probe}_t"))
            ))))
            .await?;
            tx.rollback().await
        }
        .await;
        match r {
            Ok(()) => {
                results.push(ok(
                    CheckKind::CreateSchema,
                    "tables can be created in the file",
                ));
                results.push(ok(
                    CheckKind::CreateUser,
                    "SQLite has no users: the engine marks its own writes inside its transactions",
                ));
                results.push(ok(CheckKind::CreateTrigger, "triggers can be created"));
            }
            Err(e) => {
                results.push(failed(
                    CheckKind::CreateSchema,
                    format!("cannot create tables in {}: {e}", self.path.display()),
                    "make the file and its directory writable by the daemon's user",
                ));
                skip_rest(&mut results, &all, "tables cannot be created");
            }
        }
        if results.iter().any(|r| r.status == CheckStatus::Failed) {
            report.writer_mode = None;
        }
        report.results = results;
        report
    }
}
