//! How the checks record a problem: the key, what is expected, what was
//! found.

use super::ConfigProblem;

pub(super) fn type_name(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("文字 {s:?}"),
        toml::Value::Integer(i) => format!("整数 {i}"),
        toml::Value::Float(f) => format!("小数 {f}"),
        toml::Value::Boolean(b) => format!("布尔值 {b}"),
        toml::Value::Datetime(d) => format!("日期 {d}"),
        toml::Value::Array(_) => "数组（array）".to_string(),
        toml::Value::Table(_) => "表（table）".to_string(),
    }
}

#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<ConfigProblem>);

impl Problems {
    pub(super) fn bad(&mut self, key: &str, expected: &str, found: String) {
        self.0.push(ConfigProblem {
            key: key.to_string(),
            expected: expected.to_string(),
            found: Some(found),
        });
    }

    pub(super) fn missing(&mut self, key: &str, expected: &str) {
        self.0.push(ConfigProblem {
            key: key.to_string(),
            expected: expected.to_string(),
            found: None,
        });
    }

    pub(super) fn unknown_keys(&mut self, t: &toml::Table, prefix: &str, allowed: &[&str]) {
        for k in t.keys() {
            if !allowed.contains(&k.as_str()) {
                self.bad(
                    &format!("{prefix}{k}"),
                    &format!(
                        "不认识的配置项；可用的有 {}（unknown key）",
                        allowed.join("、")
                    ),
                    "（多余的项 / extra key）".to_string(),
                );
            }
        }
    }

    pub(super) fn string(
        &mut self,
        t: &toml::Table,
        key: &str,
        shown: &str,
        expected: &str,
    ) -> Option<String> {
        match t.get(key) {
            Some(toml::Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.bad(shown, expected, type_name(other));
                None
            }
            None => {
                self.missing(shown, expected);
                None
            }
        }
    }

    pub(super) fn optional_string(
        &mut self,
        t: &toml::Table,
        key: &str,
        shown: &str,
        expected: &str,
    ) -> Option<String> {
        match t.get(key) {
            Some(toml::Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(other) => {
                self.bad(shown, expected, type_name(other));
                None
            }
            None => None,
        }
    }
}
