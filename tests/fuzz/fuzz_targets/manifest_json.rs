#![no_main]
use kaohe_rulepacks::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::from_json(data) {
        // A validated manifest must be usable by the helpers the host calls.
        let _ = m.to_canonical_json();
        let _ = m.clause_offsets();
        let _ = m.all_methods_mask();
        for c in 0..m.categories.len() {
            let _ = m.applicable_points(c);
            for i in 0..m.indicators.len() {
                let _ = m.points(i, c);
                let _ = m.applies(i, c);
            }
        }
        for i in 0..m.indicators.len() {
            let _ = m.max_points(i);
            let _ = m.indicator_method(i);
        }
        let _ = m.evaluate_input_record();
        let _ = m.evaluate_output_record();
        let _ = m.finalise_input_record();
        let _ = m.finalise_output_record();
    }
});
