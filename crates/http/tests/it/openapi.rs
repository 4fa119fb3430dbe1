//! The OpenAPI document at `{prefix}/openapi.json` and the embedded
//! Swagger UI at `{prefix}/docs/`: every route of the router is in the
//! document and every operation of the document is served (not the
//! fallback 404 or 405), under the default and under another API prefix;
//! the security schemes and the error envelope are declared; the page and
//! its assets come from the binary with a CSP that allows only 'self'.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use otpgate_http::HttpSettings;
use otpgate_http::openapi::{DOCS_CSP, socket_io_paths};
use otpgate_http::routes::table;
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

/// The router's table and Socket.IO endpoints as `(METHOD, OpenAPI path)`.
fn router_operations(prefix: &str) -> BTreeSet<(String, String)> {
    let mut ops: BTreeSet<(String, String)> = table(prefix)
        .into_iter()
        .map(|(m, p, _)| (m.to_string(), p.replace("{*", "{")))
        .collect();
    for p in socket_io_paths(prefix) {
        ops.insert(("GET".into(), p.clone()));
        ops.insert(("POST".into(), p));
    }
    ops
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
        let served = router_operations(prefix);
        let missing: Vec<_> = served.difference(&documented).collect();
        assert!(missing.is_empty(), "served but not documented: {missing:?}");
        let extra: Vec<_> = documented.difference(&served).collect();
        assert!(extra.is_empty(), "documented but not served: {extra:?}");
        every_operation_is_served(&app, &spec).await;
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
