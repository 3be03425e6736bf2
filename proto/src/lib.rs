//! kaohe-proto
#![forbid(unsafe_code)]
