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
