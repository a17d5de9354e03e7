// Package canary is canarygate's domain model of a canary release: what
// share of traffic, and which clients, a canary InferenceService receives.
//
// It is pure (no I/O, no Kubernetes client) and provider-neutral: a Spec says
// weight, header match and cookie; ingress-nginx annotations are one renderer
// (Spec.Nginx) and one reader (FromNginx), so a Gateway API provider can be
// added later without touching the gate. FromNginx reproduces the
// controller's silent repairs of bad values, because the gate must judge what
// nginx will actually route, not what a manifest claims. FromKeys reads the
// canarygate.io/ declaration of a canary InferenceService and reports, rather
// than repairs, the values it cannot use.
package canary
