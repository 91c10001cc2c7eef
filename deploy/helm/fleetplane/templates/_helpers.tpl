{{- define "fleetplane.labels" -}}
app.kubernetes.io/name: fleetplane
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Probes shared by every service: /healthz (alive) and /readyz (dependencies answer). */}}
{{- define "fleetplane.probes" -}}
livenessProbe:
  httpGet: { path: /healthz, port: http, scheme: {{ .scheme | default "HTTP" }} }
  periodSeconds: 10
readinessProbe:
  httpGet: { path: {{ .path }}, port: http, scheme: {{ .scheme | default "HTTP" }} }
  periodSeconds: 5
{{- end -}}


{{/* The Secret holding the services' shared internal token. */}}
{{- define "fleetplane.internalSecret" -}}
{{- .Values.internal.existingSecret | default (printf "%s-internal-token" .Release.Name) -}}
{{- end -}}

{{/* Every service reads the internal token from this file. */}}
{{- define "fleetplane.internalTokenEnv" -}}
- { name: FLEETPLANE_INTERNAL_TOKEN_FILE, value: /etc/fleetplane/internal/token }
{{- end -}}

{{- define "fleetplane.internalTokenVolume" -}}
- name: internal-token
  secret: { secretName: {{ include "fleetplane.internalSecret" . | quote }}, defaultMode: 0440, items: [{ key: token, path: token }] }
{{- end -}}

{{- define "fleetplane.internalTokenMount" -}}
- { name: internal-token, mountPath: /etc/fleetplane/internal, readOnly: true }
{{- end -}}

{{/*
TLS on the internal listeners (internal.tls), checked here once for every
template: the certificate (agent-service and command-service listen) and the
CA that signs it (gateways and agent-service call) go together. A certificate
without the CA would leave callers checking it against the system's CAs only
(a private CA's certificate fails every call); a CA without the certificate
is refused by the server (--internal-tls-ca with an http:// URL). "true" when on.
*/}}
{{- define "fleetplane.internalTls" -}}
{{- $t := .Values.internal.tls -}}
{{- if and $t.secretName (not $t.caSecretName) -}}
{{- fail "internal.tls.secretName needs internal.tls.caSecretName: the Secret with the CA certificate that signs it, which the callers (gateways, agent-service) check it against (it may be the same Secret, if it has a ca.crt key)" -}}
{{- end -}}
{{- if and $t.caSecretName (not $t.secretName) -}}
{{- fail "internal.tls.caSecretName needs internal.tls.secretName: without the listeners' certificate the internal URLs stay http:// and the server refuses --internal-tls-ca" -}}
{{- end -}}
{{- if and $t.caSecretName (not $t.caKey) -}}
{{- fail "internal.tls.caKey must name the CA certificate's key in internal.tls.caSecretName (e.g. ca.crt)" -}}
{{- end -}}
{{- if $t.secretName }}true{{ end -}}
{{- end -}}

{{/* The one place an internal URL is made: https:// when the internal listeners serve TLS. `service` is the component, `port` its internal port. */}}
{{- define "fleetplane.internalUrl" -}}
{{- $scheme := ternary "https" "http" (eq (include "fleetplane.internalTls" .root) "true") -}}
{{- printf "%s://%s-%s:%v" $scheme .root.Release.Name .service .port -}}
{{- end -}}

{{/* The internal port's appProtocol on a Service. */}}
{{- define "fleetplane.internalAppProtocol" -}}
{{- ternary "https" "kubernetes.io/h2c" (eq (include "fleetplane.internalTls" .) "true") -}}
{{- end -}}

{{/* The internal TLS files of a service that `listens` (certificate and key) and/or `calls` (the CA). */}}
{{- define "fleetplane.internalTlsEnv" -}}
{{- if eq (include "fleetplane.internalTls" .root) "true" }}
{{- if .listens }}
- { name: FLEETPLANE_INTERNAL_TLS_CERT, value: /etc/fleetplane/internal-tls/tls.crt }
- { name: FLEETPLANE_INTERNAL_TLS_KEY, value: /etc/fleetplane/internal-tls/tls.key }
{{- end }}
{{- if .calls }}
- { name: FLEETPLANE_INTERNAL_TLS_CA, value: /etc/fleetplane/internal-tls-ca/ca.crt }
{{- end }}
{{- end }}
{{- end -}}

{{- define "fleetplane.internalTlsVolume" -}}
{{- $t := .root.Values.internal.tls -}}
{{- if eq (include "fleetplane.internalTls" .root) "true" }}
{{- if .listens }}
- name: internal-tls
  secret: { secretName: {{ $t.secretName | quote }}, defaultMode: 0440, items: [{ key: tls.crt, path: tls.crt }, { key: tls.key, path: tls.key }] }
{{- end }}
{{- if .calls }}
- name: internal-tls-ca
  secret: { secretName: {{ $t.caSecretName | quote }}, items: [{ key: {{ $t.caKey | quote }}, path: ca.crt }] }
{{- end }}
{{- end }}
{{- end -}}

