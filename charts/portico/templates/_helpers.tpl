{{/* Chart name, truncated to the 63 characters of a label value. */}}
{{- define "portico.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "portico.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "portico.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "portico.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portico.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{/* The chart's own labels of the controller's objects. */}}
{{- define "portico.baseLabels" -}}
helm.sh/chart: {{ include "portico.chart" . }}
{{ include "portico.selectorLabels" . }}
{{ include "portico.versionLabels" . }}
{{- end -}}

{{- define "portico.versionLabels" -}}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: portico
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels of an object without labels of its own: the chart's, then commonLabels. */}}
{{- define "portico.labels" -}}
{{ include "portico.baseLabels" . }}
{{- include "portico.moreLabels" (dict "ctx" . "base" "portico.baseLabels") }}
{{- end -}}

{{/*
What follows the `base` template's labels (dict: ctx, base, own): commonLabels, then `own` (the
object's own labels, e.g. controller.service.labels, which win over commonLabels), without the
base keys: the chart's labels are never replaced, because selectors (Services, the PDB, the
ServiceMonitor) match them; and a key twice would make the YAML invalid. Empty when nothing is
added, else a newline and YAML lines, so that the defaults render exactly as before commonLabels.
*/}}
{{- define "portico.moreLabels" -}}
{{- $more := dict -}}
{{- range $k, $v := (.ctx.Values.commonLabels | default dict) }}{{ $_ := set $more $k $v }}{{ end -}}
{{- range $k, $v := (.own | default dict) }}{{ $_ := set $more $k $v }}{{ end -}}
{{- range $k, $_ := (include .base .ctx | fromYaml) }}{{ $_ := unset $more $k }}{{ end -}}
{{- with $more }}
{{ toYaml . }}
{{- end -}}
{{- end -}}

{{/* The pods' labels: the selector's, commonLabels, then controller.podLabels. */}}
{{- define "portico.podLabels" -}}
{{ include "portico.selectorLabels" . }}
{{- include "portico.moreLabels" (dict "ctx" . "base" "portico.selectorLabels" "own" .Values.controller.podLabels) }}
{{- end -}}

{{/* The chart's labels, commonLabels, then the object's own (dict: ctx, own). */}}
{{- define "portico.labelsWith" -}}
{{ include "portico.baseLabels" .ctx }}
{{- include "portico.moreLabels" (dict "ctx" .ctx "base" "portico.baseLabels" "own" .own) }}
{{- end -}}

{{/* The metrics Service's own labels (component "metrics"), which the ServiceMonitor selects by. */}}
{{- define "portico.metricsSelectorLabels" -}}
app.kubernetes.io/name: {{ include "portico.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: metrics
{{- end -}}

{{- define "portico.metricsBaseLabels" -}}
helm.sh/chart: {{ include "portico.chart" . }}
{{ include "portico.metricsSelectorLabels" . }}
{{ include "portico.versionLabels" . }}
{{- end -}}

{{/* Labels of the metrics objects (dict: ctx, own): as portico.labelsWith, component "metrics". */}}
{{- define "portico.metricsLabels" -}}
{{ include "portico.metricsBaseLabels" .ctx }}
{{- include "portico.moreLabels" (dict "ctx" .ctx "base" "portico.metricsBaseLabels" "own" .own) }}
{{- end -}}

{{/*
The Secrets ACME keeps in the pod's namespace (src/acme: DEFAULT_ACCOUNT_SECRET,
DEFAULT_CHALLENGE_SECRET; the program does not make them configurable). test/chart checks the names.
*/}}
{{- define "portico.acmeAccountSecret" -}}portico-acme-account{{- end -}}
{{- define "portico.acmeChallengeSecret" -}}portico-acme-challenges{{- end -}}
{{/* Where acme.caBundle is mounted. */}}
{{- define "portico.acmeCaDir" -}}/etc/portico/acme-ca{{- end -}}
{{/* Where controller.backendCA is mounted. */}}
{{- define "portico.backendCaDir" -}}/etc/portico/backend-ca{{- end -}}

{{/*
controller.backendCA as JSON {"kind": "secret"|"configMap", "name", "key"}, or {} when unset.
Exactly one of secretName and configMapName: the chart mounts one key of one object.
*/}}
{{- define "portico.backendCa" -}}
{{- $ca := .Values.controller.backendCA -}}
{{- if and $ca.secretName $ca.configMapName -}}
{{- fail (printf "controller.backendCA: set secretName (%s) or configMapName (%s), not both: the chart mounts one key of one of them" $ca.secretName $ca.configMapName) -}}
{{- else if $ca.secretName -}}
{{- dict "kind" "secret" "name" $ca.secretName "key" $ca.key | toJson -}}
{{- else if $ca.configMapName -}}
{{- dict "kind" "configMap" "name" $ca.configMapName "key" $ca.key | toJson -}}
{{- else -}}
{{- dict | toJson -}}
{{- end -}}
{{- end -}}

{{/* The separate metrics container port (controller.metrics.port), or empty: /metrics on the health port. */}}
{{- define "portico.metricsPort" -}}
{{- $port := .Values.controller.metrics.port -}}
{{- if and (not (kindIs "invalid" $port)) (ne (toString $port) "") -}}
{{- $c := .Values.controller.containerPort -}}
{{- range $name, $used := dict "http" $c.http "https" $c.https "health" $c.health -}}
{{- if eq (int64 $used) (int64 $port) -}}
{{- fail (printf "controller.metrics.port %d is already controller.containerPort.%s: choose another port, or leave it empty to serve /metrics on the health port" (int64 $port) $name) -}}
{{- end -}}
{{- end -}}
{{- int64 $port -}}
{{- end -}}
{{- end -}}

{{/* A Prometheus duration (1h30m, 30s, 500ms) in milliseconds; the schema has checked its form. */}}
{{- define "portico.promDurationMs" -}}
{{- $ms := 0 -}}
{{- $units := dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000 "d" 86400000 "w" 604800000 "y" 31536000000 -}}
{{- range regexFindAll "[0-9]+(ms|[smhdwy])" (toString .) -1 -}}
{{- $unit := regexFind "(ms|[smhdwy])$" . -}}
{{- $ms = add $ms (mul (int64 (trimSuffix $unit .)) (get $units $unit)) -}}
{{- end -}}
{{- $ms -}}
{{- end -}}

{{- define "portico.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "portico.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "portico.image" -}}
{{- $image := .Values.controller.image -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Watched namespaces as a JSON list (empty: all). watchNamespace is a comma list or a list. */}}
{{- define "portico.watchNamespaces" -}}
{{- $raw := .Values.watchNamespace -}}
{{- $items := list -}}
{{- if kindIs "slice" $raw -}}
{{- $items = $raw -}}
{{- else if $raw -}}
{{- $items = splitList "," (toString $raw) -}}
{{- end -}}
{{- $out := list -}}
{{- range $items -}}
{{- $ns := trim (toString .) -}}
{{- if and $ns (not (has $ns $out)) -}}
{{- $out = append $out $ns -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* The --ingress-class value: controller.ingressClass, else the IngressClass name. */}}
{{- define "portico.ingressClass" -}}
{{- default .Values.controller.ingressClassResource.name .Values.controller.ingressClass -}}
{{- end -}}

{{- define "portico.electionID" -}}
{{- default (printf "%s-leader" (include "portico.fullname" .)) .Values.controller.electionID -}}
{{- end -}}

{{/* NAMESPACE/NAME of the Service whose addresses go into Ingress status; empty when off. */}}
{{- define "portico.publishService" -}}
{{- if .Values.controller.publishService.enabled -}}
{{- if .Values.controller.publishService.pathOverride -}}
{{- .Values.controller.publishService.pathOverride -}}
{{- else -}}
{{- if not .Values.controller.service.enabled -}}
{{- fail "controller.publishService.enabled needs controller.service.enabled, or a controller.publishService.pathOverride (NAMESPACE/NAME)" -}}
{{- end -}}
{{- printf "%s/%s" .Release.Namespace (include "portico.fullname" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
defaultCertificate (NAMESPACE/NAME), checked against watchNamespace: Portico finds the Secret
through its Secret watch, which only covers the watched namespaces.
*/}}
{{- define "portico.defaultCertificate" -}}
{{- with .Values.defaultCertificate -}}
{{- $namespace := index (splitList "/" .) 0 -}}
{{- $namespaces := include "portico.watchNamespaces" $ | fromJsonArray -}}
{{- if and $namespaces (not (has $namespace $namespaces)) -}}
{{- fail (printf "defaultCertificate %s: namespace %s is not watched (watchNamespace: %s); Portico reads the Secret through its watch, so add %s to watchNamespace or move the Secret" . $namespace (join "," $namespaces) $namespace) -}}
{{- end -}}
{{- . -}}
{{- end -}}
{{- end -}}

{{/* A value as a flag argument: whole numbers without exponent, lists comma-joined. */}}
{{- define "portico.flagValue" -}}
{{- $v := . -}}
{{- if kindIs "slice" $v -}}
{{- $parts := list -}}
{{- range $v }}{{ $parts = append $parts (include "portico.flagValue" .) }}{{ end -}}
{{- join "," $parts -}}
{{- else if or (kindIs "float64" $v) (kindIs "float32" $v) -}}
{{- if eq (float64 (int64 $v)) (float64 $v) -}}{{ int64 $v }}{{- else -}}{{ $v }}{{- end -}}
{{- else if kindIs "invalid" $v -}}
{{- else -}}
{{- toString $v -}}
{{- end -}}
{{- end -}}

{{/*
The container arguments as a JSON object flag → value (every key is a flag of `portico --help`;
test/chart checks them against src/config/settings.ts FLAGS and runs the real parser on them).
controller.extraArgs come last and replace what the chart would render for the same flag.
*/}}
{{- define "portico.args" -}}
{{- $c := .Values.controller -}}
{{- $args := dict -}}
{{- $_ := set $args "http-port" (include "portico.flagValue" $c.containerPort.http) -}}
{{- $_ = set $args "https-port" (include "portico.flagValue" $c.containerPort.https) -}}
{{- $_ = set $args "health-port" (include "portico.flagValue" $c.containerPort.health) -}}
{{- $_ = set $args "controller-name" $c.ingressClassResource.controllerValue -}}
{{- $_ = set $args "ingress-class" (include "portico.ingressClass" .) -}}
{{- $_ = set $args "election-id" (include "portico.electionID" .) -}}
{{- $_ = set $args "watch-ingress-without-class" (include "portico.flagValue" $c.watchIngressWithoutClass) -}}
{{- $_ = set $args "update-status" (include "portico.flagValue" $c.updateStatus) -}}
{{- $namespaces := include "portico.watchNamespaces" . | fromJsonArray -}}
{{- if $namespaces -}}
{{- $_ = set $args "watch-namespace" (join "," $namespaces) -}}
{{- end -}}
{{- $publish := include "portico.publishService" . -}}
{{- if $publish -}}
{{- $_ = set $args "publish-service" $publish -}}
{{- end -}}
{{- $cfg := $c.config -}}
{{- $_ = set $args "log-level" $cfg.logLevel -}}
{{- $_ = set $args "access-log" (include "portico.flagValue" $cfg.accessLog) -}}
{{- $_ = set $args "access-log-query" (include "portico.flagValue" $cfg.accessLogQuery) -}}
{{- $fields := $cfg.accessLogFields | default list -}}
{{- if kindIs "string" $fields -}}{{- $fields = splitList "," $fields -}}{{- end -}}
{{- $fieldList := list -}}
{{- range $fields -}}{{- if trim (toString .) -}}{{- $fieldList = append $fieldList (trim (toString .)) -}}{{- end -}}{{- end -}}
{{- if $fieldList -}}
{{- $_ = set $args "access-log-fields" (join "," $fieldList) -}}
{{- end -}}
{{- $proxies := $cfg.trustedProxies -}}
{{- if kindIs "string" $proxies -}}{{- $proxies = splitList "," $proxies -}}{{- end -}}
{{- $proxyList := list -}}
{{- range $proxies -}}{{- if trim (toString .) -}}{{- $proxyList = append $proxyList (trim (toString .)) -}}{{- end -}}{{- end -}}
{{- if $proxyList -}}
{{- $_ = set $args "trusted-proxies" (join "," $proxyList) -}}
{{- end -}}
{{- $_ = set $args "response-request-id" (include "portico.flagValue" $cfg.responseRequestId) -}}
{{- $_ = set $args "use-proxy-protocol" (include "portico.flagValue" $cfg.useProxyProtocol) -}}
{{- $_ = set $args "connect-timeout" (include "portico.flagValue" $cfg.connectTimeout) -}}
{{- $_ = set $args "response-header-timeout" (include "portico.flagValue" $cfg.responseHeaderTimeout) -}}
{{- $_ = set $args "idle-timeout" (include "portico.flagValue" $cfg.idleTimeout) -}}
{{- $_ = set $args "send-timeout" (include "portico.flagValue" $cfg.sendTimeout) -}}
{{- $_ = set $args "max-header-size" (include "portico.flagValue" $cfg.maxHeaderSize) -}}
{{- $_ = set $args "proxy-body-size" (include "portico.flagValue" $cfg.proxyBodySize) -}}
{{- $_ = set $args "http-redirect-code" (include "portico.flagValue" $cfg.httpRedirectCode) -}}
{{- $_ = set $args "ssl-redirect" (include "portico.flagValue" $cfg.sslRedirect) -}}
{{- $_ = set $args "force-ssl-redirect" (include "portico.flagValue" $cfg.forceSslRedirect) -}}
{{- $_ = set $args "limit-req-status-code" (include "portico.flagValue" $cfg.limitReqStatusCode) -}}
{{- $_ = set $args "limit-conn-status-code" (include "portico.flagValue" $cfg.limitConnStatusCode) -}}
{{- $_ = set $args "client-body-timeout" (include "portico.flagValue" $cfg.clientBodyTimeout) -}}
{{- $_ = set $args "client-body-deadline" (include "portico.flagValue" $cfg.clientBodyDeadline) -}}
{{- $_ = set $args "client-body-buffer-size" (include "portico.flagValue" $cfg.clientBodyBufferSize) -}}
{{- $_ = set $args "upstream-queue-timeout" (include "portico.flagValue" $cfg.upstreamQueueTimeout) -}}
{{- $_ = set $args "max-connections-per-endpoint" (include "portico.flagValue" $cfg.maxConnectionsPerEndpoint) -}}
{{- $_ = set $args "allow-trace" (include "portico.flagValue" $cfg.allowTrace) -}}
{{- $_ = set $args "debug-endpoints" (include "portico.flagValue" $cfg.debugEndpoints) -}}
{{- $_ = set $args "default-backend-service" (include "portico.flagValue" $cfg.defaultBackendService) -}}
{{- $_ = set $args "custom-http-errors" (include "portico.flagValue" $cfg.customHttpErrors) -}}
{{- $_ = set $args "otlp-endpoint" (include "portico.flagValue" $cfg.otlpEndpoint) -}}
{{- with $cfg.nginxConfigMap -}}
{{- $_ = set $args "nginx-configmap" . -}}
{{- end -}}
{{- $_ = set $args "trace-sample-ratio" (include "portico.flagValue" $cfg.traceSampleRatio) -}}
{{- $_ = set $args "otlp-service-name" (include "portico.flagValue" $cfg.otlpServiceName) -}}
{{- $_ = set $args "shutdown-delay" (include "portico.flagValue" $cfg.shutdownDelay) -}}
{{- $_ = set $args "shutdown-grace" (include "portico.flagValue" $cfg.shutdownGrace) -}}
{{- $_ = set $args "http2" (include "portico.flagValue" $cfg.http2) -}}
{{- $_ = set $args "hsts" (include "portico.flagValue" $cfg.hsts) -}}
{{- $_ = set $args "hsts-max-age" (include "portico.flagValue" $cfg.hstsMaxAge) -}}
{{- $_ = set $args "hsts-include-subdomains" (include "portico.flagValue" $cfg.hstsIncludeSubdomains) -}}
{{- $_ = set $args "request-metrics" (include "portico.flagValue" $c.metrics.requestMetrics) -}}
{{- $_ = set $args "metrics-compat" $c.metrics.compat -}}
{{- $workers := include "portico.flagValue" $c.workers -}}
{{- /* empty: the program's auto (one worker per CPU of the quota) only when limits.cpu sets a
     quota; without one, auto would start a worker per CPU of the node: one process instead, or
     one worker with nginxConfigMap (its edits are applied live by replacing workers) */ -}}
{{- if and (not $workers) (not (dig "limits" "cpu" "" ($c.resources | default dict))) -}}
{{- $workers = ternary "1" "0" (ne (include "portico.flagValue" $cfg.nginxConfigMap) "") -}}
{{- end -}}
{{- if $workers -}}
{{- $_ = set $args "workers" $workers -}}
{{- end -}}
{{- $_ = set $args "reuse-port" (include "portico.flagValue" $c.reusePort) -}}
{{- with include "portico.metricsPort" . -}}
{{- $_ = set $args "metrics-port" . -}}
{{- end -}}
{{- with include "portico.defaultCertificate" . -}}
{{- $_ = set $args "default-ssl-certificate" . -}}
{{- end -}}
{{- $acme := .Values.acme -}}
{{- if $acme.enabled -}}
{{- $_ = set $args "acme" "true" -}}
{{- $_ = set $args "acme-directory" $acme.directory -}}
{{- with $acme.email -}}
{{- $_ = set $args "acme-email" . -}}
{{- end -}}
{{- if $acme.caBundle.secretName -}}
{{- $_ = set $args "acme-ca-bundle" (printf "%s/%s" (include "portico.acmeCaDir" .) $acme.caBundle.key) -}}
{{- end -}}
{{- end -}}
{{- with include "portico.backendCa" . | fromJson -}}
{{- $_ = set $args "backend-ca-file" (printf "%s/%s" (include "portico.backendCaDir" $) .key) -}}
{{- end -}}
{{- range $flag, $value := $c.extraArgs -}}
{{- if and (eq $flag "enable-ssl-passthrough") (eq (toString $value) "") -}}
{{- /* ingress-nginx's chart renders an empty value as the bare flag */ -}}
{{- $_ = set $args $flag "true" -}}
{{- else -}}
{{- $_ = set $args $flag (include "portico.flagValue" $value) -}}
{{- end -}}
{{- end -}}
{{- toJson $args -}}
{{- end -}}

{{/* A Portico duration (500ms, 5s, 1.5m, 2h; bare number = seconds) in whole seconds, rounded up. */}}
{{- define "portico.durationSeconds" -}}
{{- $text := trim (toString .) -}}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $text -}}
{{- if not $number -}}
{{- fail (printf "%q is not a duration (examples: 500ms, 5s, 2m)" $text) -}}
{{- end -}}
{{- $unit := trim (trimPrefix $number $text) -}}
{{- $n := float64 $number -}}
{{- $seconds := $n -}}
{{- if eq $unit "ms" -}}{{- $seconds = divf $n 1000 -}}
{{- else if eq $unit "m" -}}{{- $seconds = mulf $n 60 -}}
{{- else if eq $unit "h" -}}{{- $seconds = mulf $n 3600 -}}
{{- else if and $unit (ne $unit "s") -}}{{- fail (printf "%q is not a duration (examples: 500ms, 5s, 2m)" $text) -}}
{{- end -}}
{{- ceil $seconds | int64 -}}
{{- end -}}

{{/* Replicas that run when nothing scales: the HPA minimum, else replicaCount. */}}
{{- define "portico.minReplicas" -}}
{{- if .Values.controller.autoscaling.enabled -}}
{{- .Values.controller.autoscaling.minReplicas | int64 -}}
{{- else -}}
{{- .Values.controller.replicaCount | int64 -}}
{{- end -}}
{{- end -}}

{{/* Rules for the namespaced kinds Portico reads and writes: in a ClusterRole, or a Role per watched namespace. */}}
{{- define "portico.namespacedRules" -}}
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses"]
  verbs: ["get", "list", "watch"]
# Ingress status (load-balancer addresses), written by the leader only.
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses/status"]
  verbs: ["update", "patch"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["get", "list", "watch"]
# Portico lists and watches only Secrets of type kubernetes.io/tls (certificates) and Opaque
# (basic-auth users, auth-secret), by field selector, but RBAC cannot restrict by type: this
# grants read on every Secret in scope. Narrow the scope with watchNamespace.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
# ConfigMaps an Ingress names in an annotation (custom-headers, auth-proxy-set-headers): read
# only. Every ConfigMap in scope is listed and watched (they have no type to select by).
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch"]
# Events about Ingresses that cannot be translated, in the Ingress's namespace.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- if .Values.acme.enabled }}
# ACME (acme.enabled): the elected replica writes each issued certificate into the Secret named
# by the Ingress's spec.tls secretName. RBAC cannot limit this to kubernetes.io/tls Secrets, nor
# name them in advance: this grants create/update on every Secret in scope.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create", "update"]
{{- end }}
{{- end -}}
