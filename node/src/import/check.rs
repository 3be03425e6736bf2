//! The check of a file's grids against the layout, pure: every problem
//! is collected (nothing stops at the first), and the writes of a valid
//! file are planned. Which sheet is which round, and the template's marker
//! (its year and pack), are checked here; the header rows and columns in
//! `columns`, each data row in `row`.

use std::collections::{BTreeMap, BTreeSet};

use kaohe_rulepacks::manifest::Round;
use kaohe_tables::sheet::{Cell, Grid};
use kaohe_tables::text::column_letters;

use super::Plan;
use super::problem::{Location, Problem, Rule};
use crate::layout::{self, Layout, NOTES_SHEET};
use crate::store::UnitInfo;

mod columns;
mod row;

/// Checks every grid against the layout. `known` holds every unit id the
/// node has heard of (to tell an unknown unit from one outside the scope).
/// Pure: no IO.
pub fn check(
    layout: &Layout<'_>,
    grids: &[Grid],
    known: &BTreeSet<String>,
) -> Result<Plan, Vec<Problem>> {
    let mut cx = Checker {
        layout,
        known,
        problems: Vec::new(),
        plan: Plan::default(),
        seen_rows: BTreeMap::new(),
    };
    let mut any = false;
    for grid in grids {
        match &grid.sheet {
            Some(name) if name.trim() == NOTES_SHEET => cx.check_marker(grid),
            Some(name) => match Layout::round_of_sheet(name) {
                Some(round) => {
                    any = true;
                    cx.check_grid(grid, Some(round));
                }
                None => cx.problem(sheet_at(grid), Rule::UnknownSheet { name: name.clone() }),
            },
            None => {
                any = true;
                cx.check_grid(grid, None);
            }
        }
    }
    if !any && cx.problems.is_empty() {
        cx.problem(Location::default(), Rule::NoSheets);
    }
    if cx.problems.is_empty() {
        Ok(cx.plan)
    } else {
        Err(cx.problems)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    UnitId,
    UnitName,
    Round,
    Field(usize),
    /// The not-applicable reason column of an indicator.
    Mark(usize),
}

/// A field cell after checking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Empty,
    Value(i64),
    Invalid,
}

struct Checker<'a, 'b> {
    layout: &'a Layout<'b>,
    known: &'a BTreeSet<String>,
    problems: Vec<Problem>,
    plan: Plan,
    /// (unit, round) → where it was first reported.
    seen_rows: BTreeMap<(String, Round), String>,
}

impl Checker<'_, '_> {
    fn problem(&mut self, at: Location, rule: Rule) {
        self.problems.push(Problem { at, rule });
    }

    fn check_marker(&mut self, grid: &Grid) {
        let Some(text) = grid.cell(0, 0).text() else {
            return;
        };
        let mut words = text.split_whitespace();
        if words.next() != Some(layout::MARKER_PREFIX) {
            return;
        }
        let (Some(year), Some(pack)) = (words.next(), words.next()) else {
            return;
        };
        let expected_year = self.layout.scope.year;
        let at = Location {
            sheet: grid.sheet.clone(),
            row: Some(1),
            column: Some(0),
            ..Location::default()
        };
        if let Ok(found) = year.parse::<u16>()
            && found != expected_year
        {
            self.problem(
                at.clone(),
                Rule::WrongYear {
                    found,
                    expected: expected_year,
                },
            );
        }
        let expected_pack = &self.layout.manifest.pack.id;
        if pack != expected_pack {
            self.problem(
                at,
                Rule::WrongPack {
                    found: pack.to_string(),
                    expected: expected_pack.clone(),
                },
            );
        }
    }

    /// `round`: the sheet's round (xlsx), or `None` for a CSV with a round column.
    fn check_grid(&mut self, grid: &Grid, round: Option<Round>) {
        let sheet = grid.sheet.clone();
        let base = Location {
            sheet: sheet.clone(),
            ..Location::default()
        };
        for &(r0, c0, r1, c1) in &grid.merged {
            let range = format!(
                "{}{}:{}{}",
                column_letters(c0),
                r0 + 1,
                column_letters(c1),
                r1 + 1
            );
            self.problem(
                Location {
                    row: Some(r0 + 1),
                    column: Some(c0),
                    ..base.clone()
                },
                Rule::Merged { range },
            );
        }
        let Some(header) = self.find_header(grid) else {
            self.problem(base, Rule::NoHeader);
            return;
        };
        let Some(columns) = self.map_columns(grid, &header, round) else {
            return;
        };
        let width = header.width;
        let mut unnamed_reported = BTreeSet::new();
        for r in header.data_start..grid.rows.len() {
            let row = &grid.rows[r];
            if row.iter().all(Cell::is_empty) {
                continue;
            }
            let at_row = Location {
                row: Some(r + 1),
                ..base.clone()
            };
            if sheet.is_none() && row.len() != width {
                self.problem(
                    at_row.clone(),
                    Rule::Ragged {
                        found: row.len(),
                        expected: width,
                    },
                );
            }
            if sheet.is_some() {
                for (c, cell) in row.iter().enumerate().skip(width) {
                    if !cell.is_empty() && unnamed_reported.insert(c) {
                        self.problem(
                            Location {
                                column: Some(c),
                                ..at_row.clone()
                            },
                            Rule::UnnamedColumn,
                        );
                    }
                }
            }
            self.check_row(grid, r, &columns, round, at_row);
        }
    }
}

pub(super) fn method_name(layout: &Layout<'_>, method: &str) -> String {
    let m = layout.manifest;
    m.method_index(method)
        .map(|i| m.methods[i].name.clone())
        .unwrap_or_else(|| method.to_string())
}

pub(super) fn category_name(layout: &Layout<'_>, unit: &UnitInfo) -> String {
    let m = layout.manifest;
    m.category_index(&unit.category_id)
        .map(|i| m.categories[i].name.clone())
        .unwrap_or_else(|| unit.category_id.clone())
}

fn sheet_at(grid: &Grid) -> Location {
    Location {
        sheet: grid.sheet.clone(),
        ..Location::default()
    }
}

fn column_name(grid: &Grid, c: usize) -> String {
    if grid.sheet.is_some() {
        column_letters(c)
    } else {
        format!("第{}", c + 1)
    }
}

/// Text the CSV template protected from being read as a formula (`'=…`,
/// `'+…`, `'-…`, `'@…`) without its quote.
fn unquote(t: &str) -> &str {
    match t.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
        _ => t,
    }
}
