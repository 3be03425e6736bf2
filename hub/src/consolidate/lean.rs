//! A [`Detail::Lean`] consolidation's per-indicator detail, worked out
//! again a unit at a time ([`Filler`]), and its digest streamed with every
//! unit filled in as it is written ([`Consolidation::sha256_filled`]): the
//! same bytes as the [`Detail::Full`] consolidation's, without holding a
//! national year's detail (issue #17).

use std::cell::RefCell;
use std::collections::BTreeSet;

use kaohe_rulepacks::manifest::Manifest;
use serde::Serialize;
use serde::ser::SerializeSeq as _;

use super::decisions::CheckedDecisions;
use super::ids::Ids;
use super::rank::QuarterBoard;
use super::{
    AcceptedResult, Assessment, Completeness, Consolidation, Decisions, PackRef, Ranking, Tier,
    UnitResult, result_order, sheet,
};
#[cfg(doc)]
use super::{Detail, consolidate_units};
use crate::registry::units::YearRoster;

/// Works out one assessed unit's `indicators` and `fired` from its results,
/// exactly as [`consolidate_units`] does with [`Detail::Full`].
pub struct Filler<'a> {
    manifest: &'a Manifest,
    roster: &'a YearRoster,
    ids: Ids<'a>,
    decisions: CheckedDecisions<'a>,
}

impl<'a> Filler<'a> {
    /// For a consolidation of these inputs.
    pub fn new(manifest: &'a Manifest, roster: &'a YearRoster, decisions: &'a Decisions) -> Self {
        let mut problems = BTreeSet::new();
        Filler {
            manifest,
            roster,
            ids: Ids::new(manifest),
            decisions: decisions.checked(manifest, roster, &mut problems),
        }
    }

    /// Fills `unit`'s detail from all its results (as the consolidation
    /// was given them). A unit not assessed has none and is left as it is.
    pub fn fill(&self, unit: &mut UnitResult, mut results: Vec<AcceptedResult>) {
        let Assessment::Assessed(s) = &mut unit.assessment else {
            return;
        };
        let Some(record) = self.roster.get(&unit.unit_id) else {
            return;
        };
        let Some(c) = self.manifest.category_index(&record.category) else {
            return;
        };
        results.sort_by(|a, b| result_order(self.manifest, a, b));
        // What the sheet adds to completeness and problems was counted
        // when the year was consolidated.
        let (mut completeness, mut problems) = (Completeness::default(), BTreeSet::new());
        if let Ok((merged, used)) = sheet::prepare(
            self.manifest,
            &self.ids,
            record,
            c,
            &results,
            &self.decisions,
            &mut completeness,
            &mut problems,
        ) {
            let used: Vec<&AcceptedResult> = used.iter().map(|&u| &results[u]).collect();
            (s.indicators, s.fired) = sheet::detail(self.manifest, &self.ids, &merged, &used);
        }
    }
}

/// [`Consolidation`] as it serialises, field for field, with the units
/// written one at a time through `fill`.
#[derive(Serialize)]
struct Filled<'a, 'f> {
    year: &'a i32,
    pack: &'a PackRef,
    units: Units<'a, 'f>,
    rankings: &'a [Ranking],
    leaderboards: &'a [QuarterBoard],
    tiers: &'a [Tier],
    completeness: &'a Completeness,
    problems: &'a [String],
}

struct Units<'a, 'f> {
    units: &'a [UnitResult],
    fill: RefCell<&'f mut dyn FnMut(&mut UnitResult)>,
}

impl Serialize for Units<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.units.len()))?;
        let mut fill = self.fill.borrow_mut();
        for u in self.units {
            let mut u = u.clone();
            fill(&mut u);
            seq.serialize_element(&u)?;
        }
        seq.end()
    }
}

impl Consolidation {
    /// [`sha256`](Consolidation::sha256) of this consolidation with each
    /// unit as `fill` makes it (called once per unit, in order, on a copy):
    /// a [`Detail::Lean`] consolidation with [`Filler::fill`] digests as
    /// the full one does.
    pub fn sha256_filled(&self, mut fill: impl FnMut(&mut UnitResult)) -> String {
        sha256_of(&Filled {
            year: &self.year,
            pack: &self.pack,
            units: Units {
                units: &self.units,
                fill: RefCell::new(&mut fill),
            },
            rankings: &self.rankings,
            leaderboards: &self.leaderboards,
            tiers: &self.tiers,
            completeness: &self.completeness,
            problems: &self.problems,
        })
    }
}

/// SHA-256 (hex) of `value`'s JSON, hashed as it is written: the JSON of a
/// large year is never held.
pub(super) fn sha256_of(value: &impl Serialize) -> String {
    use sha2::Digest as _;
    struct Hasher(sha2::Sha256);
    impl std::io::Write for Hasher {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.update(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hasher = Hasher(sha2::Sha256::new());
    // Plain structs, string-keyed maps only: serialising cannot fail.
    let _ = serde_json::to_writer(std::io::BufWriter::new(&mut hasher), value);
    hex::encode(hasher.0.finalize())
}
