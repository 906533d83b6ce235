//! The HTTPS server: `POST /convert` (conversion), `POST /validate` (admission), `GET /healthz`.
//!
//! Every replica serves, leader or not. [`WebhookServer::bind`] loads the certificate (reading
//! the files, or reading/creating the shared Secret) before it returns, so a bound server can
//! answer at once; [`WebhookServer::run`] serves until the shutdown future completes, then stops
//! accepting and lets open requests finish (at most [`DRAIN_TIMEOUT`]).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use kube::core::conversion::ConversionReview;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::admission::{self, ReferenceLookup, Validator};
use crate::conversion;
use crate::error::{Error, Result};
use crate::metrics::{RequestLabels, WebhookMetrics};
use crate::rotation;
use crate::tls::{self, CertStore, TlsSource};

/// Largest request body accepted: a ConversionReview carries a whole list (10,000 objects of a
/// few kB).
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// How long open connections may take to finish after shutdown.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take for the TLS handshake or the request headers.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything the webhook server needs.
#[derive(Clone)]
pub struct WebhookConfig {
    /// Where to listen, e.g. `0.0.0.0:9443` (port 0 picks a free port).
    pub address: SocketAddr,
    /// Where the serving certificate comes from.
    pub tls: TlsSource,
    /// The cluster DNS domain (`cluster.local`), for fully qualified Service names.
    pub cluster_domain: String,
    /// Where admission looks references up for warnings (e.g. [`admission::ApiLookup`], or the
    /// operator's caches); `None` gives no reference warnings.
    pub references: Option<Arc<dyn ReferenceLookup>>,
    /// Metrics (register them with [`WebhookMetrics::register`]).
    pub metrics: WebhookMetrics,
}

impl WebhookConfig {
    /// Listening on `address` with `tls`, cluster domain `cluster.local`, no reference lookups.
    pub fn new(address: SocketAddr, tls: TlsSource) -> Self {
        WebhookConfig {
            address,
            tls,
            cluster_domain: "cluster.local".to_owned(),
            references: None,
            metrics: WebhookMetrics::default(),
        }
    }
}

/// Serves the webhooks until `shutdown` completes.
pub async fn serve(config: WebhookConfig, shutdown: impl Future<Output = ()>) -> Result<()> {
    WebhookServer::bind(config).await?.run(shutdown).await;
    Ok(())
}

/// A bound webhook server with its certificate loaded.
pub struct WebhookServer {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    store: Arc<CertStore>,
    tls: TlsSource,
    handler: Arc<Handler>,
}

struct Handler {
    validator: Validator,
    metrics: WebhookMetrics,
}

impl WebhookServer {
    /// Loads the certificate and binds the address.
    pub async fn bind(config: WebhookConfig) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let store = Arc::new(CertStore::new(provider.clone(), config.metrics.clone()));
        match &config.tls {
            TlsSource::Files(files) => {
                let pem = tls::read_files(files).await?;
                store.load(&pem, &files.cert.display().to_string())?;
            }
            TlsSource::Generated(generated) => rotation::start(generated, &store).await?,
        }
        let mut server_config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::tls("the TLS configuration", e))?
            .with_no_client_auth()
            .with_cert_resolver(store.clone());
        server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let listener = TcpListener::bind(config.address)
            .await
            .map_err(|source| Error::Bind {
                address: config.address,
                source,
            })?;
        let handler = Arc::new(Handler {
            validator: Validator {
                cluster_domain: config.cluster_domain,
                references: config.references,
            },
            metrics: config.metrics,
        });
        Ok(WebhookServer {
            listener,
            acceptor: TlsAcceptor::from(Arc::new(server_config)),
            store,
            tls: config.tls,
            handler,
        })
    }

    /// The address actually bound (with the port chosen for port 0).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(|source| Error::Bind {
            address: SocketAddr::from(([0, 0, 0, 0], 0)),
            source,
        })
    }

    /// The certificate chain served now, PEM.
    pub fn serving_certificate(&self) -> Option<Vec<u8>> {
        self.store.current_pem().map(|pem| pem.cert)
    }

    /// Serves until `shutdown` completes; keeps the certificate current meanwhile (file reloads
    /// or the Secret's rotation).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let maintenance = match self.tls.clone() {
            TlsSource::Files(files) => tokio::spawn(tls::watch_files(files, self.store.clone())),
            TlsSource::Generated(generated) => {
                tokio::spawn(rotation::run(*generated, self.store.clone()))
            }
        };
        let (stop, stopped) = watch::channel(false);
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let acceptor = self.acceptor.clone();
                        let handler = self.handler.clone();
                        let stopped = stopped.clone();
                        connections.spawn(connection(acceptor, stream, peer, handler, stopped));
                    }
                    Err(error) => {
                        tracing::warn!(%error, "accepting a webhook connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        maintenance.abort();
        let _ = stop.send(true);
        let drained = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(DRAIN_TIMEOUT, drained).await.is_err() {
            tracing::warn!("webhook connections still open after the drain timeout; closing them");
            connections.abort_all();
        }
    }
}

