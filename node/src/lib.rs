//! kaohe-node
#![forbid(unsafe_code)]
