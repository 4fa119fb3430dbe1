//! How a dialect's router mounts its routes: each route (its handlers
//! carry `#[utoipa::path]`, collected with `utoipa_axum::routes!`) gets the
//! shared layer with its own metrics series and the dialect's [`Glue`], the
//! body limit, and a 405 in the dialect's shape inside them; its paths,
//! written below the dialect's base (the API prefix, or nothing), go into
//! the document as served.

use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, any};
use tower::ServiceBuilder;
use utoipa::openapi::path::Paths;
use utoipa::openapi::{Components, Deprecated, RefOr, Schema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

use crate::dialect::{Glue, method_not_allowed, not_found};
use crate::layers::Shared;
use crate::state::AppState;

/// The routes of one `#[utoipa::path]` path (one or more methods).
pub type Routes = UtoipaMethodRouter<AppState>;

/// One dialect's router, being built.
pub struct Mount<'a> {
    state: &'a AppState,
    base: String,
    glue: Glue,
    deprecated: bool,
    router: OpenApiRouter<AppState>,
}

impl<'a> Mount<'a> {
    /// Routes of `glue`'s dialect, their paths below `base` (without a
    /// trailing `/`; empty for absolute paths).
    pub fn new(state: &'a AppState, base: &str, glue: Glue) -> Self {
        Self {
            state,
            base: base.trim_end_matches('/').to_owned(),
            glue,
            deprecated: false,
            router: OpenApiRouter::default(),
        }
    }

    /// The following routes' paths are below `base` instead.
    pub fn below(mut self, base: &str) -> Self {
        base.trim_end_matches('/').clone_into(&mut self.base);
        self
    }

    /// The following routes are documented as deprecated.
    pub fn deprecated(mut self) -> Self {
        self.deprecated = true;
        self
    }

    /// Serves and documents `routes`.
    pub fn routes(self, routes: Routes) -> Self {
        self.add(routes, None, true)
    }

    /// The same for what monitoring calls: never rate limited.
    pub fn unlimited(self, routes: Routes) -> Self {
        self.add(routes, None, false)
    }

    /// Serves `routes` at the axum path `path` (below the base; for a
    /// wildcard the document writes as a plain parameter) and documents
    /// them at their own path.
    pub fn routes_at(self, path: &str, routes: Routes) -> Self {
        let served = format!("{}{path}", self.base);
        self.add(routes, Some(served), true)
    }

    /// Documents `routes` without serving them here (something else
    /// answers the path: `nethcti` mode forwards `GET /user/me`).
    pub fn documented(mut self, (schemas, paths, _): Routes) -> Self {
        let paths = self.prefixed(paths).0;
        self.document(schemas, paths);
        self
    }

    /// Everything else under `path` (and `path` itself; below the base),
    /// answered by `handler` in this dialect's shape, counted under
    /// `series`, undocumented: a 404, the legacy forwarding, a Socket.IO
    /// engine.
    pub fn catch_all(mut self, path: &str, series: &str, handler: MethodRouter<AppState>) -> Self {
        let path = format!("{}{}", self.base, path.trim_end_matches('/'));
        let handler = handler.layer(
            ServiceBuilder::new()
                .layer(Shared::new(self.state, series, self.glue))
                .layer(DefaultBodyLimit::max(self.state.settings.body_limit)),
        );
        self.router = self
            .router
            .route(&path, handler.clone())
            .route(&format!("{path}/"), handler.clone())
            .route(&format!("{path}/{{*rest}}"), handler);
        self
    }

    /// A 404 in this dialect's shape at each of the axum `paths` (below
    /// the base), counted under `fallback`, undocumented.
    pub fn not_found_at(mut self, paths: &[&str]) -> Self {
        let handler: MethodRouter<AppState> = any(not_found).layer(
            ServiceBuilder::new()
                .layer(Shared::new(self.state, "fallback", self.glue))
                .layer(DefaultBodyLimit::max(self.state.settings.body_limit)),
        );
        for path in paths {
            let path = format!("{}{path}", self.base);
            self.router = self.router.route(&path, handler.clone());
        }
        self
    }

    /// A 404 in this dialect's shape for any other path under `path`.
    pub fn not_found_under(self, path: &str) -> Self {
        self.catch_all(path, "fallback", any(not_found))
    }

    /// The router.
    pub fn finish(self) -> OpenApiRouter<AppState> {
        self.router
    }

    /// `paths` moved below the base, and the (last) served path. Each
    /// operation is named by its method and full path
    /// (`post_api_2fa_verify_otp`), and marked deprecated if the mount is.
    fn prefixed(&self, paths: Paths) -> (Paths, String) {
        let mut out = Paths::new();
        let mut last = String::new();
        for (path, mut item) in paths.paths {
            last = format!("{}{path}", self.base);
            let ops = [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("patch", &mut item.patch),
            ];
            for (method, op) in ops {
                if let Some(op) = op {
                    op.operation_id = Some(operation_id(method, &last));
                    if self.deprecated {
                        op.deprecated = Some(Deprecated::True);
                    }
                }
            }
            out.paths.insert(last.clone(), item);
        }
        (out, last)
    }

    /// Adds `paths` and `schemas` to the document.
    fn document(&mut self, schemas: Vec<(String, RefOr<Schema>)>, paths: Paths) {
        let api = self.router.get_openapi_mut();
        for (path, item) in paths.paths {
            match api.paths.paths.get_mut(&path) {
                Some(it) => it.merge_operations(item),
                None => {
                    api.paths.paths.insert(path, item);
                }
            }
        }
        api.components
            .get_or_insert_with(Components::new)
            .schemas
            .extend(schemas);
    }

    fn add(
        mut self,
        (schemas, paths, handler): Routes,
        served: Option<String>,
        limited: bool,
    ) -> Self {
        let (paths, documented) = self.prefixed(paths);
        let path = served.unwrap_or(documented);
        let shared = if limited {
            Shared::new(self.state, &path, self.glue)
        } else {
            Shared::unlimited(self.state, &path, self.glue)
        };
        let handler = handler.fallback(method_not_allowed).layer(
            ServiceBuilder::new()
                .layer(shared)
                .layer(DefaultBodyLimit::max(self.state.settings.body_limit)),
        );
        self.document(schemas, paths);
        self.router = self.router.route(&path, handler);
        self
    }
}

/// `post_api_2fa_verify_otp` for `POST /api/2fa/verify-otp`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = String::from(method);
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.ends_with('_') {
            id.push('_');
        }
    }
    id.trim_end_matches('_').to_owned()
}
