//! The OpenAPI document at `{prefix}/openapi.json` and the embedded
//! Swagger UI at `{prefix}/docs/`: the document lists exactly the
//! expected operations, every operation of the document is served (not
//! the fallback 404 or 405) and no other method of a documented path is,
//! under the default and under another API prefix;
//! the security schemes and the error envelope are declared; the page and
//! its assets come from the binary with a CSP that allows only 'self'.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use otpgate_http::HttpSettings;
use otpgate_http::openapi::DOCS_CSP;
use serde_json::Value;

use crate::support::{Resp, TestApp, test_settings};

async fn fetch(app: &TestApp, path: &str) -> Resp {
    app.send(Request::get(path).body(Body::empty()).unwrap())
        .await
}

/// `(METHOD, path)` of every operation in the document.
fn spec_operations(spec: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch", "head", "options"]
                .contains(&method.as_str())
            {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// Every operation the router serves, as `(METHOD, OpenAPI path)`, for
/// the API prefix `p`: written out here, so a route that goes missing
/// from the routers (and so from the document) is noticed.
fn expected_operations(p: &str) -> BTreeSet<(String, String)> {
    let at = |path: &str| format!("{p}{path}");
    let mut ops: Vec<(&str, String)> = vec![
        ("POST", at("/login")),
        ("POST", at("/logout")),
        ("GET", at("/user/me")),
        ("GET", at("/2fa/status")),
        ("GET", at("/2fa/qr-code")),
        ("GET", at("/2fa/qr-code.png")),
        ("GET", at("/2fa/qr-code.svg")),
        ("POST", at("/2fa/verify-otp")),
        ("POST", at("/2fa/recovery-codes")),
        ("POST", at("/2fa/disable")),
        ("POST", at("/tokens/persistent/{audience}")),
        ("GET", at("/tokens/persistent/{audience}")),
        ("DELETE", at("/tokens/persistent/{audience}")),
        ("POST", at("/authentication/phone_island_token_login")),
        ("POST", at("/authentication/persistent_token_remove")),
        (
            "GET",
            at("/authentication/phone_island_token_check/{subtype}"),
        ),
        ("GET", at("/authentication/phone_island_token_check")),
        ("POST", at("/users/2fa/verify")),
        ("POST", "/twofactorauth-ui/rest/tfa/otpstatus".into()),
        ("POST", "/twofactorauth-ui/rest/tfa/otpvalid".into()),
        ("POST", "/auth/v1/mfa/token/generate".into()),
        ("POST", "/auth/v1/mfa/otp/generate".into()),
        ("POST", "/auth/v1/mfa/otp/validate".into()),
        ("POST", "/webrest/authentication/login".into()),
        ("POST", "/webrest/authentication/logout".into()),
        ("GET", "/webrest/user/me".into()),
        ("GET", "/docs/legacy-migration".into()),
        ("GET", "/healthz".into()),
        ("GET", "/readyz".into()),
        ("GET", "/metrics".into()),
        ("GET", at("/openapi.json")),
        ("GET", at("/docs")),
        ("GET", at("/docs/")),
        ("GET", at("/docs/{file}")),
        ("GET", "/ui".into()),
        ("GET", "/ui/".into()),
        ("GET", "/ui/app.js".into()),
        ("GET", "/ui/style.css".into()),
        ("GET", "/ui/favicon.png".into()),
    ];
    for socket in [at("/ws/"), "/socket.io/".into()] {
        ops.push(("GET", socket.clone()));
        ops.push(("POST", socket));
    }
    ops.into_iter().map(|(m, p)| (m.to_owned(), p)).collect()
}

/// A concrete path for a templated one.
fn concrete(path: &str) -> String {
    path.replace("{file}", "swagger-ui.css")
}

/// Sends every documented operation to the router and checks it is not
/// answered by the fallback (404 `not_found`) or the 405 fallback.
async fn every_operation_is_served(app: &TestApp, spec: &Value) {
    for (method, path) in spec_operations(spec) {
        let mut uri = concrete(&path);
        if spec["paths"][&path][method.to_lowercase()]["tags"][0] == "socket.io" {
            uri.push_str("?EIO=4&transport=polling");
        }
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let r = app
            .send(
                Request::builder()
                    .method(method.clone())
                    .uri(&uri)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        assert!(
            !(r.status == StatusCode::NOT_FOUND && r.body["message"] == "not_found"),
            "{method} {uri} fell through to the 404 fallback"
        );
    }
}

/// Sends every method a documented path does not document (the Socket.IO
/// engines aside) and checks it is refused with 405: the router serves no
/// operation the document leaves out.
async fn no_undocumented_method_is_served(app: &TestApp, spec: &Value) {
    for (path, item) in spec["paths"].as_object().unwrap() {
        let documented = item.as_object().unwrap();
        if documented.values().any(|op| op["tags"][0] == "socket.io") {
            continue;
        }
        // Past the sunset the legacy gate answers every method first.
        let gated = path.starts_with("/webrest/");
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ] {
            if documented.contains_key(&method.as_str().to_lowercase()) {
                continue;
            }
            let uri = concrete(path);
            let r = app
                .send(
                    Request::builder()
                        .method(method.clone())
                        .uri(&uri)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
            if gated && r.status == StatusCode::GONE {
                continue;
            }
            assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        }
    }
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_route_is_served() {
    for prefix in ["/api", "/auth/v2"] {
        let app = TestApp::with(HttpSettings {
            api_prefix: prefix.into(),
            ..test_settings()
        })
        .await;
        let r = fetch(&app, &format!("{prefix}/openapi.json")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers["content-type"], "application/json");
        let spec = r.body;
        assert_eq!(spec["openapi"], "3.1.0");
        let documented = spec_operations(&spec);
        let expected = expected_operations(prefix);
        let missing: Vec<_> = expected.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "expected but not documented: {missing:?}"
        );
        let extra: Vec<_> = documented.difference(&expected).collect();
        assert!(extra.is_empty(), "documented but not expected: {extra:?}");
        every_operation_is_served(&app, &spec).await;
        no_undocumented_method_is_served(&app, &spec).await;
        // Under another prefix, the native API moves and the old path is gone.
        if prefix != "/api" {
            assert!(spec["paths"].get("/api/login").is_none());
            assert!(spec["paths"].get(format!("{prefix}/login")).is_some());
        }
    }
}

#[tokio::test]
async fn the_spec_declares_security_schemes_bodies_and_the_error_envelopes() {
    let app = TestApp::new().await;
    let spec = fetch(&app, "/api/openapi.json").await.body;
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["bearerAuth"]["scheme"], "bearer");
    assert_eq!(schemes["bearerAuth"]["bearerFormat"], "JWT");
    assert_eq!(schemes["apiKey"]["in"], "header");
    assert_eq!(schemes["apiKey"]["name"], "X-API-Key");
    assert_eq!(schemes["legacyAuth"]["name"], "Authorization");
    let envelope = &spec["components"]["schemas"]["ErrorEnvelope"];
    let required: BTreeSet<&str> = envelope["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, BTreeSet::from(["code", "message", "error"]));
    let login = &spec["paths"]["/api/login"]["post"];
    assert!(login["requestBody"]["content"]["application/json"].is_object());
    assert!(login["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object());
    assert_eq!(
        login["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorEnvelope"
    );
    assert_eq!(
        spec["paths"]["/api/user/me"]["get"]["security"][0]["bearerAuth"],
        serde_json::json!([])
    );
    let sc = &spec["paths"]["/twofactorauth-ui/rest/tfa/otpvalid"]["post"];
    assert!(sc["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object());
    assert!(sc["responses"]["403"]["content"]["text/html"].is_object());
    assert_eq!(sc["security"][0]["apiKey"], serde_json::json!([]));
    let status = &spec["paths"]["/twofactorauth-ui/rest/tfa/otpstatus"]["post"];
    assert_eq!(
        status["responses"]["200"]["content"]["text/plain"]["schema"]["enum"],
        serde_json::json!(["true", "false"])
    );
    let cap = &spec["paths"]["/auth/v1/mfa/otp/validate"]["post"];
    assert_eq!(
        cap["responses"]["400"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/CapEnvelope"
    );
    assert_eq!(
        spec["paths"]["/webrest/user/me"]["get"]["security"][0]["legacyAuth"],
        serde_json::json!([])
    );
    assert_eq!(spec["paths"]["/api/ws/"]["get"]["tags"][0], "socket.io");
    assert_eq!(spec["paths"]["/socket.io/"]["get"]["tags"][0], "socket.io");
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary_with_its_csp() {
    let app = TestApp::new().await;
    let r = fetch(&app, "/api/docs").await;
    assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        r.headers["location"], "/api/docs/",
        "absolute: a browser at /api/docs lands on /api/docs/"
    );
    let moved = TestApp::with(HttpSettings {
        api_prefix: "/auth/v2/".into(),
        ..test_settings()
    })
    .await;
    let r = fetch(&moved, "/auth/v2/docs").await;
    assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.headers["location"], "/auth/v2/docs/");
    let page = fetch(&app, "/api/docs/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(page.headers["content-security-policy"], DOCS_CSP);
    assert_eq!(page.headers["x-frame-options"], "DENY");
    let html = String::from_utf8(page.bytes.clone()).unwrap();
    // Every script and style sheet the page loads is relative (served here),
    // and no inline script is needed (the CSP has no 'unsafe-inline' for it).
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(!html.contains("<script>"), "no inline script");
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-initializer.js",
    ] {
        assert!(html.contains(asset), "the page loads {asset}");
        let r = fetch(&app, &format!("/api/docs/{asset}")).await;
        assert_eq!(r.status, StatusCode::OK, "{asset}");
        assert!(!r.bytes.is_empty(), "{asset}");
        assert_eq!(r.headers["content-security-policy"], DOCS_CSP, "{asset}");
    }
    // The initializer points Swagger UI at this server's document.
    let init = fetch(&app, "/api/docs/swagger-initializer.js").await;
    let init = String::from_utf8(init.bytes).unwrap();
    assert!(init.contains("/api/openapi.json"), "{init}");
    // The CSP allows only this origin, plus inline style attributes and
    // data: images that Swagger UI's components use.
    assert!(DOCS_CSP.contains("script-src 'self';"));
    assert!(!DOCS_CSP.contains("http"));
    let missing = fetch(&app, "/api/docs/nope.js").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body["code"], 404);
}

/// Whether `body` decodes into the handler's own type `T`.
fn decodes<T: serde::de::DeserializeOwned>(body: &Value) -> bool {
    serde_json::from_value::<T>(body.clone()).is_ok()
}

/// The documented request schema `name` and the handler's type agree:
/// a body with every documented field decodes, one without a documented
/// required field does not, one without an optional field does. (The
/// schema is derived from the type, but its serde attributes, such as a
/// default or a custom deserializer, are not all seen by the derive.)
fn agrees(spec: &Value, name: &str, full: Value, decode: fn(&Value) -> bool) {
    let schemas = &spec["components"]["schemas"];
    let mut schema = schemas[name].clone();
    // A flattened struct is an `allOf` of its parts.
    if let Some(parts) = schema["allOf"].as_array().cloned() {
        let mut merged = serde_json::Map::new();
        let mut required = Vec::new();
        for part in parts {
            let part = match part["$ref"].as_str() {
                Some(r) => schemas[r.trim_start_matches("#/components/schemas/")].clone(),
                None => part,
            };
            merged.extend(part["properties"].as_object().cloned().unwrap_or_default());
            required.extend(part["required"].as_array().cloned().unwrap_or_default());
        }
        schema = serde_json::json!({"properties": merged, "required": required});
    }
    let mut documented: Vec<String> = schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{name} has properties: {schema}"))
        .keys()
        .cloned()
        .collect();
    documented.sort();
    let full = full.as_object().unwrap().clone();
    let mut sample_keys: Vec<String> = full.keys().cloned().collect();
    sample_keys.sort();
    assert_eq!(
        documented, sample_keys,
        "{name}: the sample covers the schema"
    );
    assert!(decode(&Value::Object(full.clone())), "{name}: full body");
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for field in &documented {
        let mut without = full.clone();
        without.remove(field);
        let ok = decode(&Value::Object(without));
        if required.contains(&field.as_str()) {
            assert!(!ok, "{name}: {field} is documented as required");
        } else {
            assert!(ok, "{name}: {field} is documented as optional");
        }
    }
}

#[tokio::test]
async fn documented_request_bodies_match_the_handlers_types() {
    use otpgate_http::routes::{capillary, mudbase, native, persistent, single_connect};
    use serde_json::json;

    let app = TestApp::new().await;
    let spec = fetch(&app, "/api/openapi.json").await.body;
    let cap = json!({"identifierType": "USERNAME", "identifierValue": "alice",
                     "deviceId": "d", "brand": "shop"});
    let with = |extra: Value| {
        let mut m = cap.as_object().unwrap().clone();
        m.extend(extra.as_object().unwrap().clone());
        Value::Object(m)
    };
    agrees(
        &spec,
        "LoginBody",
        json!({"username": "a", "password": "p"}),
        decodes::<native::LoginBody>,
    );
    agrees(
        &spec,
        "VerifyOtpBody",
        json!({"username": "a", "otp": 123456}),
        decodes::<native::VerifyBody>,
    );
    agrees(
        &spec,
        "PasswordBody",
        json!({"password": "p"}),
        decodes::<native::PasswordBody>,
    );
    agrees(
        &spec,
        "DisableBody",
        json!({"username": "a", "password": "p"}),
        decodes::<native::DisableBody>,
    );
    agrees(
        &spec,
        "SubtypeBody",
        json!({"subtype": "nethlink", "type": "phone-island"}),
        decodes::<persistent::SubtypeBody>,
    );
    agrees(
        &spec,
        "MudbaseVerifyBody",
        json!({"token": "123456"}),
        decodes::<mudbase::VerifyBody>,
    );
    agrees(
        &spec,
        "ScStatusForm",
        json!({"username": "a", "enduserip": "1.2.3.4", "applicationname": "shop"}),
        decodes::<single_connect::StatusForm>,
    );
    agrees(
        &spec,
        "ScValidForm",
        json!({"username": "a", "token": "123456", "applicationname": "shop"}),
        decodes::<single_connect::ValidForm>,
    );
    agrees(
        &spec,
        "CapTokenGenerate",
        with(json!({"password": "p"})),
        decodes::<capillary::TokenGenerate>,
    );
    agrees(
        &spec,
        "CapOtpGenerate",
        with(json!({"sessionId": "s"})),
        decodes::<capillary::OtpGenerate>,
    );
    agrees(
        &spec,
        "CapOtpValidate",
        with(json!({"sessionId": "s", "otp": "123456"})),
        decodes::<capillary::OtpValidate>,
    );
}
