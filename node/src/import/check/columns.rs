//! The header rows and what each column holds: the field-id row (hidden
//! in the template) names the columns; without it the Chinese headers do.
//! Missing, unknown, renamed, duplicated and unnamed columns are problems,
//! and so is a field outside the node's scope or on another round's sheet.
//! The not-applicable reason columns (`na.<indicator>`) are checked the same
//! way but may be absent (a template made before they existed).

use std::collections::BTreeMap;

use kaohe_rulepacks::manifest::Round;
use kaohe_tables::sheet::{Cell, Grid};

use super::{Checker, Col, column_name, method_name};
use crate::import::problem::{Location, Rule};
use crate::layout::{self, Layout, ROUND_KEY, UNIT_ID_HEADER, UNIT_ID_KEY, UNIT_NAME_KEY};

/// Rows searched for the header rows.
const HEADER_SEARCH_ROWS: usize = 6;

impl Checker<'_, '_> {
    pub(super) fn find_header(&self, grid: &Grid) -> Option<Header> {
        let limit = grid.rows.len().min(HEADER_SEARCH_ROWS);
        if let Some(r) = (0..limit).find(|&r| grid.cell(r, 0).text() == Some(UNIT_ID_KEY)) {
            let width = grid.rows[r]
                .len()
                .max(r.checked_sub(1).map_or(0, |h| grid.rows[h].len()));
            return Some(Header {
                ids: Some(r),
                zh: r.checked_sub(1),
                data_start: r + 1,
                width: if grid.sheet.is_none() {
                    grid.rows[r].len()
                } else {
                    width
                },
            });
        }
        let key = layout::header_key(UNIT_ID_HEADER);
        (0..limit)
            .find(|&r| grid.cell(r, 0).text().map(layout::header_key) == Some(key.clone()))
            .map(|r| Header {
                ids: None,
                zh: Some(r),
                data_start: r + 1,
                width: grid.rows[r].len(),
            })
    }

