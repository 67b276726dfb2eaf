//! MariaDB/MySQL DDL: the database, sync account and application role (provisioning),
//! data and events tables with their triggers, and schema-change plans.
use super::*;

impl MysqlTarget {
    pub(super) async fn admin_account(&self) -> String {
        match sqlx::query("SELECT CURRENT_USER()")
            .fetch_one(&self.admin)
            .await
        {
            Ok(r) => account_literal(&r.get::<String, _>(0)),
            Err(_) => format!("{}@'%'", lit(&self.settings.user)),
        }
    }

    pub(super) fn triggers(&self, m: &ObjectMapping) -> Vec<String> {
        let table = self.qs(&m.table(D));
        let events = self.qs(&m.events_table(D));
        let cols: Vec<String> = m.data_fields().map(|f| f.column(D)).collect();
        let guard = format!(
            "SUBSTRING_INDEX(USER(), '@', 1) <> {}",
            lit(&self.sync_user())
        );
        let mut out = Vec::new();
        for (op, suffix, row) in [
            ("INSERT", "__dn_ai", "NEW"),
            ("UPDATE", "__dn_au", "NEW"),
            ("DELETE", "__dn_ad", "OLD"),
        ] {
            let name = self.qs(&m.derived(D, suffix));
            let mut body = String::new();
            for c in &cols {
                let qc = q(c);
                let key = lit(c);
                let add = |var: &str, val: String| {
                    format!(
                        "SET {var} = CONCAT({var}, IF({var} = '', '', ','), SUBSTRING(JSON_OBJECT({key}, {val}), 2, CHAR_LENGTH(JSON_OBJECT({key}, {val})) - 2)); "
                    )
                };
                let add_ch = format!(
                    "SET ch = CONCAT(ch, IF(ch = '', '', ','), SUBSTRING(JSON_ARRAY({key}), 2, CHAR_LENGTH(JSON_ARRAY({key})) - 2)); "
                );
                match op {
                    "INSERT" => body.push_str(&format!(
                        "IF NEW.{qc} IS NOT NULL THEN {add_ch}{}END IF; ",
                        add("nv", format!("NEW.{qc}"))
                    )),
                    "UPDATE" => body.push_str(&format!(
                        "IF NOT (CAST(OLD.{qc} AS BINARY) <=> CAST(NEW.{qc} AS BINARY)) THEN {add_ch}{}{}END IF; ",
                        add("ov", format!("OLD.{qc}")),
                        add("nv", format!("NEW.{qc}"))
                    )),
                    _ => body.push_str(&add("ov", format!("OLD.{qc}"))),
                }
            }
            let record = if op == "DELETE" { "TRUE" } else { "ch <> ''" };
            out.push(format!("DROP TRIGGER IF EXISTS {name}"));
            out.push(format!(
                "CREATE TRIGGER {name} AFTER {op} ON {table} FOR EACH ROW BEGIN \
                 DECLARE ch LONGTEXT DEFAULT ''; DECLARE ov LONGTEXT DEFAULT ''; DECLARE nv LONGTEXT DEFAULT ''; \
                 IF {guard} THEN {body}\
                 IF {record} THEN INSERT INTO {events} (`op`, `row_id`, `sfid`, `changed`, `old_values`, `new_values`, `db_user`, `created_at`) \
                 VALUES ('{op}', {row}.`id`, {row}.`sfid`, CONCAT('[', ch, ']'), CONCAT('{{', ov, '}}'), CONCAT('{{', nv, '}}'), USER(), UTC_TIMESTAMP(3)); END IF; \
                 END IF; END"
            ));
        }
        out
    }

