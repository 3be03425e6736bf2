//! The checks of every row and column of a roster sheet, collecting every
//! problem at once ([`validate`]); a file with any problem gives no roster.

use std::collections::{BTreeMap, BTreeSet};

use kaohe_tables::sheet::{Cell, Grid, Location};
use kaohe_tables::text::{self, Fold, column_letters, echo};

use super::super::units::{ResponsibleAssessor, UnitRecord};
use super::{
    Field, HEADER_SEARCH_ROWS, ImportProblem, MAX_ID_CHARS, MAX_ROWS, MAX_TEXT_CHARS,
    PackCategories, ProblemKind, is_category_id,
};

// ---------------------------------------------------------------------------
// The sheet as the checks walk it

/// A grid's rows with content, each with its non-empty cells by column.
#[derive(Debug)]
pub(super) struct Table<'a> {
    sheet: Option<&'a str>,
    rows: Vec<TableRow<'a>>,
}

#[derive(Debug)]
struct TableRow<'a> {
    /// 1-based row (xlsx) or line (CSV) number.
    number: usize,
    /// Non-empty cells by 0-based column.
    cells: BTreeMap<usize, &'a Cell>,
    /// CSV: number of fields in the record; xlsx: None.
    fields: Option<usize>,
}

impl<'a> Table<'a> {
    pub(super) fn of(grid: &'a Grid) -> Table<'a> {
        let csv = grid.sheet.is_none();
        let rows = grid
            .rows
            .iter()
            .enumerate()
            .filter_map(|(r, row)| {
                let cells: BTreeMap<usize, &Cell> = row
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| !c.is_empty())
                    .collect();
                (!cells.is_empty()).then(|| TableRow {
                    number: r + 1,
                    cells,
                    fields: csv.then_some(row.len()),
                })
            })
            .collect();
        Table {
            sheet: grid.sheet.as_deref(),
            rows,
        }
    }
}

// ---------------------------------------------------------------------------
// Checking rows

struct Draft {
    row: usize,
    id: String,
    name: String,
    category: String,
    parent: Option<String>,
    supervising_department: Option<String>,
    assessor: ResponsibleAssessor,
    principal: Option<String>,
}