    /// Maps each column to what it holds; reports header problems. `None`
    /// when the rows cannot be read (no unit id or, in a CSV, no round
    /// column).
    pub(super) fn map_columns(
        &mut self,
        grid: &Grid,
        header: &Header,
        round: Option<Round>,
    ) -> Option<Vec<(usize, Col)>> {
        let layout = self.layout;
        let m = layout.manifest;
        let base = Location {
            sheet: grid.sheet.clone(),
            ..Location::default()
        };
        let header_row = header.ids.or(header.zh).unwrap_or(0);
        let at_col = |c: usize, h: Option<String>| Location {
            row: Some(header_row + 1),
            column: Some(c),
            header: h,
            ..base.clone()
        };
        let expected_fields: Vec<usize> = match round {
            Some(r) => layout.fields_for(r).to_vec(),
            None => layout.all_fields(),
        };
        let expected_marks: Vec<usize> = match round {
            Some(r) => layout.marks_for(r).to_vec(),
            None => layout.all_marks(),
        };
        let mut columns: Vec<(usize, Col)> = Vec::new();
        let mut first_of: BTreeMap<String, usize> = BTreeMap::new();
        for c in 0..header.width {
            let zh_cell = header.zh.map(|r| grid.cell(r, c));
            let zh_text = zh_cell.and_then(Cell::text).unwrap_or("");
            let key: String = match header.ids {
                Some(ir) => match grid.cell(ir, c) {
                    Cell::Empty => String::new(),
                    cell => match cell.text() {
                        Some(t) => t.to_string(),
                        None => {
                            self.problem(
                                at_col(c, None),
                                Rule::UnknownColumn {
                                    text: cell.describe(),
                                },
                            );
                            continue;
                        }
                    },
                },
                None => key_from_header(
                    layout,
                    &expected_fields,
                    &expected_marks,
                    round.is_none(),
                    zh_text,
                ),
            };
            if key.is_empty() {
                let has_data =
                    (header.data_start..grid.rows.len()).any(|r| !grid.cell(r, c).is_empty());
                if !zh_text.is_empty() {
                    self.problem(
                        at_col(c, None),
                        Rule::UnknownColumn {
                            text: zh_text.to_string(),
                        },
                    );
                } else if has_data {
                    self.problem(at_col(c, None), Rule::UnnamedColumn);
                }
                continue;
            }
            let (col, expected_header) = match key.as_str() {
                UNIT_ID_KEY => (Col::UnitId, UNIT_ID_HEADER.to_string()),
                UNIT_NAME_KEY => (Col::UnitName, layout::UNIT_NAME_HEADER.to_string()),
                ROUND_KEY if round.is_none() => (Col::Round, layout::ROUND_HEADER.to_string()),
                id if id.starts_with(layout::MARK_KEY_PREFIX) => {
                    let ind = m.indicator_index(&id[layout::MARK_KEY_PREFIX.len()..]);
                    match ind.filter(|&i| m.indicators[i].allow_not_applicable) {
                        Some(i) => (Col::Mark(i), layout::mark_header(&m.indicators[i])),
                        None => {
                            self.problem(
                                at_col(c, None),
                                Rule::UnknownColumn {
                                    text: format!("{zh_text}（{id}）"),
                                },
                            );
                            continue;
                        }
                    }
                }
                id => match m.field_index(id) {
                    Some(f) => (Col::Field(f), layout::header(&m.fields[f])),
                    None => {
                        let text = if zh_text.is_empty() {
                            id.to_string()
                        } else {
                            format!("{zh_text}（{id}）")
                        };
                        self.problem(at_col(c, None), Rule::UnknownColumn { text });
                        continue;
                    }
                },
            };
            if let Some(&first) = first_of.get(&key) {
                self.problem(
                    at_col(c, Some(expected_header)),
                    Rule::DuplicateColumn {
                        id: key.clone(),
                        first: column_name(grid, first),
                    },
                );
                continue;
            }
            first_of.insert(key.clone(), c);
            if header.ids.is_some()
                && zh_cell.is_some()
                && layout::header_key(zh_text) != layout::header_key(&expected_header)
            {
                self.problem(
                    at_col(c, None),
                    Rule::RenamedHeader {
                        found: zh_text.to_string(),
                        expected: expected_header.clone(),
                        id: key.clone(),
                    },
                );
            }
            if let Col::Mark(i) = col {
                let ind = &m.indicators[i];
                if !layout.scope.has_method(&ind.method) {
                    self.problem(
                        at_col(c, Some(expected_header)),
                        Rule::FieldNotInScope {
                            field: ind.id.clone(),
                            method: method_name(layout, &ind.method),
                        },
                    );
                    continue;
                }
                if let Some(r) = round
                    && !layout.mark_in_round(i, r)
                {
                    self.problem(
                        at_col(c, Some(expected_header)),
                        Rule::FieldWrongSheet {
                            field: ind.id.clone(),
                            quarterly: !r.is_quarter(),
                        },
                    );
                    continue;
                }
            }
            if let Col::Field(f) = col {
                let field = &m.fields[f];
                if !layout.scope.has_method(&field.method) {
                    self.problem(
                        at_col(c, Some(expected_header)),
                        Rule::FieldNotInScope {
                            field: field.id.clone(),
                            method: method_name(layout, &field.method),
                        },
                    );
                    continue;
                }
                if let Some(r) = round
                    && !layout.field_in_round(f, r)
                {
                    self.problem(
                        at_col(c, Some(expected_header)),
                        Rule::FieldWrongSheet {
                            field: field.id.clone(),
                            quarterly: !r.is_quarter(),
                        },
                    );
                    continue;
                }
            }
            columns.push((c, col));
        }
        let has = |want: Col| columns.iter().any(|&(_, col)| col == want);
        let mut readable = true;
        let whole = Location {
            row: Some(header_row + 1),
            ..base.clone()
        };
        let missing = |this: &mut Self, header: &str, id: &str| {
            this.problem(
                whole.clone(),
                Rule::MissingColumn {
                    header: header.to_string(),
                    id: id.to_string(),
                },
            );
        };
        if !has(Col::UnitId) {
            missing(self, UNIT_ID_HEADER, UNIT_ID_KEY);
            readable = false;
        }
        if !has(Col::UnitName) {
            missing(self, layout::UNIT_NAME_HEADER, UNIT_NAME_KEY);
        }
        if round.is_none() && !has(Col::Round) {
            missing(self, layout::ROUND_HEADER, ROUND_KEY);
            readable = false;
        }
        for &f in &expected_fields {
            if !has(Col::Field(f)) {
                let field = &m.fields[f];
                missing(self, &layout::header(field), &field.id);
            }
        }
        readable.then_some(columns)
    }
}

/// Where the header rows are.
pub(super) struct Header {
    /// The field-id row, if present.
    ids: Option<usize>,
    /// The Chinese header row, if present.
    zh: Option<usize>,
    /// First data row.
    pub(super) data_start: usize,
    /// Columns of the header.
    pub(super) width: usize,
}

/// Without the id row: the key of a Chinese header, or "" if unknown.
fn key_from_header(
    layout: &Layout<'_>,
    fields: &[usize],
    marks: &[usize],
    csv: bool,
    text: &str,
) -> String {
    let k = layout::header_key(text);
    if k.is_empty() {
        return String::new();
    }
    if k == layout::header_key(UNIT_ID_HEADER) {
        return UNIT_ID_KEY.to_string();
    }
    if k == layout::header_key(layout::UNIT_NAME_HEADER) {
        return UNIT_NAME_KEY.to_string();
    }
    if csv && k == layout::header_key(layout::ROUND_HEADER) {
        return ROUND_KEY.to_string();
    }
    let mark = marks
        .iter()
        .map(|&i| &layout.manifest.indicators[i])
        .find(|ind| layout::header_key(&layout::mark_header(ind)) == k);
    if let Some(ind) = mark {
        return layout::mark_key(ind);
    }
    fields
        .iter()
        .map(|&f| layout.field(f))
        .find(|f| layout::header_key(&layout::header(f)) == k)
        .map(|f| f.id.clone())
        .unwrap_or_default()
}
