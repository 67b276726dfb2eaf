//! The `impl Target` methods that only forward, written once for every dialect.

/// The [`Target`](crate::targetdb::Target) methods every dialect answers alike, for its
/// `impl Target` block (`bookkeeping::target_methods!();`): with its
/// [`Bookkeeping`](super::Bookkeeping), and with what each dialect has under the same
/// names — a `schema` field and the methods `run_check`, `provision_impl`,
/// `deprovision_impl`, `render` (a diff as a plan), `apply_impl` and
/// `upsert_impl(mapping, rows, position, lenient, keep_pending)`.
macro_rules! target_methods {
    () => {
        fn dialect(&self) -> $crate::targetdb::Dialect {
            <Self as $crate::targetdb::bookkeeping::Bookkeeping>::DIALECT
        }

        fn schema(&self) -> &str {
            &self.schema
        }

        async fn check(&self) -> ::datenator_shared::datasource::CheckReport {
            self.run_check().await
        }

        async fn provision(
            &self,
        ) -> Result<$crate::targetdb::Provisioned, $crate::targetdb::TargetError> {
            self.provision_impl().await
        }

        async fn deprovision(&self) -> Result<(), $crate::targetdb::TargetError> {
            self.deprovision_impl().await
        }

        fn plan(
            &self,
            old: &[$crate::targetdb::ObjectMapping],
            new: &[$crate::targetdb::ObjectMapping],
        ) -> Result<$crate::targetdb::Plan, $crate::targetdb::TargetError> {
            let d = <Self as $crate::targetdb::bookkeeping::Bookkeeping>::DIALECT;
            Ok(self.render($crate::targetdb::plan::diff(d, old, new)?))
        }

        async fn apply(
            &self,
            plan: &$crate::targetdb::Plan,
        ) -> Result<(), $crate::targetdb::TargetError> {
            self.apply_impl(plan).await
        }

        async fn upsert_rows(
            &self,
            mapping: &$crate::targetdb::ObjectMapping,
            rows: &[$crate::targetdb::Row],
            cursor: Option<&$crate::targetdb::Cursor>,
        ) -> Result<u64, $crate::targetdb::TargetError> {
            let position = cursor.map(|c| $crate::targetdb::Position::pull(&mapping.object, c));
            Ok(self
                .upsert_impl(mapping, rows, position, false, false)
                .await?
                .written)
        }

        async fn upsert_rows_lenient(
            &self,
            mapping: &$crate::targetdb::ObjectMapping,
            rows: &[$crate::targetdb::Row],
            cursor: Option<$crate::targetdb::Position<'_>>,
            keep_pending: bool,
        ) -> Result<$crate::targetdb::UpsertReport, $crate::targetdb::TargetError> {
            self.upsert_impl(mapping, rows, cursor, true, keep_pending)
                .await
        }

        async fn cursor(
            &self,
            object: &str,
        ) -> Result<Option<$crate::targetdb::Cursor>, $crate::targetdb::TargetError> {
            $crate::targetdb::bookkeeping::Bookkeeping::cursor(self, object).await
        }
        async fn leave_rows(
            &self,
            mapping: &$crate::targetdb::ObjectMapping,
            sfids: &[String],
            how: $crate::targetdb::RowsLeave,
        ) -> Result<u64, $crate::targetdb::TargetError> {
            $crate::targetdb::bookkeeping::Bookkeeping::leave_rows(self, mapping, sfids, how).await
        }
        async fn reset_cursor(&self, object: &str) -> Result<(), $crate::targetdb::TargetError> {
            $crate::targetdb::bookkeeping::Bookkeeping::reset_cursor(self, object).await
        }
        async fn requeue_claimed(
            &self,
            mapping: &$crate::targetdb::ObjectMapping,
        ) -> Result<u64, $crate::targetdb::TargetError> {
            $crate::targetdb::bookkeeping::Bookkeeping::requeue_claimed(self, mapping).await
        }
        async fn settle_events(
            &self,
            mapping: &$crate::targetdb::ObjectMapping,
            ids: &[i64],
            not_sent: Option<&'static str>,
        ) -> Result<(), $crate::targetdb::TargetError> {
            $crate::targetdb::bookkeeping::Bookkeeping::settle_events(self, mapping, ids, not_sent)
                .await
        }
        async fn mark_events_failed(
            &self,
            mapping: &$crate::targetdb::ObjectMapping,
            failed: &[(i64, &str)],
        ) -> Result<(), $crate::targetdb::TargetError> {
            $crate::targetdb::bookkeeping::Bookkeeping::mark_events_failed(self, mapping, failed)
                .await
        }
        async fn event_counts(
            &self,
            mapping: &$crate::targetdb::ObjectMapping,
        ) -> Result<$crate::targetdb::EventCounts, $crate::targetdb::TargetError> {
            $crate::targetdb::bookkeeping::Bookkeeping::event_counts(self, mapping).await
        }
        async fn purge_events(
            &self,
            mapping: &$crate::targetdb::ObjectMapping,
            before: ::chrono::DateTime<::chrono::Utc>,
        ) -> Result<u64, $crate::targetdb::TargetError> {
            $crate::targetdb::bookkeeping::Bookkeeping::purge_events(self, mapping, before).await
        }
        async fn write_back_sfids(
            &self,
            mapping: &$crate::targetdb::ObjectMapping,
            created: &[(i64, &str)],
        ) -> Result<(), $crate::targetdb::TargetError> {
            $crate::targetdb::bookkeeping::Bookkeeping::write_back_sfids(self, mapping, created)
                .await
        }
        async fn pending_fields(
            &self,
            mapping: &$crate::targetdb::ObjectMapping,
            sfids: &[String],
        ) -> Result<Vec<(i64, Vec<String>)>, $crate::targetdb::TargetError> {
            $crate::targetdb::bookkeeping::Bookkeeping::pending_fields(self, mapping, sfids).await
        }
        async fn write_fields(
            &self,
            mapping: &$crate::targetdb::ObjectMapping,
            sfid: &str,
            values: &::serde_json::Map<String, ::serde_json::Value>,
            expected: &::serde_json::Map<String, ::serde_json::Value>,
        ) -> Result<(), $crate::targetdb::TargetError> {
            $crate::targetdb::bookkeeping::Bookkeeping::write_fields(
                self, mapping, sfid, values, expected,
            )
            .await
        }
        async fn fill_fields(
            &self,
            mapping: &$crate::targetdb::ObjectMapping,
            fields: &[String],
            rows: &[$crate::targetdb::Row],
        ) -> Result<$crate::targetdb::UpsertReport, $crate::targetdb::TargetError> {
            $crate::targetdb::bookkeeping::Bookkeeping::fill_fields(self, mapping, fields, rows)
                .await
        }
        async fn row_count(
            &self,
            mapping: &$crate::targetdb::ObjectMapping,
        ) -> Result<u64, $crate::targetdb::TargetError> {
            $crate::targetdb::bookkeeping::Bookkeeping::row_count(self, mapping).await
        }
        async fn synced_sfids(
            &self,
            mapping: &$crate::targetdb::ObjectMapping,
            read_back: bool,
        ) -> Result<Vec<String>, $crate::targetdb::TargetError> {
            $crate::targetdb::bookkeeping::Bookkeeping::synced_sfids(self, mapping, read_back).await
        }
        async fn failed_events(
            &self,
            mapping: &$crate::targetdb::ObjectMapping,
            limit: usize,
        ) -> Result<Vec<$crate::targetdb::FailedEvent>, $crate::targetdb::TargetError> {
            $crate::targetdb::bookkeeping::Bookkeeping::failed_events(self, mapping, limit).await
        }
        async fn recent_events(
            &self,
            mapping: &$crate::targetdb::ObjectMapping,
            limit: usize,
        ) -> Result<Vec<$crate::targetdb::RecentEvent>, $crate::targetdb::TargetError> {
            $crate::targetdb::bookkeeping::Bookkeeping::recent_events(self, mapping, limit).await
        }
        async fn settle_failed(
            &self,
            mapping: &$crate::targetdb::ObjectMapping,
            scope: $crate::targetdb::FailedScope<'_>,
            action: $crate::targetdb::FailedAction,
        ) -> Result<u64, $crate::targetdb::TargetError> {
            $crate::targetdb::bookkeeping::Bookkeeping::settle_failed(self, mapping, scope, action)
                .await
        }
    };
}

pub(crate) use target_methods;
