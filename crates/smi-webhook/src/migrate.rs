//! Taking over a cluster that already holds SMI CRDs (linkerd-smi's TrafficSplit with v1alpha1
//! storage and `conversion: None`, smi-sdk-go's latest-version-only CRDs), and migrating stored
//! objects to smi-bridge's storage (hub) versions.
//!
//! The procedure (also `smi-bridge migrate`, see [`MigrateArgs`]):
//!
//! 1. **Preflight** ([`preflight`]): every object of every existing SMI CRD is read at its
//!    current storage version and converted offline with smi-bridge's conversions. An object
//!    that does not convert would make every list of its kind fail once the conversion webhook
//!    serves it, so the takeover stops and names it (fix or delete it, then retry).
//! 2. **Install over** ([`take_over`]): each CRD is replaced (a full update, so no schema from the
//!    previous owner survives) by smi-bridge's, whose versions include every version listed in
//!    the old `status.storedVersions`, all served, converted by the webhook. Stored objects stay
//!    readable at every version: the API server hands them to the webhook at the version they
//!    were written in. The webhook must be running and trusted before this step.
//! 3. **Migrate** ([`migrate_stored_versions`]): every object is read and written back unchanged
//!    at the storage version (the API server re-encodes it, converting through the webhook), then
//!    `status.storedVersions` is trimmed to the storage version. Only then may a later release
//!    stop serving an old version.

use std::fmt;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, WebhookClientConfig,
};
use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use serde_json::json;
use smi_api::SmiKind;

use crate::error::{Error, Result, is_status};
use crate::inject::crd_name;

/// Objects read per list request.
const PAGE_SIZE: u32 = 100;

/// Arguments of the `migrate` command the operator binary mounts (`smi-bridge migrate`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct MigrateArgs {
    /// Only check: report objects that would not convert and CRDs that need migrating, change
    /// nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What the migration did (or, dry run, would do) per CRD.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// One entry per SMI CRD found.
    pub crds: Vec<CrdMigration>,
}

/// The migration of one CRD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrdMigration {
    /// The CRD's name.
    pub name: String,
    /// `status.storedVersions` before.
    pub stored_before: Vec<String>,
    /// The storage version.
    pub storage_version: String,
    /// Objects written back at the storage version.
    pub rewritten: usize,
    /// Whether `status.storedVersions` now lists only the storage version.
    pub trimmed: bool,
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for crd in &self.crds {
            writeln!(
                f,
                "{}: stored versions {} -> {}; {} object(s) rewritten{}",
                crd.name,
                crd.stored_before.join(","),
                crd.storage_version,
                crd.rewritten,
                if crd.trimmed {
                    ""
                } else {
                    " (not trimmed: dry run)"
                }
            )?;
        }
        Ok(())
    }
}

/// An object that smi-bridge's conversion cannot read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unconvertible {
    /// The CRD.
    pub crd: String,
    /// The conversion error (object, field path, value).
    pub error: String,
}

/// Runs the migration for the command line: preflight, then (unless `dry_run`) migrate every
/// SMI CRD. The CRDs must already be smi-bridge's ([`take_over`]).
pub async fn run(client: &Client, args: &MigrateArgs) -> Result<MigrationReport> {
    let problems = preflight(client).await?;
    if let Some(first) = problems.first() {
        return Err(Error::Migration {
            crd: first.crd.clone(),
            problem: format!(
                "{} object(s) cannot be converted, first: {}; fix or delete them, then retry",
                problems.len(),
                first.error
            ),
        });
    }
    let names: Vec<String> = SmiKind::ALL.into_iter().map(crd_name).collect();
    if args.dry_run {
        let mut report = MigrationReport::default();
        for name in &names {
            if let Some(crd) = crd_api(client)
                .get_opt(name)
                .await
                .map_err(|e| Error::kube(format!("reading CRD {name}"), e))?
            {
                report.crds.push(CrdMigration {
                    name: name.clone(),
                    stored_before: stored_versions(&crd),
                    storage_version: storage_version(&crd)?,
                    rewritten: 0,
                    trimmed: false,
                });
            }
        }
        return Ok(report);
    }
    migrate_stored_versions(client, &names).await
}

fn crd_api(client: &Client) -> Api<CustomResourceDefinition> {
    Api::all(client.clone())
}

