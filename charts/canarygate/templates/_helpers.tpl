{{/*
The chart name (app.kubernetes.io/name), nameOverride if set.
*/}}
{{- define "canarygate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object name: fullnameOverride, else the release name if
it contains the chart name, else "<release>-<chart>". With the release name
"canarygate" the objects are named as in config/webhook.
*/}}
{{- define "canarygate.fullname" -}}
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
helm.sh/chart: name and version.
*/}}
{{- define "canarygate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "canarygate.labels" -}}
helm.sh/chart: {{ include "canarygate.chart" . }}
{{ include "canarygate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: canarygate
{{- end }}

{{/*
Labels that select the server's pods (Deployment, Service, PDB,
NetworkPolicy, topology spread).
*/}}
{{- define "canarygate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "canarygate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The image reference: repository, then @digest or :tag (default appVersion).
*/}}
{{- define "canarygate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The Service's in-cluster DNS name, the name the API server dials and the
serving certificate is issued for.
*/}}
{{- define "canarygate.serviceDNS" -}}
{{- printf "%s.%s.svc" (include "canarygate.fullname" .) .Release.Namespace }}
{{- end }}

{{/*
The Secret holding the serving certificate, mounted at --cert-dir.
*/}}
{{- define "canarygate.tlsSecretName" -}}
{{- if .Values.certManager.enabled }}
{{- printf "%s-serving-cert" (include "canarygate.fullname" .) }}
{{- else }}
{{- .Values.tls.secretName }}
{{- end }}
{{- end }}

{{/*
Where the policy data ConfigMap and the policies ConfigMaps are mounted.
*/}}
{{- define "canarygate.policyDataDir" -}}
/etc/canarygate/policy-data
{{- end }}
{{- define "canarygate.policiesDir" -}}
/etc/canarygate/policies
{{- end }}

{{/*
Checks the combinations of values the schema cannot express; fails the
render with a message saying what to set. Included once, by the Deployment.
*/}}
{{- define "canarygate.validate" -}}
{{- if .Values.certManager.enabled }}
{{- if or .Values.tls.secretName .Values.tls.caBundle }}
{{- fail "tls.secretName and tls.caBundle are used only with certManager.enabled=false; with cert-manager the chart issues the serving certificate itself (use certManager.issuerRef to pick an existing issuer)" }}
{{- end }}
{{- else }}
{{- if not .Values.tls.secretName }}
{{- fail "certManager.enabled=false needs tls.secretName: an existing kubernetes.io/tls Secret in the release namespace for the serving certificate (docs/install.md, Install with Helm without cert-manager)" }}
{{- end }}
{{- if not .Values.tls.caBundle }}
{{- fail "certManager.enabled=false needs tls.caBundle: the base64-encoded PEM CA that signed tls.secretName, e.g. --set tls.caBundle=$(base64 -w0 < ca.crt)" }}
{{- end }}
{{- if not (contains "-----BEGIN CERTIFICATE-----" (b64dec .Values.tls.caBundle)) }}
{{- fail "tls.caBundle must be base64-encoded PEM (base64 -w0 < ca.crt): it does not decode to a -----BEGIN CERTIFICATE----- block" }}
{{- end }}
{{- end }}
{{- $seen := dict }}
{{- range .Values.policies }}
{{- if hasKey $seen .configMap }}
{{- fail (printf "policies: ConfigMap %q is listed twice" .configMap) }}
{{- end }}
{{- $_ := set $seen .configMap true }}
{{- end }}
{{- end }}

{{/*
The fields every webhook shares. Arguments (dict): root (the chart's
context), path (the server's endpoint), failurePolicy, timeoutSeconds.
*/}}
{{- define "canarygate.webhookCommon" -}}
{{- $root := .root -}}
clientConfig:
  service:
    name: {{ include "canarygate.fullname" $root }}
    namespace: {{ $root.Release.Namespace }}
    path: {{ .path }}
    port: 443
  {{- if not $root.Values.certManager.enabled }}
  caBundle: {{ $root.Values.tls.caBundle }}
  {{- end }}
failurePolicy: {{ .failurePolicy }}
timeoutSeconds: {{ .timeoutSeconds }}
sideEffects: None
admissionReviewVersions: ["v1"]
matchPolicy: Equivalent
namespaceSelector:
  matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values:
    {{- range uniq (concat (list "kube-system" $root.Release.Namespace) $root.Values.webhook.excludedNamespaces) }}
    - {{ . }}
    {{- end }}
{{- end }}
