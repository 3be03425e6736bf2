#![no_main]
use kaohe_fuzz::node::{known, layout, parts, xlsx_with};
use kaohe_tables::sheet::{self as workbook, Format, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let (sel, rest) = (data[0], &data[1..]);
    let limits = Limits::default();
    let book = match sel % 4 {
        0 => workbook::read(rest, Format::Csv, &limits),
        1 => workbook::read(rest, Format::Xlsx, &limits),
        _ => {
            // Replace one part of the template (mostly a worksheet) with the
            // fuzz bytes inside a well-formed zip.
            let n = parts().len();
            let which = if sel % 4 == 2 {
                parts()
                    .iter()
                    .position(|(p, _)| p.contains("worksheets/sheet"))
                    .unwrap_or(0)
                    + (sel as usize >> 2) % 2
            } else {
                (sel as usize >> 2) % n
            };
            let x = xlsx_with(which, rest);
            workbook::read(&x, Format::Xlsx, &limits)
        }
    };
    match book {
        Ok(book) => {
            if let Err(problems) = kaohe_node::import::check(layout(), &book.grids, known()) {
                for p in problems.iter().take(50) {
                    let _ = p.to_string();
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