fn stored_versions(crd: &CustomResourceDefinition) -> Vec<String> {
    crd.status
        .as_ref()
        .and_then(|s| s.stored_versions.clone())
        .unwrap_or_default()
}

fn storage_version(crd: &CustomResourceDefinition) -> Result<String> {
    crd.spec
        .versions
        .iter()
        .find(|v| v.storage)
        .map(|v| v.name.clone())
        .ok_or_else(|| Error::Migration {
            crd: crd.metadata.name.clone().unwrap_or_default(),
            problem: "no version is marked `storage: true`".to_owned(),
        })
}

fn resource(crd: &CustomResourceDefinition, version: &str) -> ApiResource {
    let gvk = GroupVersionKind::gvk(&crd.spec.group, version, &crd.spec.names.kind);
    ApiResource::from_gvk_with_plural(&gvk, &crd.spec.names.plural)
}

/// Every object of a CRD at `version`, page by page.
async fn list_all(
    client: &Client,
    crd: &CustomResourceDefinition,
    version: &str,
) -> Result<Vec<DynamicObject>> {
    let api = Api::<DynamicObject>::all_with(client.clone(), &resource(crd, version));
    let name = crd.metadata.name.clone().unwrap_or_default();
    let mut objects = Vec::new();
    let mut params = ListParams::default().limit(PAGE_SIZE);
    loop {
        let page = api
            .list(&params)
            .await
            .map_err(|e| Error::kube(format!("listing {name} at {version}"), e))?;
        objects.extend(page.items);
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(objects),
        }
    }
}

/// Reads every object of every existing SMI CRD at its storage version and converts it offline;
/// returns the objects that do not convert. With `conversion: None` an object may carry the body
/// of any stored version, so every stored version is tried before giving up.
pub async fn preflight(client: &Client) -> Result<Vec<Unconvertible>> {
    let mut problems = Vec::new();
    for kind in SmiKind::ALL {
        let name = crd_name(kind);
        let Some(crd) = crd_api(client)
            .get_opt(&name)
            .await
            .map_err(|e| Error::kube(format!("reading CRD {name}"), e))?
        else {
            continue;
        };
        let storage = storage_version(&crd)?;
        let mut candidates = vec![storage.clone()];
        candidates.extend(stored_versions(&crd).into_iter().filter(|v| *v != storage));
        for object in list_all(client, &crd, &storage).await? {
            let value = serde_json::to_value(&object).unwrap_or_default();
            let mut first_error = None;
            let converts = candidates.iter().any(|version| {
                let mut candidate = value.clone();
                candidate["apiVersion"] = json!(format!("{}/{version}", crd.spec.group));
                match smi_api::convert::to_hub(&candidate) {
                    Ok(_) => true,
                    Err(error) => {
                        first_error.get_or_insert(error.to_string());
                        false
                    }
                }
            });
            if !converts {
                problems.push(Unconvertible {
                    crd: name.clone(),
                    error: first_error.unwrap_or_default(),
                });
            }
        }
    }
    Ok(problems)
}

/// smi-bridge's CRD of every SMI kind, converted by the webhook at `client_config`.
pub fn crds(client_config: &WebhookClientConfig) -> Vec<CustomResourceDefinition> {
    smi_api::crd::all_crds()
        .into_iter()
        .map(|mut crd| {
            if let Some(webhook) = crd
                .spec
                .conversion
                .as_mut()
                .and_then(|c| c.webhook.as_mut())
            {
                webhook.client_config = Some(client_config.clone());
            }
            crd
        })
        .collect()
}

