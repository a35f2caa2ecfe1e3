//! What the server holds for one instance, as text with the ids replaced by placeholders, so
//! that the state after an interrupted and resumed step can be compared with a clean run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pgbroker_domain::{InstanceId, OperationId};

use super::{admin, admin_in};

pub async fn snapshot(tag: &str, id: &InstanceId, ops: &[OperationId]) -> Vec<String> {
    let mut admin = admin().await;
    // Long names are cut and hashed; the first 8 characters of a random id still pick them out.
    let pattern = format!("{tag}_{}%", &id.as_str()[..8]);
    let mut lines: Vec<String> = Vec::new();
    let dbs: Vec<(String, String, String, i32, String, String)> = sqlx::query_as(
        "SELECT d.datname::text, pg_get_userbyid(d.datdba)::text, coalesce(d.datacl::text, ''), \
         d.datconnlimit, coalesce(shobj_description(d.oid, 'pg_database'), ''), \
         coalesce((SELECT s.setconfig::text FROM pg_db_role_setting s WHERE s.setdatabase = d.oid AND s.setrole = 0), '') \
         FROM pg_database d WHERE d.datname LIKE $1 ORDER BY 1",
    )
    .bind(&pattern)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    for (name, owner, acl, limit, comment, config) in &dbs {
        lines.push(format!("database {name} owner={owner} acl={acl} limit={limit} comment={comment} config={config}"));
        if !comment.contains("retained") {
            let mut inside = admin_in(name).await;
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT 'schema public owner=' || pg_get_userbyid(nspowner) || ' acl=' || coalesce(nspacl::text, '') \
                 FROM pg_namespace WHERE nspname = 'public' \
                 UNION ALL SELECT 'extension ' || extname FROM pg_extension \
                 UNION ALL SELECT 'default acl ' || pg_get_userbyid(defaclrole) || ' ' || defaclobjtype::text || ' ' || defaclacl::text FROM pg_default_acl \
                 ORDER BY 1",
            )
            .fetch_all(&mut inside)
            .await
            .unwrap();
            lines.extend(rows.into_iter().map(|(r,)| format!("  in {name}: {r}")));
        }
    }
    let roles: Vec<(String, bool, String, String, String)> = sqlx::query_as(
        "SELECT r.rolname::text, r.rolcanlogin, coalesce(shobj_description(r.oid, 'pg_authid'), ''), \
         coalesce((SELECT string_agg(g.rolname, ',' ORDER BY g.rolname) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid), ''), \
         coalesce((SELECT s.setconfig::text FROM pg_db_role_setting s WHERE s.setrole = r.oid AND s.setdatabase = 0), '') \
         FROM pg_roles r WHERE r.rolname LIKE $1 ORDER BY 1",
    )
    .bind(&pattern)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    for (name, login, comment, groups, config) in roles {
        lines.push(format!(
            "role {name} login={login} comment={comment} in={groups} config={config}"
        ));
    }
    let mut lines: Vec<String> = lines
        .into_iter()
        .map(|line| {
            let mut line = line.replace(tag, "<T>");
            for len in (8..=id.as_str().len()).rev() {
                line = line.replace(&id.as_str()[..len], "<I>");
            }
            for op in ops {
                line = line.replace(&op.to_string(), "<OP>");
                line = line.replace(&op.as_uuid().simple().to_string()[..8], "<op>");
            }
            without_hashes(&line)
        })
        .collect();
    // Hashed names sort differently from one instance to the next.
    lines.sort();
    lines
}

/// Replaces the hash that shortens long names (`_` and 12 hex digits) by `_<hash>`: it differs
/// between instances like the ids do.
fn without_hashes(line: &str) -> String {
    let bytes = line.as_bytes();
    let hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes[i + 1..].iter().take_while(|b| hex(b)).count();
        if bytes[i] == b'_' && run == 12 {
            out.push_str("_<hash>");
            i += 13;
        } else {
            let ch = line[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}
