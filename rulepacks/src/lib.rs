//! kaohe-rulepacks
