package canary

// DefaultWeightTotal is the denominator of a weight when none is written:
// weights are percentages unless canary-weight-total says otherwise.
const DefaultWeightTotal = 100

// Spec is a provider-neutral canary strategy: a weighted share of all
// traffic plus header and cookie rules that route only the clients who opt
// in. A Spec holds values as the traffic provider reads them, so it may hold
// values a person should not have written (a negative weight, a weight above
// the total, a total below 100); the methods below say what such values mean
// at request time.
type Spec struct {
	// Weight is the share of traffic routed to the canary, as the controller
	// reads it. ≤ 0 routes nothing by weight; ≥ EffectiveTotal routes all.
	Weight int
	// WeightTotal is the denominator as written; 100 when unset. FromNginx
	// and FromKeys never return 0; a Spec literal may leave it 0, which every
	// method treats as unset.
	WeightTotal int
	// Header is the request header field name ("" = no header rule).
	Header string
	// HeaderValue is the exact, case-sensitive value of Header that selects
	// the canary. It has no effect without Header.
	HeaderValue string
	// HeaderPattern is a regex (PCRE in nginx) the value of Header must
	// match. It has no effect without Header and is ignored when HeaderValue
	// is set.
	HeaderPattern string
	// Cookie is the cookie name; the values "always" and "never" select or
	// skip the canary.
	Cookie string
}

// EffectiveTotal returns the denominator traffic is actually split by:
// WeightTotal, except that a total below 100 (including unset and negative
// ones) counts as 100, because ingress-nginx's Lua balancer computes
// total = weightTotal > 100 ? weightTotal : 100.
func (s Spec) EffectiveTotal() int {
	if s.WeightTotal > DefaultWeightTotal {
		return s.WeightTotal
	}
	return DefaultWeightTotal
}

// Full reports whether all traffic goes to the canary by weight alone
// (Weight >= EffectiveTotal). A full canary is the primary of its route, so
// the gate treats making a canary full as a switch. Header and cookie rules
// are ignored: a client that sends "never" (or is pinned by session affinity)
// still reaches the main backend, but every other request goes to the
// canary, which is what makes it the primary.
func (s Spec) Full() bool {
	return s.Weight >= s.EffectiveTotal()
}

// Exposes reports whether the strategy routes anyone to the canary: a
// positive weight, a header rule or a cookie rule (the latter two route at
// least the clients that opt in with "always"). It marks the first write that
// exposes a canary (the canary-since stamp).
func (s Spec) Exposes() bool {
	return s.Weight > 0 || s.Header != "" || s.Cookie != ""
}

// IsZero reports whether the Spec carries no rule at all: weight 0, no
// header, no cookie. WeightTotal is ignored (a total alone routes nobody),
// and so are HeaderValue and HeaderPattern, which have no effect without a
// header. A negative weight is not zero: it is a value someone wrote, even if
// it routes nobody.
func (s Spec) IsZero() bool {
	return s.Weight == 0 && s.Header == "" && s.Cookie == ""
}

// strategyKeys names the six strategy fields in one vocabulary (canarygate
// declaration keys or nginx annotations), so rendering is written once.
type strategyKeys struct {
	weight, total, header, value, pattern, cookie string
}

var (
	nginxStrategy = strategyKeys{
		weight: NginxWeight, total: NginxWeightTotal, header: NginxHeader,
		value: NginxHeaderValue, pattern: NginxHeaderPattern, cookie: NginxCookie,
	}
	declarationStrategy = strategyKeys{
		weight: KeyWeight, total: KeyWeightTotal, header: KeyHeader,
		value: KeyHeaderValue, pattern: KeyHeaderPattern, cookie: KeyCookie,
	}
)

// render writes s under k's keys, omitting defaults (weight 0, total 100 or
// unset, empty strings) so that a rendered strategy carries only what differs
// from "no canary traffic".
func (s Spec) render(k strategyKeys) map[string]string {
	out := map[string]string{}
	if s.Weight != 0 {
		out[k.weight] = itoa(s.Weight)
	}
	if s.WeightTotal != 0 && s.WeightTotal != DefaultWeightTotal {
		out[k.total] = itoa(s.WeightTotal)
	}
	for key, v := range map[string]string{
		k.header: s.Header, k.value: s.HeaderValue,
		k.pattern: s.HeaderPattern, k.cookie: s.Cookie,
	} {
		if v != "" {
			out[key] = v
		}
	}
	return out
}
