//! Pages of lists: every list is one keyset page of the store, newest first, continued after
//! the last item of the previous page. Clients see an opaque cursor (the item's id, base64);
//! a cursor that does not decode to an id was not issued here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{ManageError, ManageResult};

/// Items per page when the caller does not say.
pub const DEFAULT_LIMIT: i64 = 50;
/// The most items one page may hold.
pub const MAX_LIMIT: i64 = 500;

/// What a cursor that was not issued here is answered.
pub const NOT_ISSUED: &str =
    "cursor is not one this server issued: pass the next_cursor of the previous page as it was";

/// Which page of a list: its size and the id of the last item of the previous page.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<String>,
}

impl PageRequest {
    /// A page asked for with `limit` (default [`DEFAULT_LIMIT`], 1 to [`MAX_LIMIT`]) after
    /// `cursor` (as clients got it).
    pub fn checked(limit: Option<i64>, cursor: Option<&str>) -> ManageResult<PageRequest> {
        Ok(PageRequest {
            limit: self::limit(limit)?,
            after: after(cursor)?,
        })
    }
}

/// A page size asked for: default [`DEFAULT_LIMIT`], 1 to [`MAX_LIMIT`].
pub fn limit(n: Option<i64>) -> ManageResult<i64> {
    match n {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ManageError::Malformed(format!(
            "limit must be between 1 and {MAX_LIMIT}, got {n}"
        ))),
    }
}

/// `?limit=&cursor=` of list calls, as asked: [`PageQuery::page`] checks them.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size: 1 to 500 (default 50). Anything else is a 400.
    #[param(minimum = 1, maximum = 500, default = 50)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page (opaque). A cursor this server did not issue is a
    /// 400.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page asked for, checked (400 on a size out of range or a cursor not issued here).
    pub fn page(&self) -> ManageResult<PageRequest> {
        PageRequest::checked(self.limit, self.cursor.as_deref())
    }
}

/// One page of a list, and the id of its last item when more follow.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// The store's `(items, next)`, each item shown as `view` shows it.
    pub fn of<R>((items, next): (Vec<R>, Option<String>), view: impl Fn(&R) -> T) -> Page<T> {
        Page {
            items: items.iter().map(view).collect(),
            next,
        }
    }

    /// The same page, each item shown as `view` shows it.
    pub fn map<U>(self, view: impl Fn(&T) -> U) -> Page<U> {
        Page {
            items: self.items.iter().map(view).collect(),
            next: self.next,
        }
    }

    /// The cursor clients pass for the next page; `None` on the last.
    pub fn next_cursor(&self) -> Option<String> {
        encode_cursor(self.next.clone())
    }
}

/// The id a cursor stands for; `None` for no cursor (or an empty one).
pub fn after(cursor: Option<&str>) -> ManageResult<Option<String>> {
    cursor
        .filter(|c| !c.is_empty())
        .map(|c| {
            URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .filter(|id| uuid::Uuid::parse_str(id).is_ok())
                .ok_or_else(|| ManageError::Malformed(NOT_ISSUED.into()))
        })
        .transpose()
}

/// The opaque cursor clients pass back for the page after the item with id `next`.
pub fn encode_cursor(next: Option<String>) -> Option<String> {
    next.map(|n| URL_SAFE_NO_PAD.encode(n))
}

/// The cursor of a page of versions, after version `n`.
pub fn version_cursor(n: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("v:{n}"))
}

/// The version a [`version_cursor`] stands for; `None` if it is not one.
pub fn version_after(cursor: &str) -> Option<i64> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| t.strip_prefix("v:")?.parse::<i64>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_checked() {
        let p = PageRequest::checked(None, None).unwrap();
        assert_eq!((p.limit, p.after), (DEFAULT_LIMIT, None));
        for bad in [0, 501, -1] {
            assert_eq!(
                PageRequest::checked(Some(bad), None).unwrap_err(),
                ManageError::Malformed(format!("limit must be between 1 and 500, got {bad}"))
            );
        }
        let id = "0190c0de-0000-7000-8000-000000000000";
        let c = encode_cursor(Some(id.into())).unwrap();
        assert_eq!(after(Some(&c)).unwrap().as_deref(), Some(id));
        assert_eq!(after(Some("")).unwrap(), None);
        assert_eq!(
            after(Some("bm90LWFuLWlk")).unwrap_err(),
            ManageError::Malformed(NOT_ISSUED.into())
        );
        assert_eq!(version_after(&version_cursor(7)), Some(7));
        assert_eq!(version_after(&c), None);
    }
}