    pub(super) fn create_mapping_step(&self, m: &ObjectMapping) -> PlanStep {
        let table = self.qs(&m.table(D));
        let events = self.qs(&m.events_table(D));
        let mut cols = vec![
            "`id` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY".to_string(),
            "`sfid` VARCHAR(18) CHARACTER SET ascii COLLATE ascii_bin NULL".to_string(),
        ];
        for f in m.data_fields() {
            cols.push(format!("{} {} NULL", q(&f.column(D)), column_type(m, f)));
        }
        cols.push("`systemmodstamp` DATETIME(3) NULL".into());
        cols.push("`_dn_state` VARCHAR(16) NOT NULL DEFAULT 'LOCAL'".into());
        cols.push("`_dn_error` TEXT NULL".into());
        cols.push("UNIQUE KEY `sfid` (`sfid`)".into());
        let mut sql = vec![
            self.forget_cursor(m),
            format!(
                "CREATE TABLE IF NOT EXISTS {table} ({}) ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4",
                cols.join(", ")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {events} (`id` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, `op` VARCHAR(6) NOT NULL, `row_id` BIGINT NOT NULL, `sfid` VARCHAR(18) CHARACTER SET ascii COLLATE ascii_bin NULL, `changed` LONGTEXT NOT NULL, `old_values` LONGTEXT NOT NULL, `new_values` LONGTEXT NOT NULL, `db_user` VARCHAR(400) NOT NULL, `created_at` DATETIME(3) NOT NULL, `state` VARCHAR(8) NOT NULL DEFAULT 'NEW', `error` TEXT NULL, `claim_token` VARCHAR(36) NULL, `claimed_at` DATETIME(3) NULL, `processed_at` DATETIME(3) NULL, KEY `state_id` (`state`, `id`), KEY `claim_token` (`claim_token`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
            ),
        ];
        sql.extend(self.triggers(m));
        PlanStep::create_mapping(D, m, sql)
    }

    pub(super) fn render(&self, changes: Vec<Change>) -> Plan {
        let mut steps = Vec::new();
        for c in changes {
            match c {
                Change::CreateMapping(m) => steps.push(self.create_mapping_step(&m)),
                Change::DropMapping(m) => steps.push(PlanStep::drop_mapping(
                    D,
                    &m,
                    vec![
                        format!("DROP TABLE IF EXISTS {}", self.qs(&m.events_table(D))),
                        format!("DROP TABLE IF EXISTS {}", self.qs(&m.table(D))),
                        self.forget_cursor(&m),
                    ],
                )),
                Change::AddColumn { mapping, field } => steps.push(
                    PlanStep::add_column(
                        D,
                        &mapping,
                        &field,
                        vec![format!(
                            "ALTER TABLE {} ADD COLUMN {} {} NULL",
                            self.qs(&mapping.table(D)),
                            q(&field.column(D)),
                            column_type(&mapping, &field)
                        )],
                    )
                    .guarded(Guard::ColumnAbsent {
                        table: mapping.table(D),
                        column: field.column(D),
                    }),
                ),
                Change::DropColumn { mapping, field } => steps.push(
                    PlanStep::drop_column(
                        D,
                        &mapping,
                        &field,
                        vec![format!(
                            "ALTER TABLE {} DROP COLUMN {}",
                            self.qs(&mapping.table(D)),
                            q(&field.column(D))
                        )],
                    )
                    .guarded(Guard::ColumnPresent {
                        table: mapping.table(D),
                        column: field.column(D),
                    }),
                ),
                Change::AlterColumn {
                    mapping,
                    old,
                    new,
                    narrowing,
                } => {
                    let ty = column_type(&mapping, &new);
                    let sql = vec![format!(
                        "ALTER TABLE {} MODIFY COLUMN {} {ty} NULL",
                        self.qs(&mapping.table(D)),
                        q(&new.column(D))
                    )];
                    steps.push(
                        PlanStep::change_column(D, &mapping, &new, &sql_type(D, &old), &ty, sql)
                            .destructive_if(narrowing),
                    );
                }
                Change::RebuildTriggers { new, .. } => {
                    steps.push(PlanStep::rebuild_triggers(D, &new, self.triggers(&new)))
                }
            }
        }
        Plan {
            dialect: D,
            schema: self.schema.clone(),
            steps,
        }
    }

    /// The host part of the sync account: the datasource's setting, else the host this
    /// daemon connects from as the server sees it (`USER()`), never `'%'` by default.
    pub(super) async fn sync_account_host(&self, conn: &mut MySqlConnection) -> String {
        if let Some(h) = self
            .sync_host
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty())
        {
            return h.to_owned();
        }
        match sqlx::query("SELECT USER()").fetch_one(&mut *conn).await {
            Ok(r) => r
                .get::<String, _>(0)
                .rsplit_once('@')
                .map(|(_, h)| h.to_owned())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "localhost".to_owned()),
            Err(_) => "localhost".to_owned(),
        }
    }

    /// The application role's name for this database.
    pub fn app_role(&self) -> String {
        ident::mysql_app_role(&self.schema)
    }

