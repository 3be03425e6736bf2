#![no_main]
//! The hub's units import (名册): CSV text (any encoding) or an xlsx, read
//! with the hub's limits and checked against a fixed set of other years' ids.
use std::collections::BTreeMap;

use kaohe_hub::registry::import::{LIMITS, parse_units};
use kaohe_tables::sheet::{self, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let format = if sel % 2 == 0 {
        Format::Csv
    } else {
        Format::Xlsx
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
    let _ = sheet::read(rest, format, &LIMITS).map(|book| book.single().map(|g| g.rows.len()).ok());
});
