{{/* Names and labels of the operator's objects. */}}

{{- define "operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- ternary .Release.Name (printf "%s-%s" .Release.Name $name) (contains $name .Release.Name) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "operator.selectorLabels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 }}
{{ include "operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: amqp-channels
{{- end }}

{{- define "operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The namespaces served when not all: the listed ones, or the release's. */}}
{{- define "operator.namespaces" -}}
{{- toYaml (.Values.watch.namespaces | default (list .Release.Namespace)) }}
{{- end }}

{{/* Exactly what kopf and the operator call in a served namespace (kopf never reads one
     object with get: it lists, watches and merge-patches). */}}
{{- define "operator.namespacedRules" -}}
- apiGroups: [amqp-channels.io]
  resources: [channellayers]
  # list/watch to serve them; patch for kopf's finalizer and progress annotations
  verbs: [list, watch, patch]
- apiGroups: [amqp-channels.io]
  resources: [channellayers/status]
  # conditions, observedGeneration, made, queueDepths
  verbs: [patch]
- apiGroups: [""]
  # the admin and CA Secrets are read; the connection Secret is created, replaced and deleted
  # with its ChannelLayer (no list or watch: the operator only touches Secrets it names)
  resources: [secrets]
  verbs: [get, create, update, delete]
- apiGroups: [""]
  # kopf posts core/v1 Events about handler progress and errors
  resources: [events]
  verbs: [create]
{{- with .Values.rbac.extraRules }}
{{ toYaml . }}
{{- end }}
{{- end }}
