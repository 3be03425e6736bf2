//! One data row: its unit (known, in scope, named as published), its round
//! (a CSV's round column), no duplicate, then each cell and each
//! not-applicable reason — and each method's block of cells, all or none.

use std::collections::BTreeMap;

use kaohe_rulepacks::manifest::{Field, Round};
use kaohe_tables::sheet::{Cell, Grid};

use super::{Checker, Col, State, category_name, unquote};
use crate::import::problem::{Location, Rule};
use crate::layout::{self, Layout, UNIT_ID_HEADER};
use crate::store::{EvidenceWrite, MarkWrite};
use crate::value::{self, Input, ValueError};

/// Longest not-applicable reason, in characters: what a submission
/// carries.
const MAX_REASON_CHARS: usize = kaohe_proto::submission::MAX_REASON_CHARS;

impl Checker<'_, '_> {
    pub(super) fn check_row(
        &mut self,
        grid: &Grid,
        r: usize,
        columns: &[(usize, Col)],
        round: Option<Round>,
        at_row: Location,
    ) {
        let layout = self.layout;
        let m = layout.manifest;
        let col_of = |want: Col| {
            columns
                .iter()
                .find(|&&(_, col)| col == want)
                .map(|&(c, _)| c)
        };
        let Some(id_col) = col_of(Col::UnitId) else {
            return;
        };
        let at_id = Location {
            column: Some(id_col),
            header: Some(UNIT_ID_HEADER.to_string()),
            ..at_row.clone()
        };
        let unit_id = match grid.cell(r, id_col) {
            Cell::Text(t) => unquote(&value::normalise(t).0).to_string(),
            Cell::Empty => String::new(),
            Cell::Formula(f) => {
                self.problem(at_id, Rule::Formula { formula: f.clone() });
                return;
            }
            other => {
                self.problem(
                    at_id,
                    Rule::UnitIdNotText {
                        found: other.describe(),
                    },
                );
                return;
            }
        };
        if unit_id.is_empty() {
            self.problem(at_id, Rule::MissingUnitId);
            return;
        }
        let at_row = Location {
            unit: Some(unit_id.clone()),
            ..at_row
        };
        let Some(unit) = layout.scope.unit(&unit_id) else {
            let rule = if self.known.contains(&unit_id) {
                Rule::OutOfScope {
                    id: unit_id,
                    year: layout.scope.year,
                }
            } else {
                Rule::UnknownUnit { id: unit_id }
            };
            self.problem(
                Location {
                    unit: None,
                    ..at_id
                },
                rule,
            );
            return;
        };
        if let Some(c) = col_of(Col::UnitName) {
            let cell = grid.cell(r, c);
            let found = match cell {
                Cell::Empty => None,
                Cell::Text(t) => {
                    let t = value::normalise(t).0;
                    let t = unquote(&t).to_string();
                    (!t.is_empty() && t != unit.name).then_some(t)
                }
                other => Some(other.describe()),
            };
            if let Some(found) = found {
                self.problem(
                    Location {
                        column: Some(c),
                        header: Some(layout::UNIT_NAME_HEADER.to_string()),
                        ..at_row.clone()
                    },
                    Rule::NameMismatch {
                        found,
                        expected: unit.name.clone(),
                    },
                );
            }
        }
        let round = match round {
            Some(r) => r,
            None => {
                let Some(c) = col_of(Col::Round) else { return };
                let cell = grid.cell(r, c);
                match cell.text().and_then(Layout::round_of_sheet) {
                    Some(rd) if layout.rounds.contains(&rd) => rd,
                    _ => {
                        let found = cell
                            .text()
                            .map(str::to_string)
                            .unwrap_or_else(|| cell.describe());
                        self.problem(
                            Location {
                                column: Some(c),
                                header: Some(layout::ROUND_HEADER.to_string()),
                                ..at_row
                            },
                            Rule::BadRound { found },
                        );
                        return;
                    }
                }
            }
        };
        let here = match &at_row.sheet {
            Some(s) => format!("工作表「{s}」第{}行", r + 1),
            None => format!("第{}行", r + 1),
        };
        if let Some(first) = self.seen_rows.get(&(unit.unit_id.clone(), round)) {
            self.problem(
                at_row,
                Rule::DuplicateRow {
                    first: first.clone(),
                },
            );
            return;
        }
        self.seen_rows.insert((unit.unit_id.clone(), round), here);

        let category = layout.category_of(unit);
        let mut states: BTreeMap<usize, (usize, State)> = BTreeMap::new();
        for &(c, col) in columns {
            let Col::Field(f) = col else { continue };
            let field = &m.fields[f];
            let at = Location {
                column: Some(c),
                header: Some(layout::header(field)),
                ..at_row.clone()
            };
            let cell = grid.cell(r, c);
            let state = match cell {
                _ if cell.is_empty() => State::Empty,
                Cell::Formula(formula) => {
                    self.problem(
                        at.clone(),
                        Rule::Formula {
                            formula: formula.clone(),
                        },
                    );
                    State::Invalid
                }
                Cell::Error(e) => {
                    self.problem(at.clone(), Rule::ErrorValue { value: e.clone() });
                    State::Invalid
                }
                Cell::Date(d) => {
                    self.problem(
                        at.clone(),
                        Rule::Value(ValueError::WrongType {
                            found: format!("日期 {d}"),
                            expected: value::expected(field),
                        }),
                    );
                    State::Invalid
                }
                Cell::Text(t) => self.value(at.clone(), field, Input::Text(t)),
                Cell::Number(n) => self.value(at.clone(), field, Input::Number(*n)),
                Cell::Logical(b) => self.value(at.clone(), field, Input::Logical(*b)),
                Cell::Empty => State::Empty,
            };
            if state == State::Empty {
                states.insert(f, (c, state));
                continue;
            }
            if !layout.field_in_round(f, round) {
                self.problem(
                    at,
                    Rule::WrongRoundValue {
                        quarterly: !round.is_quarter(),
                    },
                );
                continue;
            }
            if !category.is_some_and(|cat| layout.applies(cat, f)) {
                self.problem(
                    at,
                    Rule::NotApplicable {
                        category: category_name(layout, unit),
                    },
                );
                continue;
            }
            states.insert(f, (c, state));
        }
        // Not-applicable reasons: text, in a cell that applies.
        let mut marks: BTreeMap<usize, (usize, Option<String>)> = BTreeMap::new();
        for &(c, col) in columns {
            let Col::Mark(i) = col else { continue };
            let ind = &m.indicators[i];
            let at = Location {
                column: Some(c),
                header: Some(layout::mark_header(ind)),
                ..at_row.clone()
            };
            let reason = match grid.cell(r, c) {
                cell if cell.is_empty() => None,
                Cell::Text(t) => {
                    let t = unquote(t.trim()).trim().to_string();
                    let chars = t.chars().count();
                    if chars > MAX_REASON_CHARS {
                        self.problem(
                            at,
                            Rule::MarkTooLong {
                                chars,
                                max: MAX_REASON_CHARS,
                            },
                        );
                        continue;
                    }
                    (!t.is_empty()).then_some(t)
                }
                Cell::Formula(formula) => {
                    self.problem(
                        at,
                        Rule::Formula {
                            formula: formula.clone(),
                        },
                    );
                    continue;
                }
                other => {
                    self.problem(
                        at,
                        Rule::MarkNotText {
                            found: other.describe(),
                        },
                    );
                    continue;
                }
            };
            if reason.is_some() {
                if !layout.mark_in_round(i, round) {
                    self.problem(
                        at,
                        Rule::WrongRoundValue {
                            quarterly: !round.is_quarter(),
                        },
                    );
                    continue;
                }
                if !category.is_some_and(|cat| layout.mark_applies(cat, i)) {
                    self.problem(
                        at,
                        Rule::NotApplicable {
                            category: category_name(layout, unit),
                        },
                    );
                    continue;
                }
            }
            marks.insert(i, (c, reason));
        }
        let marked = |i: usize| marks.get(&i).is_some_and(|(_, r)| r.is_some());
        // Blocks: the fields and reasons of one method in this row.
        let mut reported = false;
        for method in &m.methods {
            let block: Vec<usize> = layout
                .fields_for(round)
                .iter()
                .copied()
                .filter(|&f| m.fields[f].method == method.id)
                .filter(|&f| category.is_some_and(|cat| layout.applies(cat, f)))
                .collect();
            let block_marks: Vec<usize> = layout
                .marks_for(round)
                .iter()
                .copied()
                .filter(|&i| m.indicators[i].method == method.id)
                .filter(|&i| category.is_some_and(|cat| layout.mark_applies(cat, i)))
                .filter(|i| marks.contains_key(i))
                .collect();
            let filled = block
                .iter()
                .any(|f| states.get(f).is_some_and(|&(_, s)| s != State::Empty))
                || block_marks.iter().any(|&i| marked(i));
            if !filled {
                continue;
            }
            reported = true;
            self.plan.blocks += 1;
            for &i in &block_marks {
                self.plan.marks.push(MarkWrite {
                    unit_id: unit.unit_id.clone(),
                    round,
                    indicator_id: m.indicators[i].id.clone(),
                    reason: marks.get(&i).and_then(|(_, r)| r.clone()),
                });
            }
            for &f in &block {
                let Some(&(c, state)) = states.get(&f) else {
                    continue;
                };
                let field = &m.fields[f];
                // Read only by indicators marked not applicable: not needed.
                let unneeded = category.is_some_and(|cat| {
                    let readers = layout.readers_in(cat, f);
                    !readers.is_empty() && readers.iter().all(|&i| marked(i))
                });
                match state {
                    State::Empty if layout::required(field) && !unneeded => self.problem(
                        Location {
                            column: Some(c),
                            header: Some(layout::header(field)),
                            ..at_row.clone()
                        },
                        Rule::MissingRequired {
                            field: field.label.clone(),
                            method: method.name.clone(),
                        },
                    ),
                    State::Empty => self.plan.writes.push(EvidenceWrite {
                        unit_id: unit.unit_id.clone(),
                        round,
                        field_id: field.id.clone(),
                        value: None,
                    }),
                    State::Value(v) => self.plan.writes.push(EvidenceWrite {
                        unit_id: unit.unit_id.clone(),
                        round,
                        field_id: field.id.clone(),
                        value: Some(v),
                    }),
                    State::Invalid => {}
                }
            }
        }
        if reported {
            self.plan.rows += 1;
        }
    }

    fn value(&mut self, at: Location, field: &Field, input: Input<'_>) -> State {
        match value::parse(field, input) {
            Ok(p) => {
                if p.normalised {
                    self.plan.normalised += 1;
                }
                State::Value(p.value)
            }
            Err(e) => {
                self.problem(at, Rule::Value(e));
                State::Invalid
            }
        }
    }
}