    /// Grants the application role read/write on each data table (not the events tables:
    /// the triggers write those as their definer). A server without roles, or a database
    /// generated before the role existed, is left as it is.
    pub(super) async fn grant_app_role(
        &self,
        conn: &mut MySqlConnection,
    ) -> Result<(), TargetError> {
        let tables: Vec<String> = sqlx::query(
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE'",
        )
        .bind(&self.schema)
        .fetch_all(&mut *conn)
        .await
        .map_err(TargetError::db("listing the data tables"))?
        .into_iter()
        .map(|r| r.get::<String, _>(0))
        .filter(|t| t != CURSOR_TABLE && !t.ends_with("__events") && !t.starts_with("_datenator_probe_"))
        .collect();
        let role = q(&self.app_role());
        for t in tables {
            let r = conn
                .execute(sqlx::raw_sql(AssertSqlSafe(format!(
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {role}",
                    self.qs(&t)
                ))))
                .await;
            match r {
                Ok(_) => {}
                // No such role (older generation, or a server without roles).
                Err(e) if matches!(errno(&e), Some(1959) | Some(1133) | Some(1410)) => {
                    return Ok(());
                }
                Err(e) => {
                    return Err(permission_or(
                        e,
                        &self.admin_account().await,
                        &self.schema,
                        "granting the application role its tables",
                    ));
                }
            }
        }
        Ok(())
    }

    pub(super) async fn provision_impl(&self) -> Result<Provisioned, TargetError> {
        let account = self.admin_account().await;
        let mut conn = self
            .admin
            .acquire()
            .await
            .map_err(|e| connect_error(&self.settings, e))?;
        let mut created = Created::default();
        let outcome = self
            .provision_steps(&mut conn, &account, &mut created)
            .await;
        if outcome.is_err() {
            // DDL is not transactional here: undo what this run created, so that a failed
            // generation leaves nothing behind.
            for s in created.undo() {
                if let Err(e) = conn.execute(sqlx::raw_sql(AssertSqlSafe(s))).await {
                    tracing::warn!(
                        "rolling back a failed generation of {}: {}; drop what is left by hand",
                        self.schema,
                        db_message(&e)
                    );
                }
            }
        }
        let provisioned = outcome?;
        *self
            .sync_credentials
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = provisioned.sync_credentials.clone();
        let old = self
            .sync_pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(p) = old {
            p.close().await;
        }
        Ok(provisioned)
    }