async fn connection(
    acceptor: TlsAcceptor,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    handler: Arc<Handler>,
    mut stopped: watch::Receiver<bool>,
) {
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let service = service_fn(move |request| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler.handle(request).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "webhook connection ended with an error");
            }
        }
        _ = async { let _ = stopped.wait_for(|stop| *stop).await; } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

type Body = Full<Bytes>;

impl Handler {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        let started = Instant::now();
        match (request.method(), request.uri().path()) {
            (&Method::GET, "/healthz") => text(StatusCode::OK, "ok"),
            (&Method::POST, conversion::PATH) => {
                let body = match read_json::<ConversionReview>(request).await {
                    Ok(review) => review,
                    Err(response) => return self.bad_request("conversion", started, response),
                };
                let (review, outcome) = conversion::review(body);
                self.handler_metrics(
                    RequestLabels {
                        webhook: "conversion",
                        kind: outcome.kind,
                        operation: outcome.desired_version,
                        result: if outcome.converted {
                            "converted"
                        } else {
                            "failed"
                        },
                    },
                    started,
                );
                json(&review)
            }
            (&Method::POST, admission::PATH) => {
                let body = match read_json(request).await {
                    Ok(review) => review,
                    Err(response) => return self.bad_request("admission", started, response),
                };
                let (review, outcome) = self.validator.review(body).await;
                self.handler_metrics(
                    RequestLabels {
                        webhook: "admission",
                        kind: outcome.kind,
                        operation: outcome.operation,
                        result: outcome.result,
                    },
                    started,
                );
                json(&review)
            }
            (_, path) => text(
                StatusCode::NOT_FOUND,
                &format!(
                    "no webhook at {path}: smi-bridge serves POST {} and POST {}",
                    conversion::PATH,
                    admission::PATH
                ),
            ),
        }
    }

    fn handler_metrics(&self, labels: RequestLabels, started: Instant) {
        self.metrics.observe(labels, started.elapsed());
    }

    fn bad_request(
        &self,
        webhook: &'static str,
        started: Instant,
        response: Response<Body>,
    ) -> Response<Body> {
        self.handler_metrics(
            RequestLabels {
                webhook,
                kind: "unknown".to_owned(),
                operation: "unknown".to_owned(),
                result: "bad_request",
            },
            started,
        );
        response
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    request: Request<Incoming>,
) -> std::result::Result<T, Response<Body>> {
    let body = Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|e| {
            text(
                StatusCode::BAD_REQUEST,
                &format!("reading the request body: {e}"),
            )
        })?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| {
        text(
            StatusCode::BAD_REQUEST,
            &format!("the request body is not a review this webhook answers: {e}"),
        )
    })
}

fn json(value: &impl serde::Serialize) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(body) => response(StatusCode::OK, "application/json", body),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("writing the response: {e}"),
        ),
    }
}

fn text(status: StatusCode, message: &str) -> Response<Body> {
    response(
        status,
        "text/plain; charset=utf-8",
        message.as_bytes().to_vec(),
    )
}

fn response(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}
