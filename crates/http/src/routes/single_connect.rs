//! The Single Connect-style application API (API.md §6a, seed 002):
//! `POST /twofactorauth-ui/rest/tfa/otpstatus` and `.../otpvalid`, form
//! bodies, called with the application's `X-API-Key`.
//!
//! Translation only: the rules (status first and within 5 minutes, the
//! application bound to the key, TOTP or out-of-band code, lockout) are
//! the core's `application_otp_status` / `application_otp_valid`. Answers
//! are Single Connect's: `true`/`false` as text/plain, an empty 200 for a
//! valid code, and a Tomcat-style HTML error page otherwise (403 for a code
//! that is not valid, whatever the reason; other statuses for other
//! errors, e.g. 401 without a valid key, 415 for a body that is not a form).

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use otpgate_core::AuthError;
use otpgate_core::model::Application;
use otpgate_core::secret::SecretString;
use otpgate_core::service::Dialect;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dialect::Glue;
use crate::error::{self, AppError, DialectError, ErrorShape};
use crate::extract::{BodyKind, CallerInfo, api_key, body_kind, decode_body, read_body};
use crate::openapi::{E400, E401, E403, E413, E415, E429, EDEFAULT};
use crate::routes::mount::Mount;
use crate::state::AppState;

/// Where this dialect's routes live.
pub const PREFIX: &str = "/twofactorauth-ui/rest/tfa";

/// The two routes, and Single Connect's 404 page for anything else under
/// [`PREFIX`].
pub fn router(state: &AppState, _: &str) -> OpenApiRouter<AppState> {
    Mount::new(
        state,
        "",
        Glue::new::<SingleConnect>(Dialect::SingleConnect),
    )
    .routes(routes!(otp_status))
    .routes(routes!(otp_valid))
    .not_found_under(PREFIX)
    .finish()
}

/// Single Connect's error shape: an HTML status page.
#[derive(Debug)]
pub struct SingleConnect;

/// An error as Single Connect answers it.
pub type ScError = DialectError<SingleConnect>;

/// The Tomcat-style page of a status (as the seed shows it), with the
/// stable message of the error.
pub fn html_page(status: StatusCode, message: &str) -> String {
    let title = format!(
        "HTTP Status {} – {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n\t<title>{title}</title>\n\
         \t<style type=\"text/css\">body {{font-family:Tahoma,Arial,sans-serif;}} \
         h1, h2, h3, b {{color:white;background-color:#525D76;}} h1 {{font-size:22px;}} \
         h2 {{font-size:16px;}} h3 {{font-size:14px;}} p {{font-size:12px;}} a {{color:black;}} \
         .line {{height:1px;background-color:#525D76;border:none;}}</style>\n</head>\n<body>\n\
         \t<h1>{title}</h1>\n\t<hr class=\"line\" />\n\t<p><b>Type</b> Status Report</p>\n\
         \t<p><b>Message</b> {message}</p>\n</body>\n</html>\n"
    )
}

impl ErrorShape for SingleConnect {
    fn answer(err: &AppError, p: error::Parts) -> Response {
        // Every way a code can fail to be valid is Single Connect's 403.
        let status = match err {
            AppError::Auth(AuthError::InvalidOtp | AuthError::SecretNotFound) => {
                StatusCode::FORBIDDEN
            }
            _ => p.status,
        };
        (
            status,
            [(CONTENT_TYPE, "text/html;charset=utf-8")],
            html_page(status, p.message),
        )
            .into_response()
    }
}

/// A form body (`application/x-www-form-urlencoded`, or no content type),
/// or Single Connect's error page (415 for any other content type).
#[derive(Debug)]
pub struct ScForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ScForm<T> {
    type Rejection = ScError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let declared = req.headers().contains_key(CONTENT_TYPE);
        let kind = body_kind(req.headers())?;
        if declared && kind != BodyKind::Form {
            let ct = req
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            return Err(AppError::UnsupportedMediaType(ct).into());
        }
        let bytes = read_body(req, state).await?;
        if std::str::from_utf8(&bytes).is_err() {
            return Err(AppError::BadBody("the form body is not UTF-8".into()).into());
        }
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
            return Err(AppError::BadBody("send form fields, not JSON".into()).into());
        }
        Ok(Self(decode_body(BodyKind::Form, &bytes)?))
    }
}

