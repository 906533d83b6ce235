{{/*
The chart's name.
*/}}
{{- define "smi-bridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Names of namespaced objects and of the cluster-scoped RBAC objects: the release name, with the
chart name appended unless the release name already contains it.
*/}}
{{- define "smi-bridge.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The webhook Service. Fixed: the SMI CRDs' conversion webhook (charts/smi-bridge/crds, which
Helm never templates) names Service smi-bridge/smi-bridge-webhook port 443.
*/}}
{{- define "smi-bridge.webhookService" -}}smi-bridge-webhook{{- end }}

{{/*
The ValidatingWebhookConfiguration. Fixed: the operator injects the CA bundle into this name
(smi_webhook::admission::CONFIGURATION_NAME).
*/}}
{{- define "smi-bridge.webhookConfiguration" -}}smi-bridge{{- end }}

{{/*
Fails rendering unless the release namespace is the one the CRDs' conversion webhook names.
*/}}
{{- define "smi-bridge.checkNamespace" -}}
{{- if ne .Release.Namespace "smi-bridge" }}
{{- fail (printf "smi-bridge must be installed in namespace smi-bridge (helm install ... --namespace smi-bridge --create-namespace), not %q: the SMI CRDs' conversion webhook calls Service smi-bridge/smi-bridge-webhook" .Release.Namespace) }}
{{- end }}
{{- $valid := list "istio" "linkerd" "consul" "gamma" }}
{{- if empty .Values.meshes }}
{{- fail "meshes is empty: name at least one of istio, linkerd, consul, gamma" }}
{{- end }}
{{- range .Values.meshes }}
{{- if not (has . $valid) }}
{{- fail (printf "meshes: %q is not a mesh; choose from istio, linkerd, consul, gamma" .) }}
{{- end }}
{{- end }}
{{- if and (ne .Values.mesh "auto") (not (has .Values.mesh .Values.meshes)) }}
{{- fail (printf "mesh: %q is neither auto nor one of meshes %v" .Values.mesh .Values.meshes) }}
{{- end }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "smi-bridge.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
{{ include "smi-bridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/part-of: "smi-bridge"
{{- end }}

{{/*
Selector labels.
*/}}
{{- define "smi-bridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "smi-bridge.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{/*
The ServiceAccount.
*/}}
{{- define "smi-bridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "smi-bridge.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference (tag defaults to the chart's appVersion).
*/}}
{{- define "smi-bridge.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
Whether the operator manages webhook certificates itself (generated Secret, CA injection).
*/}}
{{- define "smi-bridge.generatedTls" -}}
{{- if and .Values.webhook.enabled (not .Values.webhook.certManager.enabled) }}true{{ end }}
{{- end }}

{{/*
The cert-manager Certificate (and its Secret).
*/}}
{{- define "smi-bridge.certificateName" -}}
{{- printf "%s-webhook" (include "smi-bridge.fullname" .) }}
{{- end }}

{{/*
Linkerd's routing mode: linkerd.routing, else the newest linkerd.release supports (as
LinkerdOptions::for_release picks it).
*/}}
{{- define "smi-bridge.linkerdRouting" -}}
{{- if .Values.linkerd.routing }}{{ .Values.linkerd.routing }}
{{- else if ge (int .Values.linkerd.release) 14 }}httproute
{{- else if eq (int .Values.linkerd.release) 13 }}policy-httproute
{{- else }}serviceprofile
{{- end }}
{{- end }}