    /// Whether `c` still logs in (then re-generating keeps the password).
    pub(super) async fn sync_login_works(&self, c: &SyncCredentials) -> bool {
        let opts = options(&self.settings)
            .username(&c.user)
            .password(c.password.expose())
            .database(&self.schema);
        match tokio::time::timeout(
            crate::targetdb::check::CONNECT_TIMEOUT,
            MySqlConnection::connect_with(&opts),
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

    pub(super) async fn provision_steps(
        &self,
        conn: &mut MySqlConnection,
        account: &str,
        created: &mut Created,
    ) -> Result<Provisioned, TargetError> {
        let fail = |context: &'static str| {
            let account = account.to_owned();
            let schema = self.schema.clone();
            move |e: sqlx::Error| permission_or(e, &account, &schema, context)
        };
        let db = q(&self.schema);
        match conn
            .execute(sqlx::raw_sql(AssertSqlSafe(format!(
                "CREATE DATABASE {db} CHARACTER SET utf8mb4"
            ))))
            .await
        {
            Ok(_) => created.database = Some(db.clone()),
            Err(e) if errno(&e) == Some(1007) => {}
            Err(e) => return Err(fail("creating the org database")(e)),
        }
        let user = self.sync_user();
        let host = self.sync_account_host(conn).await;
        let u = format!("{}@{}", lit(&user), lit(&host));
        let stored = self
            .sync_credentials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .filter(|c| c.user == user);
        let stored_host = stored.as_ref().and_then(|c| c.host.clone());
        let keep = match &stored {
            Some(c) if stored_host.as_deref() == Some(host.as_str()) => {
                self.sync_login_works(c).await
            }
            _ => false,
        };
        let password = match (&stored, keep) {
            (Some(c), true) => c.password.clone(),
            _ => random_password(),
        };
        // Only the password's hash is ever sent: statements can end up in the server's
        // logs (the general log, a failed statement in the error log).
        let identified = identified_by(conn, &password).await;
        match conn
            .execute(sqlx::raw_sql(AssertSqlSafe(format!(
                "CREATE USER {u} {identified}"
            ))))
            .await
        {
            Ok(_) => created.user = Some(u.clone()),
            Err(e) if errno(&e) == Some(1396) => {
                if !keep {
                    conn.execute(sqlx::raw_sql(AssertSqlSafe(format!(
                        "ALTER USER {u} {identified}"
                    ))))
                    .await
                    .map_err(fail("setting the sync user's password"))?;
                }
            }
            Err(e) => return Err(fail("creating the sync user")(e)),
        }
        let mut sql = vec![
            format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE TEMPORARY TABLES ON {}.* TO {u}",
                grant_db(&self.schema)
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (`object` VARCHAR(191) NOT NULL PRIMARY KEY, `systemmodstamp` DATETIME(3) NOT NULL, `last_id` VARCHAR(18) NOT NULL, `updated_at` DATETIME(3) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
                self.qs(CURSOR_TABLE)
            ),
        ];
        // An account at another host, from an earlier generation: the sync user moved.
        let moved = stored_host.filter(|h| *h != host).or_else(|| {
            stored
                .is_some()
                .then(|| "%".to_owned())
                .filter(|h| *h != host)
        });
        if let Some(h) = moved {
            sql.push(format!("DROP USER IF EXISTS {}@{}", lit(&user), lit(&h)));
        }
        for s in sql {
            conn.execute(sqlx::raw_sql(AssertSqlSafe(s)))
                .await
                .map_err(fail("provisioning the org database"))?;
        }
        let role = self.app_role();
        let app_role = match conn
            .execute(sqlx::raw_sql(AssertSqlSafe(format!(
                "CREATE ROLE {}",
                q(&role)
            ))))
            .await
        {
            Ok(_) => {
                created.role = Some(q(&role));
                Some(role)
            }
            Err(e) if errno(&e) == Some(1396) => Some(role),
            Err(e) => {
                tracing::warn!(
                    "no application role for {}: {}; grant database users rights on its data tables directly",
                    self.schema,
                    db_message(&e)
                );
                None
            }
        };
        if app_role.is_some() {
            self.grant_app_role(conn).await?;
        }
        Ok(Provisioned {
            writer_mode: SyncWriterMode::SyncUser,
            sync_credentials: Some(SyncCredentials {
                user,
                password,
                host: Some(host),
            }),
            app_role,
        })
    }

    pub(super) async fn deprovision_impl(&self) -> Result<(), TargetError> {
        let account = self.admin_account().await;
        let old = self
            .sync_pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(p) = old {
            p.close().await;
        }
        let mut conn = self
            .admin
            .acquire()
            .await
            .map_err(|e| connect_error(&self.settings, e))?;
        let stored_host = self
            .sync_credentials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|c| c.host.clone().unwrap_or_else(|| "%".to_owned()));
        let host = match stored_host {
            Some(h) => h,
            None => self.sync_account_host(&mut conn).await,
        };
        let user = lit(&self.sync_user());
        let mut hosts = vec![host];
        if !hosts.iter().any(|h| h == "%") {
            hosts.push("%".to_owned());
        }
        let mut sql = vec![format!("DROP DATABASE IF EXISTS {}", q(&self.schema))];
        for h in hosts {
            sql.push(format!("DROP USER IF EXISTS {user}@{}", lit(&h)));
        }
        for s in sql {
            conn.execute(sqlx::raw_sql(AssertSqlSafe(s)))
                .await
                .map_err(|e| {
                    permission_or(
                        e,
                        &account,
                        &self.schema,
                        "dropping the org database and sync user",
                    )
                })?;
        }
        // The application role (absent on servers without roles, or never created).
        let _ = conn
            .execute(sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP ROLE IF EXISTS {}",
                q(&self.app_role())
            ))))
            .await;
        Ok(())
    }

    pub(super) async fn column_exists(
        &self,
        conn: &mut MySqlConnection,
        table: &str,
        column: &str,
    ) -> Result<bool, TargetError> {
        Ok(sqlx::query(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = ? AND table_name = ? AND column_name = ?",
        )
        .bind(&self.schema)
        .bind(table)
        .bind(column)
        .fetch_optional(conn)
        .await
        .map_err(TargetError::db("reading the table's columns"))?
        .is_some())
    }

    pub(super) async fn apply_impl(&self, plan: &Plan) -> Result<(), TargetError> {
        check_plan(plan, &self.schema)?;
        let account = self.admin_account().await;
        let mut conn = self
            .admin
            .acquire()
            .await
            .map_err(|e| connect_error(&self.settings, e))?;
        // InnoDB's strict mode rejects a table whose short VARCHARs could, all filled to the
        // brim, exceed the ~8 KB in-page row limit; Salesforce rows never come close, so
        // wide objects are allowed (a row that really is too large fails on write).
        conn.execute("SET SESSION innodb_strict_mode = OFF")
            .await
            .map_err(TargetError::db(
                "relaxing innodb_strict_mode for the DDL session",
            ))?;
        for (i, step) in plan.steps.iter().enumerate() {
            let run = match &step.guard {
                None => true,
                Some(Guard::ColumnAbsent { table, column }) => {
                    !self.column_exists(&mut conn, table, column).await?
                }
                Some(Guard::ColumnPresent { table, column }) => {
                    self.column_exists(&mut conn, table, column).await?
                }
            };
            if !run {
                continue;
            }
            for s in step.sql() {
                conn.execute(sqlx::raw_sql(AssertSqlSafe(s.clone())))
                    .await
                    .map_err(|e| {
                        permission_or(
                            e,
                            &account,
                            &self.schema,
                            &format!(
                                "{} (steps 1–{i} are applied; every step is safe to re-run: apply the plan again after fixing the cause)",
                                step.description
                            ),
                        )
                    })?;
            }
        }
        if !plan.steps.is_empty() {
            self.grant_app_role(&mut conn).await?;
        }
        Ok(())
    }
}