pub(super) fn validate(
    grid: &Table<'_>,
    year: i32,
    other_years: &BTreeMap<String, Vec<i32>>,
    pack: Option<&PackCategories>,
) -> Result<Vec<UnitRecord>, Vec<ImportProblem>> {
    let mut problems = Vec::new();
    let sheet_loc = |row: Option<usize>, column: Option<usize>, header: Option<String>| Location {
        sheet: grid.sheet.map(str::to_string),
        row,
        column,
        header,
    };

    // Header row: the first of the first rows naming two known columns, or
    // else the first row with content (its problems are then reported).
    let Some(header_index) = grid
        .rows
        .iter()
        .take(HEADER_SEARCH_ROWS)
        .position(|r| {
            r.cells
                .values()
                .filter(|c| matches!(c, Cell::Text(t) if Field::from_header(t).is_some()))
                .count()
                >= 2
        })
        .or(if grid.rows.is_empty() { None } else { Some(0) })
    else {
        return Err(vec![ImportProblem {
            location: sheet_loc(None, None, None),
            kind: ProblemKind::NoContent,
        }]);
    };
    let header_row = &grid.rows[header_index];

    let mut columns: BTreeMap<Field, (usize, String)> = BTreeMap::new();
    let mut named: BTreeSet<usize> = BTreeSet::new();
    for (&col, cell) in &header_row.cells {
        named.insert(col);
        let text = match cell {
            Cell::Text(t) => text::trim(t).to_string(),
            other => other.describe(),
        };
        match Field::from_header(&text) {
            Some(field) => {
                if let Some((first, _)) = columns.get(&field) {
                    problems.push(ImportProblem {
                        location: sheet_loc(Some(header_row.number), Some(col), Some(text.clone())),
                        kind: ProblemKind::DuplicateHeader {
                            field,
                            first_column: column_name(grid.sheet.is_some(), *first),
                        },
                    });
                } else {
                    columns.insert(field, (col, text));
                }
            }
            None => problems.push(ImportProblem {
                location: sheet_loc(Some(header_row.number), Some(col), None),
                kind: ProblemKind::UnknownHeader { text: shown(&text) },
            }),
        }
    }
    for field in Field::ALL {
        if !columns.contains_key(&field) {
            problems.push(ImportProblem {
                location: sheet_loc(Some(header_row.number), None, None),
                kind: ProblemKind::MissingHeader { field },
            });
        }
    }
    let header_fields = header_row.fields.unwrap_or(0);

    let mut drafts: Vec<Draft> = Vec::new();
    // Every readable id with its row, also from rows with other problems, so
    // that one bad row does not make its children report "unknown parent".
    let mut all_ids: Vec<(String, usize)> = Vec::new();
    let mut unnamed: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    let mut data_rows = 0usize;
    for row in &grid.rows[header_index + 1..] {
        if row.cells.is_empty() {
            continue;
        }
        data_rows += 1;
        if data_rows > MAX_ROWS {
            problems.push(ImportProblem {
                location: sheet_loc(Some(row.number), None, None),
                kind: ProblemKind::TooManyRows { max: MAX_ROWS },
            });
            break;
        }
        if let Some(found) = row.fields {
            let extra_content = row.cells.keys().any(|&c| c >= header_fields);
            if found < header_fields || extra_content {
                problems.push(ImportProblem {
                    location: sheet_loc(Some(row.number), None, None),
                    kind: ProblemKind::Ragged {
                        found,
                        expected: header_fields,
                    },
                });
                continue;
            }
        }
        for &col in row.cells.keys() {
            if !named.contains(&col) {
                let entry = unnamed.entry(col).or_insert((row.number, 0));
                entry.1 += 1;
            }
        }
        let mut row_problems = Vec::new();
        // A formula is refused where it stands; its field reads as absent.
        let mut formulas = BTreeSet::new();
        for (field, (col, header)) in &columns {
            if let Some(Cell::Formula(formula)) = row.cells.get(col) {
                formulas.insert(*field);
                row_problems.push(ImportProblem {
                    location: sheet_loc(Some(row.number), Some(*col), Some(header.clone())),
                    kind: ProblemKind::Formula {
                        formula: shown(formula),
                    },
                });
            }
        }
        let get = |field: Field| -> Option<(&Cell, Location)> {
            if formulas.contains(&field) {
                return None;
            }
            let (col, header) = columns.get(&field)?;
            let loc = sheet_loc(Some(row.number), Some(*col), Some(header.clone()));
            Some((row.cells.get(col).copied().unwrap_or(&Cell::Empty), loc))
        };
        let mut report = |location: Location, kind: ProblemKind| {
            row_problems.push(ImportProblem { location, kind })
        };

        let id = get(Field::Id).and_then(|(cell, loc)| {
            let id = required_code(cell, Field::Id, &loc, &mut report)?;
            if ResponsibleAssessor::RESERVED_IDS.contains(&id.as_str()) {
                report(loc, ProblemKind::ReservedId { value: id });
                return None;
            }
            Some(id)
        });
        // Stored as a node's template writes it and its import reads it
        // back (digits and signs folded): a name with full-width digits
        // must not make the node's own unedited template un-importable.
        let name = get(Field::Name)
            .and_then(|(cell, loc)| required_text(cell, Field::Name, &loc, &mut report))
            .map(|n| text::fold_width(&n, Fold::Numbers).into_owned());
        let category = get(Field::Category).and_then(|(cell, loc)| {
            let value = match code_of(cell) {
                Ok(Some(v)) => v,
                Ok(None) => {
                    report(
                        loc,
                        ProblemKind::EmptyValue {
                            field: Field::Category,
                        },
                    );
                    return None;
                }
                Err(found) => {
                    report(loc, ProblemKind::BadCategory { value: found });
                    return None;
                }
            };
            if !is_category_id(&value) {
                report(
                    loc,
                    ProblemKind::BadCategory {
                        value: shown(&value),
                    },
                );
                return None;
            }
            if let Some(pack) = pack
                && !pack.knows(&value)
            {
                report(
                    loc,
                    ProblemKind::UnknownCategory {
                        value,
                        pack: pack.pack.clone(),
                        known: pack.listed(),
                    },
                );
                return None;
            }
            Some(value)
        });
        let parent = get(Field::Parent).map(|(cell, loc)| match code_of(cell) {
            Ok(None) => Ok(None),
            Ok(Some(v)) if is_unit_id(&v) => Ok(Some(v)),
            Ok(Some(v)) => {
                report(
                    loc,
                    ProblemKind::BadId {
                        field: Field::Parent,
                        value: shown(&v),
                    },
                );
                Err(())
            }
            Err(found) => {
                report(
                    loc,
                    ProblemKind::BadId {
                        field: Field::Parent,
                        value: found,
                    },
                );
                Err(())
            }
        });
        let supervising = get(Field::SupervisingDepartment).map(|(cell, loc)| {
            optional_text(cell, Field::SupervisingDepartment, &loc, &mut report)
        });
        let assessor = get(Field::Assessor).and_then(|(cell, loc)| {
            let text = match cell {
                Cell::Text(t) => text::trim(t).to_string(),
                _ => match code_of(cell) {
                    Ok(Some(v)) => v,
                    Ok(None) => String::new(),
                    Err(found) => {
                        report(
                            loc,
                            ProblemKind::NotText {
                                field: Field::Assessor,
                                found,
                            },
                        );
                        return None;
                    }
                },
            };
            if text.is_empty() {
                report(
                    loc,
                    ProblemKind::EmptyValue {
                        field: Field::Assessor,
                    },
                );
                return None;
            }
            match ResponsibleAssessor::from_import(&text) {
                ResponsibleAssessor::Unit(_) => {
                    let code = text::fold_width(&text, Fold::All).into_owned();
                    if is_unit_id(&code) {
                        Some(ResponsibleAssessor::Unit(code))
                    } else {
                        report(loc, ProblemKind::UnknownAssessorUnit { id: shown(&text) });
                        None
                    }
                }
                kind => Some(kind),
            }
        });
        // Optional column: absent reads as no principal.
        let principal = get(Field::Principal)
            .map(|(cell, loc)| optional_text(cell, Field::Principal, &loc, &mut report))
            .unwrap_or(Ok(None));
        let clean_row = row_problems.is_empty();
        problems.extend(row_problems);
        if let Some(id) = &id {
            all_ids.push((id.clone(), row.number));
        }
        if let (
            Some(id),
            Some(name),
            Some(category),
            Some(Ok(parent)),
            Some(Ok(supervising)),
            Some(assessor),
            Ok(principal),
        ) = (id, name, category, parent, supervising, assessor, principal)
            && clean_row
        {
            drafts.push(Draft {
                row: row.number,
                id,
                name,
                category,
                parent,
                supervising_department: supervising,
                assessor,
                principal,
            });
        }
    }
    for (col, (first_row, rows)) in unnamed {
        problems.push(ImportProblem {
            location: sheet_loc(Some(first_row), Some(col), None),
            kind: ProblemKind::UnnamedColumn { rows },
        });
    }
    if data_rows == 0 {
        problems.push(ImportProblem {
            location: sheet_loc(Some(header_row.number), None, None),
            kind: ProblemKind::NoRows,
        });
    }

    // Across rows: unique ids, parents and unit assessors in this file, no cycles.
    let field_loc = |row: usize, field: Field| {
        let (col, header) = columns
            .get(&field)
            .map(|(c, h)| (Some(*c), Some(h.clone())))
            .unwrap_or((None, None));
        sheet_loc(Some(row), col, header)
    };
    let mut first_row: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, row) in &all_ids {
        if let Some(&first) = first_row.get(id.as_str()) {
            problems.push(ImportProblem {
                location: field_loc(*row, Field::Id),
                kind: ProblemKind::DuplicateId {
                    id: id.clone(),
                    first_row: first,
                },
            });
        } else {
            first_row.insert(id, *row);
        }
    }
    let parents: BTreeMap<&str, Option<&str>> = drafts
        .iter()
        .map(|d| (d.id.as_str(), d.parent.as_deref()))
        .collect();
    let mut reported_cycles: BTreeSet<Vec<String>> = BTreeSet::new();
    for d in &drafts {
        if let Some(parent) = &d.parent {
            if parent == &d.id {
                problems.push(ImportProblem {
                    location: field_loc(d.row, Field::Parent),
                    kind: ProblemKind::ParentIsSelf,
                });
            } else if !first_row.contains_key(parent.as_str()) {
                let kind = match other_years.get(parent) {
                    Some(years) => ProblemKind::ParentOfAnotherYear {
                        parent: parent.clone(),
                        years: years.clone(),
                    },
                    None => ProblemKind::UnknownParent {
                        parent: parent.clone(),
                    },
                };
                problems.push(ImportProblem {
                    location: field_loc(d.row, Field::Parent),
                    kind,
                });
            } else if let Some(cycle) = find_cycle(&d.id, &parents) {
                // The same cycle is found from each of its members; report it once.
                let mut key = cycle[..cycle.len() - 1].to_vec();
                key.sort();
                if reported_cycles.insert(key) {
                    problems.push(ImportProblem {
                        location: field_loc(d.row, Field::Parent),
                        kind: ProblemKind::ParentCycle { chain: cycle },
                    });
                }
            }
        }
        if let ResponsibleAssessor::Unit(id) = &d.assessor
            && !first_row.contains_key(id.as_str())
        {
            problems.push(ImportProblem {
                location: field_loc(d.row, Field::Assessor),
                kind: ProblemKind::UnknownAssessorUnit { id: id.clone() },
            });
        }
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(drafts
        .into_iter()
        .map(|d| UnitRecord {
            year,
            id: d.id,
            name: d.name,
            category: d.category,
            parent: d.parent,
            supervising_department: d.supervising_department,
            assessor: d.assessor,
            principal: d.principal,
        })
        .collect())
}

