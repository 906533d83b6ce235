//! Applying YAML (multi-document) and installing CRDs, waiting until discovery serves them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, ApiCapabilities, ApiResource, Scope};
use serde::Deserialize;

use crate::error::{Error, Result};

/// The field manager of every server-side apply made here.
pub const FIELD_MANAGER: &str = "smi-testenv";

/// How long [`install_crds`] waits for discovery to serve new CRDs.
pub const CRD_TIMEOUT: Duration = Duration::from_secs(30);

/// How [`apply_yaml`] sends objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyMode {
    /// Server-side apply (forced, field manager [`FIELD_MANAGER`]).
    Apply,
    /// Server-side apply with `dryRun=All`: validation and admission run, nothing is stored.
    DryRun,
    /// A plain create (POST); fails with 409 if the object exists. Schema type errors come
    /// back as 422 Invalid here, while server-side apply reports them as 500 ("failed to
    /// create typed patch object").
    Create,
}

/// Parses a multi-document YAML stream into JSON values, skipping empty documents (e.g. between
/// `---` separators or comment-only templates). `source_name` names the input in errors.
pub fn parse_documents(yaml: &str, source_name: &str) -> Result<Vec<serde_json::Value>> {
    let mut documents = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(yaml) {
        let value = serde_json::Value::deserialize(document).map_err(|e| Error::Yaml {
            source_name: source_name.to_owned(),
            reason: e.to_string(),
        })?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}

/// Sends every object of a multi-document YAML stream to the server as `mode` says (server-side
/// apply, its dry run, or a create), in order, and returns what the server answered.
/// Namespaced objects without a namespace go to `namespace` (an error if `None`).
pub async fn apply_yaml(
    client: &Client,
    yaml: &str,
    namespace: Option<&str>,
    mode: ApplyMode,
) -> Result<Vec<DynamicObject>> {
    let mut resolved = HashMap::new();
    let mut applied = Vec::new();
    for document in parse_documents(yaml, "the YAML to apply")? {
        applied.push(apply_value(client, &document, namespace, mode, &mut resolved).await?);
    }
    Ok(applied)
}

/// Applies one object given as JSON (see [`apply_yaml`]).
pub async fn apply_json(
    client: &Client,
    object: &serde_json::Value,
    namespace: Option<&str>,
    mode: ApplyMode,
) -> Result<DynamicObject> {
    apply_value(client, object, namespace, mode, &mut HashMap::new()).await
}

async fn apply_value(
    client: &Client,
    object: &serde_json::Value,
    namespace: Option<&str>,
    mode: ApplyMode,
    resolved: &mut HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>,
) -> Result<DynamicObject> {
    let text = |key: &str| object.get(key).and_then(serde_json::Value::as_str);
    let meta = |key: &str| {
        object
            .pointer(&format!("/metadata/{key}"))
            .and_then(|v| v.as_str())
    };
    let (Some(api_version), Some(kind), Some(name)) =
        (text("apiVersion"), text("kind"), meta("name"))
    else {
        return Err(Error::Yaml {
            source_name: "an object to apply".to_owned(),
            reason: format!("apiVersion, kind and metadata.name are required: {object}"),
        });
    };
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, caps) = match resolved.get(&gvk) {
        Some(found) => found.clone(),
        None => {
            let found = discovery::pinned_kind(client, &gvk)
                .await
                .map_err(|e| Error::kube(format!("discovering {api_version} {kind}"), e))?;
            resolved.insert(gvk, found.clone());
            found
        }
    };
    let api: Api<DynamicObject> = if caps.scope == Scope::Namespaced {
        let Some(ns) = meta("namespace").or(namespace) else {
            return Err(Error::Yaml {
                source_name: format!("{kind} {name}"),
                reason: "it is namespaced but has no metadata.namespace and no default was given"
                    .to_owned(),
            });
        };
        Api::namespaced_with(client.clone(), ns, &resource)
    } else {
        Api::all_with(client.clone(), &resource)
    };
    let action = || format!("applying {kind} {name} ({mode:?})");
    if mode == ApplyMode::Create {
        let object: DynamicObject =
            serde_json::from_value(object.clone()).map_err(|e| Error::Yaml {
                source_name: action(),
                reason: e.to_string(),
            })?;
        return api
            .create(&PostParams::default(), &object)
            .await
            .map_err(|e| Error::kube(action(), e));
    }
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    params.dry_run = mode == ApplyMode::DryRun;
    api.patch(name, &params, &Patch::Apply(object))
        .await
        .map_err(|e| Error::kube(action(), e))
}

