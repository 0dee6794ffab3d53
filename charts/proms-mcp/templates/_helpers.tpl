{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "proms-mcp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: the release name, unless it already contains the chart name. */}}
{{- define "proms-mcp.fullname" -}}
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

{{/* Name of cluster-scoped objects: unique per release namespace as well. */}}
{{- define "proms-mcp.clusterName" -}}
{{- printf "%s-%s" (include "proms-mcp.fullname" .) .Release.Namespace | trunc 253 | trimSuffix "-" }}
{{- end }}

{{- define "proms-mcp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "proms-mcp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "proms-mcp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "proms-mcp.labels" -}}
helm.sh/chart: {{ include "proms-mcp.chart" . }}
{{ include "proms-mcp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: proms-mcp
{{- end }}

{{- define "proms-mcp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "proms-mcp.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "proms-mcp.image" -}}
{{- $image := .Values.image }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{/*
ALLOWED_HOSTS: the names clients reach the MCP port by. The Service's DNS names (a name
without a port matches any port), the hosts of the chart's own Ingress and Route, and
requestGuard.allowedHosts. A Route without route.host gets a name OpenShift makes up, which
the chart cannot know: then requestGuard.allowedHosts must name it.
*/}}
{{- define "proms-mcp.allowedHosts" -}}
{{- $service := include "proms-mcp.fullname" . }}
{{- $namespace := .Release.Namespace }}
{{- $hosts := list $service (printf "%s.%s" $service $namespace) (printf "%s.%s.svc" $service $namespace) (printf "%s.%s.svc.cluster.local" $service $namespace) }}
{{- if .Values.ingress.enabled }}
{{- range .Values.ingress.hosts }}
{{- $hosts = append $hosts .host }}
{{- end }}
{{- end }}
{{- if .Values.route.enabled }}
{{- if .Values.route.host }}
{{- $hosts = append $hosts .Values.route.host }}
{{- else if not .Values.requestGuard.allowedHosts }}
{{- fail "route.enabled without route.host: OpenShift makes up the Route's host name, and proms-mcp refuses requests by a name it was not given (DNS-rebinding protection). Set route.host, or list the name in requestGuard.allowedHosts" }}
{{- end }}
{{- end }}
{{- concat $hosts .Values.requestGuard.allowedHosts | uniq | join "," }}
{{- end }}

{{/* In-cluster URL of the MCP endpoint. */}}
{{- define "proms-mcp.mcpUrl" -}}
{{- printf "http://%s.%s.svc:%v/mcp/" (include "proms-mcp.fullname" .) .Release.Namespace .Values.service.port }}
{{- end }}

{{/*
The controller's permissions in one namespace or cluster-wide; exactly what
operator/proms_operator reads and writes, no wildcards.
*/}}
{{- define "proms-mcp.rules" -}}
- apiGroups: ["proms-mcp.dev"]
  resources: ["prometheusdatasources"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["proms-mcp.dev"]
  resources: ["prometheusdatasources/status"]
  verbs: ["patch"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch"]
# Secrets are read by name, only those PrometheusDatasources reference: never listed or
# watched (docs/security.md).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{/*
Namespace of an object the chart creates for the controller to read (a PrometheusDatasource
or a datasource ConfigMap): the release namespace by default, and it must be watched.
Arguments: (list $ $item "what").
*/}}
{{- define "proms-mcp.watchedNamespace" -}}
{{- $root := index . 0 }}
{{- $item := index . 1 }}
{{- $what := index . 2 }}
{{- $namespace := default $root.Release.Namespace $item.namespace }}
{{- $watched := $root.Values.watch.namespaces }}
{{- if and $watched (not (has $namespace $watched)) }}
{{- fail (printf "%s %s/%s is outside watch.namespaces %v: proms-mcp would never see it" $what $namespace $item.name $watched) }}
{{- end }}
{{- $namespace }}
{{- end }}

{{/*
The fewest replicas there will be: minReplicas under the autoscaler, else replicaCount. A
disruption budget and a spread are added above 1.
*/}}
{{- define "proms-mcp.minReplicas" -}}
{{- if .Values.autoscaling.enabled }}{{ int .Values.autoscaling.minReplicas }}{{ else }}{{ int .Values.replicaCount }}{{ end }}
{{- end }}

{{/*
The Lease that elects the one replica writing statuses: named after the release.
*/}}
{{- define "proms-mcp.leaseName" -}}
{{- include "proms-mcp.fullname" . }}
{{- end }}
