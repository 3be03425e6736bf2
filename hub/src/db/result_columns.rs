//! How a result's replayed scores and fired clauses (migration 6), its
//! not-applicable marks and its evidence (migration 7) are stored on its
//! `results` row: compact JSON in key order. Ingest writes them, results
//! reads them back; both go through here so the two never disagree on the
//! encoding.

use std::collections::BTreeMap;

use kaohe_proto::submission::FiredClause;

/// A result's indicator scores as stored in `results.scores`: a compact
/// JSON object in indicator-id order, `{"L1":400,"L2":300}` (hundredths).
pub fn scores_json(scores: &BTreeMap<String, i64>) -> serde_json::Result<String> {
    serde_json::to_string(scores)
}

/// A result's fired clauses as stored in `results.clauses`: a compact JSON
/// array in clause-id order of `[clause id, amount (hundredths), reason]`.
pub fn clauses_json(clauses: &BTreeMap<String, FiredClause>) -> serde_json::Result<String> {
    let rows: Vec<(&str, i64, &str)> = clauses
        .iter()
        .map(|(id, c)| (id.as_str(), c.amount, c.reason.as_str()))
        .collect();
    serde_json::to_string(&rows)
}

/// Reads `results.scores` back (see [`scores_json`]).
pub fn parse_scores(json: &str) -> serde_json::Result<BTreeMap<String, i64>> {
    serde_json::from_str(json)
}

/// Reads `results.clauses` back (see [`clauses_json`]): clause id → the
/// fired clause. A clause id twice is refused, not silently collapsed.
pub fn parse_clauses(json: &str) -> serde_json::Result<BTreeMap<String, FiredClause>> {
    let rows: Vec<(String, i64, String)> = serde_json::from_str(json)?;
    let mut out = BTreeMap::new();
    for (id, amount, reason) in rows {
        if out.contains_key(&id) {
            return Err(serde::de::Error::custom(format!("clause {id} twice")));
        }
        out.insert(id, FiredClause { amount, reason });
    }
    Ok(out)
}

/// [`parse_clauses`] keeping only each clause's amount (consolidation
/// takes a clause's reason from the manifest): no reason is copied out.
pub fn parse_clause_amounts(json: &str) -> serde_json::Result<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64, serde::de::IgnoredAny)> = serde_json::from_str(json)?;
    let mut out = BTreeMap::new();
    for (id, amount, _) in rows {
        if out.contains_key(&id) {
            return Err(serde::de::Error::custom(format!("clause {id} twice")));
        }
        out.insert(id, amount);
    }
    Ok(out)
}

/// A result's not-applicable marks as stored in `results.not_applicable`:
/// a compact JSON object in indicator-id order, `{"N2_5":"reason"}`.
pub fn marks_json(marks: &BTreeMap<String, String>) -> serde_json::Result<String> {
    serde_json::to_string(marks)
}

/// Reads `results.not_applicable` back (see [`marks_json`]).
pub fn parse_marks(json: &str) -> serde_json::Result<BTreeMap<String, String>> {
    serde_json::from_str(json)
}

/// A result's evidence as stored in `results.evidence`: the supplied values
/// only, a compact JSON object in field-id order, `{"sat_rate":9650}`
/// (hundredths; an absent field is left out).
pub fn evidence_json(evidence: &BTreeMap<String, Option<i64>>) -> serde_json::Result<String> {
    let present: BTreeMap<&str, i64> = evidence
        .iter()
        .filter_map(|(k, v)| v.map(|v| (k.as_str(), v)))
        .collect();
    serde_json::to_string(&present)
}

/// Reads `results.evidence` back (see [`evidence_json`]).
pub fn parse_evidence(json: &str) -> serde_json::Result<BTreeMap<String, i64>> {
    serde_json::from_str(json)
}

/// [`parse_evidence`] keeping only the fields `keep` accepts: the others'
/// ids are never copied out of the JSON.
pub fn parse_evidence_keeping(
    json: &str,
    keep: impl Fn(&str) -> bool,
) -> serde_json::Result<BTreeMap<String, i64>> {
    use serde::de::{DeserializeSeed, Deserializer as _, MapAccess, Visitor};
    use std::borrow::Cow;

    /// A key borrowed from the JSON when it has no escapes.
    struct Key;
    impl<'de> DeserializeSeed<'de> for Key {
        type Value = Cow<'de, str>;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(Key)
        }
    }
    impl<'de> Visitor<'de> for Key {
        type Value = Cow<'de, str>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a field id")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }
    }
    struct Fields<K>(K);
    impl<'de, K: Fn(&str) -> bool> Visitor<'de> for Fields<K> {
        type Value = BTreeMap<String, i64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of field values")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(key) = map.next_key_seed(Key)? {
                let value: i64 = map.next_value()?;
                if (self.0)(&key) {
                    out.insert(key.into_owned(), value);
                }
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let out = (&mut de).deserialize_map(Fields(keep))?;
    de.end()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeping some fields while parsing gives what parsing all and
    /// dropping the rest gives, escaped ids and all.
    #[test]
    fn evidence_kept_while_parsing_is_the_whole_evidence_filtered() {
        let json = r#"{"a":1,"b\u0031":-2,"sat_rate":9650,"z":0}"#;
        let keep = |f: &str| f != "a";
        let mut want = parse_evidence(json).unwrap();
        want.retain(|f, _| keep(f));
        assert_eq!(parse_evidence_keeping(json, keep).unwrap(), want);
        assert!(want.contains_key("b1"));
        assert!(parse_evidence_keeping(r#"{"a":"x"}"#, keep).is_err());
        assert!(parse_evidence_keeping(r#"{"a":1} x"#, keep).is_err());
    }
}
