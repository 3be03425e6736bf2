//! Who is calling: the client certificate of the connection (mTLS), and
//! the node of a signed call, checked against its registered key, its
//! state and its certificate (see the module docs of [`super`]).

use std::sync::Arc;

use kaohe_proto::call_auth::{self, CallCredentials};
use kaohe_proto::keys::KeyId;
use tonic::transport::CertificateDer;
use tonic::{Request, Status};

use super::{NODE_CERT_DOMAIN, Shared, store_status};
use crate::ingest::PeerIdentity;
use crate::registry::nodes::{self, NodeRecord, NodeState};

/// A client certificate (mTLS).
struct CertPeer {
    der: CertificateDer<'static>,
}

impl PeerIdentity for CertPeer {
    fn is_node(&self, node: &KeyId) -> bool {
        let name = format!("{node}.{NODE_CERT_DOMAIN}");
        let Ok(server_name) = rustls_pki_types::ServerName::try_from(name.as_str()) else {
            return false;
        };
        webpki::EndEntityCert::try_from(&self.der)
            .and_then(|cert| cert.verify_is_valid_for_subject_name(&server_name))
            .is_ok()
    }

    fn describe(&self) -> String {
        format!(
            "证书摘要 {}",
            hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(&self.der)[..8])
        )
    }
}

impl Shared {
    pub(super) fn peer<T>(
        &self,
        request: &Request<T>,
    ) -> Result<Option<Arc<dyn PeerIdentity>>, Status> {
        if !self.mtls {
            return Ok(None);
        }
        let der = request
            .peer_certs()
            .and_then(|certs| certs.first().cloned())
            .ok_or_else(|| {
                Status::unauthenticated(
                    "汇总中心要求客户端证书，连接未出示证书（client certificate required）",
                )
            })?;
        Ok(Some(Arc::new(CertPeer { der })))
    }

    /// Identifies the caller of a signed call (see the module docs): a
    /// registered, active node calling with its current key. A key the
    /// hub does not know, a revoked node and a retired key are refused
    /// `PERMISSION_DENIED` (proto/README), a signature that does not
    /// verify `UNAUTHENTICATED`.
    pub(super) async fn caller<T>(
        &self,
        request: &Request<T>,
        path: &'static str,
    ) -> Result<NodeRecord, Status> {
        let creds = CallCredentials::from_metadata(request.metadata())
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        let peer = self.peer(request)?;
        let id = creds.node.clone();
        let node = self
            .read(move |conn| nodes::node_by_key_id(conn, &id).map_err(store_status))
            .await?
            .ok_or_else(|| {
                Status::permission_denied(format!(
                    "密钥编号 {} 未在汇总中心登记为任何节点的密钥：请把本节点公钥交县依法治县办登记（kaohe hub node add），或核对 node.toml 所用的密钥文件{}",
                    creds.node,
                    call_auth::NOT_REGISTERED
                ))
            })?;
        let key = node
            .key_by_id(&creds.node)
            .ok_or_else(|| Status::internal("节点与密钥不一致（node directory inconsistent）"))?;
        creds
            .verify(&key.public_key, path, self.clock.now().as_second())
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        if let NodeState::Revoked { at, reason } = &node.state {
            return Err(Status::permission_denied(format!(
                "节点 {}（{}）已于 {at} 被吊销，原因：{reason}（node revoked）",
                node.name, node.id
            )));
        }
        if let Some((_, reason)) = &key.retired {
            return Err(Status::permission_denied(format!(
                "节点 {}（{}）的密钥 {} 已更换为 {}（{reason}），旧密钥不能再调用；请在节点上改用新密钥（kaohe node rotate-key adopt）（key retired）",
                node.name, node.id, creds.node, node.key.key_id
            )));
        }
        if let Some(peer) = peer
            && !peer.is_node(&creds.node)
        {
            return Err(Status::permission_denied(format!(
                "客户端证书（{}）不属于密钥 {}（节点 {}）；更换密钥后须按新密钥编号签发证书（client certificate is not this key's）",
                peer.describe(),
                creds.node,
                node.name
            )));
        }
        Ok(node)
    }
}
