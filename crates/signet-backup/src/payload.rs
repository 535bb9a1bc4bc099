//! The payload inside the container: JSON lines, one record per line.
//!
//! ```text
//!  {"record":"snapshot","backend":"sqlite","migrations":[{"version":1,"checksum":"…"}]}
//!  {"record":"table","name":"subjects","columns":[{"name":"id","type":"text"},…],"rows":2}
//!  ["sub_…","web",…]                       one JSON array per row, `rows` of them
//!  …                                       every table, parents before children
//!  {"record":"file","path":"keys/root-….sealed","data":"<base64>"}
//!  …                                       every data directory file carried
//!  {"record":"end","tables":12,"rows":345,"files":6}
//! ```
//!
//! Values by column type: integers as JSON integers, booleans as JSON
//! booleans, floats as JSON numbers, text as strings, blobs as base64
//! strings, NULL as `null`. The reader checks every count, so a payload
//! cut short (or padded) is refused even where the container would not be.

use crate::error::BackupError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use signet_store::snapshot::{AppliedMigration, BackendKind, Column, ColumnType, DatabaseSnapshot, TableData, TableInfo, Value};
use std::io::Write;
use zeroize::Zeroizing;

/// The payload format this Signet writes and reads.
pub const PAYLOAD_FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
enum Record {
    Snapshot { backend: BackendKind, migrations: Vec<AppliedMigration> },
    Table { name: String, columns: Vec<Column>, rows: u64 },
    File { path: String, data: String },
    End { tables: u64, rows: u64, files: u64 },
}

/// A data directory file: its path relative to the data directory (`/`-separated) and its bytes.
pub struct DataFile {
    pub path: String,
    pub data: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for DataFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataFile").field("path", &self.path).field("len", &self.data.len()).finish()
    }
}

/// Everything a backup holds.
#[derive(Debug)]
pub struct Contents {
    pub database: DatabaseSnapshot,
    pub files: Vec<DataFile>,
}

fn malformed(e: impl std::fmt::Display) -> BackupError {
    BackupError::Malformed(e.to_string())
}

/// Writes the records in order, counting them for the `end` record.
pub struct PayloadWriter<W: Write> {
    out: W,
    tables: u64,
    rows: u64,
    files: u64,
    /// Rows the current table still owes.
    owed: u64,
}

impl<W: Write> PayloadWriter<W> {
    pub fn new(mut out: W, backend: BackendKind, migrations: &[AppliedMigration]) -> Result<Self, BackupError> {
        line(&mut out, &Record::Snapshot { backend, migrations: migrations.to_vec() })?;
        Ok(Self { out, tables: 0, rows: 0, files: 0, owed: 0 })
    }

    pub fn table(&mut self, info: &TableInfo, rows: u64) -> Result<(), BackupError> {
        self.settled()?;
        line(&mut self.out, &Record::Table { name: info.name.clone(), columns: info.columns.clone(), rows })?;
        self.tables += 1;
        self.owed = rows;
        Ok(())
    }

    pub fn row(&mut self, columns: &[Column], values: &[Value]) -> Result<(), BackupError> {
        self.owed = self.owed.checked_sub(1).ok_or_else(|| malformed("a table has more rows than counted"))?;
        let json: Vec<serde_json::Value> = columns.iter().zip(values).map(|(c, v)| encode(c, v)).collect::<Result<_, _>>()?;
        line(&mut self.out, &json)?;
        self.rows += 1;
        Ok(())
    }

    pub fn file(&mut self, file: &DataFile) -> Result<(), BackupError> {
        self.settled()?;
        let data = Zeroizing::new(B64.encode(&file.data[..]));
        // Written by hand so the base64 of a secret is not copied into a serde_json::Value.
        let head = serde_json::to_string(&file.path).map_err(malformed)?;
        let io = |e: std::io::Error| malformed(format!("cannot write the payload: {e}"));
        self.out.write_all(b"{\"record\":\"file\",\"path\":").map_err(io)?;
        self.out.write_all(head.as_bytes()).map_err(io)?;
        self.out.write_all(b",\"data\":\"").map_err(io)?;
        self.out.write_all(data.as_bytes()).map_err(io)?;
        self.out.write_all(b"\"}\n").map_err(io)?;
        self.files += 1;
        Ok(())
    }

    fn settled(&self) -> Result<(), BackupError> {
        if self.owed != 0 {
            return Err(malformed(format!("a table has {} fewer rows than counted", self.owed)));
        }
        Ok(())
    }

    /// Write the `end` record; returns the writer and the (tables, rows, files) counts.
    pub fn end(mut self) -> Result<(W, u64, u64, u64), BackupError> {
        self.settled()?;
        line(&mut self.out, &Record::End { tables: self.tables, rows: self.rows, files: self.files })?;
        Ok((self.out, self.tables, self.rows, self.files))
    }
}

fn line(out: &mut impl Write, value: &impl Serialize) -> Result<(), BackupError> {
    serde_json::to_writer(&mut *out, value).map_err(malformed)?;
    out.write_all(b"\n").map_err(|e| malformed(format!("cannot write the payload: {e}")))
}

fn encode(column: &Column, v: &Value) -> Result<serde_json::Value, BackupError> {
    use serde_json::Value as J;
    Ok(match v {
        Value::Null => J::Null,
        Value::Int(i) => J::from(*i),
        Value::Bool(b) => J::Bool(*b),
        Value::Float(f) => J::Number(
            serde_json::Number::from_f64(*f)
                .ok_or_else(|| malformed(format!("column `{}` holds {f}, which JSON cannot carry", column.name)))?,
        ),
        Value::Text(s) => J::String(s.clone()),
        Value::Blob(b) => J::String(B64.encode(b)),
    })
}

