//! kaohe-node