/// The `X-API-Key` of the request, as sent (checked by the core).
#[derive(Debug)]
pub struct ScKey(pub Option<String>);

impl FromRequestParts<AppState> for ScKey {
    type Rejection = ScError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(api_key(&parts.headers).map(str::to_owned)))
    }
}

async fn application(
    s: &AppState,
    key: Option<&str>,
    name: &str,
    caller: &otpgate_core::service::Caller,
) -> Result<Application, ScError> {
    Ok(s.auth.application_for(key, name, true, caller).await?)
}

/// `otpstatus` form fields.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = ScStatusForm)]
pub struct StatusForm {
    username: String,
    #[serde(default)]
    enduserip: Option<String>,
    /// The name of the application whose API key makes the call.
    applicationname: String,
}

/// `POST /otpstatus`: `true` when OTP is active for the user (and, for a
/// user without TOTP, a code was just sent), else `false`.
#[utoipa::path(post, path = "/twofactorauth-ui/rest/tfa/otpstatus", tag = "single-connect",
    summary = "Single Connect: is OTP active for the user (sends an out-of-band code if needed)",
    security(("apiKey" = [])),
    request_body(content = StatusForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Whether OTP is active for the user (`true` may also mean an out-of-band code was sent)",
            content_type = "text/plain", body = inline(TrueOrFalse)),
        (status = 400, description = E400, content_type = "text/html", body = String),
        (status = 401, description = E401, content_type = "text/html", body = String),
        (status = 403, description = E403, content_type = "text/html", body = String),
        (status = 413, description = E413, content_type = "text/html", body = String),
        (status = 415, description = E415, content_type = "text/html", body = String),
        (status = 429, description = E429, content_type = "text/html", body = String, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, content_type = "text/html", body = String),
    ))]
pub async fn otp_status(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    ScKey(key): ScKey,
    ScForm(f): ScForm<StatusForm>,
) -> Result<Response, ScError> {
    let app = application(&s, key.as_deref(), &f.applicationname, &caller).await?;
    let active = s
        .auth
        .application_otp_status(&app, &f.username, f.enduserip.as_deref(), &caller)
        .await?;
    Ok((
        [(CONTENT_TYPE, "text/plain;charset=utf-8")],
        if active {
            TrueOrFalse::True
        } else {
            TrueOrFalse::False
        }
        .text(),
    )
        .into_response())
}

/// `otpstatus`'s answer, as text.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TrueOrFalse {
    /// OTP is active.
    True,
    /// It is not.
    False,
}

impl TrueOrFalse {
    fn text(self) -> &'static str {
        match self {
            Self::True => "true",
            Self::False => "false",
        }
    }
}

/// `otpvalid` form fields.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = ScValidForm)]
pub struct ValidForm {
    username: String,
    token: String,
    applicationname: String,
}

/// `POST /otpvalid`: 200 with an empty body when the code is valid.
#[utoipa::path(post, path = "/twofactorauth-ui/rest/tfa/otpvalid", tag = "single-connect",
    summary = "Single Connect: check a code",
    security(("apiKey" = [])),
    request_body(content = ValidForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The code is valid (empty body)"),
        (status = 400, description = E400, content_type = "text/html", body = String),
        (status = 401, description = E401, content_type = "text/html", body = String),
        (status = 403, description = E403, content_type = "text/html", body = String),
        (status = 413, description = E413, content_type = "text/html", body = String),
        (status = 415, description = E415, content_type = "text/html", body = String),
        (status = 429, description = E429, content_type = "text/html", body = String, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, content_type = "text/html", body = String),
    ))]
pub async fn otp_valid(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    ScKey(key): ScKey,
    ScForm(f): ScForm<ValidForm>,
) -> Result<StatusCode, ScError> {
    let app = application(&s, key.as_deref(), &f.applicationname, &caller).await?;
    s.auth
        .application_otp_valid(&app, &f.username, &SecretString::new(f.token), &caller)
        .await?;
    Ok(StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_looks_like_tomcat_s() {
        let page = html_page(StatusCode::FORBIDDEN, "invalid_otp");
        assert!(page.starts_with("<!doctype html>"));
        assert!(page.contains("<title>HTTP Status 403 – Forbidden</title>"));
        assert!(page.contains("<h1>HTTP Status 403 – Forbidden</h1>"));
        assert!(page.contains("background-color:#525D76"));
        assert!(page.contains("invalid_otp"));
    }
}
