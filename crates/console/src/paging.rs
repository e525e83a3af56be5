//! Long lists in pages: the inbox, the outbox and the alarms show at most [`PAGE_ROWS_MAX`]
//! rows each, newest first, with links to the newer and older pages (`?page=N`, from 0). A
//! page's rows alone are rendered, so a record of any size makes pages of bounded size.

use serde::Deserialize;

use crate::limits::PAGE_ROWS_MAX;
use crate::pages::Tr;

/// `?page=N`; absent: the first page. Anything but a whole number is refused with 400.
#[derive(Deserialize)]
pub(crate) struct PageQuery {
    #[serde(default)]
    page: usize,
}

/// Where a page stands in its list, as the page shows it.
pub(crate) struct Pager {
    /// "101–200 of 412"; empty for a list of one page.
    pub(crate) showing: String,
    /// The link to the newer page, if this is not the first.
    pub(crate) newer: Option<String>,
    /// The link to the older page, if there is one.
    pub(crate) older: Option<String>,
}

/// The address of page `page` of the list at `path`.
pub(crate) fn href(path: &str, page: usize) -> String {
    match page {
        0 => path.to_owned(),
        page => format!("{path}?page={page}"),
    }
}

/// The page (from 0) row `index` of a list is on.
pub(crate) fn page_of(index: usize) -> usize {
    index / PAGE_ROWS_MAX
}

impl PageQuery {
    /// This page's number, from 0.
    pub(crate) fn number(&self) -> usize {
        self.page
    }

    /// The rows of this page among `rows` (newest first), and where it stands. A page past
    /// the end is empty, with a link back to the first.
    pub(crate) fn page<T>(&self, path: &str, tr: &Tr, rows: Vec<T>) -> (Vec<T>, Pager) {
        let total = rows.len();
        let start = self.page.saturating_mul(PAGE_ROWS_MAX);
        let shown: Vec<T> = rows.into_iter().skip(start).take(PAGE_ROWS_MAX).collect();
        let end = start.saturating_add(shown.len());
        let total_text = total.to_string();
        let showing = if self.page == 0 && total <= PAGE_ROWS_MAX {
            String::new()
        } else if shown.is_empty() {
            tr.ta("page-past-end", &[("total", &total_text)])
        } else {
            let range = format!("{}–{end}", start + 1);
            tr.ta("page-showing", &[("range", &range), ("total", &total_text)])
        };
        let link = |page: usize| href(path, page);
        let newer = match self.page {
            0 => None,
            // Past the end: the first page, where the newest are.
            _ if shown.is_empty() => Some(link(0)),
            page => Some(link(page - 1)),
        };
        let older = (end < total).then(|| link(self.page + 1));
        (
            shown,
            Pager {
                showing,
                newer,
                older,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: usize, rows: usize) -> (Vec<usize>, Pager) {
        PageQuery { page: n }.page("/inbox", &Tr::new("en"), (0..rows).collect())
    }

    /// Both sides of the page size, a page in the middle, the last one, and one past the end.
    #[test]
    fn a_list_is_cut_into_pages_of_the_limit() {
        let (rows, pager) = page(0, PAGE_ROWS_MAX);
        assert_eq!(rows.len(), PAGE_ROWS_MAX);
        assert_eq!(
            (pager.showing.as_str(), pager.newer, pager.older),
            ("", None, None)
        );

        let (rows, pager) = page(0, PAGE_ROWS_MAX + 1);
        assert_eq!(rows.len(), PAGE_ROWS_MAX);
        assert_eq!(
            pager.showing,
            format!("1–{PAGE_ROWS_MAX} of {}", PAGE_ROWS_MAX + 1)
        );
        assert_eq!(
            (pager.newer, pager.older.as_deref()),
            (None, Some("/inbox?page=1"))
        );

        let (rows, pager) = page(1, 2 * PAGE_ROWS_MAX + 1);
        assert_eq!(rows.first(), Some(&PAGE_ROWS_MAX));
        assert_eq!(pager.newer.as_deref(), Some("/inbox"));
        assert_eq!(pager.older.as_deref(), Some("/inbox?page=2"));

        let (rows, pager) = page(2, 2 * PAGE_ROWS_MAX + 1);
        assert_eq!(rows, vec![2 * PAGE_ROWS_MAX]);
        assert_eq!(pager.newer.as_deref(), Some("/inbox?page=1"));
        assert_eq!(pager.older, None);

        let (rows, pager) = page(usize::MAX, 3);
        assert!(rows.is_empty());
        assert_eq!(pager.showing, "nothing on this page; 3 in all");
        assert_eq!(
            (pager.newer.as_deref(), pager.older),
            (Some("/inbox"), None)
        );
    }
}
