//! What the demo prints at the end, as an official would look: rankings,
//! grades, the quarterly leaderboards, late and unassessed units, outcomes,
//! and where the files are.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};

use super::{Demo, YEARS, Year, county, evidence};

impl Demo {
    /// What an official looks at: rankings, grades, late and unassessed
    /// units, outcomes, and where the files are.
    pub(super) fn report(&self, first: &Year, y: &Year) -> Result<()> {
        let k = &self.k;
        let year = y.year;
        println!("\n五、考核结果（示例数据）");
        let out = k.hub(&["results", "--year", first.year, "--category", "township"])?;
        if let Some(ranking) = sections(&out)
            .into_iter()
            .find(|s| s.starts_with('【') && s.contains("排名\n"))
        {
            println!("\n{} 年度第1类排名（供对照）{ranking}", first.year);
        }
        for (n, category) in [
            (1, "township"),
            (4, "government_department"),
            (7, "stationed_unit"),
        ] {
            let out = k.hub(&["results", "--year", year, "--category", category])?;
            let ranking = sections(&out)
                .into_iter()
                .find(|s| s.starts_with('【') && s.contains("排名\n"))
                .ok_or_else(|| anyhow!("第{n}类没有排名表（no ranking）：\n{out}"))?;
            println!("\n{year} 年度第{n}类排名 {ranking}");
        }
        let all = k.hub(&["results", "--year", year])?;
        println!("\n{year} 年度其他类别等次：");
        for s in sections(&all) {
            if s.lines().next().is_some_and(|l| l.contains("只评定等次")) {
                println!("\n{s}");
            }
        }
        println!("\n{year} 年度党建引领·比拼四季（季度擂台，各季度得分与名次）：");
        let boards: Vec<String> = sections(&all)
            .into_iter()
            .filter(|s| s.starts_with("【党建引领·比拼四季】"))
            .collect();
        if boards.is_empty() {
            return Err(anyhow!("没有季度擂台（no quarterly leaderboard）：\n{all}"));
        }
        for s in boards {
            println!("\n{s}");
        }
        println!("\n{year} 年度迟报和未考核单位、不适用的考核内容、结果运用：");
        for title in [
            "【迟报",
            "【未考核单位】",
            "【不适用的考核内容】",
            "【结果运用",
        ] {
            let found: Vec<String> = sections(&all)
                .into_iter()
                .filter(|s| s.starts_with(title))
                .collect();
            if found.is_empty() {
                println!("\n{title}】无");
            }
            for s in found {
                println!("\n{s}");
            }
        }

        println!("\n示例中特意安排的情形：");
        for u in county::units() {
            let mut said = Vec::new();
            for y in &YEARS {
                let why = evidence::script(u.id, y.year.parse()?).why;
                if !why.is_empty() && !said.contains(&why) {
                    said.push(why);
                }
            }
            if !said.is_empty() {
                println!("  {}：{}", county::name_of(u.id), said.join("；"));
            }
        }
        println!(
            "  {}：两年均未报送任何结果，显示为未考核，审定前记录免于考核",
            county::name_of(county::UNREPORTED)
        );
        println!(
            "  {}的节点：2023 年第三季度离线，第四季度补报，其村（社区）第三季度迟报",
            county::name_of("zhaozhuang")
        );

        println!("\n六、文件位置");
        for y in &YEARS {
            let exports = self.dir.join(format!("exports-{}", y.year));
            for (what, ext) in [
                ("Excel 工作簿", "xlsx"),
                ("PDF 通报", "pdf"),
                ("Word 文书", "docx"),
            ] {
                let files = files_with(&exports, ext)?;
                println!("  {} 年度 {what}：{} 个", y.year, files.len());
                for f in files.iter().take(2) {
                    println!("    {}", f.display());
                }
                if files.len() > 2 {
                    println!("    ……（另 {} 个）", files.len() - 2);
                }
            }
            println!(
                "  {} 年度通报反馈：{}",
                y.year,
                self.dir.join(format!("notices-{}", y.year)).display()
            );
        }
        println!("  县 CA 与证书：{}", self.dir.join("ca").display());
        println!("  汇总中心数据目录：{}", self.hub_dir.display());
        println!("  节点数据目录：{}", self.dir.join("nodes").display());
        println!("  每一步的命令与输出：{}", self.k.log.display());
        Ok(())
    }
}

/// The blank-line separated blocks of a command's output, trimmed, each
/// line without the English gloss the command adds for engineers: the
/// report is for officials.
fn sections(out: &str) -> Vec<String> {
    out.split("\n\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.lines().map(without_gloss).collect::<Vec<_>>().join("\n"))
        .collect()
}

/// `line` without a trailing `（English gloss）`: a last parenthesis whose
/// text is ASCII with a letter in it.
fn without_gloss(line: &str) -> &str {
    let Some(open) = line.strip_suffix('）').and_then(|l| l.rfind('（')) else {
        return line;
    };
    let inside = &line[open + '（'.len_utf8()..line.len() - '）'.len_utf8()];
    if inside.is_ascii() && inside.chars().any(|c| c.is_ascii_alphabetic()) {
        line[..open].trim_end()
    } else {
        line
    }
}

/// Files named `*.ext` in `dir` and its subdirectories (`letters/`…), sorted.
fn files_with(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("读取 {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::without_gloss;

    #[test]
    fn only_an_ascii_gloss_at_the_end_is_dropped() {
        assert_eq!(
            without_gloss("按细则只对末 1 名通报警示（bottom-n rule: to be confirmed）"),
            "按细则只对末 1 名通报警示"
        );
        assert_eq!(
            without_gloss("宝丰县肖旗乡（示例数据）"),
            "宝丰县肖旗乡（示例数据）"
        );
        assert_eq!(without_gloss("8.00（1）"), "8.00（1）");
        assert_eq!(without_gloss("（x）在前（示例）"), "（x）在前（示例）");
    }
}
