//! Objects several integration tests share.

/// A Service `web` over two Deployments `web-v1` and `web-v2` (ServiceAccount `web`, port 8080)
/// and the per-version Services `web-v1` and `web-v2`: the backends of a canary TrafficSplit.
pub const WEB_CANARY: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-v1}
spec: {selector: {matchLabels: {app: web, version: v1}}, template: {metadata: {labels: {app: web, version: v1}}, spec: {serviceAccountName: web, containers: [{name: app, image: example/app, ports: [{containerPort: 8080}]}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-v2}
spec: {selector: {matchLabels: {app: web, version: v2}}, template: {metadata: {labels: {app: web, version: v2}}, spec: {serviceAccountName: web, containers: [{name: app, image: example/app, ports: [{containerPort: 8080}]}]}}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-v1}
spec: {selector: {app: web, version: v1}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-v2}
spec: {selector: {app: web, version: v2}, ports: [{name: http, port: 80, targetPort: 8080}]}
";
