{{- define "fleetplane.labels" -}}
app.kubernetes.io/name: fleetplane
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Probes shared by every service: /healthz (alive) and /readyz (dependencies answer). */}}
{{- define "fleetplane.probes" -}}
livenessProbe:
  httpGet: { path: /healthz, port: http }
  periodSeconds: 10
readinessProbe:
  httpGet: { path: {{ .path }}, port: http }
  periodSeconds: 5
{{- end -}}
