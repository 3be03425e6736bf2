//! `PackService`: `ListPacks` and `FetchPack`, from the packs table.

use kaohe_proto::Envelope;
use kaohe_proto::model::{
    self, FetchPackRequest, FetchedPack, ListPacksRequest, ListPacksResponse,
};
use kaohe_proto::pb;
use kaohe_proto::pb::pack_service_server::PackService;
use tonic::{Request, Response, Status};

use super::{Shared, field_status, store_status};
use crate::registry::packs;

#[tonic::async_trait]
impl PackService for Shared {
    async fn list_packs(
        &self,
        request: Request<pb::ListPacksRequest>,
    ) -> Result<Response<pb::ListPacksResponse>, Status> {
        let ListPacksRequest { year } =
            ListPacksRequest::try_from(request.into_inner()).map_err(field_status)?;
        let mut list = self
            .read(|conn| packs::list_packs(conn).map_err(store_status))
            .await?;
        list.retain(|p| year.is_none_or(|y| p.identity.year == y));
        list.sort_by(|a, b| {
            (b.identity.year, b.identity.version, &a.identity.id).cmp(&(
                a.identity.year,
                a.identity.version,
                &b.identity.id,
            ))
        });
        let packs = list
            .into_iter()
            .map(|p| model::PackSummary {
                identity: p.identity,
                current: p.is_current,
                module_size: p.module_len as u64,
            })
            .collect();
        Ok(Response::new(ListPacksResponse { packs }.into()))
    }

    async fn fetch_pack(
        &self,
        request: Request<pb::FetchPackRequest>,
    ) -> Result<Response<pb::FetchPackResponse>, Status> {
        let req = FetchPackRequest::try_from(request.into_inner()).map_err(field_status)?;
        let (id, year, version) = (req.id.clone(), req.year, req.version);
        let stored = self
            .read(move |conn| {
                match version {
                    Some(v) => packs::pack_version(conn, &id, year, v),
                    None => packs::current_pack(conn, &id, year),
                }
                .map_err(store_status)
            })
            .await?
            .ok_or_else(|| {
                let which = req
                    .version
                    .map_or("当前版本".to_owned(), |v| format!("第 {v} 版"));
                Status::not_found(format!(
                    "汇总中心没有规则包 {}-{} 的{which}（no such pack or version）",
                    req.id, req.year
                ))
            })?;
        let signature = Envelope::from_protobuf(&stored.envelope).map_err(|e| {
            Status::internal(format!(
                "已存规则包的签名信封无法解码（stored signature corrupt）：{e}"
            ))
        })?;
        Ok(Response::new(
            FetchedPack {
                identity: stored.identity,
                module: stored.module,
                signature,
            }
            .into(),
        ))
    }
}
