//! A binding's database of its own: owned by the binding's login role, which is not in the
//! instance's owner group, so it opens this database and no other database of the instance
//! (and no instance login opens it). It carries the binding's mark, so unbind and
//! deprovision find it; given up with `Retain`, it passes to the owner group and becomes one of
//! the instance's databases.

use pgbroker_domain::{InstanceId, OwnDatabase};

use super::InstanceNames;
use super::database::{Goal, configure_inside, drop_database, ensure_database};
use super::error::StepError;
use super::request::PlanSettings;
use super::run::Run;
use super::sql::{Ident, Literal};

fn literal(value: &str) -> Result<Literal, StepError> {
    Literal::new(value).map_err(|e| StepError::invalid(e.to_string()))
}

fn ident(name: &str) -> Result<Ident, StepError> {
    Ident::new(name).map_err(|e| StepError::invalid(e.to_string()))
}

/// `CREATE DATABASE` options for the encoding and locale asked for (checked for shape by the
/// domain, quoted here; whether the server knows them, it says: a permanent `InvalidSpec`).
fn create_options(db: &OwnDatabase) -> Result<String, StepError> {
    let mut options = String::new();
    if let Some(charset) = &db.charset {
        options.push_str(&format!(" ENCODING {}", literal(charset)?));
    }
    if let Some(collation) = &db.collation {
        let locale = literal(collation)?;
        options.push_str(&format!(" LC_COLLATE {locale} LC_CTYPE {locale}"));
    }
    Ok(options)
}

/// What makes a binding's own database.
pub(crate) struct OwnGoal<'a> {
    pub name: &'a Ident,
    /// The binding's login role, which owns it.
    pub role: &'a Ident,
    /// The binding's mark.
    pub marker: &'a str,
    pub request: &'a OwnDatabase,
    /// From the backend's allow-list.
    pub extensions: &'a [Ident],
    /// The step's look found it already, with the binding's mark.
    pub exists: bool,
}

/// The database exists, owned by the binding's role, closed to everyone else, with the plan's
/// limits, its `public` schema the role's and the extensions asked for.
pub(crate) async fn ensure_own_database(
    run: &mut Run<'_>,
    id: &InstanceId,
    goal: &OwnGoal<'_>,
    plan: &PlanSettings,
) -> Result<(), StepError> {
    let database = Goal {
        name: goal.name,
        owner: goal.role,
        marker: goal.marker,
        open_to: None,
        options: create_options(goal.request)?,
    };
    ensure_database(run, id, &database, plan, goal.exists).await?;
    configure_inside(run, id, goal.name, goal.role, goal.extensions).await
}

/// Gives up the bindings' own databases `own` (name, mark) of an instance: with `retain`, each
/// passes to the owner group with the instance's mark and is returned among the instance's
/// databases (what its role owns inside is handed over when the role is dropped); otherwise
/// each is dropped.
pub(crate) async fn release_own_databases(
    run: &mut Run<'_>,
    id: &InstanceId,
    names: &InstanceNames,
    own: &[(String, String)],
    retain: bool,
) -> Result<Vec<(String, String)>, StepError> {
    let mut kept = Vec::new();
    for (name, _) in own {
        let database = ident(name)?;
        if retain {
            run.exec(
                format!(
                    "instance {id}: handing database {database} to {}",
                    names.owner
                ),
                None,
                &format!(
                    "ALTER DATABASE {database} OWNER TO {owner};\n\
                     COMMENT ON DATABASE {database} IS {marker};\n\
                     GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {owner}",
                    owner = names.owner,
                    marker = literal(&names.marker)?,
                ),
            )
            .await?;
            kept.push((name.clone(), names.marker.clone()));
        } else {
            drop_database(run, id, &database).await?;
        }
    }
    Ok(kept)
}
