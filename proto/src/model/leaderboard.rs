//! The quarterly leaderboard (党建引领·比拼四季) in `ListResults`:
//! [`QuarterBoard`], [`BoardEntry`].

use super::MAX_NAME_CHARS;
use crate::pb;
use crate::submission::Round;
use crate::validate::{FieldError, Problem, identifier, text};

/// One quarter's leaderboard of one ranked category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarterBoard {
    /// A quarter, never the annual round.
    pub round: Round,
    /// The ranked category.
    pub category_id: String,
    /// The category's Chinese name.
    pub category_name: String,
    /// Hundredths: what a unit could score on the board.
    pub max_points: i64,
    /// By rank, then unit id.
    pub entries: Vec<BoardEntry>,
    /// Unit ids without a complete report for the quarter.
    pub not_reported: Vec<String>,
    /// Unit ids excused for the quarter.
    pub excused: Vec<String>,
}

/// A unit's place on a [`QuarterBoard`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardEntry {
    /// 1-based; ties share a rank.
    pub rank: u32,
    /// Another unit shares the rank.
    pub tied: bool,
    /// The unit.
    pub unit_id: String,
    /// Its Chinese name.
    pub unit_name: String,
    /// Hundredths, `0 ..= max_points`.
    pub points: i64,
}

impl TryFrom<pb::QuarterBoard> for QuarterBoard {
    type Error = FieldError;
    fn try_from(m: pb::QuarterBoard) -> Result<Self, FieldError> {
        let round = Round::from_wire("round", m.round)?;
        if !round.is_quarter() {
            return Err(FieldError::invalid(
                "round",
                "季度擂台只按季度排名",
                "a leaderboard belongs to a quarter",
            ));
        }
        if m.max_points < 0 {
            return Err(FieldError::new(
                "max_points",
                Problem::OutOfRange {
                    min: 0,
                    max: i64::MAX,
                    got: m.max_points,
                },
            ));
        }
        let max_points = m.max_points;
        let entries = m
            .entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                BoardEntry::try_from_within(e, max_points)
                    .map_err(|err| err.within(format!("entries[{i}]")))
            })
            .collect::<Result<_, _>>()?;
        let ids = |field: &str, list: Vec<String>| -> Result<Vec<String>, FieldError> {
            list.into_iter()
                .enumerate()
                .map(|(i, id)| identifier(&format!("{field}[{i}]"), id))
                .collect()
        };
        Ok(QuarterBoard {
            round,
            category_id: identifier("category_id", m.category_id)?,
            category_name: text("category_name", m.category_name, MAX_NAME_CHARS)?,
            max_points,
            entries,
            not_reported: ids("not_reported", m.not_reported)?,
            excused: ids("excused", m.excused)?,
        })
    }
}

impl BoardEntry {
    fn try_from_within(m: pb::BoardEntry, max_points: i64) -> Result<Self, FieldError> {
        if m.rank == 0 {
            return Err(FieldError::new("rank", Problem::Missing));
        }
        if !(0..=max_points).contains(&m.points) {
            return Err(FieldError::new(
                "points",
                Problem::OutOfRange {
                    min: 0,
                    max: max_points,
                    got: m.points,
                },
            ));
        }
        Ok(BoardEntry {
            rank: m.rank,
            tied: m.tied,
            unit_id: identifier("unit_id", m.unit_id)?,
            unit_name: text("unit_name", m.unit_name, MAX_NAME_CHARS)?,
            points: m.points,
        })
    }
}

impl From<QuarterBoard> for pb::QuarterBoard {
    fn from(b: QuarterBoard) -> Self {
        pb::QuarterBoard {
            round: b.round.to_wire(),
            category_id: b.category_id,
            category_name: b.category_name,
            max_points: b.max_points,
            entries: b
                .entries
                .into_iter()
                .map(|e| pb::BoardEntry {
                    rank: e.rank,
                    tied: e.tied,
                    unit_id: e.unit_id,
                    unit_name: e.unit_name,
                    points: e.points,
                })
                .collect(),
            not_reported: b.not_reported,
            excused: b.excused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board() -> pb::QuarterBoard {
        QuarterBoard {
            round: Round::Q2,
            category_id: "township".into(),
            category_name: "乡镇（街道）".into(),
            max_points: 1200,
            entries: vec![BoardEntry {
                rank: 1,
                tied: false,
                unit_id: "t1".into(),
                unit_name: "大营镇".into(),
                points: 1150,
            }],
            not_reported: vec!["t2".into()],
            excused: vec![],
        }
        .into()
    }

    #[test]
    fn a_board_round_trips_and_junk_is_refused_naming_the_field() {
        let back = QuarterBoard::try_from(board()).unwrap();
        assert_eq!(pb::QuarterBoard::from(back.clone()), board());
        assert_eq!(back.entries[0].unit_name, "大营镇");

        let refused = |m: pb::QuarterBoard, field: &str| {
            let err = QuarterBoard::try_from(m).unwrap_err();
            assert!(err.to_string().contains(field), "{field}: {err}");
        };
        refused(
            pb::QuarterBoard {
                round: pb::Round::Annual as i32,
                ..board()
            },
            "round",
        );
        let mut over = board();
        over.entries[0].points = 1201;
        refused(over, "entries[0].points");
        let mut unranked = board();
        unranked.entries[0].rank = 0;
        refused(unranked, "entries[0].rank");
        let mut bad_id = board();
        bad_id.not_reported[0] = "不是编号".into();
        refused(bad_id, "not_reported[0]");
    }
}
