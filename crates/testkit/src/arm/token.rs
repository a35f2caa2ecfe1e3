//! The Microsoft Entra ID token endpoint, client-credentials grant
//! (identity-platform/v2-oauth2-client-creds-grant-flow): `POST /{tenant}/oauth2/v2.0/token`.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::Utc;
use serde_json::json;

use super::reply::{Refusal, Reply};
use super::state::State;
use super::{CLIENT_ID, CLIENT_SECRET, TENANT};

pub(crate) const SCOPE: &str = "https://management.azure.com/.default";
pub(crate) const LIFETIME_SECS: u64 = 3599;

/// Entra's error body: error, error_description "AADSTSnnnn: ...", error_codes and ids.
fn aad_error(status: u16, error: &str, code: u32, text: &str) -> Refusal {
    let description = format!("AADSTS{code}: {text}");
    Refusal {
        status,
        body: json!({
            "error": error,
            "error_description": description,
            "error_codes": [code],
            "timestamp": Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string(),
            "trace_id": uuid::Uuid::new_v4().to_string(),
            "correlation_id": uuid::Uuid::new_v4().to_string(),
        }),
        why: format!("{error}: {description}"),
        violation: true,
        headers: Vec::new(),
    }
}

/// Decodes `application/x-www-form-urlencoded` (also used for query strings).
pub(crate) fn form_decode(text: &str) -> BTreeMap<String, String> {
    fn decode(part: &str) -> String {
        let bytes = part.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = |b: u8| char::from(b).to_digit(16);
                    match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                        (Some(hi), Some(lo)) => {
                            out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

pub(crate) fn issue(
    st: &mut State,
    tenant: &str,
    form_ok: bool,
    form: &BTreeMap<String, String>,
) -> Result<Reply, Refusal> {
    if !form_ok {
        return Err(aad_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'. The body must be application/x-www-form-urlencoded.",
        ));
    }
    if tenant != TENANT {
        return Err(aad_error(
            400,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        ));
    }
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(aad_error(
                400,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
            ));
        }
        None => {
            return Err(aad_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            ));
        }
    }
    let client = form
        .get("client_id")
        .map(String::as_str)
        .unwrap_or_default();
    if client != CLIENT_ID {
        return Err(aad_error(
            400,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client}' was not found in the directory '{TENANT}'."
            ),
        ));
    }
    if form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET) {
        return Err(aad_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        ));
    }
    if form.get("scope").map(String::as_str) != Some(SCOPE) {
        let scope = form.get("scope").cloned().unwrap_or_default();
        return Err(aad_error(
            400,
            "invalid_scope",
            1002012,
            &format!(
                "The provided value for scope '{scope}' is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        ));
    }
    let token = format!("arm-double-{}", uuid::Uuid::new_v4().simple());
    st.tokens.insert(token.clone(), Instant::now());
    Ok(Reply::json(
        200,
        json!({"token_type": "Bearer", "expires_in": LIFETIME_SECS, "ext_expires_in": LIFETIME_SECS, "access_token": token}),
    ))
}

/// ARM's checks of the `Authorization` header, with its documented 401 codes.
pub(crate) fn authenticate(st: &State, header: Option<&str>) -> Result<(), Refusal> {
    let challenge = format!(
        "Bearer authorization_uri=\"https://login.microsoftonline.com/{TENANT}\", error=\"invalid_token\", error_description=\"The authentication failed.\""
    );
    let Some(header) = header else {
        return Err(Refusal::rule(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        )
        .header("WWW-Authenticate", challenge));
    };
    let Some(token) = header.strip_prefix("Bearer ") else {
        return Err(Refusal::rule(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
        )
        .header("WWW-Authenticate", challenge));
    };
    match st.tokens.get(token.trim()) {
        None => Err(Refusal::rule(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        )
        .header("WWW-Authenticate", challenge)),
        Some(issued) if issued.elapsed().as_secs() >= LIFETIME_SECS => Err(Refusal::rule(
            401,
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time is earlier than current UTC time.",
        )
        .header("WWW-Authenticate", challenge)),
        Some(_) => Ok(()),
    }
}