{{- define "fleetplane.internalTlsMount" -}}
{{- if eq (include "fleetplane.internalTls" .root) "true" }}
{{- if .listens }}
- { name: internal-tls, mountPath: /etc/fleetplane/internal-tls, readOnly: true }
{{- end }}
{{- if .calls }}
- { name: internal-tls-ca, mountPath: /etc/fleetplane/internal-tls-ca, readOnly: true }
{{- end }}
{{- end }}
{{- end -}}

{{/* The admin port's access settings: public names, CORS, OIDC, TLS. `name` is the component. */}}
{{- define "fleetplane.adminEnv" -}}
{{- $svc := printf "%s-%s" .root.Release.Name .name -}}
- { name: FLEETPLANE_PUBLIC_HOST, value: {{ join "," (concat (list $svc (printf "%s.%s.svc" $svc .root.Release.Namespace) "localhost" "127.0.0.1") .root.Values.admin.publicHosts) | quote }} }
{{- with .root.Values.admin.corsAllowedOrigins }}
- { name: FLEETPLANE_CORS_ALLOWED_ORIGINS, value: {{ join "," . | quote }} }
{{- end }}
{{- with .root.Values.admin.oidc }}
{{- if .issuer }}
- { name: FLEETPLANE_OIDC_ISSUER, value: {{ .issuer | quote }} }
- { name: FLEETPLANE_OIDC_AUDIENCE, value: {{ required "admin.oidc.audience is needed with admin.oidc.issuer" .audience | quote }} }
- { name: FLEETPLANE_OIDC_ROLES_CLAIM, value: {{ .rolesClaim | quote }} }
{{- if .jwksUrl }}
- { name: FLEETPLANE_OIDC_JWKS_URL, value: {{ .jwksUrl | quote }} }
{{- end }}
{{- end }}
{{- end }}
{{- if .root.Values.admin.tlsSecretName }}
- { name: FLEETPLANE_API_TLS_CERT, value: /etc/fleetplane/api-tls/tls.crt }
- { name: FLEETPLANE_API_TLS_KEY, value: /etc/fleetplane/api-tls/tls.key }
{{- end }}
{{- end -}}

{{/*
The console's OIDC sign-in (admin.oidc.console), for agent-service, which
serves the console: only with a clientId, and checked as the server checks
--oidc-console-* at start, naming the value to change.
*/}}
{{- define "fleetplane.consoleOidcEnv" -}}
{{- with .Values.admin.oidc.console }}
{{- if .clientId }}
{{- if not $.Values.admin.oidc.issuer }}
{{- fail "admin.oidc.console.clientId needs admin.oidc.issuer (and admin.oidc.audience): the console signs in at that issuer" }}
{{- end }}
{{- if not $.Values.agentService.console }}
{{- fail "admin.oidc.console.clientId is set but agentService.console is false: the console (served by agent-service) is off, so its sign-in would do nothing" }}
{{- end }}
{{- if not (has .token (list "id" "access")) }}
{{- fail (printf "admin.oidc.console.token must be id or access, got %v" .token) }}
{{- end }}
{{- if not (has "openid" (regexSplit "\\s+" (toString .scopes) -1)) }}
{{- fail (printf "admin.oidc.console.scopes must include openid, got %q" (toString .scopes)) }}
{{- end }}
- { name: FLEETPLANE_OIDC_CONSOLE_CLIENT_ID, value: {{ .clientId | quote }} }
- { name: FLEETPLANE_OIDC_CONSOLE_SCOPES, value: {{ .scopes | quote }} }
- { name: FLEETPLANE_OIDC_CONSOLE_TOKEN, value: {{ .token | quote }} }
{{- end }}
{{- end }}
{{- end -}}

{{- define "fleetplane.adminTlsVolume" -}}
{{- if .Values.admin.tlsSecretName }}
- name: api-tls
  secret: { secretName: {{ .Values.admin.tlsSecretName | quote }}, defaultMode: 0440 }
{{- end }}
{{- end -}}

{{- define "fleetplane.adminTlsMount" -}}
{{- if .Values.admin.tlsSecretName }}
- { name: api-tls, mountPath: /etc/fleetplane/api-tls, readOnly: true }
{{- end }}
{{- end -}}

{{- define "fleetplane.adminScheme" -}}
{{- if .Values.admin.tlsSecretName }}HTTPS{{ else }}HTTP{{ end -}}
{{- end -}}
