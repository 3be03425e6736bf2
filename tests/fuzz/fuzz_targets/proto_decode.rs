#![no_main]
use kaohe_proto::{Envelope, PublicKey, pb};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let (sel, rest) = (data[0], &data[1..]);
    match sel % 6 {
        0 => {
            if let Ok(w) = pb::Envelope::decode(rest) {
                if let Ok(e) = Envelope::try_from(w) {
                    let _ = e.digest();
                    let _ = e.to_protobuf();
                }
            }
            let _ = Envelope::from_protobuf(rest);
        }
        1 => {
            if let Ok(s) = kaohe_proto::submission::Submission::decode(rest) {
                let _ = s.encode();
                let _ = s.supersession_keys().count();
            }
        }
        2 => {
            if let Ok(w) = pb::Receipt::decode(rest) {
                let _ = kaohe_proto::Receipt::try_from(w);
            }
        }
        3 => {
            if let Ok(w) = pb::ListResultsResponse::decode(rest) {
                let _ = kaohe_proto::model::ListResultsResponse::try_from(w);
            }
        }
        4 => {
            if let Ok(w) = pb::FetchPackResponse::decode(rest) {
                let _ = kaohe_proto::model::FetchedPack::try_from(w);
            }
        }
        _ => {
            if let Ok(t) = std::str::from_utf8(rest) {
                let _ = PublicKey::parse(t);
            }
        }
    }
});
