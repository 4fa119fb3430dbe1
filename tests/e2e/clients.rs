//! One small client per dialect for the end-to-end tests, over [`Http`]
//! against a server's base URL (`http://127.0.0.1:PORT`, or a balancer's):
//! the native API (API.md §1), persistent tokens (§10), the legacy
//! `/webrest` login (§2), Mudbase (§5), Single Connect (§6a) and
//! Capillary (§6b). Each sends one request and returns what the server
//! answered (status and parsed JSON, or status, content type and text);
//! assertions stay in the tests, so a test says what it asks instead of
//! building the request again.

use serde_json::{Value, json};

pub use crate::dialects::{CAP_OTP, CAP_TOKEN, CAP_VALIDATE, SC_STATUS, SC_VALID, cap_who, with};
use crate::support::Http;

// --- Native (API.md §1). ---

impl Http {
    /// `POST /api/login`.
    pub async fn try_login(&self, base: &str, user: &str, password: &str) -> (u16, Value) {
        self.post(
            &format!("{base}/api/login"),
            None,
            json!({"username": user, "password": password}),
        )
        .await
    }

    /// `POST /api/login`, which must succeed; the token.
    pub async fn login_token(&self, base: &str, user: &str, password: &str) -> String {
        let (s, b) = self.try_login(base, user, password).await;
        assert_eq!(s, 200, "login {user}: {b}");
        b["token"].as_str().unwrap().to_owned()
    }

    /// `GET /api/user/me`.
    pub async fn me(&self, base: &str, token: &str) -> (u16, Value) {
        self.get(&format!("{base}/api/user/me"), token).await
    }

    /// `GET /api/2fa/qr-code`.
    pub async fn qr_code(&self, base: &str, token: &str) -> (u16, Value) {
        self.get(&format!("{base}/api/2fa/qr-code"), token).await
    }

    /// `POST /api/2fa/verify-otp` for `user` with `otp`.
    pub async fn verify_otp(&self, base: &str, token: &str, user: &str, otp: &str) -> (u16, Value) {
        self.post(
            &format!("{base}/api/2fa/verify-otp"),
            Some(token),
            json!({"username": user, "otp": otp}),
        )
        .await
    }

    /// `POST /api/2fa/recovery-codes` with the password.
    pub async fn new_recovery_codes(
        &self,
        base: &str,
        token: &str,
        password: &str,
    ) -> (u16, Value) {
        self.post(
            &format!("{base}/api/2fa/recovery-codes"),
            Some(token),
            json!({"password": password}),
        )
        .await
    }

    /// The codes of a `POST /api/2fa/recovery-codes` answer.
    pub fn recovery_codes_in(answer: &Value) -> Vec<String> {
        answer["codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect()
    }

    /// `POST /api/logout` (an empty JSON object as the body).
    pub async fn logout(&self, base: &str, token: &str) -> (u16, Value) {
        self.post(&format!("{base}/api/logout"), Some(token), json!({}))
            .await
    }
}

// --- Mudbase (API.md §5). ---

impl Http {
    /// `POST /api/users/2fa/verify` with `{"token": code}`.
    pub async fn mudbase_verify(&self, base: &str, token: &str, code: &str) -> (u16, Value) {
        self.post(
            &format!("{base}/api/users/2fa/verify"),
            Some(token),
            json!({"token": code}),
        )
        .await
    }
}

// --- Single Connect (API.md §6a). ---

impl Http {
    /// `otpstatus` with these form fields; (status, content type, text).
    pub async fn sc_status(
        &self,
        base: &str,
        key: &str,
        fields: &[(&str, &str)],
    ) -> (u16, String, String) {
        self.post_form(&format!("{base}{SC_STATUS}"), key, fields)
            .await
    }

    /// `otpvalid` for `user`'s `code` at `application`; (status, content
    /// type, text).
    pub async fn sc_valid(
        &self,
        base: &str,
        key: &str,
        user: &str,
        code: &str,
        application: &str,
    ) -> (u16, String, String) {
        self.post_form(
            &format!("{base}{SC_VALID}"),
            key,
            &[
                ("username", user),
                ("token", code),
                ("applicationname", application),
            ],
        )
        .await
    }
}

// --- Capillary (API.md §6b). ---

impl Http {
    /// `token/generate`: `who` and the password (answers the session).
    pub async fn cap_token(&self, base: &str, who: &Value, password: &str) -> (u16, Value) {
        self.post(
            &format!("{base}{CAP_TOKEN}"),
            None,
            with(who.clone(), json!({"password": password})),
        )
        .await
    }

    /// `otp/generate`: `who` and the session (sends the code).
    pub async fn cap_otp(&self, base: &str, who: &Value, sid: &str) -> (u16, Value) {
        self.post(
            &format!("{base}{CAP_OTP}"),
            None,
            with(who.clone(), json!({"sessionId": sid})),
        )
        .await
    }

    /// `otp/validate`: `who`, the session and the code (answers the token).
    pub async fn cap_validate(
        &self,
        base: &str,
        who: &Value,
        sid: &str,
        otp: Value,
    ) -> (u16, Value) {
        self.post(
            &format!("{base}{CAP_VALIDATE}"),
            None,
            with(who.clone(), json!({"sessionId": sid, "otp": otp})),
        )
        .await
    }
}

// --- The legacy challenge login (API.md §2). ---

impl Http {
    /// The nonce of a `/webrest/authentication/login` challenge (its 401's
    /// `WWW-Authenticate: Digest <nonce>`).
    pub async fn legacy_nonce(&self, base: &str, user: &str, password: &str) -> String {
        let (status, headers) = self
            .post_headers(
                &format!("{base}/webrest/authentication/login"),
                json!({"username": user, "password": password}),
            )
            .await;
        assert_eq!(status, 401);
        headers
            .get("www-authenticate")
            .expect("a challenge")
            .to_str()
            .unwrap()
            .strip_prefix("Digest ")
            .unwrap()
            .to_owned()
    }

    /// A `/webrest` request with this raw `Authorization` header
    /// (`user:token`); the status.
    pub async fn webrest(
        &self,
        base: &str,
        method: reqwest::Method,
        path: &str,
        auth: &str,
    ) -> u16 {
        self.client
            .request(method, format!("{base}{path}"))
            .header("authorization", auth)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}
