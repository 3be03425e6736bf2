//! Multipart forms (a file and its fields), read whole under a cap: a
//! browser upload is the same bytes the CLI reads from a file, and what
//! is refused is refused before anything is written.

use std::collections::BTreeMap;
use std::str::FromStr;

use axum::extract::Multipart;

/// One uploaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The form field it came in.
    pub field: String,
    /// The name the browser gave (no directories).
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// A multipart form: its text fields and its files.
#[derive(Debug, Default)]
pub struct Form {
    pub fields: BTreeMap<String, String>,
    pub files: Vec<Upload>,
}

impl Form {
    /// A text field, trimmed; empty when absent.
    pub fn text(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", |s| s.trim())
    }

    /// The assessment year in the text field `name` ([`year`]).
    pub fn year<T: FromStr>(&self, name: &str) -> Result<T, String> {
        year(self.text(name))
    }

    /// Takes the file uploaded in the field `name`; `what` names it in the
    /// refusal when none was chosen (`名册文件` → 请选择名册文件).
    pub fn take_file(&mut self, name: &str, what: &str) -> Result<Upload, String> {
        let i = self
            .files
            .iter()
            .position(|f| f.field == name)
            .ok_or_else(|| format!("请选择{what}（no file chosen）"))?;
        Ok(self.files.swap_remove(i))
    }
}

/// An assessment year typed into a form, as a number (both consoles' one
/// reading of it and one refusal).
pub fn year<T: FromStr>(text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| "考核年度须为整数，如 2024（year must be a number）".to_owned())
}

/// Reading a form failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("上传的文件合计超过 {cap} 字节上限（upload too large）")]
    TooLarge { cap: usize },
    #[error("读取上传的表单失败（cannot read the form）：{0}")]
    Read(String),
}

/// Reads every part; files with an empty name (no file chosen) are left
/// out. More than `cap` bytes in all is refused.
pub async fn read(mut mp: Multipart, cap: usize) -> Result<Form, UploadError> {
    let mut form = Form::default();
    let mut total = 0usize;
    while let Some(mut field) = mp
        .next_field()
        .await
        .map_err(|e| UploadError::Read(e.body_text()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(base_name);
        let mut bytes = Vec::new();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| UploadError::Read(e.body_text()))?
        {
            total = total.saturating_add(chunk.len());
            if total > cap {
                return Err(UploadError::TooLarge { cap });
            }
            bytes.extend_from_slice(&chunk);
        }
        match file_name {
            Some(f) if f.is_empty() => {}
            Some(file_name) => form.files.push(Upload {
                field: name,
                file_name,
                bytes,
            }),
            None => {
                form.fields
                    .insert(name, String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
    Ok(form)
}

/// The last path component: some browsers send `C:\…\名册.xlsx`.
fn base_name(name: &str) -> String {
    name.rsplit(['/', '\\'])
        .next()
        .unwrap_or(name)
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn file_names_lose_their_directories() {
        assert_eq!(super::base_name(r"C:\Users\王\名册.xlsx"), "名册.xlsx");
        assert_eq!(super::base_name("/tmp/a.csv"), "a.csv");
        assert_eq!(super::base_name("b.csv"), "b.csv");
    }

    #[test]
    fn a_year_and_a_file_are_taken_or_refused_in_chinese() {
        let mut form = super::Form::default();
        form.fields.insert("year".into(), " 2024 ".into());
        form.fields.insert("bad".into(), "二〇二四".into());
        form.files.push(super::Upload {
            field: "file".into(),
            file_name: "名册.xlsx".into(),
            bytes: b"x".to_vec(),
        });
        assert_eq!(form.year::<i32>("year"), Ok(2024));
        assert_eq!(form.year::<u16>("year"), Ok(2024));
        let bad = form.year::<i32>("bad").unwrap_err();
        assert!(bad.starts_with("考核年度须为整数"), "{bad}");
        assert!(form.year::<i32>("missing").is_err());
        assert_eq!(
            form.take_file("other", "名册文件").unwrap_err(),
            "请选择名册文件（no file chosen）"
        );
        assert_eq!(
            form.take_file("file", "名册文件").unwrap().file_name,
            "名册.xlsx"
        );
        assert!(form.take_file("file", "名册文件").is_err(), "taken once");
    }
}
