// Package opampsupervisor is our wrapper module around the OpenTelemetry
// Collector's OpAMP supervisor (opentelemetry-collector-contrib/cmd/opampsupervisor).
// That command's own module has replace directives, so `go install` refuses
// it; here it is a `tool` of this module and scripts/ensure-tools.sh builds
// it with `go build` of the tool's package path.
package opampsupervisor