/// Installs CRDs from a multi-document YAML stream and waits until each is established and
/// discovery serves all its served versions (polling every 100 ms, at most [`CRD_TIMEOUT`]).
///
/// Other objects in the stream (e.g. Gateway API's ValidatingAdmissionPolicy) are applied
/// after the CRDs. Idempotent: tests sharing a control plane may install the same CRDs.
pub async fn install_crds(
    client: &Client,
    yaml: &str,
    source_name: &str,
) -> Result<Vec<CustomResourceDefinition>> {
    let documents = parse_documents(yaml, source_name)?;
    let (crds, others): (Vec<_>, Vec<_>) = documents
        .into_iter()
        .partition(|d| d.get("kind").and_then(|k| k.as_str()) == Some("CustomResourceDefinition"));
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut installed = Vec::new();
    for document in crds {
        let crd: CustomResourceDefinition =
            serde_json::from_value(document.clone()).map_err(|e| Error::Yaml {
                source_name: source_name.to_owned(),
                reason: format!("not a CustomResourceDefinition: {e}"),
            })?;
        let name = crd.metadata.name.clone().unwrap_or_default();
        let params = PatchParams::apply(FIELD_MANAGER).force();
        api.patch(&name, &params, &Patch::Apply(&document))
            .await
            .map_err(|e| Error::kube(format!("installing CRD {name} from {source_name}"), e))?;
        installed.push(crd);
    }
    wait_for_crds(client, &installed, CRD_TIMEOUT).await?;
    let mut resolved = HashMap::new();
    for document in &others {
        apply_value(client, document, None, ApplyMode::Apply, &mut resolved).await?;
    }
    tracing::debug!(
        crds = installed.len(),
        others = others.len(),
        source_name,
        "installed CRDs"
    );
    Ok(installed)
}

/// Installs the CRDs of YAML files (see [`install_crds`]).
pub async fn install_crd_files(
    client: &Client,
    files: &[PathBuf],
) -> Result<Vec<CustomResourceDefinition>> {
    let mut installed = Vec::new();
    for file in files {
        let yaml = tokio::fs::read_to_string(file)
            .await
            .map_err(|e| Error::io("reading CRDs", file, e))?;
        installed.extend(install_crds(client, &yaml, &file.display().to_string()).await?);
    }
    Ok(installed)
}

/// The `*.yaml`/`*.yml` files of a directory, sorted; [`Error::NoCrds`] if there are none.
pub fn yaml_files(dir: &Path, hint: &'static str) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("listing CRD files", dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| Error::io("listing CRD files", dir, e))?
            .path();
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(Error::NoCrds {
            dir: dir.to_owned(),
            hint,
        });
    }
    files.sort();
    Ok(files)
}

/// Waits until every CRD is established and discovery lists its plural for every served
/// version, polling every 100 ms.
pub async fn wait_for_crds(
    client: &Client,
    crds: &[CustomResourceDefinition],
    timeout: Duration,
) -> Result<()> {
    let mut pending: Vec<(String, String, String)> = crds
        .iter()
        .flat_map(|crd| {
            let spec = &crd.spec;
            spec.versions.iter().filter(|v| v.served).map(move |v| {
                (
                    crd.metadata.name.clone().unwrap_or_default(),
                    format!("{}/{}", spec.group, v.name),
                    spec.names.plural.clone(),
                )
            })
        })
        .collect();
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let started = Instant::now();
    loop {
        let mut still = Vec::new();
        for (crd, group_version, plural) in pending {
            if !served(client, &api, &crd, &group_version, &plural).await {
                still.push((crd, group_version, plural));
            }
        }
        pending = still;
        let Some((crd, group_version, _)) = pending.first() else {
            return Ok(());
        };
        if started.elapsed() > timeout {
            return Err(Error::Timeout {
                what: format!(
                    "CRD {crd} to be established and served at /apis/{group_version} \
                     ({} group-versions still pending)",
                    pending.len()
                ),
                timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn served(
    client: &Client,
    api: &Api<CustomResourceDefinition>,
    crd: &str,
    group_version: &str,
    plural: &str,
) -> bool {
    let established = match api.get_opt(crd).await {
        Ok(Some(crd)) => crd
            .status
            .and_then(|s| s.conditions)
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            }),
        _ => false,
    };
    established
        && client
            .list_api_group_resources(group_version)
            .await
            .is_ok_and(|list| list.resources.iter().any(|r| r.name == plural))
}
