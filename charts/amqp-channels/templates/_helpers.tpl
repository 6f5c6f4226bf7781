{{/* Names, labels, the broker connection and the list of Deployments (Daphne + workers). */}}

{{- define "amqp-channels.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "amqp-channels.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "amqp-channels.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "amqp-channels.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "amqp-channels.selectorLabels" -}}
app.kubernetes.io/name: {{ include "amqp-channels.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "amqp-channels.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 }}
{{ include "amqp-channels.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "amqp-channels.name" . }}
{{- end }}

{{- define "amqp-channels.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "amqp-channels.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the connection keys, or "" for plain values. */}}
{{- define "amqp-channels.brokerSecret" -}}
{{- $b := .Values.broker }}
{{- if $b.existingSecret }}{{ $b.existingSecret }}
{{- else if $b.operatorSecret }}{{ $b.operatorSecret }}
{{- else if $b.channelLayer }}{{ printf "%s-amqp-channels" $b.channelLayer }}
{{- end }}
{{- end }}

{{/* The Secret holding the broker's CA, or "" when no CA is mounted: no TLS, or
     tls.ca=system (a certificate from a public CA, checked with the image's trust store). */}}
{{- define "amqp-channels.caSecret" -}}
{{- $tls := .Values.broker.tls }}
{{- if and $tls.enabled (ne ($tls.ca | default "secret") "system") }}
{{- $tls.caSecret | default (include "amqp-channels.brokerSecret" .) }}
{{- end }}
{{- end }}

{{/* AMQP_CHANNELS_* variables per docs/deployment-contract.md. */}}
{{- define "amqp-channels.brokerEnv" -}}
{{- $b := .Values.broker }}
{{- $secret := include "amqp-channels.brokerSecret" . }}
{{- if $secret }}
- name: AMQP_CHANNELS_URL
  valueFrom:
    secretKeyRef: {name: {{ $secret | quote }}, key: AMQP_CHANNELS_URL}
- name: AMQP_CHANNELS_LAYERS
  valueFrom:
    secretKeyRef: {name: {{ $secret | quote }}, key: AMQP_CHANNELS_LAYERS, optional: true}
{{- else }}
- name: AMQP_CHANNELS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $b.passwordSecret.name | quote }}, key: {{ $b.passwordSecret.key | quote }}}
{{- /* user: URL-safe by the schema. vhost: urlquery escapes for a query string, where a
     space becomes "+"; in a path "+" is a plus, so it becomes %20 (a real "+" is %2B). */}}
{{- $vhost := urlquery $b.vhost | replace "+" "%20" }}
{{- $urls := list }}
{{- range $b.hosts }}
{{- $urls = append $urls (printf "%s://%s:$(AMQP_CHANNELS_PASSWORD)@%s/%s" (ternary "amqps" "amqp" $b.tls.enabled) $b.user . $vhost) }}
{{- end }}
- name: AMQP_CHANNELS_URL
  value: {{ join "," $urls | quote }}
{{- end }}
{{- if $b.prefix }}
- name: AMQP_CHANNELS_PREFIX
  value: {{ $b.prefix | quote }}
{{- end }}
{{- if include "amqp-channels.caSecret" . }}
- name: AMQP_CHANNELS_CA_FILE
  value: /etc/amqp-channels/tls/ca.crt
{{- end }}
{{- end }}

{{/* Every Deployment: Daphne, then one per worker with workerDefaults filled in. Refuses
     what the schema cannot see across keys and would break the install or be ignored. */}}
{{- define "amqp-channels.components" -}}
{{- $b := .Values.broker }}
{{- if and $b.prefix (or $b.channelLayer $b.operatorSecret) }}
{{- fail "broker.prefix cannot go with broker.channelLayer or broker.operatorSecret: the operator's Secret holds AMQP_CHANNELS_LAYERS, which sets the prefix (the ChannelLayer's spec.prefix); remove broker.prefix" }}
{{- end }}
{{- $daphne := deepCopy .Values.daphne }}
{{- $_ := set $daphne "component" "daphne" }}
{{- $_ := set $daphne "key" "daphne" }}
{{- $all := list $daphne }}
{{- $names := dict }}
{{- range $i, $entry := .Values.workers }}
{{- if hasKey $names .name }}
{{- fail (printf "workers[%d].name %q repeats workers[%d].name: each worker is a Deployment named after it" $i .name (get $names .name)) }}
{{- end }}
{{- $_ := set $names .name $i }}
{{- $worker := mergeOverwrite (deepCopy $.Values.workerDefaults) (deepCopy .) }}
{{- $_ := set $worker "component" (printf "worker-%s" .name) }}
{{- $_ := set $worker "key" (printf "workers[%d] (%s)" $i .name) }}
{{- $all = append $all $worker }}
{{- end }}
{{- range $all }}
{{- if and .autoscaling.enabled (gt (int .autoscaling.minReplicas) (int .autoscaling.maxReplicas)) }}
{{- fail (printf "%s.autoscaling: minReplicas %d exceeds maxReplicas %d" .key (int .autoscaling.minReplicas) (int .autoscaling.maxReplicas)) }}
{{- end }}
{{- if and .preStopSleepSeconds (ge (int .preStopSleepSeconds) (int .terminationGracePeriodSeconds)) }}
{{- fail (printf "%s: preStopSleepSeconds %d must be less than terminationGracePeriodSeconds %d (the pod is killed before it can drain)" .key (int .preStopSleepSeconds) (int .terminationGracePeriodSeconds)) }}
{{- end }}
{{- end }}
{{- toYaml $all }}
{{- end }}
