package canary

import (
	"regexp"
	"strconv"
	"strings"
)

var (
	basicChars   = regexp.MustCompile(CharsetBasic)
	patternChars = regexp.MustCompile(CharsetPattern)
)

// StrategyKeys are the nginx annotation keys Spec.Nginx may write: every
// canary annotation except `canary` itself (the opt-in, which canarygate
// never sets: it never turns a plain Ingress into a canary) and
// affinity-canary-behavior (session affinity, not strategy). Injection
// replaces exactly these keys, so a key absent from Nginx's result must be
// deleted from the Ingress.
var StrategyKeys = []string{
	NginxWeight, NginxWeightTotal, NginxHeader, NginxHeaderValue,
	NginxHeaderPattern, NginxCookie,
}

// FromNginx reads a canary Ingress's annotations exactly as the ingress-nginx
// controller (v1.15, annotation validation on, its default) does, including
// the silent repairs it makes instead of rejecting bad values; the gate must
// judge what nginx will route, not what the manifest claims.
//
//   - canary: strconv.ParseBool ("true", "1", "t", "TRUE", …); anything else,
//     "yes" included, is false.
//   - canary-weight: strconv.Atoi, else 0. "50%", "5.5" and " 50" become 0;
//     "-5", "+5" and "150" are taken as written.
//   - canary-weight-total: strconv.Atoi, else 100. A written 0 is also
//     returned as 100 so a parsed Spec never has a zero total; nginx treats
//     both alike (EffectiveTotal). Other totals below 100 stay as written.
//   - canary-by-header, canary-by-header-value, canary-by-cookie: the
//     controller validates with spaces removed and then trims the value, so a
//     value whose characters other than spaces match CharsetBasic is returned
//     trimmed (" foo " → "foo", and an inner space survives: "a b"); any
//     other value becomes "" ("a=b" → "").
//   - canary-by-header-pattern: must match CharsetPattern as written (no
//     spaces), else "". It is not compiled: nginx uses PCRE, not Go's RE2.
//
// enabled reports whether the controller treats the Ingress as a canary.
// The Spec is returned even when enabled is false, so callers can flag a
// strategy that is configured but not enabled: the controller then drops
// the whole canary configuration and serves the Ingress as a second main
// Ingress for its host and path.
func FromNginx(annotations map[string]string) (spec Spec, enabled bool) {
	enabled, err := strconv.ParseBool(annotations[NginxCanary])
	if err != nil {
		enabled = false
	}
	spec = Spec{
		Weight:        nginxInt(annotations[NginxWeight], 0),
		WeightTotal:   nginxInt(annotations[NginxWeightTotal], DefaultWeightTotal),
		Header:        nginxBasic(annotations[NginxHeader]),
		HeaderValue:   nginxBasic(annotations[NginxHeaderValue]),
		HeaderPattern: nginxPattern(annotations[NginxHeaderPattern]),
		Cookie:        nginxBasic(annotations[NginxCookie]),
	}
	if spec.WeightTotal == 0 {
		spec.WeightTotal = DefaultWeightTotal
	}
	return spec, enabled
}

// nginxInt is the controller's GetIntAnnotation: strconv.Atoi, def when the
// value is missing or invalid.
func nginxInt(v string, def int) int {
	n, err := strconv.Atoi(v)
	if err != nil {
		return def
	}
	return n
}

// nginxBasic is the controller's ValidateRegex(BasicCharsRegex, true) (the
// check runs with every space removed) followed by parseString's
// normalisation (trim each line; a value that trims to nothing is invalid).
// No newline passes the check, so trimming the single line suffices.
func nginxBasic(v string) string {
	if !basicChars.MatchString(strings.ReplaceAll(v, " ", "")) {
		return ""
	}
	return strings.TrimSpace(v)
}

// nginxPattern is ValidateRegex(IsValidRegex, false): no space removal, and
// CharsetPattern admits no whitespace, so trimming cannot change the value.
func nginxPattern(v string) string {
	if !patternChars.MatchString(v) {
		return ""
	}
	return v
}

// Nginx renders the strategy as ingress-nginx annotations (the keys in
// StrategyKeys), omitting defaults: no canary-weight when the weight is 0, no
// canary-weight-total when the total is 100 or unset, no empty strings. It
// never includes the `canary` annotation: injection only fills in an Ingress
// that already opted in. Values are written as they are; FromNginx(s.Nginx())
// returns s for any s whose strings pass the controller's character sets.
func (s Spec) Nginx() map[string]string {
	return s.render(nginxStrategy)
}

func itoa(n int) string { return strconv.Itoa(n) }