/// The cycle through `start` following parents, if `start` is on one.
fn find_cycle(start: &str, parents: &BTreeMap<&str, Option<&str>>) -> Option<Vec<String>> {
    let mut chain = vec![start.to_string()];
    let mut current = start;
    for _ in 0..=parents.len() {
        let next = (*parents.get(current)?)?;
        chain.push(next.to_string());
        if next == start {
            return Some(chain);
        }
        if chain[..chain.len() - 1].iter().any(|c| c == next) {
            // A cycle further up that `start` merely leads into.
            return None;
        }
        current = next;
    }
    None
}

fn required_code(
    cell: &Cell,
    field: Field,
    loc: &Location,
    report: &mut impl FnMut(Location, ProblemKind),
) -> Option<String> {
    match code_of(cell) {
        Ok(Some(v)) if is_unit_id(&v) => Some(v),
        Ok(Some(v)) => {
            report(
                loc.clone(),
                ProblemKind::BadId {
                    field,
                    value: shown(&v),
                },
            );
            None
        }
        Ok(None) => {
            report(loc.clone(), ProblemKind::EmptyValue { field });
            None
        }
        Err(found) => {
            report(
                loc.clone(),
                ProblemKind::BadId {
                    field,
                    value: found,
                },
            );
            None
        }
    }
}

