//! Which front door may act on an instance: the one that created it. An instance made through the
//! Open Service Broker API is the platform's, one made by the Kubernetes operator is a
//! PostgreSQLServer object's; each door changing the other's would leave that owner with a wrong
//! picture of what exists, so every command and query is refused from the other door.

use crate::ids::InstanceId;
use crate::model::Instance;
use crate::operation::Operation;
use crate::reason::FrontDoor;

use super::BrokerError;

/// Refuses `door` acting on an instance owned by another door.
pub(super) fn check_owner(instance: &Instance, door: FrontDoor) -> Result<(), BrokerError> {
    check(&instance.id, instance.owner, door)
}

/// As [`check_owner`], for an operation (which records its instance's owner).
pub(super) fn check_operation(op: &Operation, door: FrontDoor) -> Result<(), BrokerError> {
    check(&op.instance_id, op.door, door)
}

fn check(id: &InstanceId, owner: FrontDoor, door: FrontDoor) -> Result<(), BrokerError> {
    if owner == door {
        return Ok(());
    }
    Err(BrokerError::foreign(match owner {
        FrontDoor::Operator => format!(
            "instance {id} is managed by the Kubernetes operator (a PostgreSQLServer object); \
             change or delete it there, not through the Open Service Broker API"
        ),
        FrontDoor::Osb => format!(
            "instance {id} was created through the Open Service Broker API and is managed by \
             its platform; the Kubernetes operator cannot change or delete it"
        ),
    })
    .instance(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_passes_and_the_refusal_names_the_owner() {
        let id = InstanceId::parse("i-1").unwrap();
        assert_eq!(check(&id, FrontDoor::Osb, FrontDoor::Osb), Ok(()));
        assert_eq!(check(&id, FrontDoor::Operator, FrontDoor::Operator), Ok(()));
        let err = check(&id, FrontDoor::Operator, FrontDoor::Osb).unwrap_err();
        assert_eq!(err.reason(), crate::reason::Reason::ForeignObject);
        assert_eq!(err.ids().instance_id.as_ref(), Some(&id));
        let why = err.message().to_string();
        assert!(
            why.contains("i-1") && why.contains("Kubernetes operator"),
            "{why}"
        );
        let err = check(&id, FrontDoor::Osb, FrontDoor::Operator).unwrap_err();
        assert_eq!(err.reason(), crate::reason::Reason::ForeignObject);
        let why = err.message().to_string();
        assert!(why.contains("Open Service Broker API"), "{why}");
    }
}
