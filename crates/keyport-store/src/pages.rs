//! Cursor pagination: every list answers at most `limit` rows (1 to 500) in a stable order
//! and the cursor after which the next page starts (a key of the last row: an id, a code).

use keyport_core::CoreError;

use crate::StoreResult;

/// The most rows one page holds.
pub const MAX_LIMIT: u32 = 500;

/// Which page to read: after this cursor, at most this many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    /// The last key of the previous page (`None` for the first page).
    pub after: Option<String>,
    /// At most this many rows.
    pub limit: u32,
}

impl Paging {
    /// Reads `after` and `limit` (1 to 500; `default` when absent). A cursor is at most
    /// 200 characters: no key Keyport pages by is longer.
    pub fn new(after: Option<&str>, limit: Option<u32>, default: u32) -> Result<Paging, CoreError> {
        let limit = limit.unwrap_or(default);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(CoreError::invalid("limit", "must be between 1 and 500"));
        }
        let after = after.map(str::trim).filter(|a| !a.is_empty());
        if after.is_some_and(|a| a.chars().count() > 200 || a.contains('\0')) {
            return Err(CoreError::invalid("after", "is not a cursor from this list"));
        }
        Ok(Paging { after: after.map(str::to_owned), limit })
    }

    /// The first page of `limit` rows.
    pub fn first(limit: u32) -> Paging {
        Paging { after: None, limit: limit.clamp(1, MAX_LIMIT) }
    }

    /// Rows to load: one more than the page, to know whether another follows.
    pub(crate) fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

/// One page of a list and the cursor of the next (absent on the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Pass this as `after` for the next page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The page from rows loaded with [`Paging::fetch`]; `key` names a row's cursor.
    pub(crate) fn of(mut rows: Vec<T>, paging: &Paging, key: impl Fn(&T) -> String) -> Page<T> {
        let more = rows.len() > paging.limit as usize;
        rows.truncate(paging.limit as usize);
        let next_cursor = if more { rows.last().map(key) } else { None };
        Page { items: rows, next_cursor }
    }

    /// The same page with each row turned into another type.
    pub fn try_map<U>(self, f: impl FnMut(T) -> StoreResult<U>) -> StoreResult<Page<U>> {
        Ok(Page {
            items: self.items.into_iter().map(f).collect::<StoreResult<Vec<U>>>()?,
            next_cursor: self.next_cursor,
        })
    }
}