fn decode(column: &Column, v: &serde_json::Value) -> Result<Value, String> {
    use serde_json::Value as J;
    let wrong = || format!("column `{}`: {v} is not a {:?} value", column.name, column.ty);
    Ok(match (column.ty, v) {
        (_, J::Null) => Value::Null,
        (ColumnType::Int2 | ColumnType::Int4 | ColumnType::Int8, J::Number(n)) => Value::Int(n.as_i64().ok_or_else(wrong)?),
        (ColumnType::Bool, J::Bool(b)) => Value::Bool(*b),
        (ColumnType::Float4 | ColumnType::Float8, J::Number(n)) => Value::Float(n.as_f64().ok_or_else(wrong)?),
        (ColumnType::Text, J::String(s)) => Value::Text(s.clone()),
        (ColumnType::Blob, J::String(s)) => Value::Blob(B64.decode(s).map_err(|_| wrong())?),
        _ => return Err(wrong()),
    })
}

/// Parse a decrypted payload, checking every count.
pub fn parse(plain: &[u8]) -> Result<Contents, BackupError> {
    let mut lines = plain.split(|b| *b == b'\n');
    let next_record = |lines: &mut std::slice::Split<'_, u8, _>| -> Result<Record, BackupError> {
        let l = lines.next().ok_or_else(|| malformed("it ends before its `end` record"))?;
        serde_json::from_slice(l).map_err(|e| malformed(format!("a record is not valid: {e}")))
    };
    let Record::Snapshot { backend, migrations } = next_record(&mut lines)? else {
        return Err(malformed("it does not start with a `snapshot` record"));
    };
    let mut tables = Vec::new();
    let mut files = Vec::new();
    let mut total_rows = 0u64;
    loop {
        match next_record(&mut lines)? {
            Record::Snapshot { .. } => return Err(malformed("a second `snapshot` record")),
            Record::Table { name, columns, rows } => {
                if !files.is_empty() {
                    return Err(malformed("a table after the files"));
                }
                let mut data = Vec::new();
                for i in 0..rows {
                    let l = lines.next().ok_or_else(|| malformed(format!("table `{name}` ends after {i} of {rows} rows")))?;
                    let json: Vec<serde_json::Value> =
                        serde_json::from_slice(l).map_err(|e| malformed(format!("table `{name}` row {i} is not a JSON array: {e}")))?;
                    if json.len() != columns.len() {
                        return Err(malformed(format!("table `{name}` row {i} has {} values for {} columns", json.len(), columns.len())));
                    }
                    let row = columns.iter().zip(&json).map(|(c, v)| decode(c, v)).collect::<Result<Vec<_>, _>>();
                    data.push(row.map_err(|e| malformed(format!("table `{name}` row {i}: {e}")))?);
                }
                total_rows += rows;
                tables.push(TableData { info: TableInfo { name, columns }, rows: data });
            }
            Record::File { path, data } => {
                let data = Zeroizing::new(data);
                let bytes = B64.decode(data.as_bytes()).map_err(|_| malformed(format!("file `{path}` is not base64")))?;
                files.push(DataFile { path, data: Zeroizing::new(bytes) });
            }
            Record::End { tables: t, rows, files: f } => {
                if (t, rows, f) != (tables.len() as u64, total_rows, files.len() as u64) {
                    return Err(malformed("its `end` record does not match what came before"));
                }
                if lines.any(|l| !l.is_empty()) {
                    return Err(malformed("data after the `end` record"));
                }
                return Ok(Contents { database: DatabaseSnapshot { backend, migrations, tables }, files });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trips_every_type_and_refuses_short_payloads() {
        let cols = vec![
            Column { name: "i".into(), ty: ColumnType::Int8 },
            Column { name: "b".into(), ty: ColumnType::Bool },
            Column { name: "t".into(), ty: ColumnType::Text },
            Column { name: "x".into(), ty: ColumnType::Blob },
            Column { name: "f".into(), ty: ColumnType::Float8 },
        ];
        let info = TableInfo { name: "t".into(), columns: cols.clone() };
        let row =
            vec![Value::Int(i64::MIN), Value::Bool(true), Value::Text("a\n\"b\"".into()), Value::Blob(vec![0, 255, 10]), Value::Float(0.5)];
        let nulls = vec![Value::Null; 5];
        let mut w = PayloadWriter::new(Vec::new(), BackendKind::Postgres, &[]).unwrap();
        w.table(&info, 2).unwrap();
        w.row(&cols, &row).unwrap();
        w.row(&cols, &nulls).unwrap();
        w.file(&DataFile { path: "keys/a.sealed".into(), data: Zeroizing::new(b"\x00secret".to_vec()) }).unwrap();
        let (bytes, tables, rows, files) = w.end().unwrap();
        assert_eq!((tables, rows, files), (1, 2, 1));
        let c = parse(&bytes).unwrap();
        assert_eq!(c.database.tables[0].rows, vec![row, nulls.clone()]);
        assert_eq!(&c.files[0].data[..], b"\x00secret");

        // Drop the second row: the counts no longer add up.
        let text = String::from_utf8(bytes.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let without: String = lines.iter().enumerate().filter(|(i, _)| *i != 3).map(|(_, l)| format!("{l}\n")).collect();
        assert!(parse(without.as_bytes()).is_err());
        assert!(parse(&bytes[..bytes.len() - 30]).is_err());
        let mut w = PayloadWriter::new(Vec::new(), BackendKind::Sqlite, &[]).unwrap();
        w.table(&info, 2).unwrap();
        w.row(&cols, &nulls).unwrap();
        assert!(w.end().is_err(), "a table short of its count is refused when writing too");
    }
}
