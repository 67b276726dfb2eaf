//! PostgreSQL DDL: the schema, sync user and application role (provisioning), data and
//! events tables with their trigger, and schema-change plans.
use super::*;

impl PgTarget {
    pub(super) async fn can_create_role(&self) -> Result<bool, TargetError> {
        let row = sqlx::query(
            "SELECT rolsuper OR rolcreaterole FROM pg_catalog.pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&self.admin)
        .await
        .map_err(TargetError::db("reading the admin role's attributes"))?;
        Ok(row.get::<bool, _>(0))
    }

    pub(super) fn trigger_function_sql(&self) -> String {
        // The function repeats the trigger's WHEN test: a trigger created before the test
        // existed still skips the engine.
        let ev_skip = "('id','sfid','systemmodstamp','_dn_state','_dn_error')";
        format!(
            r#"CREATE OR REPLACE FUNCTION {f}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $dn$
DECLARE
  o jsonb; n jsonb; ch jsonb; ov jsonb; nv jsonb;
BEGIN
  IF session_user::text = TG_ARGV[1]
     OR coalesce(current_setting('datenator.origin', true), '') = 'sync' THEN
    RETURN NULL;
  END IF;
  IF TG_OP <> 'INSERT' THEN o := to_jsonb(OLD); END IF;
  IF TG_OP <> 'DELETE' THEN n := to_jsonb(NEW); END IF;
  IF TG_OP = 'DELETE' THEN
    ch := '[]'::jsonb;
    SELECT coalesce(jsonb_object_agg(key, value), '{{}}'::jsonb) INTO ov
      FROM jsonb_each(o) WHERE key NOT IN {ev_skip};
    nv := '{{}}'::jsonb;
  ELSE
    SELECT coalesce(jsonb_agg(key ORDER BY key), '[]'::jsonb),
           coalesce(jsonb_object_agg(key, coalesce(o -> key, 'null'::jsonb)), '{{}}'::jsonb),
           coalesce(jsonb_object_agg(key, value), '{{}}'::jsonb)
      INTO ch, ov, nv
      FROM jsonb_each(n)
     WHERE key NOT IN {ev_skip}
       AND coalesce(o -> key, 'null'::jsonb) IS DISTINCT FROM value;
    IF ch = '[]'::jsonb THEN RETURN NULL; END IF;
    IF TG_OP = 'INSERT' THEN ov := '{{}}'::jsonb; END IF;
  END IF;
  EXECUTE format('INSERT INTO %I.%I (op, row_id, sfid, changed, old_values, new_values, db_user) VALUES ($1, $2, $3, $4, $5, $6, $7)', TG_TABLE_SCHEMA, TG_ARGV[0])
    USING TG_OP, (coalesce(n, o) ->> 'id')::bigint, coalesce(n, o) ->> 'sfid', ch, ov, nv, session_user::text;
  PERFORM pg_notify({chan}, TG_TABLE_SCHEMA || '.' || TG_ARGV[0]);
  RETURN NULL;
END
$dn$"#,
            f = self.qs(TRIGGER_FN),
            chan = lit(NOTIFY_CHANNEL),
        )
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
                        format!("DROP TABLE IF EXISTS {} CASCADE", self.qs(&m.table(D))),
                        self.forget_cursor(&m),
                    ],
                )),
                Change::AddColumn { mapping, field } => steps.push(PlanStep::add_column(
                    D,
                    &mapping,
                    &field,
                    vec![format!(
                        "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}",
                        self.qs(&mapping.table(D)),
                        q(&field.column(D)),
                        sql_type(D, &field)
                    )],
                )),
                Change::DropColumn { mapping, field } => steps.push(PlanStep::drop_column(
                    D,
                    &mapping,
                    &field,
                    vec![format!(
                        "ALTER TABLE {} DROP COLUMN IF EXISTS {}",
                        self.qs(&mapping.table(D)),
                        q(&field.column(D))
                    )],
                )),
                Change::AlterColumn {
                    mapping,
                    old,
                    new,
                    narrowing,
                } => {
                    let ty = sql_type(D, &new);
                    let col = q(&new.column(D));
                    let using = if old.sf_type == new.sf_type
                        || sql_type(D, &old).starts_with("varchar") && ty.starts_with("varchar")
                    {
                        String::new()
                    } else if old.sf_type == crate::targetdb::SfType::Boolean {
                        // boolean casts to integer only, not through text.
                        format!(" USING {col}::int::{ty}")
                    } else {
                        format!(" USING {col}::text::{ty}")
                    };
                    let sql = vec![format!(
                        "ALTER TABLE {} ALTER COLUMN {col} TYPE {ty}{using}",
                        self.qs(&mapping.table(D)),
                    )];
                    steps.push(
                        PlanStep::change_column(D, &mapping, &new, &sql_type(D, &old), &ty, sql)
                            .destructive_if(narrowing),
                    );
                }
                // One generic trigger function: nothing lists columns.
                Change::RebuildTriggers { .. } => {}
            }
        }
        Plan {
            dialect: D,
            schema: self.schema.clone(),
            steps,
        }
    }

    pub(super) fn create_mapping_step(&self, m: &ObjectMapping) -> PlanStep {
        let table = self.qs(&m.table(D));
        let events = self.qs(&m.events_table(D));
        let mut cols = vec![
            "\"id\" bigserial PRIMARY KEY".to_string(),
            "\"sfid\" varchar(18) UNIQUE".to_string(),
        ];
        for f in m.data_fields() {
            cols.push(format!("{} {}", q(&f.column(D)), sql_type(D, f)));
        }
        cols.push("\"systemmodstamp\" timestamptz".into());
        cols.push("\"_dn_state\" varchar(16) NOT NULL DEFAULT 'LOCAL'".into());
        cols.push("\"_dn_error\" text".into());
        let trigger = q(&m.derived(D, "__dn_events"));
        PlanStep::create_mapping(
            D,
            m,
            vec![
                self.forget_cursor(m),
                format!("CREATE TABLE IF NOT EXISTS {table} ({})", cols.join(", ")),
                format!(
                    "CREATE TABLE IF NOT EXISTS {events} (\"id\" bigserial PRIMARY KEY, \"op\" varchar(6) NOT NULL, \"row_id\" bigint NOT NULL, \"sfid\" varchar(18), \"changed\" jsonb NOT NULL, \"old_values\" jsonb NOT NULL, \"new_values\" jsonb NOT NULL, \"db_user\" text NOT NULL, \"created_at\" timestamptz NOT NULL DEFAULT now(), \"state\" varchar(8) NOT NULL DEFAULT 'NEW', \"error\" text, \"claim_token\" varchar(36), \"claimed_at\" timestamptz, \"processed_at\" timestamptz)"
                ),
                format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {events} (\"state\", \"id\")",
                    q(&m.derived(D, "__events_state"))
                ),
                format!("DROP TRIGGER IF EXISTS {trigger} ON {table}"),
                format!(
                    "CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE ON {table} FOR EACH ROW WHEN ({}) EXECUTE PROCEDURE {}({}, {})",
                    not_the_engine(&self.sync_user()),
                    self.qs(TRIGGER_FN),
                    lit(&m.events_table(D)),
                    lit(&self.sync_user())
                ),
            ],
        )
    }

    /// The application role's name for this schema.
    pub fn app_role(&self) -> String {
        ident::postgres_app_role(&self.schema)
    }

    /// Grants the application role read/write on every data table of the schema (and the
    /// sequences behind their keys). Events tables and the cursor table are left out: the
    /// triggers' function is `SECURITY DEFINER` and writes the events as its owner.
    pub(super) async fn grant_app_role(&self, conn: &mut PgConnection) -> Result<(), TargetError> {
        let role = self.app_role();
        let exists = sqlx::query("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1")
            .bind(&role)
            .fetch_optional(&mut *conn)
            .await
            .map_err(TargetError::db("looking up the application role"))?
            .is_some();
        if !exists {
            return Ok(());
        }
        let tables = sqlx::query(
            r"SELECT c.relname::text, pg_catalog.pg_get_serial_sequence(pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname), 'id')
                FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname <> $2
                 AND c.relname NOT LIKE '%\_\_events'
                 AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'id' AND NOT a.attisdropped)",
        )
        .bind(&self.schema)
        .bind(CURSOR_TABLE)
        .fetch_all(&mut *conn)
        .await
        .map_err(TargetError::db("listing the data tables"))?;
        let r = q(&role);
        let mut sql = vec![format!("GRANT USAGE ON SCHEMA {} TO {r}", q(&self.schema))];
        for t in tables {
            let name: String = t.get(0);
            sql.push(format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {r}",
                self.qs(&name)
            ));
            // The sequence's name as pg_get_serial_sequence returns it: already quoted.
            if let Some(seq) = t.get::<Option<String>, _>(1) {
                sql.push(format!("GRANT USAGE, SELECT ON SEQUENCE {seq} TO {r}"));
            }
        }
        for s in sql {
            conn.execute(sqlx::raw_sql(AssertSqlSafe(s)))
                .await
                .map_err(|e| {
                    permission_or(
                        e,
                        &self.settings,
                        "granting the application role its tables",
                    )
                })?;
        }
        Ok(())
    }

    pub(super) async fn provision_impl(&self) -> Result<Provisioned, TargetError> {
        let can_role = self.can_create_role().await?;
        let schema = q(&self.schema);
        // The stored sync password is kept while it logs in: the engine's connections and
        // the password stored with them stay valid.
        let stored = self
            .sync_credentials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .filter(|c| c.user == self.sync_user());
        let stored = match stored {
            Some(c) if can_role && self.sync_login_works(&c).await => Some(c),
            _ => None,
        };
        let mut tx = self
            .admin
            .begin()
            .await
            .map_err(|e| connect_error(&self.settings, e))?;
        let mut sql = vec![format!("CREATE SCHEMA IF NOT EXISTS {schema}")];
        let mut creds = None;
        let mut app_role = None;
        if can_role {
            let user = self.sync_user();
            let u = q(&user);
            let existing = sqlx::query(
                "SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = $1",
            )
            .bind(&user)
            .fetch_optional(&mut *tx)
            .await
            .map_err(TargetError::db("looking up the sync role"))?;
            // Only a SCRAM verifier of the password is ever sent: statements end up in the
            // server's log (log_statement, or a failed statement's STATEMENT line).
            let (password, new_password) = match (&existing, stored) {
                (Some(_), Some(c)) => (c.password, false),
                _ => (random_password(), true),
            };
            let verifier = || {
                lit(&crate::targetdb::password::scram_sha256_verifier(
                    password.expose(),
                ))
            };
            match existing {
                None => sql.push(format!(
                    "CREATE ROLE {u} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}",
                    verifier()
                )),
                Some(r) => {
                    // Only what differs is altered: naming SUPERUSER/NOSUPERUSER at all needs a
                    // superuser, which the admin usually is not.
                    let mut change = Vec::new();
                    if r.get::<bool, _>(0) {
                        change.push("NOSUPERUSER".to_owned());
                    }
                    if r.get::<bool, _>(1) {
                        change.push("NOCREATEDB".to_owned());
                    }
                    if r.get::<bool, _>(2) {
                        change.push("NOCREATEROLE".to_owned());
                    }
                    if !r.get::<bool, _>(3) {
                        change.push("LOGIN".to_owned());
                    }
                    if new_password {
                        change.push(format!("PASSWORD {}", verifier()));
                    }
                    if !change.is_empty() {
                        sql.push(format!("ALTER ROLE {u} WITH {}", change.join(" ")));
                    }
                }
            }
            sql.push(format!("GRANT USAGE ON SCHEMA {schema} TO {u}"));
            sql.push(format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {u}"
            ));
            sql.push(format!(
                "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {u}"
            ));
            sql.push(format!(
                "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {u}"
            ));
            sql.push(format!(
                "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {u}"
            ));
            creds = Some(SyncCredentials {
                user,
                password,
                host: None,
            });
            let role = self.app_role();
            let app_exists = sqlx::query("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1")
                .bind(&role)
                .fetch_optional(&mut *tx)
                .await
                .map_err(TargetError::db("looking up the application role"))?
                .is_some();
            if !app_exists {
                sql.push(format!("CREATE ROLE {} NOLOGIN", q(&role)));
            }
            app_role = Some(role);
        }
        sql.push(format!(
            "CREATE TABLE IF NOT EXISTS {} (\"object\" text PRIMARY KEY, \"systemmodstamp\" timestamptz NOT NULL, \"last_id\" varchar(18) NOT NULL, \"updated_at\" timestamptz NOT NULL DEFAULT now())",
            self.qs(CURSOR_TABLE)
        ));
        sql.push(self.trigger_function_sql());
        for s in sql {
            tx.execute(sqlx::raw_sql(AssertSqlSafe(s)))
                .await
                .map_err(|e| permission_or(e, &self.settings, "provisioning the org schema"))?;
        }
        self.grant_app_role(&mut tx).await?;
        tx.commit()
            .await
            .map_err(TargetError::db("committing the provisioning"))?;
        *self
            .sync_credentials
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = creds.clone();
        *self.sync_pool.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(Provisioned {
            writer_mode: if creds.is_some() {
                SyncWriterMode::SyncUser
            } else {
                SyncWriterMode::SessionMarking
            },
            sync_credentials: creds,
            app_role,
        })
    }

    pub(super) async fn deprovision_impl(&self) -> Result<(), TargetError> {
        let user = self.sync_user();
        let pool = self
            .sync_pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(p) = pool {
            p.close().await;
        }
        let mut conn = self
            .admin
            .acquire()
            .await
            .map_err(|e| connect_error(&self.settings, e))?;
        let role_exists = sqlx::query("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1")
            .bind(&user)
            .fetch_optional(&mut *conn)
            .await
            .map_err(TargetError::db("looking up the sync role"))?
            .is_some();
        let schema_exists = sqlx::query("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1")
            .bind(&self.schema)
            .fetch_optional(&mut *conn)
            .await
            .map_err(TargetError::db("looking up the org schema"))?
            .is_some();
        let u = q(&user);
        let schema = q(&self.schema);
        if role_exists && schema_exists {
            // The default privileges provisioning granted are the only thing tying the role
            // to anything outside the schema; without them DROP ROLE needs no DROP OWNED
            // (which a non-superuser admin may not run).
            conn.execute(sqlx::raw_sql(AssertSqlSafe(format!(
                "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE ALL ON TABLES FROM {u}; ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE ALL ON SEQUENCES FROM {u}"
            ))))
            .await
            .map_err(|e| permission_or(e, &self.settings, "revoking the sync role's default privileges"))?;
        }
        conn.execute(sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE"
        ))))
        .await
        .map_err(|e| permission_or(e, &self.settings, "dropping the org schema"))?;
        if role_exists {
            // Ends the role's sessions (where the admin may).
            let _ = sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE usename = $1",
            )
            .bind(&user)
            .execute(&mut *conn)
            .await;
            let dropped = conn
                .execute(sqlx::raw_sql(AssertSqlSafe(format!(
                    "DROP ROLE IF EXISTS {u}"
                ))))
                .await;
            if let Err(e) = dropped {
                // Still owns or holds something (e.g. granted by another admin): a superuser
                // can clear that.
                if e.as_database_error().and_then(|d| d.code()).as_deref() != Some("2BP01") {
                    return Err(permission_or(e, &self.settings, "dropping the sync role"));
                }
                conn.execute(sqlx::raw_sql(AssertSqlSafe(format!(
                    "DROP OWNED BY {u}; DROP ROLE IF EXISTS {u}"
                ))))
                .await
                .map_err(|e| permission_or(e, &self.settings, "dropping the sync role"))?;
            }
        }
        // The application role held grants only inside the schema, gone with it; users it
        // was granted to lose the membership.
        let app_exists = sqlx::query("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1")
            .bind(self.app_role())
            .fetch_optional(&mut *conn)
            .await
            .map_err(TargetError::db("looking up the application role"))?
            .is_some();
        if !app_exists {
            return Ok(());
        }
        let app = q(&self.app_role());
        let dropped = conn
            .execute(sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP ROLE IF EXISTS {app}"
            ))))
            .await;
        if let Err(e) = dropped {
            if e.as_database_error().and_then(|d| d.code()).as_deref() != Some("2BP01") {
                return Err(permission_or(
                    e,
                    &self.settings,
                    "dropping the application role",
                ));
            }
            conn.execute(sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP OWNED BY {app}; DROP ROLE IF EXISTS {app}"
            ))))
            .await
            .map_err(|e| permission_or(e, &self.settings, "dropping the application role"))?;
        }
        Ok(())
    }

    pub(super) async fn apply_impl(&self, plan: &Plan) -> Result<(), TargetError> {
        check_plan(plan, &self.schema)?;
        let mut tx = self
            .admin
            .begin()
            .await
            .map_err(|e| connect_error(&self.settings, e))?;
        for step in &plan.steps {
            for s in step.sql() {
                tx.execute(sqlx::raw_sql(AssertSqlSafe(s.clone())))
                    .await
                    .map_err(TargetError::db(format!(
                        "{} (nothing was changed)",
                        step.description
                    )))?;
            }
        }
        // Tables made by another admin than the one that provisioned are not covered by the
        // default privileges: grant explicitly.
        let role_exists = sqlx::query("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1")
            .bind(self.sync_user())
            .fetch_optional(&mut *tx)
            .await
            .map_err(TargetError::db("looking up the sync role"))?
            .is_some();
        if role_exists && !plan.steps.is_empty() {
            let (schema, u) = (q(&self.schema), q(&self.sync_user()));
            tx.execute(sqlx::raw_sql(AssertSqlSafe(format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {u}; GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {u}"
            ))))
            .await
            .map_err(|e| permission_or(e, &self.settings, "granting the sync role its tables"))?;
        }
        if !plan.steps.is_empty() {
            self.grant_app_role(&mut tx).await?;
        }
        tx.commit()
            .await
            .map_err(TargetError::db("committing the schema change"))
    }
}

/// The trigger's WHEN condition: the change is not the engine's (neither the sync user's
/// session nor one marked `datenator.origin = 'sync'`). Tested before a row event is queued,
/// so the engine's loads and upserts cost no trigger call per row.
pub(super) fn not_the_engine(sync_user: &str) -> String {
    format!(
        "session_user <> {} AND coalesce(current_setting('datenator.origin', true), '') <> 'sync'",
        lit(sync_user)
    )
}
