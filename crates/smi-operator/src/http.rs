//! `/healthz`, `/readyz` and `/metrics` over plain HTTP/1.1.
//!
//! - `/healthz` answers as long as the process serves requests: it does not depend on the API
//!   server or on caches (a liveness probe must not kill a replica that is waiting for them).
//! - `/readyz` answers 200 once every core watch (SMI kinds, Namespaces, Services, workloads,
//!   CRDs) has listed, 503 before. Followers are ready too: they compute and take over writing
//!   when they get the lease.
//! - `/metrics` is the Prometheus text exposition.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::metrics::Metrics;

/// Whether the operator is ready (see the module docs).
#[derive(Debug, Default)]
pub struct Readiness(AtomicBool);

impl Readiness {
    /// Sets readiness.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }

    /// Whether ready.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Serves the endpoints until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    readiness: Arc<Readiness>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "HTTP endpoint: accept failed");
                    continue;
                }
            },
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let readiness = readiness.clone();
        let metrics = metrics.clone();
        let service = service_fn(move |request: Request<hyper::body::Incoming>| {
            let response = respond(request.uri().path(), &readiness, &metrics);
            async move { Ok::<_, Infallible>(response) }
        });
        tokio::spawn(async move {
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "HTTP endpoint: connection ended with an error");
            }
        });
    }
}

fn respond(path: &str, readiness: &Readiness, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match path {
        "/healthz" | "/livez" => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        "/readyz" if readiness.get() => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "caches not synced yet\n".to_string(),
        ),
        "/metrics" => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_string(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_answer_by_path_and_readiness() {
        let readiness = Readiness::default();
        let metrics = Metrics::new();
        assert_eq!(
            respond("/healthz", &readiness, &metrics).status(),
            StatusCode::OK
        );
        assert_eq!(
            respond("/readyz", &readiness, &metrics).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        readiness.set(true);
        assert_eq!(
            respond("/readyz", &readiness, &metrics).status(),
            StatusCode::OK
        );
        assert_eq!(
            respond("/metrics", &readiness, &metrics).status(),
            StatusCode::OK
        );
        assert_eq!(
            respond("/x", &readiness, &metrics).status(),
            StatusCode::NOT_FOUND
        );
    }
}
