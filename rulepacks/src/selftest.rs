//! The self-test a pack carries (ABI.md §9): the rubric's hand-worked
//! fixtures as one `kaohe_evaluate` batch and one `kaohe_finalise` batch,
//! with the bytes the reference interpreter answered when `kaohe pack
//! build` made the pack. Before a pack is activated — `kaohe hub pack
//! publish`, `kaohe node pack install` and sync — the host runs both
//! batches in its own sandbox and refuses the pack, keeping the last good
//! one, unless every byte agrees: a pack that loads but cannot evaluate
//! (a wrong output length, a wrong score) never replaces a working one.
//!
//! The section `kaohe-selftest` (at most one) is covered by the module's
//! SHA-256 and so by the authorities' signatures. Its bytes,
//! little-endian:
//!
//! ```text
//! magic "KHST" | version u32 = 1
//! evaluate: units u32 | input_len u32 | input | output_len u32 | output
//! finalise: units u32 | input_len u32 | input | output_len u32 | output
//! ```
//!
//! where each input is a whole ABI input (header included, in the pack's
//! ABI version) and each output the exact answer expected.
//!
//! Layout: [`SelfTest`] (the format), [`SelfTest::run`] (the comparison,
//! over whatever runs the two entry points), [`SelfTestError`].

use crate::abi::{self, UnitOutput};
use crate::manifest::Manifest;

/// Name of the custom section that carries the self-test.
pub const SELF_TEST_SECTION: &str = "kaohe-selftest";

const MAGIC: [u8; 4] = *b"KHST";
const VERSION: u32 = 1;

/// One entry point's batch and its expected answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    pub units: u32,
    /// The whole ABI input, header included.
    pub input: Vec<u8>,
    /// The exact output expected.
    pub output: Vec<u8>,
}

/// A pack's self-test: one evaluate and one finalise batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SelfTest {
    pub evaluate: Batch,
    pub finalise: Batch,
}

/// One of the pack's raw entry points: input bytes and unit count →
/// output bytes, or why the call failed.
pub type RawCall<'a> = dyn Fn(&[u8], u32) -> Result<Vec<u8>, String> + 'a;

/// What a passed self-test ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Passed {
    /// Units of the evaluate batch.
    pub evaluate_units: u32,
    /// Units (sheets) of the finalise batch.
    pub finalise_units: u32,
}

/// The self-test cannot be read, or the pack did not answer as recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelfTestError {
    #[error("自检段 kaohe-selftest 无法读取（unreadable self-test section）：{0}")]
    Malformed(String),
    #[error("规则包的自检未通过，未启用（the pack failed its own self-test）：{0}")]
    Failed(String),
}

/// The bytes of a module's `kaohe-selftest` section, read without
/// compiling anything (for `kaohe pack inspect`); `None` when there is none
/// or the bytes are not a module.
pub fn section(module: &[u8]) -> Option<&[u8]> {
    wasmparser::Parser::new(0)
        .parse_all(module)
        .map_while(Result::ok)
        .find_map(|p| match p {
            wasmparser::Payload::CustomSection(r) if r.name() == SELF_TEST_SECTION => {
                Some(r.data())
            }
            _ => None,
        })
}

/// `module` with `test` appended as its `kaohe-selftest` section (custom
/// sections may end a module): for packs not built by `kaohe pack build`,
/// e.g. hand-written ones, whose author records their answers.
pub fn embed(module: &[u8], test: &SelfTest) -> Vec<u8> {
    let payload = test.encode();
    let mut body = leb128(SELF_TEST_SECTION.len());
    body.extend_from_slice(SELF_TEST_SECTION.as_bytes());
    body.extend_from_slice(&payload);
    let mut out = module.to_vec();
    out.push(0);
    out.extend(leb128(body.len()));
    out.extend(body);
    out
}