fn required_text(
    cell: &Cell,
    field: Field,
    loc: &Location,
    report: &mut impl FnMut(Location, ProblemKind),
) -> Option<String> {
    match optional_text(cell, field, loc, report) {
        Ok(Some(v)) => Some(v),
        Ok(None) => {
            report(loc.clone(), ProblemKind::EmptyValue { field });
            None
        }
        Err(()) => None,
    }
}

fn optional_text(
    cell: &Cell,
    field: Field,
    loc: &Location,
    report: &mut impl FnMut(Location, ProblemKind),
) -> Result<Option<String>, ()> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Text(t) => {
            let t = text::trim(t).to_string();
            if t.is_empty() {
                Ok(None)
            } else if t.chars().count() > MAX_TEXT_CHARS {
                report(
                    loc.clone(),
                    ProblemKind::TooLong {
                        field,
                        max: MAX_TEXT_CHARS,
                    },
                );
                Err(())
            } else {
                Ok(Some(t))
            }
        }
        other => {
            report(
                loc.clone(),
                ProblemKind::NotText {
                    field,
                    found: other.describe(),
                },
            );
            Err(())
        }
    }
}

/// A code-like cell (id, category, parent) as text: full-width ASCII folded,
/// whole numbers accepted (Excel turns `101` into a number). `Err` carries a
/// description of a cell that cannot be a code.
fn code_of(cell: &Cell) -> Result<Option<String>, String> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Text(t) => {
            let v = text::fold_width(text::trim(t), Fold::All).into_owned();
            Ok(if v.is_empty() { None } else { Some(v) })
        }
        Cell::Number(f) if f.fract() == 0.0 && f.abs() < 1e15 => Ok(Some(format!("{}", *f as i64))),
        other => Err(other.describe()),
    }
}

fn is_unit_id(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars().count() <= MAX_ID_CHARS
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A cell's text as a problem quotes it: at most [`text::ECHO_CHARS`]
/// characters (a 1 MB cell must not make a 1 MB message).
fn shown(cell_text: &str) -> String {
    echo(cell_text).into_owned()
}

fn column_name(xlsx: bool, col: usize) -> String {
    if xlsx {
        format!("{}列", column_letters(col))
    } else {
        format!("第{}列", col + 1)
    }
}
