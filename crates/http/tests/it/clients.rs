//! One small client per dialect, so that a test says what it asks
//! (`app.me(token)`, `app.sc_valid(..)`, `app.cap_validate(..)`) instead of
//! building the request again: the native API (API.md §1), persistent
//! tokens (§10), the legacy challenge login and its `/webrest` routes
//! (§2), Mudbase (§5), Single Connect (§6a) and Capillary (§6b). Each
//! sends one request and returns the [`Resp`] (status, headers, parsed
//! JSON and raw body); assertions stay in the tests.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

pub use crate::dialects::{CAP_OTP, CAP_TOKEN, CAP_VALIDATE, SC_STATUS, SC_VALID, cap_who, with};
use crate::support::{Resp, TestApp};

// --- Native (API.md §1). ---

impl TestApp {
    /// `POST /api/login` with this username and password.
    pub async fn try_login(&self, user: &str, password: &str) -> Resp {
        self.post(
            "/api/login",
            None,
            json!({"username": user, "password": password}),
        )
        .await
    }

    /// `GET /api/user/me`.
    pub async fn me(&self, token: &str) -> Resp {
        self.get("/api/user/me", token).await
    }

    /// `GET /api/2fa/status`.
    pub async fn status_2fa(&self, token: &str) -> Resp {
        self.get("/api/2fa/status", token).await
    }

    /// `POST /api/logout` (no body).
    pub async fn logout(&self, token: &str) -> Resp {
        self.call(Method::POST, "/api/logout", Some(token), None)
            .await
    }

    /// `POST /api/2fa/recovery-codes` with the password.
    pub async fn new_recovery_codes(&self, token: &str, password: &str) -> Resp {
        self.post(
            "/api/2fa/recovery-codes",
            Some(token),
            json!({"password": password}),
        )
        .await
    }

    /// `POST /api/2fa/disable` with the password.
    pub async fn disable_2fa(&self, token: &str, password: &str) -> Resp {
        self.post(
            "/api/2fa/disable",
            Some(token),
            json!({"password": password}),
        )
        .await
    }
}

// --- Persistent tokens (API.md §10). ---

/// The route of one audience's persistent token.
pub fn persistent_path(audience: &str) -> String {
    format!("/api/tokens/persistent/{audience}")
}

impl TestApp {
    /// `POST /api/tokens/persistent/{audience}`: mints a token.
    pub async fn mint_persistent(&self, token: &str, audience: &str) -> Resp {
        self.call(Method::POST, &persistent_path(audience), Some(token), None)
            .await
    }

    /// `GET /api/tokens/persistent/{audience}`: whether one is live.
    pub async fn persistent_exists(&self, token: &str, audience: &str) -> Resp {
        self.get(&persistent_path(audience), token).await
    }

    /// `DELETE /api/tokens/persistent/{audience}`: removes it.
    pub async fn remove_persistent(&self, token: &str, audience: &str) -> Resp {
        self.call(
            Method::DELETE,
            &persistent_path(audience),
            Some(token),
            None,
        )
        .await
    }
}

// --- The legacy challenge login and `/webrest` (API.md §2). ---

/// The client's side of the legacy protocol: the CTI server's challenge
/// token, `hex(HMAC-SHA1(password, "user:password:nonce"))`, written
/// independently of otpgate's ([`crate::cti_server::challenge_token`]).
pub fn legacy_client_token(user: &str, password: &str, nonce: &str) -> String {
    crate::cti_server::challenge_token(user, password, nonce)
}

/// The legacy `Authorization` value, `user:token`, for this nonce.
pub fn legacy_credential(user: &str, password: &str, nonce: &str) -> String {
    format!("{user}:{}", legacy_client_token(user, password, nonce))
}

impl TestApp {
    /// `POST /webrest/authentication/login` (answers 401 with the nonce).
    pub async fn legacy_login(&self, user: &str, password: &str) -> Resp {
        self.post(
            "/webrest/authentication/login",
            None,
            json!({"username": user, "password": password}),
        )
        .await
    }

    /// A fresh nonce for `user` (the 401's `WWW-Authenticate: Digest
    /// <nonce>`, 40 hex digits).
    pub async fn legacy_nonce(&self, user: &str, password: &str) -> String {
        let r = self.legacy_login(user, password).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
        let h = r.headers["www-authenticate"].to_str().unwrap().to_owned();
        let nonce = h
            .strip_prefix("Digest ")
            .expect("Digest <nonce>")
            .to_owned();
        assert_eq!(nonce.len(), 40);
        assert!(nonce.bytes().all(|b| b.is_ascii_hexdigit()));
        nonce
    }

    /// A `/webrest` request with this raw `Authorization` header
    /// (`user:token`).
    pub async fn webrest(&self, method: Method, path: &str, auth: &str) -> Resp {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", auth)
            .body(Body::empty())
            .unwrap();
        self.send(req).await
    }

    /// `GET /webrest/user/me` with this credential (`user:token`).
    pub async fn webrest_me(&self, auth: &str) -> Resp {
        self.webrest(Method::GET, "/webrest/user/me", auth).await
    }
}

// --- Mudbase (API.md §5). ---

impl TestApp {
    /// `POST /api/users/2fa/verify` with `{"token": code}`.
    pub async fn mudbase_verify(&self, token: Option<&str>, code: &str) -> Resp {
        self.post("/api/users/2fa/verify", token, json!({"token": code}))
            .await
    }
}

// --- Single Connect (API.md §6a). ---

impl TestApp {
    /// `otpstatus` for `user` at `application` (with the end user's
    /// address when given), as a form with the application's key.
    pub async fn sc_status(
        &self,
        key: &str,
        user: &str,
        enduserip: Option<&str>,
        application: &str,
    ) -> Resp {
        let mut fields = vec![("username", user)];
        fields.extend(enduserip.map(|ip| ("enduserip", ip)));
        fields.push(("applicationname", application));
        self.post_form(SC_STATUS, Some(key), &fields).await
    }

    /// `otpvalid` for `user`'s `token` (the code) at `application`.
    pub async fn sc_valid(&self, key: &str, user: &str, token: &str, application: &str) -> Resp {
        self.post_form(
            SC_VALID,
            Some(key),
            &[
                ("username", user),
                ("token", token),
                ("applicationname", application),
            ],
        )
        .await
    }
}

// --- Capillary (API.md §6b). ---

impl TestApp {
    /// `token/generate`: `who` and the password (answers the session).
    pub async fn cap_token(&self, who: &Value, password: &str) -> Resp {
        self.post_json(
            CAP_TOKEN,
            None,
            &with(who.clone(), json!({"password": password})),
        )
        .await
    }

    /// `otp/generate`: `who` and the session (sends the code).
    pub async fn cap_otp(&self, who: &Value, sid: &str) -> Resp {
        self.post_json(CAP_OTP, None, &with(who.clone(), json!({"sessionId": sid})))
            .await
    }

    /// `otp/validate`: `who`, the session and the code (answers the token).
    pub async fn cap_validate(&self, who: &Value, sid: &str, otp: Value) -> Resp {
        self.post_json(
            CAP_VALIDATE,
            None,
            &with(who.clone(), json!({"sessionId": sid, "otp": otp})),
        )
        .await
    }
}
