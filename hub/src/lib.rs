//! kaohe-hub
#![forbid(unsafe_code)]
