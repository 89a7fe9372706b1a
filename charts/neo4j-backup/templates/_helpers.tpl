{{/*
The labels of every object: the kustomize tree's one label and no other, so
that the chart and manifests/ render the same objects (charts/chart_test.go).
*/}}
{{- define "neo4j-backup.labels" -}}
app.kubernetes.io/name: neo4j-backup
{{- end }}

{{/* The image serve runs, and injects into Neo4j pods and backup CronJobs. */}}
{{- define "neo4j-backup.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* True when serve keeps its own certificate (certificates.mode: self). */}}
{{- define "neo4j-backup.selfCerts" -}}
{{- if eq .Values.certificates.mode "self" }}true{{ end }}
{{- end }}

{{/*
The namespaces no webhook sees: the system ones and serve's own, so that serve
never waits on itself.
*/}}
{{- define "neo4j-backup.namespaceSelector" -}}
namespaceSelector:
  matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values: {{ list "kube-system" "kube-public" "kube-node-lease" .Release.Namespace | uniq | toJson }}
{{- end }}

{{/* Where the apiserver calls serve: the webhook Service on port 443. */}}
{{- define "neo4j-backup.clientConfig" -}}
clientConfig:
  service:
    name: neo4j-backup-webhook
    namespace: {{ .root.Release.Namespace }}
    path: {{ .path }}
    port: 443
{{- end }}

{{/* cert-manager's cainjector sets the caBundle from the serving Certificate. */}}
{{- define "neo4j-backup.webhookAnnotations" -}}
{{- if not (include "neo4j-backup.selfCerts" .) }}
annotations:
  cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/neo4j-backup-webhook
{{- end }}
{{- end }}
