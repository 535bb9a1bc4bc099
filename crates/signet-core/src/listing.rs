//! Listings filtered by authorisation, paged over what the store holds.
//!
//! A caller sees only the rows its policies let it read, and which rows
//! those are is known only after each is decided. Paging therefore runs
//! over the store's rows, not over the visible ones: a page ends at a
//! position in the store's newest-first order (the sort key of the last
//! row read, a [`Cursor`]), and the next page starts after it. A page may
//! hold fewer than `limit` items (or none) while more follow; only
//! `next: None` means the end. Because a position is a sort key, not a
//! count, rows added while someone pages through a listing do not shift
//! its later pages (with offsets, a listing paged while new rows arrive
//! faster than it is read would never end). One call reads at most
//! [`SCAN_LIMIT`] stored rows, so a caller that may read little of a large
//! table gets short pages quickly rather than one long scan.

use crate::ports::{Cursor, Page};
use signet_model::credential::Credential;
use signet_model::request::Request;
use signet_model::subject::Subject;

/// The most stored rows one listing call reads, whatever it returns.
pub const SCAN_LIMIT: u32 = 2_000;

/// One page of a listing: the rows the caller may read, and where the next
/// page starts (`None`: the listing is complete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

/// A row of a newest-first listing: its position.
pub trait Listed {
    fn position(&self) -> Cursor;
}

impl Listed for Subject {
    fn position(&self) -> Cursor {
        Cursor { created_at: self.created_at, id: self.id.to_string() }
    }
}

impl Listed for Request {
    fn position(&self) -> Cursor {
        Cursor { created_at: self.created_at, id: self.id.to_string() }
    }
}

impl Listed for Credential {
    fn position(&self) -> Cursor {
        Cursor { created_at: self.created_at, id: self.id.to_string() }
    }
}

/// Builds one [`Listing`] page: the caller reads stored rows where
/// [`VisiblePage::next_read`] says, offers each with whether the caller may
/// read it, and stops when `next_read` says `None`. The store is read until
/// `page.limit` rows are kept, it has no more rows, or [`SCAN_LIMIT`] rows
/// were read.
///
/// ```text
/// let mut page = VisiblePage::new(page);
/// while let Some(read) = page.next_read() {
///     let rows = store.list(&read).await?;
///     page.read(&read, rows.len());
///     for row in rows {
///         if !page.wants_more() { break }
///         let visible = permitted(&row).await?;
///         page.offer(row, visible);
///     }
/// }
/// page.finish()
/// ```
#[derive(Debug)]
pub(crate) struct VisiblePage<T> {
    limit: u32,
    /// The position of the last row offered (where the next read starts).
    after: Option<Cursor>,
    /// Rows this call may still read.
    budget: u32,
    /// The store returned fewer rows than asked: nothing follows.
    exhausted: bool,
    items: Vec<T>,
}

impl<T: Listed> VisiblePage<T> {
    pub(crate) fn new(page: Page) -> Self {
        Self { limit: page.limit, after: page.after, budget: SCAN_LIMIT.max(page.limit), exhausted: false, items: Vec::new() }
    }

    /// The stored rows to read next, or `None`: the page is complete.
    pub(crate) fn next_read(&self) -> Option<Page> {
        if !self.wants_more() || self.exhausted || self.budget == 0 {
            return None;
        }
        // As many rows as are still wanted (one query when all are visible),
        // but not so few that a sparse listing takes many queries.
        let still_wanted = self.limit.saturating_sub(len_u32(&self.items));
        Some(Page { limit: still_wanted.max(100).min(self.budget), after: self.after.clone() })
    }

    /// The store answered `read` with `rows` rows.
    pub(crate) fn read(&mut self, read: &Page, rows: usize) {
        self.exhausted = rows < read.limit as usize;
    }

    /// Does the page take another row?
    pub(crate) fn wants_more(&self) -> bool {
        len_u32(&self.items) < self.limit
    }

