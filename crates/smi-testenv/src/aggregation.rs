//! Registering an aggregated API served by a process on loopback (engineering reference §5.8).
//!
//! No kube-proxy or EndpointSlice controller runs, so the APIService points at a Service of type
//! ExternalName with `externalName: localhost`: the aggregator resolves it to
//! `localhost:<port>` and dials with TLS server name `<service>.<namespace>.svc`, trusting the
//! APIService's `caBundle`. It authenticates with the front-proxy client certificate
//! ([`crate::TestEnv::front_proxy_ca`]) and passes the user in `X-Remote-User`/`X-Remote-Group`.

use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::{
    APIService, APIServiceSpec, ServiceReference,
};
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams};

use crate::apply::FIELD_MANAGER;
use crate::env::TestEnv;
use crate::error::{Error, Result};

/// An aggregated API to register.
#[derive(Clone, Debug)]
pub struct AggregatedApi {
    /// The API group, e.g. `metrics.example.com`.
    pub group: String,
    /// The version, e.g. `v1beta1`.
    pub version: String,
    /// The namespace of the ExternalName Service.
    pub namespace: String,
    /// The Service's name; the serving certificate needs SAN `<service>.<namespace>.svc`.
    pub service: String,
    /// The loopback port the server listens on.
    pub port: u16,
    /// The PEM CA bundle that verifies the server's certificate.
    pub ca_bundle_pem: String,
}

impl AggregatedApi {
    /// The APIService's name, `<version>.<group>`.
    pub fn api_service_name(&self) -> String {
        format!("{}.{}", self.version, self.group)
    }

    /// The DNS name the aggregator expects in the serving certificate.
    pub fn server_name(&self) -> String {
        format!("{}.{}.svc", self.service, self.namespace)
    }
}

/// A registered APIService. Dropping it deletes the APIService (with kubectl, synchronously):
/// an APIService whose backend is gone makes discovery fail, which blocks namespace deletion
/// and garbage collection for every test sharing the control plane.
#[derive(Debug)]
pub struct ApiServiceGuard<'a> {
    env: &'a TestEnv,
    name: String,
    removed: bool,
}

impl TestEnv {
    /// Creates the ExternalName Service and the APIService for `api` (server-side apply).
    pub async fn register_api_service(&self, api: &AggregatedApi) -> Result<ApiServiceGuard<'_>> {
        let client = self.client().await?;
        let name = api.api_service_name();
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let port = i32::from(api.port);
        let service = Service {
            metadata: ObjectMeta {
                name: Some(api.service.clone()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                type_: Some("ExternalName".to_owned()),
                external_name: Some("localhost".to_owned()),
                ports: Some(vec![ServicePort {
                    port,
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        Api::<Service>::namespaced(client.clone(), &api.namespace)
            .patch(&api.service, &params, &Patch::Apply(&service))
            .await
            .map_err(|e| {
                Error::kube(format!("creating ExternalName Service {}", api.service), e)
            })?;
        let api_service = APIService {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            spec: Some(APIServiceSpec {
                group: Some(api.group.clone()),
                version: Some(api.version.clone()),
                group_priority_minimum: 1000,
                version_priority: 15,
                ca_bundle: Some(ByteString(api.ca_bundle_pem.as_bytes().to_vec())),
                service: Some(ServiceReference {
                    namespace: Some(api.namespace.clone()),
                    name: Some(api.service.clone()),
                    port: Some(port),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        Api::<APIService>::all(client)
            .patch(&name, &params, &Patch::Apply(&api_service))
            .await
            .map_err(|e| Error::kube(format!("creating APIService {name}"), e))?;
        tracing::debug!(api_service = %name, port = api.port, "registered aggregated API");
        Ok(ApiServiceGuard {
            env: self,
            name,
            removed: false,
        })
    }
}

impl ApiServiceGuard<'_> {
    /// The APIService's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits until the aggregator reports the APIService `Available` (it probed the server's
    /// discovery document), polling every 100 ms.
    pub async fn wait_available(&self, timeout: Duration) -> Result<()> {
        let api = Api::<APIService>::all(self.env.client().await?);
        let started = Instant::now();
        let mut last = String::from("no status yet");
        loop {
            let current = api
                .get(&self.name)
                .await
                .map_err(|e| Error::kube(format!("reading APIService {}", self.name), e))?;
            let available = current
                .status
                .and_then(|s| s.conditions)
                .and_then(|c| c.into_iter().find(|c| c.type_ == "Available"));
            if let Some(condition) = available {
                if condition.status == "True" {
                    return Ok(());
                }
                last = format!(
                    "{}: {}",
                    condition.reason.unwrap_or_default(),
                    condition.message.unwrap_or_default()
                );
            }
            if started.elapsed() > timeout {
                return Err(Error::Timeout {
                    what: format!(
                        "APIService {} to become Available (last: {last})",
                        self.name
                    ),
                    timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Deletes the APIService now (the async counterpart of dropping the guard).
    pub async fn remove(mut self) -> Result<()> {
        self.removed = true;
        let api = Api::<APIService>::all(self.env.client().await?);
        match api.delete(&self.name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(e) => Err(Error::kube(format!("deleting APIService {}", self.name), e)),
        }
    }
}

impl Drop for ApiServiceGuard<'_> {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let args = [
            "delete",
            "apiservice",
            self.name.as_str(),
            "--ignore-not-found",
            "--wait=false",
        ];
        if let Err(e) = self.env.kubectl_blocking(&args) {
            eprintln!(
                "smi-testenv: could not delete APIService {}: {e}",
                self.name
            );
        }
    }
}
