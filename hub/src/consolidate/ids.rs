//! The manifest's ids as hash lookups, built once per consolidation: the
//! manifest finds an id by a linear scan, which per score and clause of
//! every unit was a large share of a big year's time.

use std::collections::HashMap;

use kaohe_rulepacks::manifest::{Clause, Manifest, Round};

pub(super) struct Ids<'m> {
    methods: HashMap<&'m str, usize>,
    indicators: HashMap<&'m str, usize>,
    /// Clause id → (ABI clause index, indicator index, the clause).
    clauses: HashMap<&'m str, (usize, usize, &'m Clause)>,
    /// Per category: [`Manifest::expected_reports`].
    expected: Vec<Vec<(usize, Round)>>,
}

impl<'m> Ids<'m> {
    pub(super) fn new(manifest: &'m Manifest) -> Ids<'m> {
        let mut clauses = HashMap::new();
        let mut k = 0;
        for (i, ind) in manifest.indicators.iter().enumerate() {
            for c in &ind.clauses {
                // The first of a repeated id wins, as in `Manifest::clause_index`.
                clauses.entry(c.id.as_str()).or_insert((k, i, c));
                k += 1;
            }
        }
        let first = |ids: &mut HashMap<&'m str, usize>, id: &'m str, at: usize| {
            ids.entry(id).or_insert(at);
        };
        let mut methods = HashMap::new();
        for (m, method) in manifest.methods.iter().enumerate() {
            first(&mut methods, method.id.as_str(), m);
        }
        let mut indicators = HashMap::new();
        for (i, ind) in manifest.indicators.iter().enumerate() {
            first(&mut indicators, ind.id.as_str(), i);
        }
        Ids {
            methods,
            indicators,
            clauses,
            expected: (0..manifest.categories.len())
                .map(|c| manifest.expected_reports(c))
                .collect(),
        }
    }

    /// [`Manifest::method_index`].
    pub(super) fn method(&self, id: &str) -> Option<usize> {
        self.methods.get(id).copied()
    }

    /// [`Manifest::indicator_index`].
    pub(super) fn indicator(&self, id: &str) -> Option<usize> {
        self.indicators.get(id).copied()
    }

    /// [`Manifest::clause_index`] and the clause.
    pub(super) fn clause(&self, id: &str) -> Option<(usize, usize, &'m Clause)> {
        self.clauses.get(id).copied()
    }

    /// [`Manifest::expected_reports`] of `category`.
    pub(super) fn expected(&self, category: usize) -> &[(usize, Round)] {
        &self.expected[category]
    }
}
