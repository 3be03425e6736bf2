//! Why a `score =` indicator lost points, in Chinese: deduction clauses
//! carry their own reasons, but a formula's loss needs its numbers, e.g.
//! "满意率 86.00%，按“10 −（100 − 满意率）× 0.2”计得 7.20 分，失 2.80 分".
//!
//! The rubric gives a template (`reason` beside `score`, RUBRIC.md §5) with
//! placeholders `{score}`, `{points}`, `{lost}` (two decimals) and
//! `{field_id}` for the evidence fields of the indicator's method (count:
//! whole; decimal: two decimals; bool: 是/否; choice: its label). An
//! indicator without a template gets a generic reason naming its formula.
//! Nothing here crosses the ABI: hosts render the reason from the evidence
//! they already hold and the score the pack returned.

use super::content::FieldType;
use super::{IndicatorKind, Manifest, Missing};
use crate::decimal::format_hundredths_fixed;

/// The placeholders a template may always use.
pub const SCORE_PLACEHOLDERS: [&str; 3] = ["score", "points", "lost"];

/// A template as text and placeholders, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Slot(&'a str),
}

/// Splits a template at `{…}`; `Err` carries the text of a brace that does
/// not enclose a name (`{`, `{}`, `}` alone, a nested `{`).
pub fn pieces(template: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err(rest[open..].chars().take(20).collect());
        }
        if open > 0 {
            out.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 1..];
        let close = after.find(['{', '}']);
        match close {
            Some(c) if after[c..].starts_with('}') && c > 0 => {
                out.push(Piece::Slot(after[..c].trim()));
                rest = &after[c + 1..];
            }
            _ => return Err(rest[open..].chars().take(20).collect()),
        }
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

impl Manifest {
    /// Why indicator `indicator` (a scored indicator with a `score`
    /// formula) scored `score` for a unit of `category`, when it lost
    /// points; `None` when it kept its full points or is not such an
    /// indicator. `value(f)` is the ABI value of field `f` as the unit
    /// supplied it (absent fields take their default; a required field
    /// missing shows "—").
    pub fn loss_reason(
        &self,
        indicator: usize,
        category: usize,
        value: &dyn Fn(usize) -> Option<i64>,
        score: i64,
    ) -> Option<String> {
        let ind = self.indicators.get(indicator)?;
        let formula = ind.score.as_ref()?;
        let points = self.points(indicator, category)?;
        if ind.kind != IndicatorKind::Scored || score >= points {
            return None;
        }
        let lost = points - score;
        let fixed = format_hundredths_fixed;
        let Some(template) = &ind.reason else {
            return Some(generic(formula, score, lost));
        };
        // The checker accepted the template; should a manifest from
        // elsewhere carry a broken one, fall back to showing it as written.
        let Ok(pieces) = pieces(template) else {
            return Some(format!(
                "{template}（得 {} 分，失 {} 分）",
                fixed(score),
                fixed(lost)
            ));
        };
        let mut out = String::new();
        for p in pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Slot("score") => out.push_str(&fixed(score)),
                Piece::Slot("points") => out.push_str(&fixed(points)),
                Piece::Slot("lost") => out.push_str(&fixed(lost)),
                Piece::Slot(name) => out.push_str(&self.field_text(name, value)),
            }
        }
        Some(out)
    }

    /// The fields some `score =` indicator's reason template names, by
    /// index: the only evidence [`Manifest::loss_reason`] ever reads, so a
    /// host holding a whole year's results keeps only these values.
    pub fn reason_fields(&self) -> std::collections::BTreeSet<usize> {
        self.indicators
            .iter()
            .filter(|ind| ind.kind == IndicatorKind::Scored && ind.score.is_some())
            .filter_map(|ind| ind.reason.as_deref())
            .filter_map(|template| pieces(template).ok())
            .flatten()
            .filter_map(|p| match p {
                Piece::Slot(name) if !SCORE_PLACEHOLDERS.contains(&name) => self.field_index(name),
                _ => None,
            })
            .collect()
    }

    /// [`Manifest::loss_reason`] without the evidence: the formula and the
    /// numbers only, for when the values are no longer at hand.
    pub fn formula_loss_reason(
        &self,
        indicator: usize,
        category: usize,
        score: i64,
    ) -> Option<String> {
        let ind = self.indicators.get(indicator)?;
        let formula = ind.score.as_ref()?;
        let points = self.points(indicator, category)?;
        if ind.kind != IndicatorKind::Scored || score >= points {
            return None;
        }
        Some(generic(formula, score, points - score))
    }

    /// A field's value as an official reads it in a reason.
    fn field_text(&self, name: &str, value: &dyn Fn(usize) -> Option<i64>) -> String {
        let Some(f) = self.field_index(name) else {
            return format!("{{{name}}}");
        };
        let field = &self.fields[f];
        let v = match (value(f), field.missing) {
            (Some(v), _) => v,
            (None, Missing::Default(d)) => d,
            (None, Missing::Refuse) => return "—".to_owned(),
        };
        match field.kind {
            FieldType::Count => (v / 100).to_string(),
            FieldType::Decimal => format_hundredths_fixed(v),
            FieldType::Bool => if v != 0 { "是" } else { "否" }.to_owned(),
            FieldType::Choice => field
                .choices
                .get(usize::try_from(v / 100).unwrap_or(usize::MAX))
                .cloned()
                .unwrap_or_else(|| "—".to_owned()),
        }
    }
}

/// The reason a formula gives without a template.
fn generic(formula: &str, score: i64, lost: i64) -> String {
    format!(
        "按评分公式“{formula}”计得 {} 分，失 {} 分",
        format_hundredths_fixed(score),
        format_hundredths_fixed(lost)
    )
}

#[cfg(test)]
mod tests {
    use super::{Piece, pieces};

    #[test]
    fn templates_split_into_text_and_placeholders() {
        assert_eq!(
            pieces("满意率 {sat_rate}%，失 {lost} 分").unwrap(),
            vec![
                Piece::Text("满意率 "),
                Piece::Slot("sat_rate"),
                Piece::Text("%，失 "),
                Piece::Slot("lost"),
                Piece::Text(" 分"),
            ]
        );
        assert_eq!(pieces("").unwrap(), vec![]);
        for bad in ["{", "{}", "a } b", "{a{b}", "{score"] {
            assert!(pieces(bad).is_err(), "{bad}");
        }
    }

    /// The 2022 rubric's only template naming a field is S1's
    /// (`{sat_rate}`): that is all of the evidence a host must keep to
    /// explain lost points.
    #[test]
    fn the_reason_fields_are_those_the_templates_name() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("baofeng-2022/rubric.toml");
        let m = crate::rubric::load(&path).unwrap().manifest;
        let names: Vec<&str> = m
            .reason_fields()
            .into_iter()
            .map(|f| m.fields[f].id.as_str())
            .collect();
        assert_eq!(names, ["sat_rate"]);
    }
}
