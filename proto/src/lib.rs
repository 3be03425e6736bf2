//! kaohe-proto