fn leb128(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

impl SelfTest {
    /// The section's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&VERSION.to_le_bytes());
        for b in [&self.evaluate, &self.finalise] {
            out.extend_from_slice(&b.units.to_le_bytes());
            for part in [&b.input, &b.output] {
                out.extend_from_slice(&(part.len() as u32).to_le_bytes());
                out.extend_from_slice(part);
            }
        }
        out
    }

    /// Reads a section's bytes; anything but exactly the layout above is
    /// refused.
    pub fn decode(bytes: &[u8]) -> Result<SelfTest, SelfTestError> {
        let bad = |what: &str| SelfTestError::Malformed(what.to_owned());
        let mut rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| bad("标识不符（bad magic）"))?;
        let word = |rest: &mut &[u8]| -> Result<u32, SelfTestError> {
            let (w, tail) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| bad("被截断（truncated）"))?;
            *rest = tail;
            Ok(u32::from_le_bytes(*w))
        };
        if word(&mut rest)? != VERSION {
            return Err(bad("版本不受支持（unsupported version）"));
        }
        let batch = |rest: &mut &[u8]| -> Result<Batch, SelfTestError> {
            let units = word(rest)?;
            let part = |rest: &mut &[u8]| -> Result<Vec<u8>, SelfTestError> {
                let len = word(rest)? as usize;
                if rest.len() < len {
                    return Err(bad("被截断（truncated）"));
                }
                let (p, tail) = rest.split_at(len);
                *rest = tail;
                Ok(p.to_vec())
            };
            Ok(Batch {
                units,
                input: part(rest)?,
                output: part(rest)?,
            })
        };
        let evaluate = batch(&mut rest)?;
        let finalise = batch(&mut rest)?;
        if !rest.is_empty() {
            return Err(bad("多余的字节（trailing bytes）"));
        }
        Ok(SelfTest { evaluate, finalise })
    }

    /// Runs both batches through `evaluate` and `finalise` (the pack's raw
    /// entry points: input bytes and unit count → output bytes) and
    /// compares every byte; a difference is explained unit by unit.
    pub fn run(
        &self,
        manifest: &Manifest,
        evaluate: &RawCall<'_>,
        finalise: &RawCall<'_>,
    ) -> Result<Passed, SelfTestError> {
        let e = &self.evaluate;
        let got = evaluate(&e.input, e.units).map_err(|reason| {
            SelfTestError::Failed(format!(
                "求值批次（{} 个单位）运行失败（evaluate failed）：{reason}",
                e.units
            ))
        })?;
        if got != e.output {
            return Err(SelfTestError::Failed(evaluate_difference(
                manifest, e, &got,
            )));
        }
        let f = &self.finalise;
        let got = finalise(&f.input, f.units).map_err(|reason| {
            SelfTestError::Failed(format!(
                "定档批次（{} 个单位）运行失败（finalise failed）：{reason}",
                f.units
            ))
        })?;
        if got != f.output {
            return Err(SelfTestError::Failed(finalise_difference(
                manifest, f, &got,
            )));
        }
        Ok(Passed {
            evaluate_units: e.units,
            finalise_units: f.units,
        })
    }
}

/// The first unit whose evaluate output differs, and how.
fn evaluate_difference(m: &Manifest, batch: &Batch, got: &[u8]) -> String {
    let n = batch.units as usize;
    let (Ok(want), Ok(have)) = (
        abi::decode_evaluate_output(m, n, &batch.output),
        abi::decode_evaluate_output(m, n, got),
    ) else {
        return format!(
            "求值输出 {} 字节，与自检记录的 {} 字节不同或不合 ABI（evaluate output differs）",
            got.len(),
            batch.output.len()
        );
    };
    for (k, (w, h)) in want.iter().zip(&have).enumerate() {
        if w != h {
            return format!(
                "求值用例第 {} 个单位：期望（expected）{}，实际（actual）{}",
                k + 1,
                show(m, w),
                show(m, h)
            );
        }
    }
    "求值输出字节不同（evaluate output bytes differ）".to_owned()
}

/// The first sheet whose finalise output differs, and how.
fn finalise_difference(m: &Manifest, batch: &Batch, got: &[u8]) -> String {
    let n = batch.units as usize;
    let (Ok(want), Ok(have)) = (
        abi::decode_finalise_output(m, n, &batch.output),
        abi::decode_finalise_output(m, n, got),
    ) else {
        return format!(
            "定档输出 {} 字节，与自检记录的 {} 字节不同或不合 ABI（finalise output differs）",
            got.len(),
            batch.output.len()
        );
    };
    for (k, (w, h)) in want.iter().zip(&have).enumerate() {
        if w != h {
            return format!(
                "定档用例第 {} 张得分表：期望（expected）{:?}，实际（actual）{:?}",
                k + 1,
                w.sheet,
                h.sheet
            );
        }
    }
    "定档输出字节不同（finalise output bytes differ）".to_owned()
}

/// A unit's output in one line: status, then the scored and marked
/// indicators.
fn show(m: &Manifest, u: &UnitOutput) -> String {
    if !u.status.is_ok() {
        return u.status.describe(m);
    }
    let scores: Vec<String> = m
        .indicators
        .iter()
        .enumerate()
        .filter_map(|(i, ind)| match u.indicators[i] {
            Some(v) => Some(format!(
                "{} {}",
                ind.id,
                crate::decimal::format_hundredths(v)
            )),
            None if u.is_not_applicable(i) => Some(format!("{} 不适用", ind.id)),
            None => None,
        })
        .collect();
    scores.join("、")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_round_trips_and_refuses_anything_else() {
        let t = SelfTest {
            evaluate: Batch {
                units: 2,
                input: vec![1, 2, 3],
                output: vec![4; 10],
            },
            finalise: Batch {
                units: 1,
                input: vec![],
                output: vec![9],
            },
        };
        let bytes = t.encode();
        assert_eq!(SelfTest::decode(&bytes), Ok(t));
        for broken in [
            &bytes[..bytes.len() - 1],
            &[bytes.as_slice(), &[0]].concat(),
            &[b"KHSX".as_slice(), &bytes[4..]].concat(),
            &[&bytes[..4], &2u32.to_le_bytes(), &bytes[8..]].concat(),
        ] {
            assert!(matches!(
                SelfTest::decode(broken),
                Err(SelfTestError::Malformed(_))
            ));
        }
    }
}
