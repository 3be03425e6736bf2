//! 系统错误（OS errors）in Chinese: the English tail an error chain ends
//! with — `No such file or directory (os error 2)`, `Connection refused
//! (os error 111)`, `failed to lookup address information: …` — said the
//! way an official can act on, the error number kept for an engineer.
//!
//! [`chinese`] rewrites them wherever they stand in a message: many
//! errors quote their cause inside their own text, so the tail is not
//! always the last link of a chain, and by the time a message reaches the
//! terminal it is text. Anything it does not know is left as it is.

use std::borrow::Cow;

/// Linux error numbers an official meets, in Chinese.
fn errno_zh(n: u32) -> Option<&'static str> {
    Some(match n {
        1 => "不允许的操作",
        2 => "文件或目录不存在，请核对路径",
        5 => "读写磁盘出错",
        13 => "没有权限，请核对文件的属主和权限，或换用有权限的用户",
        17 => "文件已存在",
        20 => "路径中有一段不是目录",
        21 => "这是一个目录，不是文件",
        22 => "参数无效",
        24 => "打开的文件过多",
        28 => "磁盘空间不足",
        30 => "文件系统只读",
        36 => "文件名过长",
        39 => "目录不为空",
        98 => "地址或端口已被占用，请换一个端口或先停止占用它的程序",
        99 => "本机没有这个地址",
        101 => "网络不可达，请检查网络连接",
        104 => "连接被对方断开",
        110 => "连接超时，对方没有应答",
        111 => "连接被拒绝：该地址和端口上没有服务在运行，请核对地址，或确认汇总中心已启动",
        113 => "找不到对方主机（主机不可达）",
        _ => return None,
    })
}

/// Host-name lookup failures (getaddrinfo), in Chinese.
fn lookup_zh(detail: &str) -> &'static str {
    if detail.contains("Temporary failure") {
        "域名解析暂时失败，请检查网络和 DNS 设置后重试"
    } else {
        "找不到这个主机名，请核对地址中的主机名"
    }
}

/// `text` with every OS error it quotes in Chinese (see the module docs).
pub fn chinese(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    // "failed to lookup address information: <why>" up to the next
    // delimiter or the end.
    const LOOKUP: &str = "failed to lookup address information";
    while let Some(at) = out.find(LOOKUP) {
        let rest = &out[at + LOOKUP.len()..];
        let detail_len = rest.find(['：', '（', '\n']).unwrap_or(rest.len());
        let detail = rest[..detail_len]
            .trim_start_matches(':')
            .trim()
            .to_string();
        let replaced = format!(
            "{}无法解析主机名：{}（{detail}）{}",
            &out[..at],
            lookup_zh(&detail),
            &rest[detail_len..]
        );
        out = Cow::Owned(replaced);
    }
    // "<English description> (os error N)".
    const MARK: &str = " (os error ";
    let mut from = 0;
    while let Some(rel) = out[from..].find(MARK) {
        let at = from + rel;
        let digits_start = at + MARK.len();
        let Some(close) = out[digits_start..].find(')') else {
            break;
        };
        let digits = &out[digits_start..digits_start + close];
        let end = digits_start + close + 1;
        let Some(zh) = digits.parse().ok().and_then(errno_zh) else {
            from = end;
            continue;
        };
        // The English description starts after the last delimiter.
        let start = ["：", ": ", "（", "，", "\n"]
            .iter()
            .filter_map(|d| out[..at].rfind(d).map(|i| i + d.len()))
            .max()
            .unwrap_or(0);
        let replacement = format!("{zh}（os error {digits}）");
        let replaced = format!("{}{replacement}{}", &out[..start], &out[end..]);
        from = start + replacement.len();
        out = Cow::Owned(replaced);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_error_tails_are_told_in_chinese_keeping_the_number() {
        assert_eq!(
            chinese("读取文件 /tmp/x.csv（read file）: No such file or directory (os error 2)"),
            "读取文件 /tmp/x.csv（read file）: 文件或目录不存在，请核对路径（os error 2）"
        );
        let refused = chinese(
            "无法连接汇总中心 http://127.0.0.1:9：transport error：Connection refused (os error 111)",
        );
        assert!(
            refused.contains("连接被拒绝：该地址和端口上没有服务在运行"),
            "{refused}"
        );
        assert!(!refused.contains("Connection refused"), "{refused}");
        assert!(refused.contains("（os error 111）"), "{refused}");
        let lookup = chinese(
            "无法连接汇总中心 https://hub.invalid:7443：failed to lookup address information: Name or service not known",
        );
        assert!(
            lookup.contains("无法解析主机名：找不到这个主机名"),
            "{lookup}"
        );
        assert!(!lookup.contains("failed to lookup"), "{lookup}");
        // Two in one message, an unknown number left as it is, nothing else touched.
        let two = chinese("a: Permission denied (os error 13)，b: Weird (os error 4242)");
        assert_eq!(
            two,
            "a: 没有权限，请核对文件的属主和权限，或换用有权限的用户（os error 13），b: Weird (os error 4242)"
        );
        assert!(matches!(chinese("全是中文"), Cow::Borrowed(_)));
    }
}
