//! Unbind: the binding's login role cut off, what it owns handed to the owner group, the role
//! dropped (`roles.rs`), and for a binding with a database of its own that database released
//! first (`own_database.rs`).
//!
//! With one server there is nowhere else to look for the instance, so the unbind sends no
//! separate look at the catalogs: its first statement is a `DO` block that checks the owner
//! role's and the binding role's marks and disables the role's login in one round trip, and
//! the statement ending the role's sessions also lists the databases to hand its objects over
//! in. A role or owner without its mark is still refused before anything is changed
//! (`tests/hostile.rs`); a binding with a database of its own takes the general path.

use pgbroker_domain::ports::UnbindRequest;
use pgbroker_domain::{BindingId, InstanceId, Reason};

use super::error::StepError;
use super::inspect::{self, select_mark_into};
use super::own_database::release_own_databases;
use super::roles::{drop_binding_role, hand_over_and_drop};
use super::run::UNMARKED;
use super::server::Server;
use super::sql::{Ident, Literal};
use super::{InstanceNames, SharedServerBackend, owner_not_ours};

/// Raised by the check block: the owner role or the binding role does not exist.
const ABSENT: &str = "PB002";
/// Raised by the check block: the role is the login of a binding with a database of its own.
const OWN_DATABASE: &str = "PB003";
/// Raised by the check block: the binding role exists without the binding's mark.
const ROLE_UNMARKED: &str = "PB004";

/// What the check block at the start of a one-server unbind found.
enum Checked {
    /// The role is cut off; its objects are to be handed over in these databases.
    CutOff(Vec<String>),
    /// Nothing of the binding is there: never bound, or unbound already.
    Absent,
    /// A binding with a database of its own: the general path releases that database first.
    OwnDatabase,
}

/// The marks an unbind checks, and the names they belong to.
struct Marks<'a> {
    names: &'a InstanceNames,
    binding_id: &'a BindingId,
    role: &'a Ident,
    /// The mark of an in-group binding role.
    binding: &'a str,
    /// The mark of a binding role with a database of its own.
    own: &'a str,
}

fn literal(value: &str) -> Result<Literal, StepError> {
    Literal::new(value).map_err(|e| StepError::invalid(e.to_string()))
}

/// The `DO` block checking both marks under one snapshot and, when both are the binding's,
/// disabling the role's login.
fn check_block(marks: &Marks<'_>) -> Result<String, StepError> {
    let (owner, role) = (&marks.names.owner, marks.role);
    let body = format!(
        "DECLARE mark text;\n\
         BEGIN\n\
         {owner_mark}\
         IF NOT FOUND THEN\n\
         RAISE EXCEPTION 'no such instance' USING ERRCODE = '{ABSENT}';\n\
         END IF;\n\
         IF mark <> {instance} THEN\n\
         RAISE EXCEPTION 'owner role without the mark' USING ERRCODE = '{UNMARKED}';\n\
         END IF;\n\
         {role_mark}\
         IF NOT FOUND THEN\n\
         RAISE EXCEPTION 'no such binding role' USING ERRCODE = '{ABSENT}';\n\
         END IF;\n\
         IF mark = {own} THEN\n\
         RAISE EXCEPTION 'binding with a database of its own' USING ERRCODE = '{OWN_DATABASE}';\n\
         END IF;\n\
         IF mark <> {binding} THEN\n\
         RAISE EXCEPTION 'binding role without the mark' USING ERRCODE = '{ROLE_UNMARKED}';\n\
         END IF;\n\
         ALTER ROLE {role} NOLOGIN;\n\
         END",
        owner_mark = select_mark_into("mark", &literal(owner.as_str())?),
        instance = literal(&marks.names.marker)?,
        role_mark = select_mark_into("mark", &literal(role.as_str())?),
        own = literal(marks.own)?,
        binding = literal(marks.binding)?,
    );
    Ok(format!("DO {}", literal(&body)?))
}

