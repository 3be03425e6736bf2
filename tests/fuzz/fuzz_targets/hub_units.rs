#![no_main]
//! The hub's units import (名册): CSV text (any encoding) or an xlsx, read
//! and checked against a fixed set of other years' ids.
use std::collections::BTreeMap;

use kaohe_hub::registry::import::{FileFormat, parse_units, read_text_grid};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let format = if sel % 2 == 0 {
        FileFormat::Csv
    } else {
        FileFormat::Xlsx
    };
    let other_years: BTreeMap<String, Vec<i32>> = BTreeMap::from([
        ("101".to_string(), vec![2023]),
        ("t1".to_string(), vec![2022]),
    ]);
    match parse_units(rest, format, 2024, &other_years) {
        Ok(units) => {
            for u in &units {
                let _ = (&u.id, &u.name);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let _ = read_text_grid(rest, format).map(|(_, rows)| rows.len());
});
