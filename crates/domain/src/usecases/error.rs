//! What can go wrong with a request, in OSB terms; front doors map these to status codes and
//! Kubernetes conditions. Each error also says why in the shared vocabulary ([`Reason`]) and
//! which ids it is about, so a door need not read the text.

use crate::catalog::PlanLookupError;
use crate::ids::{BindingId, InstanceId, OperationId, PlanId, ServiceId};
use crate::ports::StoreError;
use crate::reason::Reason;

/// The ids a failure is about; each is set where the use case knows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FailureIds {
    pub instance_id: Option<InstanceId>,
    pub binding_id: Option<BindingId>,
    pub service_id: Option<ServiceId>,
    pub plan_id: Option<PlanId>,
    pub operation_id: Option<OperationId>,
    /// The configured backend's name, as plans use it.
    pub backend: Option<String>,
}

/// Why a request failed, for machines (`reason`, `ids`) and for a person (`message`, no secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDetail {
    pub reason: Reason,
    pub message: String,
    /// Boxed: most errors travel up through `?` and the ids are read rarely.
    pub ids: Box<FailureIds>,
}

impl ErrorDetail {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            ids: Box::default(),
        }
    }
}

impl std::fmt::Display for ErrorDetail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The variant is the OSB class of the failure (and so its status code); the detail carries the
/// reason, which is finer where one class covers several (a bad request may be an invalid spec,
/// a capability the plan lacks, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// The request itself is wrong (unknown plan, plan change not allowed, ...). OSB 400.
    #[error("{0}")]
    BadRequest(ErrorDetail),
    /// The resource does not exist. OSB 404.
    #[error("{0}")]
    NotFound(ErrorDetail),
    /// The resource is already gone (delete of something unknown, polling a finished deprovision). OSB 410.
    #[error("{0}")]
    Gone(ErrorDetail),
    /// The id exists with different attributes. OSB 409.
    #[error("{0}")]
    Conflict(ErrorDetail),
    /// Another operation on the same instance is in flight. OSB 422 `ConcurrencyError`.
    #[error("{0}")]
    Concurrency(ErrorDetail),
    /// The backend cannot finish in one request and the platform did not accept asynchrony. OSB 422 `AsyncRequired`.
    #[error("{0}")]
    AsyncRequired(ErrorDetail),
    /// `maintenance_info` does not match the catalog. OSB 422 `MaintenanceInfoConflict`.
    #[error("{0}")]
    MaintenanceInfoConflict(ErrorDetail),
    /// The request is well formed but cannot be done in the resource's state. OSB 422.
    #[error("{0}")]
    Unprocessable(ErrorDetail),
    /// A synchronous request ran out of time; the operation goes on. OSB 504-ish; the platform should retry.
    #[error("{0}")]
    Timeout(ErrorDetail),
    /// A synchronous request's operation failed in the backend; the detail says why.
    #[error("{0}")]
    OperationFailed(ErrorDetail),
    /// The state store (or the plan's backend) cannot be used right now. OSB 503.
    #[error("{0}")]
    Unavailable(ErrorDetail),
}

impl BrokerError {
    /// A bad request; `reason` says which kind (usually [`Reason::InvalidSpec`]).
    pub fn bad_request(reason: Reason, message: impl Into<String>) -> Self {
        Self::BadRequest(ErrorDetail::new(reason, message))
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(ErrorDetail::new(Reason::NotFound, message))
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::Gone(ErrorDetail::new(Reason::Gone, message))
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(ErrorDetail::new(Reason::Conflict, message))
    }

    pub fn concurrency(message: impl Into<String>) -> Self {
        Self::Concurrency(ErrorDetail::new(Reason::OperationInProgress, message))
    }

    pub fn async_required(message: impl Into<String>) -> Self {
        Self::AsyncRequired(ErrorDetail::new(Reason::AsyncRequired, message))
    }

    pub fn maintenance_info_conflict(message: impl Into<String>) -> Self {
        Self::MaintenanceInfoConflict(ErrorDetail::new(Reason::MaintenanceInfoConflict, message))
    }

    /// Well formed but not doable; `reason` says why ([`Reason::InvalidState`],
    /// [`Reason::Unsupported`], ...).
    pub fn unprocessable(reason: Reason, message: impl Into<String>) -> Self {
        Self::Unprocessable(ErrorDetail::new(reason, message))
    }

    /// The instance belongs to the other front door: well formed, but not this door's to act on
    /// (OSB 422 for a change, 404 for a read, as if the instance were unknown to the platform).
    pub fn foreign(message: impl Into<String>) -> Self {
        Self::Unprocessable(ErrorDetail::new(Reason::ForeignObject, message))
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Self::Timeout(ErrorDetail::new(Reason::DeadlineExceeded, message))
    }

    /// A synchronous request's operation failed; `reason` is the operation's.
    pub fn operation_failed(reason: Reason, message: impl Into<String>) -> Self {
        Self::OperationFailed(ErrorDetail::new(reason, message))
    }

    /// Something the request needs cannot be used now ([`Reason::StateStoreUnavailable`],
    /// [`Reason::BackendUnavailable`]).
    pub fn unavailable(reason: Reason, message: impl Into<String>) -> Self {
        Self::Unavailable(ErrorDetail::new(reason, message))
    }

