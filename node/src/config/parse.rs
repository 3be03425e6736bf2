//! The checks of `node.toml`: every key, with every problem recorded
//! before the config is refused.

use std::path::Path;

use kaohe_proto::PublicKey;
use kaohe_rulepacks::manifest::Assessor;

use super::files::{checked_file, parse_crl, pem_certificate, pem_private_key};
use super::problems::{Problems, type_name};
use super::{
    ClientIdentity, ConfigError, DEFAULT_KEY_FILE, DEFAULT_STORE_FILE, HUB_TIMEOUT_KEYS, HubConfig,
    MAX_NAME_CHARS, NodeConfig, PackAuthorities, Timeouts,
};

impl NodeConfig {
    /// Checks config text as if read from `path` (relative paths in it are
    /// resolved against `path`'s directory).
    pub fn parse(text: &str, path: &Path) -> Result<NodeConfig, ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim().to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut p = Problems::default();
        p.unknown_keys(
            &table,
            "",
            &[
                "name",
                "assessor",
                "key_file",
                "store",
                "hub",
                "pack_authorities",
            ],
        );

        let name = p.string(
            &table,
            "name",
            "name",
            "节点名称（非空文字，最多 100 字）（the node's name）",
        );
        let name = name.and_then(|n| {
            let n = n.trim().to_string();
            if n.is_empty() || n.chars().count() > MAX_NAME_CHARS {
                p.bad(
                    "name",
                    "节点名称（非空文字，最多 100 字）（the node's name）",
                    format!("{n:?}"),
                );
                None
            } else {
                Some(n)
            }
        });
        let assessor_expected =
            "county_office、sasac、health_commission、township 或 county_unit 之一（the assessor）";
        let assessor = p
            .string(&table, "assessor", "assessor", assessor_expected)
            .and_then(|a| {
                let found = Assessor::from_id(&a);
                if found.is_none() {
                    p.bad("assessor", assessor_expected, format!("{a:?}"));
                }
                found
            });
        let key_file = p
            .optional_string(
                &table,
                "key_file",
                "key_file",
                "密钥文件路径（path of the key file）",
            )
            .unwrap_or_else(|| DEFAULT_KEY_FILE.to_string());
        let store_file = p
            .optional_string(
                &table,
                "store",
                "store",
                "证据库文件路径（path of the evidence store）",
            )
            .unwrap_or_else(|| DEFAULT_STORE_FILE.to_string());