/// Installs `crds` over whatever CRDs of the same names exist (after [`preflight`]): creates
/// the missing ones, replaces the others with a full update (keeping their labels and
/// annotations), and waits until each is established. Refuses when an existing CRD has objects
/// stored at a version the new CRD does not serve.
pub async fn take_over(client: &Client, crds: &[CustomResourceDefinition]) -> Result<()> {
    let api = crd_api(client);
    for crd in crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        for attempt in 0.. {
            let existing = api
                .get_opt(&name)
                .await
                .map_err(|e| Error::kube(format!("reading CRD {name}"), e))?;
            let result = match existing {
                None => api.create(&PostParams::default(), crd).await,
                Some(existing) => {
                    let served: Vec<&str> = crd
                        .spec
                        .versions
                        .iter()
                        .filter(|v| v.served)
                        .map(|v| v.name.as_str())
                        .collect();
                    if let Some(lost) = stored_versions(&existing)
                        .into_iter()
                        .find(|v| !served.contains(&v.as_str()))
                    {
                        return Err(Error::Migration {
                            crd: name,
                            problem: format!(
                                "objects are stored at version {lost}, which the new CRD does not serve; migrate them first"
                            ),
                        });
                    }
                    let mut replacement = crd.clone();
                    let mut labels = existing.metadata.labels.clone().unwrap_or_default();
                    labels.extend(crd.metadata.labels.clone().unwrap_or_default());
                    let mut annotations = existing.metadata.annotations.clone().unwrap_or_default();
                    annotations.extend(crd.metadata.annotations.clone().unwrap_or_default());
                    replacement.metadata.labels = Some(labels);
                    replacement.metadata.annotations = Some(annotations);
                    replacement.metadata.resource_version = existing.metadata.resource_version;
                    api.replace(&name, &PostParams::default(), &replacement)
                        .await
                }
            };
            match result {
                Ok(_) => break,
                Err(e) if is_status(&e, 409) && attempt < 5 => continue,
                Err(e) => return Err(Error::kube(format!("installing CRD {name}"), e)),
            }
        }
        wait_established(client, &name).await?;
    }
    Ok(())
}

/// Waits until a CRD is established and serves its storage version.
async fn wait_established(client: &Client, name: &str) -> Result<()> {
    let api = crd_api(client);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let crd = api
            .get(name)
            .await
            .map_err(|e| Error::kube(format!("reading CRD {name}"), e))?;
        let established = crd
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
        let storage = storage_version(&crd)?;
        if established && stored_versions(&crd).contains(&storage) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Error::Timeout {
                waiting_for: format!("for CRD {name} to be established"),
                seconds: 30,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Rewrites every object of each named CRD at its storage version, then trims
/// `status.storedVersions` to it. CRDs already storing only the storage version are left alone;
/// missing CRDs are skipped.
pub async fn migrate_stored_versions(
    client: &Client,
    crd_names: &[String],
) -> Result<MigrationReport> {
    let mut report = MigrationReport::default();
    let api = crd_api(client);
    for name in crd_names {
        let Some(crd) = api
            .get_opt(name)
            .await
            .map_err(|e| Error::kube(format!("reading CRD {name}"), e))?
        else {
            continue;
        };
        let storage = storage_version(&crd)?;
        let stored_before = stored_versions(&crd);
        if stored_before == [storage.clone()] {
            report.crds.push(CrdMigration {
                name: name.clone(),
                stored_before,
                storage_version: storage,
                rewritten: 0,
                trimmed: true,
            });
            continue;
        }
        let rewritten = rewrite_all(client, &crd, &storage).await?;
        api.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"storedVersions": [storage]}})),
        )
        .await
        .map_err(|e| Error::kube(format!("trimming status.storedVersions of CRD {name}"), e))?;
        tracing::info!(crd = %name, rewritten, storage = %storage, "migrated stored objects");
        report.crds.push(CrdMigration {
            name: name.clone(),
            stored_before,
            storage_version: storage,
            rewritten,
            trimmed: true,
        });
    }
    Ok(report)
}

/// Writes every object back unchanged at `storage`: the API server re-encodes it at the storage
/// version. An object changed or deleted meanwhile was re-encoded by that write, or is gone.
async fn rewrite_all(
    client: &Client,
    crd: &CustomResourceDefinition,
    storage: &str,
) -> Result<usize> {
    let resource = resource(crd, storage);
    let crd_name = crd.metadata.name.clone().unwrap_or_default();
    let mut rewritten = 0;
    for object in list_all(client, crd, storage).await? {
        let namespace = object.metadata.namespace.clone().unwrap_or_default();
        let name = object.metadata.name.clone().unwrap_or_default();
        let api = Api::<DynamicObject>::namespaced_with(client.clone(), &namespace, &resource);
        match api.replace(&name, &PostParams::default(), &object).await {
            Ok(_) => rewritten += 1,
            Err(e) if is_status(&e, 409) || is_status(&e, 404) => {}
            Err(e) => {
                return Err(Error::kube(
                    format!("rewriting {crd_name} {namespace}/{name} at {storage}"),
                    e,
                ));
            }
        }
    }
    Ok(rewritten)
}
