//! A grouped horizontal bar chart written as SVG, for pages that show
//! points side by side (the quarterly leaderboard). Server-rendered: no
//! JavaScript library, prints as it shows. Values are hundredths and are
//! labelled with two decimals.

use maud::{Markup, html};

use crate::fmt;

/// Bar colours, one per series (quarters), readable in grey print too.
const COLOURS: [&str; 6] = [
    "#a4161a", "#e07a5f", "#3d5a80", "#81b29a", "#6d597a", "#b08968",
];
const LABEL_W: i64 = 170;
const BAR_H: i64 = 11;
const GAP: i64 = 8;
const WIDTH: i64 = 760;
const VALUE_W: i64 = 56;

/// One row: a label and one value per series (`None`: nothing to show).
#[derive(Debug, Clone)]
pub struct Row {
    pub label: String,
    pub values: Vec<Option<i64>>,
}

/// The chart: a legend of `series`, then each row's bars scaled to `max`
/// hundredths. `title` is the accessible name.
pub fn grouped_bars(title: &str, series: &[&str], rows: &[Row], max: i64) -> Markup {
    let max = max.max(1);
    let group_h = series.len().max(1) as i64 * BAR_H + GAP;
    let legend_h = 24;
    let height = legend_h + rows.len() as i64 * group_h + GAP;
    let plot_w = WIDTH - LABEL_W - VALUE_W;
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(title)
            viewBox=(format!("0 0 {WIDTH} {height}")) width=(WIDTH) height=(height) {
            title { (title) }
            @for (i, name) in series.iter().enumerate() {
                rect x=(LABEL_W + i as i64 * 90) y="6" width="12" height="12" fill=(COLOURS[i % COLOURS.len()]) {}
                text x=(LABEL_W + i as i64 * 90 + 16) y="16" { (name) }
            }
            @for (r, row) in rows.iter().enumerate() {
                @let top = legend_h + r as i64 * group_h;
                text x=(LABEL_W - 6) y=(top + group_h / 2 + 2) text-anchor="end" { (row.label) }
                @for (i, v) in row.values.iter().enumerate() {
                    @if let Some(v) = v {
                        @let w = (v.max(&0) * plot_w) / max;
                        @let y = top + i as i64 * BAR_H;
                        rect x=(LABEL_W) y=(y) width=(w) height=(BAR_H - 2) fill=(COLOURS[i % COLOURS.len()]) {}
                        text x=(LABEL_W + w + 4) y=(y + BAR_H - 3) { (fmt::score(*v)) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_maximum_and_carry_two_decimals() {
        let rows = vec![
            Row {
                label: "肖旗乡".into(),
                values: vec![Some(2000), None],
            },
            Row {
                label: "城关镇".into(),
                values: vec![Some(1000), Some(1550)],
            },
        ];
        let svg = grouped_bars("季度擂台", &["第一季度", "第二季度"], &rows, 2000).into_string();
        let plot_w = WIDTH - LABEL_W - VALUE_W;
        assert!(svg.contains(&format!("width=\"{plot_w}\"")), "{svg}");
        assert!(svg.contains(&format!("width=\"{}\"", plot_w / 2)), "{svg}");
        assert!(svg.contains("20.00") && svg.contains("15.50"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 2 + 3, "legend + three bars");
    }
}
