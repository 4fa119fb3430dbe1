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
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::extract::{BodyKind, CallerInfo, api_key, body_kind, decode_body, read_body};
use crate::state::AppState;

/// Where this dialect's routes live.
pub const PREFIX: &str = "/twofactorauth-ui/rest/tfa";

/// An error as Single Connect answers it: an HTML status page.
#[derive(Debug)]
pub struct ScError(pub AppError);

impl<E: Into<AppError>> From<E> for ScError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

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

impl IntoResponse for ScError {
    fn into_response(self) -> Response {
        self.0.log_if_internal();
        let p = self.0.parts();
        // Every way a code can fail to be valid is Single Connect's 403.
        let status = match &self.0 {
            AppError::Auth(AuthError::InvalidOtp | AuthError::SecretNotFound) => {
                StatusCode::FORBIDDEN
            }
            _ => p.status,
        };
        let mut resp = (
            status,
            [(CONTENT_TYPE, "text/html;charset=utf-8")],
            html_page(status, p.message),
        )
            .into_response();
        self.0.mark(&mut resp);
        crate::error::set_retry_after(&mut resp, p.retry_after);
        resp
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
#[derive(Debug, Deserialize)]
pub struct StatusForm {
    username: String,
    #[serde(default)]
    enduserip: Option<String>,
    applicationname: String,
}

/// `POST /otpstatus`: `true` when OTP is active for the user (and, for a
/// user without TOTP, a code was just sent), else `false`.
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
        if active { "true" } else { "false" },
    )
        .into_response())
}

/// `otpvalid` form fields.
#[derive(Debug, Deserialize)]
pub struct ValidForm {
    username: String,
    token: String,
    applicationname: String,
}

/// `POST /otpvalid`: 200 with an empty body when the code is valid.
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
