//! Listings filtered by authorisation, paged over what the store holds.
//!
//! A caller sees only the rows its policies let it read, and which rows
//! those are is known only after each is decided. Paging therefore runs
//! over the store's rows, not over the visible ones: `offset` is a position
//! in the store's listing, and each page says where the next one starts
//! ([`Listing::next_offset`]). A page may hold fewer than `limit` items (or
//! none) while more follow; only `next_offset: None` means the end. One call
//! reads at most [`SCAN_LIMIT`] stored rows, so a caller that may read
//! little of a large table gets short pages quickly rather than one long
//! scan.

use crate::ports::Page;

/// The most stored rows one listing call reads, whatever it returns.
pub const SCAN_LIMIT: u32 = 2_000;

/// One page of a listing: the rows the caller may read, and the offset of
/// the next page (`None`: the listing is complete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub next_offset: Option<u32>,
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
///     let rows = store.list(read).await?;
///     page.read(read, rows.len());
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
    /// The store position after the last row offered.
    at: u32,
    /// Where this call stops reading.
    end: u32,
    /// The store returned fewer rows than asked: nothing follows.
    exhausted: bool,
    items: Vec<T>,
}

impl<T> VisiblePage<T> {
    pub(crate) fn new(page: Page) -> Self {
        Self {
            limit: page.limit,
            at: page.offset,
            end: page.offset.saturating_add(SCAN_LIMIT.max(page.limit)),
            exhausted: false,
            items: Vec::new(),
        }
    }

    /// The stored rows to read next, or `None`: the page is complete.
    pub(crate) fn next_read(&self) -> Option<Page> {
        if !self.wants_more() || self.exhausted || self.at >= self.end {
            return None;
        }
        // As many rows as are still wanted (one query when all are visible),
        // but not so few that a sparse listing takes many queries.
        let still_wanted = self.limit.saturating_sub(len_u32(&self.items));
        Some(Page { limit: still_wanted.max(100).min(self.end - self.at), offset: self.at })
    }

    /// The store answered `read` with `rows` rows.
    pub(crate) fn read(&mut self, read: Page, rows: usize) {
        self.exhausted = rows < read.limit as usize;
    }

    /// Does the page take another row?
    pub(crate) fn wants_more(&self) -> bool {
        len_u32(&self.items) < self.limit
    }

    /// The next stored row, kept if the caller may read it.
    pub(crate) fn offer(&mut self, row: T, visible: bool) {
        self.at = self.at.saturating_add(1);
        if visible {
            self.items.push(row);
        }
    }

    pub(crate) fn finish(self) -> Listing<T> {
        // Rows were left unread (the page filled, or the scan stopped) unless
        // the store ran out and every row it gave was offered.
        let complete = self.exhausted && self.wants_more();
        // Paging ends where positions do.
        let next_offset = (!complete && self.at < u32::MAX).then_some(self.at);
        Listing { items: self.items, next_offset }
    }
}

fn len_u32<T>(v: &[T]) -> u32 {
    u32::try_from(v.len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A listing over a store of rows `0..n`; counts queries.
    fn list(n: u32, page: Page, visible: impl Fn(u32) -> bool) -> (Listing<u32>, u32) {
        let mut queries = 0;
        let mut p = VisiblePage::new(page);
        while let Some(read) = p.next_read() {
            queries += 1;
            let rows: Vec<u32> = (read.offset..n.min(read.offset.saturating_add(read.limit))).collect();
            p.read(read, rows.len());
            for row in rows {
                if !p.wants_more() {
                    break;
                }
                p.offer(row, visible(row));
            }
        }
        (p.finish(), queries)
    }

    #[test]
    fn everything_visible_is_one_query_per_page() {
        let (l, q) = list(250, Page { limit: 100, offset: 0 }, |_| true);
        assert_eq!((l.items.len(), l.items[0], l.next_offset, q), (100, 0, Some(100), 1));
        let (l, _) = list(250, Page { limit: 100, offset: 200 }, |_| true);
        assert_eq!((l.items.len(), l.items[0], l.next_offset), (50, 200, None));
    }

    #[test]
    fn pages_of_a_sparse_listing_hold_only_visible_rows_and_chain() {
        // Every tenth row is visible: pages of 3 follow each other without
        // gaps or repeats, and the last says so.
        let mut seen = Vec::new();
        let mut offset = 0;
        loop {
            let (l, _) = list(95, Page { limit: 3, offset }, |r| r % 10 == 0);
            assert!(l.items.iter().all(|r| r % 10 == 0));
            seen.extend(l.items);
            match l.next_offset {
                Some(next) => offset = next,
                None => break,
            }
        }
        assert_eq!(seen, (0..95).filter(|r| r % 10 == 0).collect::<Vec<_>>());
    }

    #[test]
    fn one_call_reads_a_bounded_number_of_rows() {
        let (l, _) = list(1_000_000, Page { limit: 10, offset: 5 }, |_| false);
        assert_eq!((l.items.len(), l.next_offset), (0, Some(5 + SCAN_LIMIT)));
        let (l, _) = list(u32::MAX, Page { limit: 10, offset: u32::MAX - 3 }, |_| false);
        assert_eq!(l.next_offset, None, "paging ends where positions do");
    }
}
