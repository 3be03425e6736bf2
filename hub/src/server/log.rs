//! `LogService`: the year's transparency log for its witnesses (the nodes).
//!
//! - **`GetCheckpoint`**: the newest checkpoint of the year's log — signed
//!   now when the log grew since the last one ([`tlog::checkpoint`]) — with
//!   every cosignature received for it, and the consistency proof from the
//!   size the caller last checked. A size beyond the log's gets the
//!   checkpoint and no proof: no proof can exist, the witness sees the log
//!   shrank. `NOT_FOUND` for a year without a log.
//! - **`AddCosignature`**: a node's cosignature/v1 of a checkpoint the hub
//!   signed ([`tlog::add_cosignatures`]), taken only from an active
//!   registered node's key; answers how many witnesses cosigned it now.
//!
//! Both write (a checkpoint, a cosignature) on the connection kept for
//! writes outside the submission writer; SQLite serialises them with it.

use std::sync::PoisonError;

use kaohe_proto::model::{
    AddCosignatureRequest, AddCosignatureResponse, GetCheckpointRequest, GetCheckpointResponse,
};
use kaohe_proto::pb;
use kaohe_proto::pb::log_service_server::LogService;
use kaohe_proto::{KeyId, PublicKey};
use rusqlite::Connection;
use tonic::{Request, Response, Status};

use super::{Shared, field_status};
use crate::registry::nodes::NodeState;
use crate::tlog::{self, CosignError, LogError};

fn log_status(e: LogError) -> Status {
    match e {
        LogError::NoLog { .. } => Status::not_found(e.to_string()),
        LogError::Tampered { .. } => {
            tracing::error!("{e}");
            Status::failed_precondition(e.to_string())
        }
        other => {
            tracing::error!("{other}");
            Status::unavailable(format!("{other}；请稍后重试（retry later）"))
        }
    }
}

fn cosign_status(e: CosignError) -> Status {
    match e {
        CosignError::Log(e) => log_status(e),
        CosignError::NoWitness => Status::permission_denied(e.to_string()),
        CosignError::UnknownCheckpoint { .. } => Status::failed_precondition(e.to_string()),
        CosignError::NotACheckpoint(_)
        | CosignError::OtherLog { .. }
        | CosignError::BadCosignature { .. } => Status::invalid_argument(e.to_string()),
    }
}

impl Shared {
    /// Runs `f` on the connection for writes outside the submission writer.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Status> + Send + 'static,
    ) -> Result<T, Status> {
        let writer = std::sync::Arc::clone(&self.workflow);
        tokio::task::spawn_blocking(move || {
            let conn = writer.lock().unwrap_or_else(PoisonError::into_inner);
            f(&conn)
        })
        .await
        .map_err(|_| Status::internal("写入线程异常（writer failed）"))?
    }
}

#[tonic::async_trait]
impl LogService for Shared {
    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::GetCheckpointResponse>, Status> {
        let GetCheckpointRequest { year, from_size } =
            GetCheckpointRequest::try_from(request.into_inner()).map_err(field_status)?;
        let key = self.hub_key.clone();
        let at = self.clock.now();
        let answer = self
            .write(move |conn| {
                let cp = tlog::checkpoint(conn, year, &key, at).map_err(log_status)?;
                let checkpoint = tlog::cosigned_note(conn, year, cp.size)
                    .map_err(log_status)?
                    .unwrap_or(cp.note);
                let consistency = if from_size <= cp.size {
                    tlog::consistency_proof(conn, year, from_size, cp.size).map_err(log_status)?
                } else {
                    Vec::new()
                };
                Ok(GetCheckpointResponse {
                    checkpoint,
                    consistency,
                })
            })
            .await?;
        Ok(Response::new(answer.into()))
    }

    async fn add_cosignature(
        &self,
        request: Request<pb::AddCosignatureRequest>,
    ) -> Result<Response<pb::AddCosignatureResponse>, Status> {
        let AddCosignatureRequest { checkpoint } =
            AddCosignatureRequest::try_from(request.into_inner()).map_err(field_status)?;
        let hub: PublicKey = self.hub_key.public();
        let nodes =
            std::sync::Arc::clone(&self.nodes.read().unwrap_or_else(PoisonError::into_inner));
        let at = self.clock.now();
        let cosignatures = self
            .write(move |conn| {
                // Only a node's current key witnesses: a retired one may
                // have been retired because it leaked.
                let witness = |id: &KeyId| {
                    nodes
                        .get(id)
                        .filter(|n| n.state == NodeState::Active && n.key.key_id == *id)
                        .map(|n| n.key.public_key)
                };
                tlog::add_cosignatures(conn, &checkpoint, &hub, &witness, at).map_err(cosign_status)
            })
            .await?;
        Ok(Response::new(
            AddCosignatureResponse { cosignatures }.into(),
        ))
    }
}