impl SharedServerBackend {
    pub(crate) async fn unbind_step(&self, req: &UnbindRequest) -> Result<(), StepError> {
        let (id, binding) = (&req.instance_id, &req.binding_id);
        let names = self.instance_names(id);
        let role = self.binding_role(id, binding);
        let marker = inspect::binding_marker(id.as_str(), binding.as_str());
        let own_marker =
            inspect::own_binding_marker(id.as_str(), binding.as_str(), names.owner.as_str());
        if let [only] = self.servers.as_slice() {
            let marks = Marks {
                names: &names,
                binding_id: binding,
                role: &role,
                binding: &marker,
                own: &own_marker,
            };
            if self.unbind_on(only, id, &marks).await? {
                return Ok(());
            }
        }
        let Some((mut run, look)) = self
            .locate(id, &names, &[role.as_str()], Some(&marker))
            .await?
        else {
            return Ok(());
        };
        let server = run.server;
        match look.roles.first().cloned().flatten() {
            None => Ok(()),
            Some(comment) if comment == marker || comment == own_marker => {
                // Only this binding's database: another binding's id may start with this one's.
                let own: Vec<_> = look
                    .own_databases
                    .into_iter()
                    .filter(|(_, comment)| *comment == own_marker)
                    .collect();
                let retain = req.deletion_policy.retains();
                let mut databases = look.databases;
                databases.extend(release_own_databases(&mut run, id, &names, &own, retain).await?);
                drop_binding_role(&mut run, id, &names, &role, &databases).await
            }
            Some(_) => Err(role_not_ours(binding, &role, server)),
        }
    }

    /// Unbinds on the only server in one round trip fewer (see the module's text); `false`
    /// when the binding has a database of its own, which the general path releases.
    async fn unbind_on(
        &self,
        server: &Server,
        id: &InstanceId,
        marks: &Marks<'_>,
    ) -> Result<bool, StepError> {
        let (names, role) = (marks.names, marks.role);
        let mut run = self.run(server);
        let sql = check_block(marks)?;
        // The instance's database is connected into while the role is checked and cut off.
        let ahead = run.connect_ahead(Some(&names.database));
        let cut_off = async {
            let doing = format!("instance {id}: checking and disabling login role {role}");
            match run.exec_checked(doing, &sql).await?.as_deref() {
                None => {}
                Some(ABSENT) => return Ok(Checked::Absent),
                Some(OWN_DATABASE) => return Ok(Checked::OwnDatabase),
                Some(UNMARKED) => return Err(owner_not_ours(id, names, server)),
                Some(ROLE_UNMARKED) => return Err(role_not_ours(marks.binding_id, role, server)),
                Some(code) => {
                    return Err(StepError::Permanent(
                        Reason::BackendFailed,
                        format!("instance {id}: checking role {role} answered SQLSTATE {code}"),
                    ));
                }
            }
            let doing = format!("instance {id}: ending sessions of role {role}");
            let databases = run.terminate_listing(doing, role, &names.owner).await?;
            Ok(Checked::CutOff(databases))
        };
        let (checked, ahead) = tokio::join!(cut_off, ahead);
        let databases = match checked? {
            Checked::CutOff(databases) => databases,
            Checked::Absent => return Ok(true),
            Checked::OwnDatabase => return Ok(false),
        };
        // A connection that could not be made ahead is only a head start missed: the statements
        // inside the database connect themselves and report what fails.
        if let Ok(ahead) = ahead {
            run.adopt(ahead);
        }
        let databases = databases
            .into_iter()
            .map(|name| Ident::new(name).map_err(|e| StepError::invalid(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        hand_over_and_drop(&mut run, id, names, role, &databases).await?;
        Ok(true)
    }
}

fn role_not_ours(binding: &BindingId, role: &Ident, server: &Server) -> StepError {
    StepError::Permanent(
        Reason::ForeignObject,
        format!(
            "binding {binding}: role {role} on server {} is not marked as this binding's role; refusing to drop it",
            server.name()
        ),
    )
}
