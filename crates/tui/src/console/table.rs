//! The state of one table: sort, filter, the rows that pass it in order, the selection
//! (kept on the same row id across reloads, sorts and filters) and the scroll offset.
//! Rebuilt only when the rows, the sort or the filter change; drawing reads the visible
//! slice and never touches the rest, so thousands of rows cost nothing per frame.

use std::cmp::Ordering;

use uuid::Uuid;

use super::model::Row;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableView {
    /// Index into the screen's sortable columns.
    pub sort: usize,
    pub descending: bool,
    pub filter: String,
    /// The filter prompt is open.
    pub editing: bool,
    /// Row indices that pass the filter, in sort order.
    pub visible: Vec<usize>,
    /// Position of the selection in `visible`.
    pub selected: usize,
    /// First visible position drawn.
    pub offset: usize,
    selected_id: Option<Uuid>,
}

impl TableView {
    pub fn sorted_by(sort: usize, descending: bool) -> TableView {
        TableView {
            sort,
            descending,
            ..TableView::default()
        }
    }

    /// Recomputes `visible` for `rows`, keeping the selected row selected if it still
    /// passes the filter.
    pub fn rebuild<R: Row>(&mut self, rows: &[R], compare: impl Fn(usize, &R, &R) -> Ordering) {
        let terms: Vec<String> = self
            .filter
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        self.visible = (0..rows.len())
            .filter(|&i| {
                let haystack = rows[i].haystack();
                terms.iter().all(|term| haystack.contains(term.as_str()))
            })
            .collect();
        let column = self.sort;
        let descending = self.descending;
        self.visible.sort_by(|&a, &b| {
            let order = compare(column, &rows[a], &rows[b]);
            let order = if descending { order.reverse() } else { order };
            order.then_with(|| rows[a].tiebreak(&rows[b]))
        });
        let position = self
            .selected_id
            .and_then(|id| self.visible.iter().position(|&i| rows[i].id() == id));
        match position {
            Some(position) => self.selected = position,
            None => {
                self.selected = self.selected.min(self.visible.len().saturating_sub(1));
                self.selected_id = self.visible.get(self.selected).map(|&i| rows[i].id());
            }
        }
    }

    /// The index in `rows` of the selected row.
    pub fn selected_row(&self) -> Option<usize> {
        self.visible.get(self.selected).copied()
    }

    pub fn selected_id(&self) -> Option<Uuid> {
        self.selected_id
    }

    /// Moves the selection by `delta` rows (clamped), keeping it within `height` visible rows.
    pub fn move_by<R: Row>(&mut self, rows: &[R], delta: isize, height: usize) {
        if self.visible.is_empty() {
            return;
        }
        let last = self.visible.len() - 1;
        let target = if delta < 0 {
            self.selected.saturating_sub(delta.unsigned_abs())
        } else {
            self.selected.saturating_add(delta.unsigned_abs()).min(last)
        };
        self.select(rows, target, height);
    }

    pub fn select<R: Row>(&mut self, rows: &[R], position: usize, height: usize) {
        if self.visible.is_empty() {
            return;
        }
        self.selected = position.min(self.visible.len() - 1);
        self.selected_id = self.visible.get(self.selected).map(|&i| rows[i].id());
        self.scroll(height);
    }

    /// Adjusts `offset` so the selection is within `height` rows.
    pub fn scroll(&mut self, height: usize) {
        self.offset = visible_offset(self.offset, self.selected, height, self.visible.len());
    }
}

/// The first row to draw so that `selected` is among `height` rows from it, moving
/// `offset` as little as possible and never leaving blank rows at the end when the list
/// is longer than the window.
pub fn visible_offset(offset: usize, selected: usize, height: usize, len: usize) -> usize {
    if height == 0 || len == 0 {
        return 0;
    }
    let mut offset = offset.min(len.saturating_sub(height));
    if selected < offset {
        offset = selected;
    } else if selected >= offset + height {
        offset = selected + 1 - height;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item(Uuid, String);

    impl Row for Item {
        fn id(&self) -> Uuid {
            self.0
        }
        fn haystack(&self) -> &str {
            &self.1
        }
        fn tiebreak(&self, other: &Self) -> Ordering {
            self.0.cmp(&other.0)
        }
    }

    fn items(names: &[&str]) -> Vec<Item> {
        names
            .iter()
            .enumerate()
            .map(|(i, name)| Item(Uuid::from_u128(i as u128 + 1), (*name).to_owned()))
            .collect()
    }

    fn by_name(_: usize, a: &Item, b: &Item) -> Ordering {
        a.1.cmp(&b.1)
    }

    #[test]
    fn filter_terms_must_all_match_and_the_selection_follows_its_row() {
        let rows = items(&[
            "ledger prod",
            "checkout staging",
            "billing staging",
            "ingress",
        ]);
        let mut view = TableView::default();
        view.rebuild(&rows, by_name);
        assert_eq!(view.visible, vec![2, 1, 3, 0]);
        view.select(&rows, 1, 10); // checkout
        view.filter = String::from("STAGING");
        view.rebuild(&rows, by_name);
        assert_eq!(view.visible, vec![2, 1]);
        assert_eq!(view.selected_row(), Some(1));
        view.filter = String::from("staging bill");
        view.rebuild(&rows, by_name);
        assert_eq!(view.visible, vec![2]);
        assert_eq!(view.selected_row(), Some(2));
        view.filter = String::from("nothing");
        view.rebuild(&rows, by_name);
        assert!(view.visible.is_empty());
        assert_eq!(view.selected_row(), None);
        view.move_by(&rows, 1, 10);
        assert_eq!(view.selected_row(), None);
    }

    #[test]
    fn descending_reverses_and_moves_clamp() {
        let rows = items(&["a", "b", "c", "d", "e"]);
        let mut view = TableView::sorted_by(0, true);
        view.rebuild(&rows, by_name);
        assert_eq!(view.visible, vec![4, 3, 2, 1, 0]);
        view.move_by(&rows, 10, 2);
        assert_eq!((view.selected, view.offset), (4, 3));
        view.move_by(&rows, -1, 2);
        assert_eq!((view.selected, view.offset), (3, 3));
        view.move_by(&rows, -3, 2);
        assert_eq!((view.selected, view.offset), (0, 0));
        view.move_by(&rows, -3, 2);
        assert_eq!((view.selected, view.offset), (0, 0));
    }

    #[test]
    fn offsets_keep_the_selection_in_the_window() {
        assert_eq!(visible_offset(0, 0, 5, 100), 0);
        assert_eq!(visible_offset(0, 7, 5, 100), 3);
        assert_eq!(visible_offset(50, 7, 5, 100), 7);
        assert_eq!(visible_offset(98, 99, 5, 100), 95);
        assert_eq!(visible_offset(3, 1, 5, 4), 0);
        assert_eq!(visible_offset(3, 1, 0, 4), 0);
    }
}
