//! SQLite DDL: the database file, data and events tables with their triggers, and
//! schema-change plans (a column change rebuilds the table).
use super::*;

impl SqliteTarget {
    pub(super) fn triggers(&self, m: &ObjectMapping) -> Vec<String> {
        let table = q(&m.table(D));
        let events = q(&m.events_table(D));
        let cols: Vec<String> = m.data_fields().map(|f| f.column(D)).collect();
        let not_engine = format!(
            "(SELECT \"origin\" FROM {} WHERE \"id\" = 1) IS NOT 'sync'",
            q(CONTEXT_TABLE)
        );
        let union = |parts: Vec<String>| union_all(&parts);
        let mut out = Vec::new();
        for (op, suffix) in [
            ("INSERT", "__dn_ai"),
            ("UPDATE", "__dn_au"),
            ("DELETE", "__dn_ad"),
        ] {
            let name = q(&m.derived(D, suffix));
            let (cond, row, changed_parts, old_parts, new_parts): (
                String,
                &str,
                Vec<String>,
                Vec<String>,
                Vec<String>,
            ) = match op {
                "INSERT" => {
                    let w = |c: &str| format!("NEW.{} IS NOT NULL", q(c));
                    (
                        if cols.is_empty() {
                            "0".into()
                        } else {
                            any(&cols.iter().map(|c| w(c)).collect::<Vec<_>>())
                        },
                        "NEW",
                        cols.iter()
                            .map(|c| format!("SELECT {} AS c, NULL AS v WHERE {}", lit(c), w(c)))
                            .collect(),
                        vec![],
                        cols.iter()
                            .map(|c| {
                                format!("SELECT {} AS c, NEW.{} AS v WHERE {}", lit(c), q(c), w(c))
                            })
                            .collect(),
                    )
                }
                "UPDATE" => {
                    let w = |c: &str| format!("NEW.{0} IS NOT OLD.{0}", q(c));
                    (
                        if cols.is_empty() {
                            "0".into()
                        } else {
                            any(&cols.iter().map(|c| w(c)).collect::<Vec<_>>())
                        },
                        "NEW",
                        cols.iter()
                            .map(|c| format!("SELECT {} AS c, NULL AS v WHERE {}", lit(c), w(c)))
                            .collect(),
                        cols.iter()
                            .map(|c| {
                                format!("SELECT {} AS c, OLD.{} AS v WHERE {}", lit(c), q(c), w(c))
                            })
                            .collect(),
                        cols.iter()
                            .map(|c| {
                                format!("SELECT {} AS c, NEW.{} AS v WHERE {}", lit(c), q(c), w(c))
                            })
                            .collect(),
                    )
                }
                _ => (
                    "1".into(),
                    "OLD",
                    vec![],
                    cols.iter()
                        .map(|c| format!("SELECT {} AS c, OLD.{} AS v", lit(c), q(c)))
                        .collect(),
                    vec![],
                ),
            };
            out.push(format!("DROP TRIGGER IF EXISTS {name}"));
            out.push(format!(
                "CREATE TRIGGER {name} AFTER {op} ON {table} FOR EACH ROW WHEN {not_engine} AND ({cond}) BEGIN \
                 INSERT INTO {events} (\"op\", \"row_id\", \"sfid\", \"changed\", \"old_values\", \"new_values\", \"db_user\") SELECT '{op}', {row}.\"id\", {row}.\"sfid\", \
                 (SELECT json_group_array(c) FROM ({})), \
                 (SELECT json_group_object(c, v) FROM ({})), \
                 (SELECT json_group_object(c, v) FROM ({})), {}; END",
                union(changed_parts),
                union(old_parts),
                union(new_parts),
                lit(SQLITE_DB_USER),
            ));
        }
        out
    }

    pub(super) fn table_sql(&self, m: &ObjectMapping, name: &str) -> String {
        let mut cols = vec![
            "\"id\" INTEGER PRIMARY KEY AUTOINCREMENT".to_string(),
            "\"sfid\" varchar(18) UNIQUE".to_string(),
        ];
        for f in m.data_fields() {
            cols.push(format!("{} {}", q(&f.column(D)), sql_type(D, f)));
        }
        cols.push("\"systemmodstamp\" text".into());
        cols.push("\"_dn_state\" varchar(16) NOT NULL DEFAULT 'LOCAL'".into());
        cols.push("\"_dn_error\" text".into());
        format!(
            "CREATE TABLE IF NOT EXISTS {} ({})",
            q(name),
            cols.join(", ")
        )
    }

    pub(super) fn drop_triggers(&self, m: &ObjectMapping) -> Vec<String> {
        ["__dn_ai", "__dn_au", "__dn_ad"]
            .iter()
            .map(|s| format!("DROP TRIGGER IF EXISTS {}", q(&m.derived(D, s))))
            .collect()
    }