/// The column type of `f` in `m`'s table: the type map's, except that when the mapping's
/// VARCHARs would not fit the row limit, the longest ones (over 63 characters) become
/// `mediumtext`, longest first, until they do.
pub(super) fn column_type(m: &ObjectMapping, f: &crate::targetdb::FieldSpec) -> String {
    let varchar_len = |f: &crate::targetdb::FieldSpec| -> Option<u64> {
        let t = sql_type(D, f);
        t.strip_prefix("varchar(")
            .and_then(|r| r.split(')').next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    let mut sized: Vec<(u64, String)> = m
        .data_fields()
        .filter_map(|g| varchar_len(g).map(|l| (l, g.column(D))))
        .collect();
    let mut total: u64 = sized.iter().map(|(l, _)| l * 4 + 2).sum();
    if total <= VARCHAR_BUDGET {
        return sql_type(D, f);
    }
    sized.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let me = f.column(D);
    for (len, col) in sized {
        if total <= VARCHAR_BUDGET || len <= 63 {
            break;
        }
        total -= len * 4 + 2;
        if col == me {
            return "mediumtext".into();
        }
    }
    sql_type(D, f)
}

/// What one generation run created, so that a failed run can drop it again.
#[derive(Default)]
pub(super) struct Created {
    database: Option<String>,
    user: Option<String>,
    role: Option<String>,
}

impl Created {
    /// The statements that drop what was created, newest first.
    pub(super) fn undo(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(r) = &self.role {
            out.push(format!("DROP ROLE IF EXISTS {r}"));
        }
        if let Some(u) = &self.user {
            out.push(format!("DROP USER IF EXISTS {u}"));
        }
        if let Some(d) = &self.database {
            out.push(format!("DROP DATABASE IF EXISTS {d}"));
        }
        out
    }
}

/// The `IDENTIFIED …` clause that sets `password` by its `mysql_native_password` hash, in
/// the server's syntax: the password itself never reaches the server (nor its logs).
pub(super) async fn identified_by(conn: &mut MySqlConnection, password: &Secret) -> String {
    // `*` and hex digits only: a plain literal, as these clauses require.
    let hash = format!(
        "'{}'",
        crate::targetdb::password::mysql_native_hash(password.expose())
    );
    let version: String = sqlx::query("SELECT VERSION()")
        .fetch_one(&mut *conn)
        .await
        .map(|r| r.get(0))
        .unwrap_or_default();
    if version.contains("MariaDB") || parse_version(&version) < (8, 0, 0) {
        format!("IDENTIFIED BY PASSWORD {hash}")
    } else {
        format!("IDENTIFIED WITH mysql_native_password AS {hash}")
    }
}

/// `'user'@'host'` from `CURRENT_USER()`'s `user@host`.
pub(super) fn account_literal(current: &str) -> String {
    match current.rsplit_once('@') {
        Some((u, h)) => format!("{}@{}", lit(u), lit(h)),
        None => format!("{}@'%'", lit(current)),
    }
}
