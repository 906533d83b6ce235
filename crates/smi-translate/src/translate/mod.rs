//! The translation itself: cluster state in, model and report out.

mod access;
pub(crate) mod http;
mod split;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::keys::{ObjectKey, SmiKind, SmiRef};
use crate::model::{HttpMatch, Model, TranslateOptions};
use crate::report::{ConditionType, Report};
use crate::state::ClusterState;
use crate::validate::{self, Violation};

/// Annotation that makes smi-bridge ignore an SMI object (value `"true"`).
pub const SKIP_ANNOTATION: &str = "smi-bridge.io/skip";
/// linkerd-smi's opt-out annotation, honoured too so migrating users keep their opt-outs.
pub const LINKERD_SKIP_ANNOTATION: &str = "smi.linkerd.io/skip";

/// The model and the status of every SMI object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Translation {
    /// What the SMI objects mean.
    pub model: Model,
    /// Conditions for every SMI object.
    pub report: Report,
}

/// Shared state of one translation run.
pub(crate) struct Context<'a> {
    pub state: &'a ClusterState,
    pub options: &'a TranslateOptions,
    pub report: Report,
    /// Validated matches of every HTTPRouteGroup (or why it is invalid).
    pub groups: BTreeMap<ObjectKey, Result<Vec<HttpMatch>, String>>,
}

impl Context<'_> {
    /// Records a condition on an object.
    pub fn condition(
        &mut self,
        object: &SmiRef,
        type_: ConditionType,
        status: bool,
        reason: &str,
        message: impl Into<String>,
    ) {
        self.report
            .status_mut(object)
            .set(type_, status, reason, message);
    }

    /// Records `Accepted=False` for an object that breaks per-object rules: the first
    /// violation's reason and every violation's message, as the admission webhook reports them.
    pub fn reject(&mut self, object: &SmiRef, violations: &[Violation]) {
        let reason = violations.first().map_or(validate::INVALID, |v| v.reason);
        self.condition(
            object,
            ConditionType::Accepted,
            false,
            reason,
            Violation::join(violations),
        );
    }
}

/// True when an object opted out of smi-bridge.
pub(crate) fn skipped(meta: &ObjectMeta) -> bool {
    meta.annotations.as_ref().is_some_and(|a| {
        [SKIP_ANNOTATION, LINKERD_SKIP_ANNOTATION]
            .iter()
            .any(|k| a.get(*k).is_some_and(|v| v.eq_ignore_ascii_case("true")))
    })
}

/// Translates the SMI objects of a cluster state into the mesh-neutral model.
pub fn translate(state: &ClusterState, options: &TranslateOptions) -> Translation {
    let mut ctx = Context {
        state,
        options,
        report: Report::default(),
        groups: BTreeMap::new(),
    };
    record_generations(&mut ctx);
    route_specs(&mut ctx);
    let routes = split::routes(&mut ctx);
    let access = access::access(&mut ctx);
    Translation {
        model: Model {
            routes,
            access,
            options: options.clone(),
        },
        report: ctx.report,
    }
}

fn record_generations(ctx: &mut Context<'_>) {
    let state = ctx.state;
    let metas = state
        .traffic_splits
        .iter()
        .map(|(k, o)| (SmiKind::TrafficSplit, k, &o.metadata))
        .chain(
            state
                .traffic_targets
                .iter()
                .map(|(k, o)| (SmiKind::TrafficTarget, k, &o.metadata)),
        )
        .chain(
            state
                .http_route_groups
                .iter()
                .map(|(k, o)| (SmiKind::HTTPRouteGroup, k, &o.metadata)),
        )
        .chain(
            state
                .tcp_routes
                .iter()
                .map(|(k, o)| (SmiKind::TCPRoute, k, &o.metadata)),
        )
        .chain(
            state
                .udp_routes
                .iter()
                .map(|(k, o)| (SmiKind::UDPRoute, k, &o.metadata)),
        );
    for (kind, key, meta) in metas {
        let object = SmiRef {
            kind,
            key: key.clone(),
        };
        let status = ctx.report.status_mut(&object);
        status.observed_generation = meta.generation;
        if skipped(meta) {
            status.set(
                ConditionType::Accepted,
                false,
                "Skipped",
                format!("ignored: the object carries the `{SKIP_ANNOTATION}` (or `{LINKERD_SKIP_ANNOTATION}`) annotation"),
            );
        }
    }
}

/// Validates HTTPRouteGroups, TCPRoutes and UDPRoutes on their own.
fn route_specs(ctx: &mut Context<'_>) {
    let state = ctx.state;
    for (key, group) in &state.http_route_groups {
        let object = SmiRef {
            kind: SmiKind::HTTPRouteGroup,
            key: key.clone(),
        };
        let result = http::group_matches(key, group);
        if !skipped(&group.metadata) {
            match &result {
                Ok(_) => ctx.condition(&object, ConditionType::Accepted, true, "Accepted", "valid"),
                Err(e) => ctx.condition(
                    &object,
                    ConditionType::Accepted,
                    false,
                    "Invalid",
                    e.clone(),
                ),
            }
        }
        let result = if skipped(&group.metadata) {
            Err(format!("{object} is skipped"))
        } else {
            result
        };
        ctx.groups.insert(key.clone(), result);
    }
    let port_routes = state
        .tcp_routes
        .iter()
        .map(|(k, r)| (SmiKind::TCPRoute, k, &r.metadata, r.spec.matches.as_ref()))
        .chain(
            state
                .udp_routes
                .iter()
                .map(|(k, r)| (SmiKind::UDPRoute, k, &r.metadata, r.spec.matches.as_ref())),
        );
    for (kind, key, meta, matches) in port_routes {
        if skipped(meta) {
            continue;
        }
        let object = SmiRef {
            kind,
            key: key.clone(),
        };
        let violations = validate::port_route(matches);
        if violations.is_empty() {
            ctx.condition(&object, ConditionType::Accepted, true, "Accepted", "valid");
        } else {
            ctx.reject(&object, &violations);
        }
    }
}
