//! Chinese line breaking: a line may end between any two CJK characters,
//! runs of ASCII are kept whole, and the 禁则 carry punctuation that may not
//! start or end a line down to the next one.

use std::collections::VecDeque;

use crate::export::font::Font;

/// One line of a broken paragraph.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Line {
    pub(super) text: String,
    /// Natural width at `size`.
    pub(super) width: f32,
    pub(super) size: f32,
    /// Last line of its paragraph (not justified).
    pub(super) last: bool,
}

/// No line may start with these (行首禁则).
pub(super) fn no_line_start(c: char) -> bool {
    "，。、；：？！）》」』”’〕】〉］｝…—·％,.;:?!)]}%、～".contains(c)
}

/// No line may end with these (行尾禁则).
pub(super) fn no_line_end(c: char) -> bool {
    "（《「『“‘〔【〈［｛([{".contains(c)
}

/// A piece a line may not be broken inside: one CJK character or
/// punctuation mark, one space, or a run of ASCII graphic characters
/// (a number such as `95.50`, a Latin word, an identifier).
#[derive(Debug, Clone)]
struct Token {
    text: String,
    width: f32,
    space: bool,
}

impl Token {
    fn first(&self) -> char {
        self.text.chars().next().unwrap_or(' ')
    }
    fn last(&self) -> char {
        self.text.chars().last().unwrap_or(' ')
    }
}

fn tokens(font: &Font, text: &str, size: f32) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut Vec<Token>| {
        if !run.is_empty() {
            out.push(Token {
                width: font.width(run, size),
                text: std::mem::take(run),
                space: false,
            });
        }
    };
    for c in text.chars() {
        if c.is_ascii_graphic() {
            run.push(c);
            continue;
        }
        flush(&mut run, &mut out);
        let s = c.to_string();
        out.push(Token {
            width: font.width(&s, size),
            text: s,
            space: c == ' ',
        });
    }
    flush(&mut run, &mut out);
    out
}

/// Breaks `text` into lines: the first `first_width` wide, the rest
/// `width`; `\n` forces a break. Always at least one line.
pub(super) fn break_lines(
    font: &Font,
    text: &str,
    size: f32,
    first_width: f32,
    width: f32,
) -> Vec<Line> {
    let mut lines = Vec::new();
    for (p, para) in text.split('\n').enumerate() {
        let first = if p == 0 { first_width } else { width };
        break_paragraph(
            font,
            para.trim_end_matches('\r'),
            size,
            first,
            width,
            &mut lines,
        );
    }
    lines
}

fn break_paragraph(
    font: &Font,
    text: &str,
    size: f32,
    first_width: f32,
    width: f32,
    lines: &mut Vec<Line>,
) {
    const EPS: f32 = 0.01;
    let mut queue: VecDeque<Token> = tokens(font, text, size).into();
    let mut cur: Vec<Token> = Vec::new();
    let emit = |cur: &mut Vec<Token>, lines: &mut Vec<Line>, last: bool| {
        while cur.last().is_some_and(|t| t.space) {
            cur.pop();
        }
        let text: String = cur.iter().map(|t| t.text.as_str()).collect();
        let width = cur.iter().map(|t| t.width).sum();
        lines.push(Line {
            text,
            width,
            size,
            last,
        });
        cur.clear();
    };
    while let Some(tok) = queue.pop_front() {
        let avail = if lines.is_empty() { first_width } else { width };
        let used: f32 = cur.iter().map(|t| t.width).sum();
        if used + tok.width <= avail + EPS {
            if !(cur.is_empty() && tok.space) {
                cur.push(tok);
            }
            continue;
        }
        if tok.space {
            emit(&mut cur, lines, false);
            continue;
        }
        // A run too long for any line is cut into characters.
        if tok.width > avail + EPS && tok.text.chars().count() > 1 {
            for c in tok.text.chars().rev() {
                let s = c.to_string();
                queue.push_front(Token {
                    width: font.width(&s, size),
                    text: s,
                    space: false,
                });
            }
            continue;
        }
        if cur.is_empty() {
            // A single character wider than the line: it goes alone.
            cur.push(tok);
            emit(&mut cur, lines, false);
            continue;
        }
        // Break before `tok`, carrying characters down so that the next
        // line does not start with a closing mark and this one does not
        // end with an opening mark.
        let mut carry = vec![tok];
        while cur.len() > 1 && no_line_start(carry[0].first()) {
            carry.insert(0, cur.pop().expect("len > 1"));
        }
        while cur.len() > 1 && no_line_end(cur.last().expect("len > 1").last()) {
            carry.insert(0, cur.pop().expect("len > 1"));
        }
        emit(&mut cur, lines, false);
        for t in carry.into_iter().rev() {
            queue.push_front(t);
        }
    }
    if !cur.is_empty() || lines.is_empty() || lines.last().is_some_and(|l| !l.last) {
        emit(&mut cur, lines, true);
    }
}
