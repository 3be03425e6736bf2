#![no_main]
use kaohe_fuzz::{interp, manifest};
use kaohe_rulepacks::abi;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let (sel, rest) = (data[0], &data[1..]);
    let m = manifest();
    let n = (sel >> 3) as usize % 5;
    match sel % 6 {
        0 => {
            let _ = interp().evaluate_bytes(rest);
        }
        1 => {
            let _ = interp().finalise_bytes(rest);
        }
        2 => {
            let _ = abi::decode_evaluate_input(m, rest);
        }
        3 => {
            let _ = abi::decode_finalise_input(m, rest);
        }
        4 => {
            // Pad/truncate to the expected length so the record checks run.
            let mut b = rest.to_vec();
            b.resize(n * m.evaluate_output_record(), 0);
            if let Ok(units) = abi::decode_evaluate_output(m, n, &b) {
                for u in &units {
                    let _ = u.status.describe(m);
                }
            }
            let _ = abi::decode_evaluate_output(m, n, rest);
        }
        _ => {
            let mut b = rest.to_vec();
            b.resize(n * m.finalise_output_record(), 0);
            let _ = abi::decode_finalise_output(m, n, &b);
            let _ = abi::decode_finalise_output(m, n, rest);
        }
    }
});
