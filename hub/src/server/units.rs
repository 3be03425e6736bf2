//! `UnitService`: `ListMyUnits`, the units the calling node may report
//! (signed call): those its scope covers that the roster gives to its
//! assessor.

use kaohe_proto::call_auth;
use kaohe_proto::model::{self, ListMyUnitsRequest, ListMyUnitsResponse};
use kaohe_proto::pb;
use kaohe_proto::pb::unit_service_server::UnitService;
use tonic::{Request, Response, Status};

use super::{Shared, field_status, store_status};
use crate::registry::units;

#[tonic::async_trait]
impl UnitService for Shared {
    async fn list_my_units(
        &self,
        request: Request<pb::ListMyUnitsRequest>,
    ) -> Result<Response<pb::ListMyUnitsResponse>, Status> {
        let node = self
            .caller(&request, call_auth::paths::LIST_MY_UNITS)
            .await?;
        let ListMyUnitsRequest { year } =
            ListMyUnitsRequest::try_from(request.into_inner()).map_err(field_status)?;
        let years: Vec<u16> = node
            .scope
            .years
            .iter()
            .filter_map(|y| u16::try_from(*y).ok())
            .filter(|y| year.is_none_or(|want| want == *y))
            .collect();
        let caller = node.clone();
        let wanted = years.clone();
        let units = self
            .read(move |conn| {
                // Latest year first: a unit listed in several years is
                // described as in the latest.
                let mut out: Vec<model::Unit> = Vec::new();
                for y in wanted.iter().rev() {
                    let roster = units::load_roster(conn, i32::from(*y)).map_err(store_status)?;
                    for unit in roster.iter() {
                        if caller.may_report(unit, &roster)
                            && !out.iter().any(|u| u.unit_id == unit.id)
                        {
                            out.push(model::Unit {
                                unit_id: unit.id.clone(),
                                name: unit.name.clone(),
                                category_id: unit.category.clone(),
                                parent_id: unit.parent.clone(),
                                supervising_dept: unit.supervising_department.clone(),
                            });
                        }
                    }
                }
                out.sort_by(|a, b| a.unit_id.cmp(&b.unit_id));
                Ok(out)
            })
            .await?;
        Ok(Response::new(
            ListMyUnitsResponse {
                node_id: node.key.key_id.clone(),
                units,
                method_ids: node.scope.methods.iter().cloned().collect(),
                years,
            }
            .into(),
        ))
    }
}
