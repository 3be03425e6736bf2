#![no_main]
//! ABI 1 records written field by field (ABI.md §2–§3), read by the
//! reference interpreter of the same rubric as an ABI 1 pack.
use kaohe_fuzz::{Src, interp_v1 as interp};
use kaohe_rulepacks::abi::{self, EVALUATE_MAGIC, FINALISE_MAGIC};
use kaohe_rulepacks::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fn manifest() -> &'static Manifest {
    interp().manifest()
}

fn header(out: &mut Vec<u8>, magic: [u8; 4], n: u32, count: u32) {
    out.extend_from_slice(&magic);
    out.extend_from_slice(&manifest().abi_word().to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
}

fuzz_target!(|data: &[u8]| {
    let m = manifest();
    let mut s = Src::new(data);
    let sel = s.u8();
    let n = u32::from(sel >> 1) % 5;
    let raw = sel & 0x40 != 0;
    let nc = m.categories.len() as u32;
    let mask = m.all_methods_mask();
    let mut b = Vec::new();
    if sel & 1 == 0 {
        header(&mut b, EVALUATE_MAGIC, n, m.fields.len() as u32);
        for _ in 0..n {
            if raw {
                for _ in 0..m.evaluate_input_record() {
                    b.push(s.u8());
                }
                continue;
            }
            let c = s.u8();
            let category = if c == 255 { s.u32() } else { u32::from(c) % nc };
            let round = u32::from(s.u8()) % 6;
            let mb = s.u8();
            let methods = if mb == 255 {
                s.u32()
            } else {
                u32::from(mb) & mask
            };
            let reserved = if s.u8() == 255 { 1 } else { 0 };
            for w in [category, round, methods, reserved] {
                b.extend_from_slice(&w.to_le_bytes());
            }
            for _ in 0..m.fields.len() {
                let p = s.u8();
                let (p, v) = match p % 8 {
                    0 => (0i64, 0i64),
                    7 => (s.i64(), s.val()),
                    _ => (1, s.val()),
                };
                b.extend_from_slice(&p.to_le_bytes());
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        let out = interp()
            .evaluate_bytes(&b)
            .expect("valid header must not be a batch error");
        // The reference interpreter's output must pass the host's decoder.
        if let Err(e) = abi::decode_evaluate_output(m, n as usize, &out) {
            panic!("interpreter output refused by decode_evaluate_output: {e}");
        }
    } else {
        header(&mut b, FINALISE_MAGIC, n, m.indicators.len() as u32);
        for _ in 0..n {
            if raw {
                for _ in 0..m.finalise_input_record() {
                    b.push(s.u8());
                }
                continue;
            }
            let c = s.u8();
            let category = if c == 255 { s.u32() } else { u32::from(c) % nc };
            let f = s.u8();
            let flags = u32::from(f % 3);
            let cap = if flags == 1 { s.val() } else { 0 };
            b.extend_from_slice(&category.to_le_bytes());
            b.extend_from_slice(&flags.to_le_bytes());
            b.extend_from_slice(&cap.to_le_bytes());
            for _ in 0..m.indicators.len() {
                let p = s.u8();
                let (p, v) = match p % 8 {
                    0 => (0i64, 0i64),
                    7 => (s.i64(), s.val()),
                    _ => (1, s.val()),
                };
                b.extend_from_slice(&p.to_le_bytes());
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        let out = interp()
            .finalise_bytes(&b)
            .expect("valid header must not be a batch error");
        if let Err(e) = abi::decode_finalise_output(m, n as usize, &out) {
            panic!("interpreter output refused by decode_finalise_output: {e}");
        }
    }
});
