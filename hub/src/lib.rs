//! kaohe-hub
