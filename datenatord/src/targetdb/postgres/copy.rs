//! PostgreSQL bulk loads: rows (or a Bulk CSV chunk as it is) streamed into `COPY … FROM
//! STDIN` as CSV.
use super::*;

/// Rows formatted and sent per COPY data message.
pub(super) const COPY_SLICE: usize = 2000;

/// What a bulk load loads: typed rows, or a Bulk CSV chunk's cells as they are.
pub(super) enum LoadRows<'a> {
    Typed(&'a [Row]),
    Csv(&'a CsvChunk),
}

/// How a Bulk CSV cell of a type goes into COPY's CSV, when PostgreSQL reads Salesforce's
/// text form of it as is (`None`: the cell needs converting first).
#[derive(Clone, Copy)]
pub(super) enum CsvCell {
    /// Text: always quoted, so an empty string stays apart from null.
    Quoted,
    /// Numbers, booleans, dates, datetimes, times: PostgreSQL parses Salesforce's forms.
    Plain,
}

pub(super) fn csv_cell(t: crate::targetdb::SfType) -> Option<CsvCell> {
    use crate::targetdb::SfType::*;
    match t {
        Id | Reference | String | Email | Phone | Url | Picklist | Combobox | Encryptedstring
        | Textarea | Multipicklist => Some(CsvCell::Quoted),
        Boolean | Int | Long | Double | Currency | Percent | Date | Datetime | Time => {
            Some(CsvCell::Plain)
        }
        Base64 | AnyType | Address | Location => None,
    }
}

/// Streams `rows` as CSV into `copy` (a `COPY … FROM STDIN` statement); returns the rows
/// the server took.
pub(super) async fn copy_rows(
    tx: &mut sqlx::PgConnection,
    copy: &str,
    m: &ObjectMapping,
    rows: &LoadRows<'_>,
) -> Result<u64, TargetError> {
    let context = || format!("loading rows into {}", m.table(D));
    let mut copy_in = tx
        .copy_in_raw(copy)
        .await
        .map_err(TargetError::db(context()))?;
    let width = 32 + 24 * m.fields.len();
    match rows {
        LoadRows::Typed(rows) => {
            send_lines(&mut copy_in, rows, width, &context(), |csv, r| {
                let vals = row_values(D, m, r)?;
                push_csv_text(csv, &r.sfid);
                csv.push(',');
                if let Some(t) = r.systemmodstamp {
                    push_csv_text(csv, &crate::targetdb::types::datetime_text(D, &t));
                }
                for v in &vals {
                    csv.push(',');
                    push_csv_field(csv, v);
                }
                Ok(())
            })
            .await?;
        }
        LoadRows::Csv(chunk) => {
            let h = &chunk.header;
            // Per column: where its cell is in the record and how it is written.
            let mut columns = vec![
                (h.id_column(), CsvCell::Quoted),
                (h.stamp_column(), CsvCell::Plain),
            ];
            columns.extend(m.data_fields().map(|f| {
                (
                    h.position(&f.name),
                    csv_cell(f.sf_type).unwrap_or(CsvCell::Quoted),
                )
            }));
            send_lines(
                &mut copy_in,
                &chunk.records,
                width,
                &context(),
                |csv, record| {
                    for (i, (at, how)) in columns.iter().enumerate() {
                        if i > 0 {
                            csv.push(',');
                        }
                        // An empty Bulk CSV cell is a null.
                        match at.and_then(|a| record.get(a)).filter(|c| !c.is_empty()) {
                            None => {}
                            Some(cell) => match how {
                                CsvCell::Plain if !cell.contains([',', '"', '\n', '\r']) => {
                                    csv.push_str(cell)
                                }
                                _ => push_csv_text(csv, cell),
                            },
                        }
                    }
                    Ok(())
                },
            )
            .await?;
        }
    }
    copy_in.finish().await.map_err(TargetError::db(context()))
}

/// Sends `items` as COPY CSV lines, [`COPY_SLICE`] to a data message: `line` writes an
/// item's columns but the last, `_dn_state`, which is `SYNCED` for every loaded row.
pub(super) async fn send_lines<T>(
    copy_in: &mut sqlx::postgres::PgCopyIn<&mut PgConnection>,
    items: &[T],
    width: usize,
    context: &str,
    mut line: impl FnMut(&mut String, &T) -> Result<(), TargetError>,
) -> Result<(), TargetError> {
    for slice in items.chunks(COPY_SLICE) {
        let mut csv = String::with_capacity(slice.len() * width);
        for item in slice {
            line(&mut csv, item)?;
            csv.push_str(",SYNCED\n");
        }
        copy_in
            .send(csv.into_bytes())
            .await
            .map_err(TargetError::db(context))?;
    }
    Ok(())
}

/// Appends a COPY CSV text field (always quoted: an empty string is not a null).
pub(super) fn push_csv_text(out: &mut String, s: &str) {
    out.push('"');
    if s.contains(['"', '\0']) {
        // PostgreSQL text cannot hold NUL: it is left out (see `types::to_sql`).
        out.push_str(&s.replace('\0', "").replace('"', "\"\""));
    } else {
        out.push_str(s);
    }
    out.push('"');
}

/// Appends a COPY CSV field without an intermediate string.
pub(super) fn push_csv_field(out: &mut String, v: &SqlValue) {
    use std::fmt::Write;
    match v {
        SqlValue::Null => {}
        SqlValue::Bool(b) => out.push(if *b { 't' } else { 'f' }),
        SqlValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        SqlValue::Text(s) => push_csv_text(out, s),
    }
}
