//! A canned API server for unit tests: each route answers one method and path with a fixed
//! status and JSON body, and anything unrouted answers 404. No network.

use std::sync::{Arc, Mutex};

use http::{Request, Response};
use kube::client::Body;

use super::client::K8s;
use super::error::Scope;

/// One canned answer.
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path, without the query.
    pub path: String,
    /// Status code.
    pub code: u16,
    /// JSON body.
    pub body: serde_json::Value,
}

/// Builds a route.
pub fn route(method: &'static str, path: &str, code: u16, body: serde_json::Value) -> Route {
    Route {
        method,
        path: path.into(),
        code,
        body,
    }
}

/// A Kubernetes `Status` body, as the API server sends for errors.
pub fn status(code: u16, reason: &str, message: &str) -> serde_json::Value {
    serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure",
        "code": code, "reason": reason, "message": message,
    })
}

/// A client for namespace `shop`, context `test`, answered by `routes`; the second value
/// records every request as `METHOD path?query`.
pub fn k8s(routes: Vec<Route>) -> (K8s, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let routes = Arc::new(routes);
    let service = tower::service_fn(move |req: Request<Body>| {
        let routes = Arc::clone(&routes);
        let log = Arc::clone(&log);
        async move {
            let path = req.uri().path().to_string();
            let query = req
                .uri()
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            log.lock()
                .expect("test lock")
                .push(format!("{} {path}{query}", req.method()));
            let (code, body) = routes
                .iter()
                .find(|r| r.method == req.method().as_str() && r.path == path)
                .map(|r| (r.code, r.body.clone()))
                .unwrap_or_else(|| (404, status(404, "NotFound", &format!("{path} not routed"))));
            Response::builder()
                .status(code)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&body).expect("json")))
        }
    });
    let scope = Scope {
        namespace: "shop".into(),
        context: "test".into(),
        server: "https://mock".into(),
    };
    (
        K8s::with_client(kube::Client::new(service, "shop"), scope),
        seen,
    )
}
