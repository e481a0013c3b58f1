{{/*
Names. Kubernetes names are limited to 63 characters; the suffixes used below fit within that.
*/}}
{{- define "modelroute.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "modelroute.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "modelroute.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "modelroute.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "modelroute.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "modelroute.webhookServiceName" -}}
{{- printf "%s-webhook" (include "modelroute.fullname" .) }}
{{- end }}

{{- define "modelroute.configurationName" -}}
{{- default (include "modelroute.fullname" .) .Values.webhook.configurationName }}
{{- end }}

{{/* Distinct names per source, so switching between them on upgrade never deletes the other's Secret. */}}
{{- define "modelroute.tlsSecretName" -}}
{{- if .Values.certManager.enabled }}
{{- printf "%s-webhook-cert" (include "modelroute.fullname" .) }}
{{- else }}
{{- printf "%s-webhook-tls" (include "modelroute.fullname" .) }}
{{- end }}
{{- end }}

{{- define "modelroute.servingCertificateName" -}}
{{- printf "%s-webhook" (include "modelroute.fullname" .) }}
{{- end }}

{{- define "modelroute.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Labels. `component` is passed in: operator, webhook, metrics, rbac, certificates, policy.
*/}}
{{- define "modelroute.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelroute.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "modelroute.labels" -}}
{{- $root := .root -}}
{{- $labels := include "modelroute.selectorLabels" $root | fromYaml }}
{{- $_ := set $labels "helm.sh/chart" (include "modelroute.chart" $root) }}
{{- $_ := set $labels "app.kubernetes.io/version" $root.Chart.AppVersion }}
{{- $_ := set $labels "app.kubernetes.io/managed-by" $root.Release.Service }}
{{- $_ := set $labels "app.kubernetes.io/part-of" "modelroute" }}
{{- $_ := set $labels "app.kubernetes.io/component" .component }}
{{- /* the chart's labels win over commonLabels: selectors depend on them */}}
{{- toYaml (merge $labels $root.Values.commonLabels) }}
{{- end }}

{{- define "modelroute.operatorSelectorLabels" -}}
{{ include "modelroute.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/*
The namespaces the webhooks never see: the system namespaces and the release's own, so the
cluster and ModelRoute itself can always be repaired, and any namespace that opted out. User
requirements are ANDed with these. Must match modelroute.admission.configurations.namespace_selector.
*/}}
{{- define "modelroute.namespaceSelector" -}}
matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values:
      {{- range (sortAlpha (uniq (list "kube-system" "kube-public" "kube-node-lease" .Release.Namespace))) }}
      - {{ . }}
      {{- end }}
  - key: modelroute.io/ignore
    operator: DoesNotExist
  {{- with .Values.webhook.namespaceSelector.matchExpressions }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/*
Where the API server sends an admission request for one webhook path: the chart's Service, or
`webhook.url` for a server outside the cluster. Call with (dict "root" $ "path" "<path>" "caBundle" "<b64>").
*/}}
{{- define "modelroute.clientConfig" -}}
{{- $root := .root -}}
{{- if $root.Values.webhook.url }}
url: {{ printf "%s/%s" (trimSuffix "/" $root.Values.webhook.url) .path | quote }}
{{- else }}
service:
  name: {{ include "modelroute.webhookServiceName" $root }}
  namespace: {{ $root.Release.Namespace }}
  path: {{ printf "/%s" .path | quote }}
  port: {{ $root.Values.webhook.service.port }}
{{- end }}
{{- with .caBundle }}
caBundle: {{ . }}
{{- end }}
{{- end }}

{{/*
Combinations that would install something broken fail the render with a message saying what to do.
*/}}
{{- define "modelroute.validate" -}}
{{- if .Values.webhook.url }}
{{- if not (hasPrefix "https://" .Values.webhook.url) }}
{{- fail "webhook.url must be an https:// URL: the API server only calls webhooks over TLS" }}
{{- end }}
{{- if not .Values.webhook.caBundle }}
{{- fail "webhook.url needs webhook.caBundle: the base64 PEM CA that signed the server's certificate at that URL" }}
{{- end }}
{{- if .Values.operator.enabled }}
{{- fail "webhook.url sends admissions to a server outside the cluster; set operator.enabled=false (the in-cluster Deployment would receive none)" }}
{{- end }}
{{- if .Values.certManager.enabled }}
{{- fail "webhook.url uses webhook.caBundle; certManager.enabled only applies to the in-cluster webhook Service" }}
{{- end }}
{{- else if not .Values.operator.enabled }}
{{- fail "operator.enabled=false needs webhook.url: without the operator the webhooks would have no server and, with failurePolicy Fail, refuse every pod in governed namespaces" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled: the ServiceMonitor scrapes that Service" }}
{{- end }}
{{- end }}

{{/*
The guards (ValidatingAdmissionPolicies) are rendered only where the API serves them (1.30+); readiness and
the post-install check wait for the ones rendered. Each helper prints the guard's name, or nothing.
*/}}
{{- define "modelroute.annotationGuardName" -}}
{{- if and .Values.annotationGuard.enabled (semverCompare ">=1.30-0" .Capabilities.KubeVersion.Version) }}
{{- printf "%s-annotations" (include "modelroute.configurationName" .) }}
{{- end }}
{{- end }}

{{- define "modelroute.ownedObjectsGuardName" -}}
{{- if and .Values.rbac.create .Values.rbac.ownedObjectsGuard (semverCompare ">=1.30-0" .Capabilities.KubeVersion.Version) }}
{{- printf "%s-owned-objects" (include "modelroute.fullname" .) }}
{{- end }}
{{- end }}

{{/* The name every enforcement probe is sent with (modelroute.operator.enforcement.PROBE_NAME). */}}
{{- define "modelroute.probeName" -}}
modelroute-enforcement-probe
{{- end }}

{{/*
The pod settings the chart's hook Jobs and test pod share with the operator: image, security, placement.
*/}}
{{- define "modelroute.hookPodSpec" -}}
restartPolicy: Never
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "modelroute.hookContainer" -}}
image: {{ include "modelroute.image" . | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
{{- with .Values.securityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
resources:
  requests:
    cpu: 10m
    memory: 64Mi
  limits:
    cpu: 500m
    memory: 256Mi
{{- end }}

{{/*
Monitoring. The series of the operator's own metrics: `prometheusRule.operatorSelector`, or the job the
chart's ServiceMonitor gives them (the metrics Service's name) in the release namespace.
*/}}
{{- define "modelroute.operatorMetricsSelector" -}}
{{- if .Values.prometheusRule.operatorSelector }}
{{- .Values.prometheusRule.operatorSelector }}
{{- else }}
{{- printf "job=\"%s-metrics\", namespace=\"%s\"" (include "modelroute.fullname" .) .Release.Namespace }}
{{- end }}
{{- end }}

{{- define "modelroute.alertLabels" -}}
{{- toYaml (merge (dict "severity" .severity) .root.Values.prometheusRule.alertLabels) }}
{{- end }}

{{- define "modelroute.runbook" -}}
{{- printf "%s#%s" .root.Values.prometheusRule.runbookBaseURL (lower .alert) | quote }}
{{- end }}