    pub(super) fn create_mapping_step(&self, m: &ObjectMapping) -> PlanStep {
        let events = q(&m.events_table(D));
        let mut sql = vec![
            self.forget_cursor(m),
            self.table_sql(m, &m.table(D)),
            format!(
                "CREATE TABLE IF NOT EXISTS {events} (\"id\" INTEGER PRIMARY KEY AUTOINCREMENT, \"op\" text NOT NULL, \"row_id\" integer NOT NULL, \"sfid\" text, \"changed\" text NOT NULL, \"old_values\" text NOT NULL, \"new_values\" text NOT NULL, \"db_user\" text NOT NULL, \"created_at\" text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), \"state\" text NOT NULL DEFAULT 'NEW', \"error\" text, \"claim_token\" text, \"claimed_at\" text, \"processed_at\" text)"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {events} (\"state\", \"id\")",
                q(&m.derived(D, "__events_state"))
            ),
            format!(
                "INSERT OR IGNORE INTO {} (\"name\") VALUES ({}), ({})",
                q(REGISTRY_TABLE),
                lit(&m.table(D)),
                lit(&m.events_table(D))
            ),
        ];
        sql.extend(self.triggers(m));
        PlanStep::create_mapping(D, m, sql)
    }

    /// Rebuilds a table with `new`'s columns, copying the columns `old` and `new` share:
    /// SQLite cannot change a column's type in place.
    pub(super) fn rebuild_table_sql(
        &self,
        old: &ObjectMapping,
        new: &ObjectMapping,
    ) -> Vec<String> {
        let table = new.table(D);
        let tmp = ident::derived_name(D, &table, "__dn_rebuild");
        let mut common = vec![
            "\"id\"".to_string(),
            "\"sfid\"".to_string(),
            "\"systemmodstamp\"".to_string(),
            "\"_dn_state\"".to_string(),
            "\"_dn_error\"".to_string(),
        ];
        let mut values = common.clone();
        for f in new.data_fields() {
            if let Some(o) = old.data_fields().find(|o| o.column(D) == f.column(D)) {
                let c = q(&f.column(D));
                common.push(c.clone());
                // Values keep their text form; a date becoming a datetime gets its midnight.
                values.push(
                    if o.sf_type == crate::targetdb::SfType::Date
                        && f.sf_type == crate::targetdb::SfType::Datetime
                    {
                        format!(
                            "CASE WHEN length({c}) = 10 THEN {c} || 'T00:00:00.000Z' ELSE {c} END"
                        )
                    } else {
                        c
                    },
                );
            }
        }
        let cols = common.join(", ");
        let vals = values.join(", ");
        let mut sql = self.drop_triggers(old);
        sql.push(format!("DROP TABLE IF EXISTS {}", q(&tmp)));
        sql.push(self.table_sql(new, &tmp));
        sql.push(format!(
            "INSERT INTO {} ({cols}) SELECT {vals} FROM {}",
            q(&tmp),
            q(&table)
        ));
        sql.push(format!("DROP TABLE {}", q(&table)));
        sql.push(format!("ALTER TABLE {} RENAME TO {}", q(&tmp), q(&table)));
        sql.extend(self.triggers(new));
        sql
    }

    pub(super) fn render(&self, changes: Vec<Change>) -> Plan {
        // Mappings with a type change are rebuilt as a whole.
        let rebuilt: Vec<String> = changes
            .iter()
            .filter_map(|c| match c {
                Change::AlterColumn { mapping, .. } => Some(mapping.table(D)),
                _ => None,
            })
            .collect();
        let mut steps = Vec::new();
        for c in changes {
            match c {
                Change::CreateMapping(m) => steps.push(self.create_mapping_step(&m)),
                Change::DropMapping(m) => steps.push(PlanStep::drop_mapping(
                    D,
                    &m,
                    vec![
                        format!("DROP TABLE IF EXISTS {}", q(&m.events_table(D))),
                        format!("DROP TABLE IF EXISTS {}", q(&m.table(D))),
                        self.forget_cursor(&m),
                        format!(
                            "DELETE FROM {} WHERE \"name\" IN ({}, {})",
                            q(REGISTRY_TABLE),
                            lit(&m.table(D)),
                            lit(&m.events_table(D))
                        ),
                    ],
                )),
                Change::AddColumn { mapping, field } => {
                    let sql = if rebuilt.contains(&mapping.table(D)) {
                        vec![]
                    } else {
                        vec![format!(
                            "ALTER TABLE {} ADD COLUMN {} {}",
                            q(&mapping.table(D)),
                            q(&field.column(D)),
                            sql_type(D, &field)
                        )]
                    };
                    steps.push(PlanStep::add_column(D, &mapping, &field, sql))
                }
                Change::DropColumn { mapping, field } => {
                    let sql = if rebuilt.contains(&mapping.table(D)) {
                        vec![]
                    } else {
                        // Triggers naming the column must go first; they are rebuilt below.
                        let mut sql = self.drop_triggers(&mapping);
                        sql.push(format!(
                            "ALTER TABLE {} DROP COLUMN {}",
                            q(&mapping.table(D)),
                            q(&field.column(D))
                        ));
                        sql
                    };
                    steps.push(PlanStep::drop_column(D, &mapping, &field, sql))
                }
                Change::AlterColumn {
                    mapping,
                    old,
                    new,
                    narrowing,
                } => {
                    let to = format!("{} (the table is rebuilt)", sql_type(D, &new));
                    steps.push(
                        PlanStep::change_column(D, &mapping, &new, &sql_type(D, &old), &to, vec![])
                            .destructive_if(narrowing),
                    );
                }
                Change::RebuildTriggers { old, new } => {
                    if rebuilt.contains(&new.table(D)) {
                        steps.push(PlanStep::new(
                            format!("rebuild table {} with its triggers", new.table(D)),
                            self.rebuild_table_sql(&old, &new),
                        ));
                    } else {
                        steps.push(PlanStep::rebuild_triggers(D, &new, self.triggers(&new)));
                    }
                }
            }
        }
        Plan {
            dialect: D,
            schema: self.schema.clone(),
            steps,
        }
    }

    pub(super) async fn provision_impl(&self) -> Result<Provisioned, TargetError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.connect_error(e))?;
        for s in [
            format!(
                "CREATE TABLE IF NOT EXISTS {} (\"id\" integer PRIMARY KEY CHECK (\"id\" = 1), \"origin\" text, \"schema\" text NOT NULL)",
                q(CONTEXT_TABLE)
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (\"name\" text PRIMARY KEY)",
                q(REGISTRY_TABLE)
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (\"object\" text PRIMARY KEY, \"systemmodstamp\" text NOT NULL, \"last_id\" text NOT NULL, \"updated_at\" text NOT NULL)",
                q(CURSOR_TABLE)
            ),
        ] {
            tx.execute(sqlx::raw_sql(AssertSqlSafe(s)))
                .await
                .map_err(TargetError::db("provisioning the SQLite file"))?;
        }
        // One org per file: the tables have no schema to keep two orgs apart.
        sqlx::query(
            "INSERT OR IGNORE INTO \"_datenator_context\" (\"id\", \"origin\", \"schema\") VALUES (1, NULL, ?)",
        )
        .bind(&self.schema)
        .execute(&mut *tx)
        .await
        .map_err(TargetError::db("provisioning the SQLite file"))?;
        let owner: String =
            sqlx::query("SELECT \"schema\" FROM \"_datenator_context\" WHERE \"id\" = 1")
                .fetch_one(&mut *tx)
                .await
                .map_err(TargetError::db("reading the SQLite file's org"))?
                .get(0);
        if owner != self.schema {
            return Err(TargetError::Settings(format!(
                "{} already holds the tables of {owner}; give each org a file of its own",
                self.path.display()
            )));
        }
        tx.commit()
            .await
            .map_err(TargetError::db("committing the provisioning"))?;
        Ok(Provisioned {
            writer_mode: SyncWriterMode::TransactionMarking,
            sync_credentials: None,
            app_role: None,
        })
    }

    pub(super) async fn deprovision_impl(&self) -> Result<(), TargetError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.connect_error(e))?;
        let registered = sqlx::query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_datenator_tables'",
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(TargetError::db("reading the schema"))?
        .is_some();
        let mut tables: Vec<String> = Vec::new();
        if registered {
            tables = sqlx::query("SELECT \"name\" FROM \"_datenator_tables\"")
                .fetch_all(&mut *tx)
                .await
                .map_err(TargetError::db("reading the table registry"))?
                .iter()
                .map(|r| r.get(0))
                .collect();
        }
        tables.extend([CURSOR_TABLE, CONTEXT_TABLE, REGISTRY_TABLE].map(String::from));
        for t in &tables {
            tx.execute(sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP TABLE IF EXISTS {}",
                q(t)
            ))))
            .await
            .map_err(TargetError::db(format!("dropping table {t}")))?;
        }
        let has_seq = sqlx::query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'",
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(TargetError::db("reading the schema"))?
        .is_some();
        if has_seq {
            for t in &tables {
                sqlx::query("DELETE FROM sqlite_sequence WHERE name = ?")
                    .bind(t)
                    .execute(&mut *tx)
                    .await
                    .map_err(TargetError::db("clearing sqlite_sequence"))?;
            }
        }
        tx.commit().await.map_err(TargetError::db("committing"))
    }

    pub(super) async fn apply_impl(&self, plan: &Plan) -> Result<(), TargetError> {
        check_plan(plan, &self.schema)?;
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.connect_error(e))?;
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
        tx.commit()
            .await
            .map_err(TargetError::db("committing the schema change"))
    }
}
