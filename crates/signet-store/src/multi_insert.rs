//! Many rows in one `INSERT` statement, for the issuance hot path.
//!
//! A batch of a hundred outcomes would otherwise cost three hundred statement
//! round trips (to SQLite's worker thread, or over the network to
//! PostgreSQL). Instead rows go in groups of 64, 32, ... 1 rows: a batch of
//! `n` rows takes at most `n / 64 + 6` statements, and each table has only
//! seven statement texts, which every connection prepares once and caches.
//!
//! Placeholders are `$1, $2, ...` for PostgreSQL but plain `?` for SQLite:
//! sqlx-sqlite looks up each numbered parameter by name, a linear scan in
//! SQLite, which makes binding a 960-parameter statement quadratic (a third
//! of the hot path's CPU time when measured). Anonymous `?` binds in order.

use sqlx::AssertSqlSafe;

/// How a backend spells bind parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholders {
    /// `$1, $2, ...` (PostgreSQL).
    Numbered,
    /// `?, ?, ...`, bound in order (SQLite).
    Anonymous,
}
use std::sync::Arc;

/// The largest group, as a power of two: 2^6 = 64 rows. With 15 columns that
/// is 960 bind parameters, far below SQLite's 32766 and PostgreSQL's 65535.
const MAX_GROUP_LOG2: usize = 6;

/// The statement texts for one table: `INSERT INTO t (cols) VALUES (..), (..) tail`.
#[derive(Debug)]
pub(crate) struct MultiInsert {
    /// `sql[k]` inserts `2^k` rows.
    sql: Vec<Arc<str>>,
}

impl MultiInsert {
    /// `head` is `INSERT INTO t (a, b, c)`; `tail` follows the values
    /// (an `ON CONFLICT` clause, or empty).
    pub(crate) fn new(head: &str, columns: usize, tail: &str, placeholders: Placeholders) -> Self {
        let sql = (0..=MAX_GROUP_LOG2)
            .map(|k| {
                let rows = 1usize << k;
                let mut s = String::with_capacity(head.len() + tail.len() + rows * columns * 6);
                s.push_str(head);
                s.push_str(" VALUES ");
                for r in 0..rows {
                    if r > 0 {
                        s.push_str(", ");
                    }
                    s.push('(');
                    for c in 0..columns {
                        if c > 0 {
                            s.push_str(", ");
                        }
                        match placeholders {
                            Placeholders::Numbered => {
                                s.push('$');
                                s.push_str(&(r * columns + c + 1).to_string());
                            }
                            Placeholders::Anonymous => s.push('?'),
                        }
                    }
                    s.push(')');
                }
                if !tail.is_empty() {
                    s.push(' ');
                    s.push_str(tail);
                }
                Arc::from(s)
            })
            .collect();
        Self { sql }
    }

    /// Splits `rows` into groups, largest first, each with its statement.
    /// `max_group` caps the group size (1 forces one row per statement).
    pub(crate) fn groups(&self, rows: usize, max_group: usize) -> Vec<(usize, AssertSqlSafe<Arc<str>>)> {
        let mut out = Vec::new();
        let mut left = rows;
        for (k, sql) in self.sql.iter().enumerate().rev() {
            let size = 1usize << k;
            if size > max_group {
                continue;
            }
            while left >= size {
                out.push((size, AssertSqlSafe(Arc::clone(sql))));
                left -= size;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_number_their_parameters_row_by_row() {
        let m = MultiInsert::new("INSERT INTO t (a, b)", 2, "ON CONFLICT DO NOTHING", Placeholders::Numbered);
        assert_eq!(&*m.sql[0], "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT DO NOTHING");
        assert_eq!(&*m.sql[1], "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT DO NOTHING");
        let m = MultiInsert::new("INSERT INTO t (a, b)", 2, "", Placeholders::Anonymous);
        assert_eq!(&*m.sql[1], "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)");
    }

    #[test]
    fn groups_cover_every_row_largest_first() {
        let m = MultiInsert::new("INSERT INTO t (a)", 1, "", Placeholders::Numbered);
        let sizes = |n, max| m.groups(n, max).iter().map(|(s, _)| *s).collect::<Vec<_>>();
        assert_eq!(sizes(0, 64), Vec::<usize>::new());
        assert_eq!(sizes(1, 64), vec![1]);
        assert_eq!(sizes(100, 64), vec![64, 32, 4]);
        assert_eq!(sizes(200, 64), vec![64, 64, 64, 8]);
        assert_eq!(sizes(3, 1), vec![1, 1, 1]);
        for n in 0..300 {
            assert_eq!(sizes(n, 64).iter().sum::<usize>(), n);
        }
    }
}