        let hub = match table.get("hub") {
            Some(toml::Value::Table(t)) => Some(t),
            Some(other) => {
                p.bad("hub", "表 [hub]（a table）", type_name(other));
                None
            }
            None => {
                p.missing("hub", "表 [hub]，含 address（a [hub] table with address）");
                None
            }
        };
        let mut hub_config = None;
        if let Some(hub) = hub {
            p.unknown_keys(
                hub,
                "hub.",
                &[
                    "address",
                    "ca_cert",
                    "receipt_key",
                    "client_cert",
                    "client_key",
                    "crl",
                    "connect_timeout_secs",
                    "call_timeout_secs",
                    "stream_timeout_secs",
                ],
            );
            let timeouts = hub_timeouts(&mut p, hub);
            let addr_expected =
                "https://主机:端口（或指向本机回环地址的 http://），不带路径（https://host:port）";
            let address = p.string(hub, "address", "hub.address", addr_expected);
            let parsed = address.as_deref().and_then(|a| match parse_address(a) {
                Ok(v) => Some(v),
                Err(why) => {
                    p.bad(
                        "hub.address",
                        &format!("{addr_expected}；{why}"),
                        format!("{a:?}"),
                    );
                    None
                }
            });
            let ca_expected = "可读的 PEM 证书文件（a readable PEM certificate file）";
            let ca_cert = p
                .optional_string(hub, "ca_cert", "hub.ca_cert", ca_expected)
                .and_then(|c| {
                    checked_file(
                        &mut p,
                        base,
                        &c,
                        "hub.ca_cert",
                        ca_expected,
                        pem_certificate,
                    )
                });
            let cert_expected =
                "可读的 PEM 客户端证书文件（a readable PEM client certificate file）";
            let client_cert = p
                .optional_string(hub, "client_cert", "hub.client_cert", cert_expected)
                .and_then(|c| {
                    checked_file(
                        &mut p,
                        base,
                        &c,
                        "hub.client_cert",
                        cert_expected,
                        pem_certificate,
                    )
                });
            let key_expected =
                "可读的 PEM 私钥文件（未加密）（a readable, unencrypted PEM private key file）";
            let client_key = p
                .optional_string(hub, "client_key", "hub.client_key", key_expected)
                .and_then(|k| {
                    checked_file(
                        &mut p,
                        base,
                        &k,
                        "hub.client_key",
                        key_expected,
                        pem_private_key,
                    )
                });
            let crl_expected =
                "可读的证书吊销列表文件（PEM 或 DER）（a readable CRL file, PEM or DER）";
            let crl = p
                .optional_string(hub, "crl", "hub.crl", crl_expected)
                .and_then(|c| {
                    checked_file(&mut p, base, &c, "hub.crl", crl_expected, |bytes| {
                        parse_crl(bytes).map(drop)
                    })
                });
            let mut client_ok = true;
            match (hub.get("client_cert"), hub.get("client_key")) {
                (Some(_), None) => {
                    p.missing(
                        "hub.client_key",
                        "客户端证书的私钥（PEM）：hub.client_cert 与 hub.client_key 须同时设置（both or neither）",
                    );
                    client_ok = false;
                }
                (None, Some(_)) => {
                    p.missing(
                        "hub.client_cert",
                        "客户端证书（PEM）：hub.client_cert 与 hub.client_key 须同时设置（both or neither）",
                    );
                    client_ok = false;
                }
                _ => {}
            }
            let receipt_expected = "汇总中心回执公钥 `ed25519:<base64>`（`kaohe hub init` 显示的回执公钥）（the hub's receipt public key）";
            let mut receipt_ok = true;
            let receipt_key = p
                .optional_string(hub, "receipt_key", "hub.receipt_key", receipt_expected)
                .and_then(|k| match PublicKey::parse(k.trim()) {
                    Ok(key) => Some(key),
                    Err(e) => {
                        p.bad("hub.receipt_key", receipt_expected, format!("{k:?}（{e}）"));
                        receipt_ok = false;
                        None
                    }
                });
            if let Some((tls, host, port, address)) = parsed
                && receipt_ok
            {
                if tls && ca_cert.is_none() && hub.get("ca_cert").is_none() {
                    p.missing(
                        "hub.ca_cert",
                        "签发汇总中心证书的 CA 证书（PEM）：使用 https 时必填，本程序不信任系统根证书（required for https: this build trusts no system roots）",
                    );
                }
                if !tls && hub.get("client_cert").is_some() {
                    p.bad(
                        "hub.client_cert",
                        "客户端证书只用于 https 地址（a client certificate needs https）",
                        format!("明文地址 {address}（plain http）"),
                    );
                }
                if !tls && hub.get("crl").is_some() {
                    p.bad(
                        "hub.crl",
                        "吊销列表只用于 https 地址（a CRL needs https）",
                        format!("明文地址 {address}（plain http）"),
                    );
                }
                let client_identity = match (client_cert, client_key) {
                    (Some(cert), Some(key)) if client_ok => Some(ClientIdentity { cert, key }),
                    _ => None,
                };
                hub_config = Some(HubConfig {
                    address,
                    tls,
                    host,
                    port,
                    ca_cert,
                    receipt_key,
                    client_identity,
                    crl,
                    // A bad deadline recorded a problem: this config is
                    // refused below whatever stands here.
                    timeouts: timeouts.clone().unwrap_or_default(),
                });
            }
        }

        let authorities = match table.get("pack_authorities") {
            None => Some(PackAuthorities {
                keys: Vec::new(),
                threshold: 0,
            }),
            Some(toml::Value::Table(t)) => {
                p.unknown_keys(t, "pack_authorities.", &["keys", "threshold"]);
                check_authorities(&mut p, t)
            }
            Some(other) => {
                p.bad(
                    "pack_authorities",
                    "表 [pack_authorities]（a table）",
                    type_name(other),
                );
                None
            }
        };

        if !p.0.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems: p.0,
            });
        }
        match (name, assessor, hub_config, authorities) {
            (Some(name), Some(assessor), Some(hub), Some(authorities)) => Ok(NodeConfig {
                path: path.to_path_buf(),
                name,
                assessor,
                key_file: base.join(key_file),
                store_file: base.join(store_file),
                hub,
                authorities,
            }),
            // Every `None` above recorded a problem.
            _ => Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems: Vec::new(),
            }),
        }
    }
}

