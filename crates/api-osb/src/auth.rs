//! Authentication of `/v2` requests: HTTP basic against configured user/password pairs and,
//! optionally, bearer tokens. Comparisons run in constant time over every configured entry, so
//! timing tells nothing about which part of a guess was right.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::future::{Either, Ready, ready};
use pgbroker_domain::Sensitive;
use subtle::{Choice, ConstantTimeEq};
use tower::{Layer, Service};

use crate::error::ApiError;

/// One basic-auth identity.
#[derive(Debug, Clone)]
pub struct BasicUser {
    pub username: String,
    pub password: Sensitive<String>,
}

/// Who may call the broker.
#[derive(Debug, Clone)]
pub enum Auth {
    /// At least one basic user or bearer token must match.
    Required {
        basic: Vec<BasicUser>,
        bearer: Vec<Sensitive<String>>,
    },
    /// Development only: every request is let in.
    Disabled,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error(
        "no credentials are configured: set at least one basic user or bearer token, or start in dev mode"
    )]
    NoCredentials,
    #[error("basic user {0:?}: username and password must not be empty")]
    EmptyBasic(String),
    #[error("a bearer token is empty")]
    EmptyToken,
}

impl Auth {
    /// Checks the configured credentials; the broker refuses to start without any.
    pub fn required(
        basic: Vec<BasicUser>,
        bearer: Vec<Sensitive<String>>,
    ) -> Result<Self, AuthError> {
        if basic.is_empty() && bearer.is_empty() {
            return Err(AuthError::NoCredentials);
        }
        for user in &basic {
            if user.username.is_empty() || user.password.expose().is_empty() {
                return Err(AuthError::EmptyBasic(user.username.clone()));
            }
        }
        if bearer.iter().any(|t| t.expose().is_empty()) {
            return Err(AuthError::EmptyToken);
        }
        Ok(Self::Required { basic, bearer })
    }

    /// Whether the `Authorization` header value lets the request in.
    pub fn allows(&self, authorization: Option<&[u8]>) -> bool {
        let (basic, bearer) = match self {
            Self::Disabled => return true,
            Self::Required { basic, bearer } => (basic, bearer),
        };
        let Some(value) = authorization.and_then(|v| std::str::from_utf8(v).ok()) else {
            return false;
        };
        let Some((scheme, credentials)) = value.trim().split_once(' ') else {
            return false;
        };
        let credentials = credentials.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let Ok(decoded) = STANDARD.decode(credentials) else {
                return false;
            };
            let Some(colon) = decoded.iter().position(|b| *b == b':') else {
                return false;
            };
            let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
            let mut found = Choice::from(0);
            for candidate in basic {
                found |= candidate.username.as_bytes().ct_eq(user)
                    & candidate.password.expose().as_bytes().ct_eq(password);
            }
            found.into()
        } else if scheme.eq_ignore_ascii_case("bearer") {
            let mut found = Choice::from(0);
            for token in bearer {
                found |= token.expose().as_bytes().ct_eq(credentials.as_bytes());
            }
            found.into()
        } else {
            false
        }
    }
}

/// Middleware of every `/v2` route, one layer for both checks: 401 with an OSB error body unless
/// the request is authenticated, then 412 unless it names an API version this broker serves.
/// Refuses requests without credentials the broker knows (401) and then requests with an
/// unsupported `X-Broker-API-Version` (412). A tower layer, for the reason `observe.rs` gives.
#[derive(Clone)]
pub struct GateLayer {
    auth: Arc<Auth>,
}

impl GateLayer {
    pub fn new(auth: Auth) -> Self {
        Self {
            auth: Arc::new(auth),
        }
    }
}

impl<S> Layer<S> for GateLayer {
    type Service = Gate<S>;

    fn layer(&self, inner: S) -> Gate<S> {
        Gate {
            inner,
            auth: self.auth.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Gate<S> {
    inner: S,
    auth: Arc<Auth>,
}

impl<S> Service<Request> for Gate<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match refusal(&self.auth, &req) {
            Some(refused) => Either::Left(ready(Ok(refused))),
            None => Either::Right(self.inner.call(req)),
        }
    }
}

fn refusal(auth: &Auth, req: &Request) -> Option<Response> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if !auth.allows(header) {
        return Some(
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "authentication required: send HTTP basic credentials or a bearer token the broker knows",
            )
            .into_response(),
        );
    }
    crate::headers::version_problem(req.headers())
        .map(|problem| ApiError::new(StatusCode::PRECONDITION_FAILED, problem).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::required(
            vec![
                BasicUser {
                    username: "cf".into(),
                    password: Sensitive::new("pw1".into()),
                },
                BasicUser {
                    username: "k8s".into(),
                    password: Sensitive::new("pw:2".into()),
                },
            ],
            vec![Sensitive::new("tok".into())],
        )
        .unwrap_or(Auth::Disabled)
    }

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
    }

    #[test]
    fn accepts_each_configured_identity_and_nothing_else() {
        let auth = auth();
        assert!(auth.allows(Some(basic("cf", "pw1").as_bytes())));
        assert!(auth.allows(Some(basic("k8s", "pw:2").as_bytes())));
        assert!(auth.allows(Some(b"Bearer tok")));
        assert!(!auth.allows(Some(basic("cf", "pw:2").as_bytes())));
        assert!(!auth.allows(Some(basic("cf", "pw").as_bytes())));
        assert!(!auth.allows(Some(b"Bearer to")));
        assert!(!auth.allows(Some(b"Basic !!!")));
        assert!(!auth.allows(Some(b"Digest x")));
        assert!(!auth.allows(None));
        assert!(Auth::Disabled.allows(None));
    }

    #[test]
    fn refuses_to_exist_without_credentials() {
        assert_eq!(
            Auth::required(vec![], vec![]).err(),
            Some(AuthError::NoCredentials)
        );
        assert!(Auth::required(vec![], vec![Sensitive::new(String::new())]).is_err());
    }
}