    pub fn detail(&self) -> &ErrorDetail {
        match self {
            Self::BadRequest(d)
            | Self::NotFound(d)
            | Self::Gone(d)
            | Self::Conflict(d)
            | Self::Concurrency(d)
            | Self::AsyncRequired(d)
            | Self::MaintenanceInfoConflict(d)
            | Self::Unprocessable(d)
            | Self::Timeout(d)
            | Self::OperationFailed(d)
            | Self::Unavailable(d) => d,
        }
    }

    fn detail_mut(&mut self) -> &mut ErrorDetail {
        match self {
            Self::BadRequest(d)
            | Self::NotFound(d)
            | Self::Gone(d)
            | Self::Conflict(d)
            | Self::Concurrency(d)
            | Self::AsyncRequired(d)
            | Self::MaintenanceInfoConflict(d)
            | Self::Unprocessable(d)
            | Self::Timeout(d)
            | Self::OperationFailed(d)
            | Self::Unavailable(d) => d,
        }
    }

    pub fn into_detail(self) -> ErrorDetail {
        match self {
            Self::BadRequest(d)
            | Self::NotFound(d)
            | Self::Gone(d)
            | Self::Conflict(d)
            | Self::Concurrency(d)
            | Self::AsyncRequired(d)
            | Self::MaintenanceInfoConflict(d)
            | Self::Unprocessable(d)
            | Self::Timeout(d)
            | Self::OperationFailed(d)
            | Self::Unavailable(d) => d,
        }
    }

    /// Why, in the vocabulary shared by both doors, conditions and metrics.
    pub fn reason(&self) -> Reason {
        self.detail().reason
    }

    /// For a person; no secrets.
    pub fn message(&self) -> &str {
        &self.detail().message
    }

    pub fn ids(&self) -> &FailureIds {
        &self.detail().ids
    }

    pub fn instance(mut self, id: &InstanceId) -> Self {
        self.detail_mut().ids.instance_id = Some(id.clone());
        self
    }

    pub fn binding(mut self, id: &BindingId) -> Self {
        self.detail_mut().ids.binding_id = Some(id.clone());
        self
    }

    pub fn service(mut self, id: &ServiceId) -> Self {
        self.detail_mut().ids.service_id = Some(id.clone());
        self
    }

    pub fn plan(mut self, id: &PlanId) -> Self {
        self.detail_mut().ids.plan_id = Some(id.clone());
        self
    }

    pub fn operation(mut self, id: OperationId) -> Self {
        self.detail_mut().ids.operation_id = Some(id);
        self
    }

    pub fn backend(mut self, name: impl Into<String>) -> Self {
        self.detail_mut().ids.backend = Some(name.into());
        self
    }
}

impl From<StoreError> for BrokerError {
    fn from(e: StoreError) -> Self {
        Self::unavailable(Reason::StateStoreUnavailable, e.to_string())
    }
}

/// A service or plan the catalog does not have: the request asks for something that does not exist.
impl From<PlanLookupError> for BrokerError {
    fn from(e: PlanLookupError) -> Self {
        let message = e.to_string();
        let error = Self::bad_request(Reason::InvalidSpec, message);
        match e {
            PlanLookupError::UnknownService(service) => error.service(&service),
            PlanLookupError::UnknownPlan(plan) => error.plan(&plan),
            PlanLookupError::PlanOfAnotherService { plan, service } => {
                error.service(&service).plan(&plan)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_says_its_reason_and_keeps_its_ids() {
        let instance = InstanceId::parse("i-1").unwrap();
        let cases = [
            (BrokerError::not_found("x"), Reason::NotFound),
            (BrokerError::gone("x"), Reason::Gone),
            (BrokerError::conflict("x"), Reason::Conflict),
            (BrokerError::concurrency("x"), Reason::OperationInProgress),
            (BrokerError::async_required("x"), Reason::AsyncRequired),
            (
                BrokerError::maintenance_info_conflict("x"),
                Reason::MaintenanceInfoConflict,
            ),
            (BrokerError::timeout("x"), Reason::DeadlineExceeded),
            (
                BrokerError::bad_request(Reason::Unsupported, "x"),
                Reason::Unsupported,
            ),
            (
                BrokerError::operation_failed(Reason::QuotaExceeded, "x"),
                Reason::QuotaExceeded,
            ),
        ];
        for (error, reason) in cases {
            let error = error.instance(&instance).backend("shared");
            assert_eq!(error.reason(), reason, "{error:?}");
            assert_eq!(error.to_string(), "x");
            assert_eq!(error.ids().instance_id.as_ref(), Some(&instance));
            assert_eq!(error.ids().backend.as_deref(), Some("shared"));
        }
    }

    #[test]
    fn a_store_failure_is_the_state_store_being_unavailable() {
        let error = BrokerError::from(StoreError::Unavailable("connection refused".into()));
        assert!(matches!(error, BrokerError::Unavailable(_)));
        assert_eq!(error.reason(), Reason::StateStoreUnavailable);
    }

    #[test]
    fn a_plan_not_in_the_catalog_is_an_invalid_spec_naming_the_ids() {
        let plan = PlanId::parse("big").unwrap();
        let service = ServiceId::parse("svc").unwrap();
        let error = BrokerError::from(PlanLookupError::PlanOfAnotherService {
            plan: plan.clone(),
            service: service.clone(),
        });
        assert!(matches!(error, BrokerError::BadRequest(_)));
        assert_eq!(error.reason(), Reason::InvalidSpec);
        assert_eq!(error.ids().plan_id, Some(plan));
        assert_eq!(error.ids().service_id, Some(service));
        assert!(error.message().contains("does not belong"));
    }
}
