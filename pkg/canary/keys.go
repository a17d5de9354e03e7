package canary

// Prefix is the prefix of every label and annotation canarygate reads or
// writes. Every key below is derived from it, and the policy engine receives
// the whole vocabulary as data (Vocabulary), so no key is spelled twice.
const Prefix = "canarygate.io/"

// Canary declaration keys, read from the canary InferenceService as labels or
// annotations (the annotation wins when both are present).
const (
	KeyStable        = Prefix + "stable"
	KeyWeight        = Prefix + "weight"
	KeyWeightTotal   = Prefix + "weight-total"
	KeyHeader        = Prefix + "header"
	KeyHeaderValue   = Prefix + "header-value"
	KeyHeaderPattern = Prefix + "header-pattern"
	KeyCookie        = Prefix + "cookie"
	KeyVerified      = Prefix + "verified"
)

// Stamp keys, always annotations, written only by the mutating webhook and
// re-checked by the gate.
const (
	StampVerifiedBy         = Prefix + "verified-by"
	StampVerifiedAt         = Prefix + "verified-at"
	StampVerifiedGeneration = Prefix + "verified-generation"
	StampCanarySince        = Prefix + "canary-since"
	StampSource             = Prefix + "source"
	StampPreviousISVC       = Prefix + "previous-isvc"
	StampPreviousGeneration = Prefix + "previous-generation"
)

// Opt-out and break-glass keys.
const (
	KeyInject         = Prefix + "inject"
	KeyOverrideReason = Prefix + "override-reason"
	// KeyProfile is the Namespace label that selects a policy profile.
	KeyProfile = Prefix + "profile"
)

// NginxPrefix is the prefix of the ingress-nginx annotations.
const NginxPrefix = "nginx.ingress.kubernetes.io/"

// The ingress-nginx canary annotations. No other canary-… annotation exists
// in ingress-nginx; any other key with that prefix is a typo.
const (
	NginxCanary              = NginxPrefix + "canary"
	NginxWeight              = NginxPrefix + "canary-weight"
	NginxWeightTotal         = NginxPrefix + "canary-weight-total"
	NginxHeader              = NginxPrefix + "canary-by-header"
	NginxHeaderValue         = NginxPrefix + "canary-by-header-value"
	NginxHeaderPattern       = NginxPrefix + "canary-by-header-pattern"
	NginxCookie              = NginxPrefix + "canary-by-cookie"
	NginxAffinityCanaryBehav = NginxPrefix + "affinity-canary-behavior"
)

// KServe keys.
const (
	// LabelInferenceService is the pod label KServe sets to the
	// InferenceService name; model Services select on it.
	LabelInferenceService = "serving.kserve.io/inferenceservice"
	// LabelApp carries KServe's predictor selector value isvc.<name>-predictor.
	LabelApp = "app"
	// IngressClassAnnotation is the legacy class annotation, read when
	// spec.ingressClassName is empty.
	IngressClassAnnotation = "kubernetes.io/ingress.class"
)

// DeclarationKeys are the keys of the canary declaration, in the order they
// are documented.
var DeclarationKeys = []string{
	KeyStable, KeyWeight, KeyWeightTotal, KeyHeader, KeyHeaderValue,
	KeyHeaderPattern, KeyCookie, KeyVerified,
}

// StampKeys are the keys only the mutating webhook may write.
var StampKeys = []string{
	StampVerifiedBy, StampVerifiedAt, StampVerifiedGeneration,
	StampCanarySince, StampSource, StampPreviousISVC, StampPreviousGeneration,
}

// NginxCanaryKeys are every canary annotation ingress-nginx knows.
var NginxCanaryKeys = []string{
	NginxCanary, NginxWeight, NginxWeightTotal, NginxHeader, NginxHeaderValue,
	NginxHeaderPattern, NginxCookie, NginxAffinityCanaryBehav,
}

// Vocabulary returns every key above by a stable short name, the form the
// policies receive under data.canarygate.builtin.vocab.
func Vocabulary() map[string]any {
	return map[string]any{
		"prefix":                  Prefix,
		"stable":                  KeyStable,
		"weight":                  KeyWeight,
		"weight_total":            KeyWeightTotal,
		"header":                  KeyHeader,
		"header_value":            KeyHeaderValue,
		"header_pattern":          KeyHeaderPattern,
		"cookie":                  KeyCookie,
		"verified":                KeyVerified,
		"verified_by":             StampVerifiedBy,
		"verified_at":             StampVerifiedAt,
		"verified_generation":     StampVerifiedGeneration,
		"canary_since":            StampCanarySince,
		"source":                  StampSource,
		"previous_isvc":           StampPreviousISVC,
		"previous_generation":     StampPreviousGeneration,
		"inject":                  KeyInject,
		"override_reason":         KeyOverrideReason,
		"profile":                 KeyProfile,
		"nginx_prefix":            NginxPrefix,
		"nginx_canary":            NginxCanary,
		"nginx_weight":            NginxWeight,
		"nginx_weight_total":      NginxWeightTotal,
		"nginx_header":            NginxHeader,
		"nginx_header_value":      NginxHeaderValue,
		"nginx_header_pattern":    NginxHeaderPattern,
		"nginx_cookie":            NginxCookie,
		"nginx_affinity_behavior": NginxAffinityCanaryBehav,
		"isvc_label":              LabelInferenceService,
		"declaration_keys":        toAny(DeclarationKeys),
		"stamp_keys":              toAny(StampKeys),
		"nginx_canary_keys":       toAny(NginxCanaryKeys),
		"charset_basic":           CharsetBasic,
		"charset_pattern":         CharsetPattern,
	}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// Character sets ingress-nginx accepts for the canary annotations (its
// annotation parser's validators). A value outside them is silently replaced
// by the empty default by the controller.
const (
	// CharsetBasic applies to canary-by-header, canary-by-header-value and
	// canary-by-cookie.
	CharsetBasic = `^[a-zA-Z0-9/._~:-]*$`
	// CharsetPattern applies to canary-by-header-pattern: the basic set plus
	// regex punctuation, still without spaces or commas.
	CharsetPattern = `^[a-zA-Z0-9/._~:^$\[\](){}*+?&=\\|-]*$`
)