    /// The next stored row, kept if the caller may read it.
    pub(crate) fn offer(&mut self, row: T, visible: bool) {
        self.after = Some(row.position());
        self.budget = self.budget.saturating_sub(1);
        if visible {
            self.items.push(row);
        }
    }

    pub(crate) fn finish(self) -> Listing<T> {
        // Complete when the store ran out and every row it gave was offered;
        // otherwise rows may remain after the last one offered.
        let complete = self.exhausted && self.wants_more();
        Listing { next: if complete { None } else { self.after }, items: self.items }
    }
}

fn len_u32<T>(v: &[T]) -> u32 {
    u32::try_from(v.len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use time::OffsetDateTime;

    /// Row `n` of a test table: created at second `n / 3` (ties within a
    /// second), id `r{n:06}`; newest first means descending `n`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Row(u32);

    impl Listed for Row {
        fn position(&self) -> Cursor {
            Cursor { created_at: at(self.0), id: format!("r{:06}", self.0) }
        }
    }

    fn at(n: u32) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + i64::from(n / 3)).unwrap()
    }

    /// The store's newest-first read of rows `0..n` after `page.after`.
    fn read(n: u32, page: &Page) -> Vec<Row> {
        let below = page.after.as_ref().map_or(n, |c| c.id[1..].parse().unwrap());
        (0..below.min(n)).rev().map(Row).take(page.limit as usize).collect()
    }

    /// A listing over rows `0..n`; counts queries.
    fn list(n: u32, page: Page, visible: impl Fn(u32) -> bool) -> (Listing<Row>, u32) {
        let mut queries = 0;
        let mut p = VisiblePage::new(page);
        while let Some(r) = p.next_read() {
            queries += 1;
            let rows = read(n, &r);
            p.read(&r, rows.len());
            for row in rows {
                if !p.wants_more() {
                    break;
                }
                p.offer(row, visible(row.0));
            }
        }
        (p.finish(), queries)
    }

    #[test]
    fn everything_visible_is_one_query_per_page() {
        let (l, q) = list(250, Page { limit: 100, after: None }, |_| true);
        assert_eq!((l.items.len(), l.items[0], q), (100, Row(249), 1));
        assert_eq!(l.next, Some(Row(150).position()));
        let (l, _) = list(250, Page { limit: 100, after: Some(Row(50).position()) }, |_| true);
        assert_eq!((l.items.len(), l.items[0], l.next), (50, Row(49), None));
    }

    #[test]
    fn pages_of_a_sparse_listing_hold_only_visible_rows_and_chain() {
        // Every tenth row is visible: pages of 3 follow each other without
        // gaps or repeats, and the last says so.
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let (l, _) = list(95, Page { limit: 3, after }, |r| r % 10 == 0);
            assert!(l.items.iter().all(|r| r.0 % 10 == 0));
            seen.extend(l.items.iter().map(|r| r.0));
            match l.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, (0..95).rev().filter(|r| r % 10 == 0).collect::<Vec<_>>());
    }

    #[test]
    fn rows_added_while_paging_do_not_shift_later_pages() {
        let (first, _) = list(30, Page { limit: 10, after: None }, |_| true);
        // Twenty newer rows arrive before the next page is read.
        let (second, _) = list(50, Page { limit: 10, after: first.next }, |_| true);
        assert_eq!(second.items.iter().map(|r| r.0).collect::<Vec<_>>(), (10..20).rev().collect::<Vec<_>>());
    }

    #[test]
    fn one_call_reads_a_bounded_number_of_rows() {
        let (l, q) = list(1_000_000, Page { limit: 10, after: None }, |_| false);
        assert_eq!(l.items.len(), 0);
        assert_eq!(l.next, Some(Row(1_000_000 - SCAN_LIMIT).position()), "the next call goes on where this one stopped");
        assert_eq!(q, SCAN_LIMIT / 100);
    }
}