fn check_authorities(p: &mut Problems, t: &toml::Table) -> Option<PackAuthorities> {
    let key_expected = "`ed25519:<base64>` 形式的公钥（an Ed25519 public key）";
    let mut keys = Vec::new();
    let mut ok = true;
    match t.get("keys") {
        None => {}
        Some(toml::Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let key = format!("pack_authorities.keys[{i}]");
                match item {
                    toml::Value::String(s) => match PublicKey::parse(s) {
                        Ok(k) if keys.contains(&k) => {
                            p.bad(
                                &key,
                                "与其他各项不同的公钥（each key once）",
                                format!("{s}（重复 / duplicate）"),
                            );
                            ok = false;
                        }
                        Ok(k) => keys.push(k),
                        Err(e) => {
                            p.bad(&key, key_expected, format!("{s:?}（{e}）"));
                            ok = false;
                        }
                    },
                    other => {
                        p.bad(&key, key_expected, type_name(other));
                        ok = false;
                    }
                }
            }
        }
        Some(other) => {
            p.bad(
                "pack_authorities.keys",
                "公钥列表（an array of public keys）",
                type_name(other),
            );
            ok = false;
        }
    }
    let n = keys.len();
    let threshold = match t.get("threshold") {
        None if n <= 1 => Some(n),
        None => {
            p.missing(
                "pack_authorities.threshold",
                &format!("1 到 {n} 之间的整数（k of n）"),
            );
            None
        }
        Some(toml::Value::Integer(k)) => {
            let valid = if n == 0 {
                *k == 0
            } else {
                (1..=n as i64).contains(k)
            };
            if valid {
                usize::try_from(*k).ok()
            } else {
                let expected = if n == 0 {
                    "0（未配置公钥时）（0 while no keys are pinned）".to_string()
                } else {
                    format!("1 到 {n} 之间的整数（k of n, 1 ≤ k ≤ {n}）")
                };
                p.bad("pack_authorities.threshold", &expected, k.to_string());
                None
            }
        }
        Some(other) => {
            p.bad(
                "pack_authorities.threshold",
                "整数（an integer）",
                type_name(other),
            );
            None
        }
    };
    match (ok, threshold) {
        (true, Some(threshold)) => Some(PackAuthorities { keys, threshold }),
        _ => None,
    }
}

/// The `[hub]` deadlines; a problem for each one that is not a whole
/// number of seconds within its bounds (`None` then).
fn hub_timeouts(p: &mut Problems, hub: &toml::Table) -> Option<Timeouts> {
    let mut seconds = [0u64; 3];
    let mut ok = true;
    for (slot, (key, default, max)) in seconds.iter_mut().zip(HUB_TIMEOUT_KEYS) {
        let expected = format!(
            "1 到 {max} 之间的整数秒，默认 {default}（whole seconds, 1 to {max}; default {default}）"
        );
        *slot = match hub.get(key) {
            None => default,
            Some(toml::Value::Integer(n)) => match u64::try_from(*n) {
                Ok(n) if (1..=max).contains(&n) => n,
                _ => {
                    p.bad(&format!("hub.{key}"), &expected, n.to_string());
                    ok = false;
                    continue;
                }
            },
            Some(other) => {
                p.bad(&format!("hub.{key}"), &expected, type_name(other));
                ok = false;
                continue;
            }
        };
    }
    let [connect, call, stream] = seconds.map(std::time::Duration::from_secs);
    ok.then_some(Timeouts {
        connect,
        call,
        stream,
    })
}

/// `(tls, host, port, normalised address)` of a hub address.
fn parse_address(a: &str) -> Result<(bool, String, u16, String), &'static str> {
    let (tls, rest) = if let Some(r) = a.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = a.strip_prefix("http://") {
        (false, r)
    } else {
        return Err("须以 https:// 开头（must start with https://）");
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        return Err("不能带路径、查询或用户信息（no path, query or user info）");
    }
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, p) = r
            .split_once("]:")
            .ok_or("IPv6 地址须写作 [地址]:端口（IPv6 as [addr]:port）")?;
        (h, p)
    } else {
        rest.rsplit_once(':')
            .ok_or("须写明端口（a port is required）")?
    };
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
    {
        return Err("主机名无效（invalid host）");
    }
    let port: u16 = port
        .parse()
        .map_err(|_| "端口须为 1 到 65535 的整数（port 1–65535）")?;
    if port == 0 {
        return Err("端口须为 1 到 65535 的整数（port 1–65535）");
    }
    let loopback = host == "localhost" || host == "::1" || host.starts_with("127.");
    if !tls && !loopback {
        return Err("明文 http 只允许连接本机回环地址（plain http only to a loopback address）");
    }
    let scheme = if tls { "https" } else { "http" };
    let shown_host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    Ok((
        tls,
        host.to_string(),
        port,
        format!("{scheme}://{shown_host}:{port}"),
    ))
}
