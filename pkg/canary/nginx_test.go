package canary_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/canarygate/canarygate/pkg/canary"
)

func TestFromNginx(t *testing.T) {
	// on returns annotations with canary: "true" plus kv pairs.
	on := func(kv ...string) map[string]string {
		m := map[string]string{canary.NginxCanary: "true"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	def := canary.Spec{WeightTotal: 100}
	tests := map[string]struct {
		annotations map[string]string
		want        canary.Spec
		enabled     bool
	}{
		"no annotations: not a canary, default strategy": {
			annotations: nil, want: def,
		},
		`canary "true" enables`: {
			annotations: on(), want: def, enabled: true,
		},
		`canary "1" enables (strconv.ParseBool)`: {
			annotations: map[string]string{canary.NginxCanary: "1"}, want: def, enabled: true,
		},
		`canary "t" enables`: {
			annotations: map[string]string{canary.NginxCanary: "t"}, want: def, enabled: true,
		},
		`canary "TRUE" enables`: {
			annotations: map[string]string{canary.NginxCanary: "TRUE"}, want: def, enabled: true,
		},
		`canary "yes" is invalid and does not enable`: {
			annotations: map[string]string{canary.NginxCanary: "yes", canary.NginxWeight: "50"},
			want:        canary.Spec{Weight: 50, WeightTotal: 100},
		},
		`canary " true" is invalid (no trimming for booleans)`: {
			annotations: map[string]string{canary.NginxCanary: " true"}, want: def,
		},
		`canary "false" with a weight is configured but not enabled; the strategy is still returned`: {
			annotations: map[string]string{canary.NginxCanary: "false", canary.NginxWeight: "20"},
			want:        canary.Spec{Weight: 20, WeightTotal: 100},
		},
		"weight 20 is read": {
			annotations: on(canary.NginxWeight, "20"), want: canary.Spec{Weight: 20, WeightTotal: 100}, enabled: true,
		},
		`weight "abc" becomes 0`: {
			annotations: on(canary.NginxWeight, "abc"), want: def, enabled: true,
		},
		`weight "50%" becomes 0`: {
			annotations: on(canary.NginxWeight, "50%"), want: def, enabled: true,
		},
		`weight "5.5" becomes 0`: {
			annotations: on(canary.NginxWeight, "5.5"), want: def, enabled: true,
		},
		`weight " 50" becomes 0`: {
			annotations: on(canary.NginxWeight, " 50"), want: def, enabled: true,
		},
		`weight "" becomes 0`: {
			annotations: on(canary.NginxWeight, ""), want: def, enabled: true,
		},
		`weight beyond int range becomes 0`: {
			annotations: on(canary.NginxWeight, "99999999999999999999"), want: def, enabled: true,
		},
		`weight "-5" is accepted as written`: {
			annotations: on(canary.NginxWeight, "-5"), want: canary.Spec{Weight: -5, WeightTotal: 100}, enabled: true,
		},
		`weight "+5" is accepted by strconv.Atoi`: {
			annotations: on(canary.NginxWeight, "+5"), want: canary.Spec{Weight: 5, WeightTotal: 100}, enabled: true,
		},
		`weight "150" is accepted as written (and is full)`: {
			annotations: on(canary.NginxWeight, "150"), want: canary.Spec{Weight: 150, WeightTotal: 100}, enabled: true,
		},
		`total "abc" becomes 100`: {
			annotations: on(canary.NginxWeightTotal, "abc"), want: def, enabled: true,
		},
		`total "1000" is read`: {
			annotations: on(canary.NginxWeight, "5", canary.NginxWeightTotal, "1000"),
			want:        canary.Spec{Weight: 5, WeightTotal: 1000}, enabled: true,
		},
		`total "50" is kept as written (EffectiveTotal makes it 100)`: {
			annotations: on(canary.NginxWeightTotal, "50"), want: canary.Spec{WeightTotal: 50}, enabled: true,
		},
		`total "0" is read as 100, never 0`: {
			annotations: on(canary.NginxWeightTotal, "0"), want: def, enabled: true,
		},
		`total "-5" is kept as written`: {
			annotations: on(canary.NginxWeightTotal, "-5"), want: canary.Spec{WeightTotal: -5}, enabled: true,
		},
		"the reference scenario's header rule (step 3a) is read": {
			annotations: on(canary.NginxHeader, "foo", canary.NginxHeaderValue, "bar"),
			want:        canary.Spec{WeightTotal: 100, Header: "foo", HeaderValue: "bar"}, enabled: true,
		},
		"every basic character is accepted in a header": {
			annotations: on(canary.NginxHeader, "aZ09/._~:-"),
			want:        canary.Spec{WeightTotal: 100, Header: "aZ09/._~:-"}, enabled: true,
		},
		`a header with "=" becomes ""`: {
			annotations: on(canary.NginxHeader, "X=1"), want: def, enabled: true,
		},
		`a header value with "=" becomes ""`: {
			annotations: on(canary.NginxHeader, "foo", canary.NginxHeaderValue, "a=b"),
			want:        canary.Spec{WeightTotal: 100, Header: "foo"}, enabled: true,
		},
		`a header value with "," or "*" becomes ""`: {
			annotations: on(canary.NginxHeaderValue, "a,b*"), want: def, enabled: true,
		},
		"a header with a tab becomes \"\"": {
			annotations: on(canary.NginxHeader, "X-Canary\t"), want: def, enabled: true,
		},
		"a header with a newline becomes \"\"": {
			annotations: on(canary.NginxHeader, "X-Canary\nHost"), want: def, enabled: true,
		},
		"a non-ASCII header becomes \"\"": {
			annotations: on(canary.NginxHeader, "X-Canäry"), want: def, enabled: true,
		},
		"spaces around a header are trimmed (the controller validates without spaces, then trims)": {
			annotations: on(canary.NginxHeader, " User-Agent "),
			want:        canary.Spec{WeightTotal: 100, Header: "User-Agent"}, enabled: true,
		},
		"an inner space in a header value survives, as in the controller": {
			annotations: on(canary.NginxHeaderValue, "a b"),
			want:        canary.Spec{WeightTotal: 100, HeaderValue: "a b"}, enabled: true,
		},
		"a cookie of spaces only becomes \"\"": {
			annotations: on(canary.NginxCookie, "   "), want: def, enabled: true,
		},
		`a cookie with ";" becomes ""`: {
			annotations: on(canary.NginxCookie, "a;b"), want: def, enabled: true,
		},
		"a cookie is read": {
			annotations: on(canary.NginxCookie, "canary"), want: canary.Spec{WeightTotal: 100, Cookie: "canary"}, enabled: true,
		},
		"a regex pattern is read without being compiled": {
			annotations: on(canary.NginxHeader, "X-Canary", canary.NginxHeaderPattern, `^(a|b)[0-9]{2}$\\+?&=*`),
			want:        canary.Spec{WeightTotal: 100, Header: "X-Canary", HeaderPattern: `^(a|b)[0-9]{2}$\\+?&=*`}, enabled: true,
		},
		"a PCRE-only pattern is kept: nginx, not Go, compiles it": {
			annotations: on(canary.NginxHeaderPattern, `^(?=x).*`),
			want:        canary.Spec{WeightTotal: 100, HeaderPattern: `^(?=x).*`}, enabled: true,
		},
		`a pattern with a space becomes ""`: {
			annotations: on(canary.NginxHeaderPattern, "a b"), want: def, enabled: true,
		},
		`a pattern with a leading space becomes "" (patterns are not trimmed)`: {
			annotations: on(canary.NginxHeaderPattern, " .*"), want: def, enabled: true,
		},
		`a pattern with a comma becomes ""`: {
			annotations: on(canary.NginxHeaderPattern, "a{1,2}"), want: def, enabled: true,
		},
		"unrelated annotations are ignored": {
			annotations: on("nginx.ingress.kubernetes.io/canary-by-header-vaule", "x", canary.NginxAffinityCanaryBehav, "legacy"),
			want:        def, enabled: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, enabled := canary.FromNginx(tc.annotations)
			if got != tc.want || enabled != tc.enabled {
				t.Errorf("FromNginx() = %+v, %v; want %+v, %v", got, enabled, tc.want, tc.enabled)
			}
			if got.WeightTotal == 0 {
				t.Error("FromNginx returned a zero WeightTotal")
			}
		})
	}
}

func TestNginx(t *testing.T) {
	tests := map[string]struct {
		spec canary.Spec
		want map[string]string
	}{
		"the zero Spec renders nothing": {
			spec: canary.Spec{}, want: map[string]string{},
		},
		"weight 0 and total 100 are defaults and omitted": {
			spec: canary.Spec{Weight: 0, WeightTotal: 100}, want: map[string]string{},
		},
		"the reference scenario's weight (step 3b)": {
			spec: canary.Spec{Weight: 20, WeightTotal: 100},
			want: map[string]string{canary.NginxWeight: "20"},
		},
		"a total other than 100 is written": {
			spec: canary.Spec{Weight: 5, WeightTotal: 1000},
			want: map[string]string{canary.NginxWeight: "5", canary.NginxWeightTotal: "1000"},
		},
		"a total below 100 is written as it is": {
			spec: canary.Spec{WeightTotal: 50},
			want: map[string]string{canary.NginxWeightTotal: "50"},
		},
		"a negative weight is written as it is": {
			spec: canary.Spec{Weight: -5},
			want: map[string]string{canary.NginxWeight: "-5"},
		},
		"every string field is written": {
			spec: canary.Spec{Header: "foo", HeaderValue: "bar", HeaderPattern: "^b.*", Cookie: "c"},
			want: map[string]string{
				canary.NginxHeader: "foo", canary.NginxHeaderValue: "bar",
				canary.NginxHeaderPattern: "^b.*", canary.NginxCookie: "c",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := tc.spec.Nginx()
			if !maps.Equal(got, tc.want) {
				t.Errorf("Nginx() = %v, want %v", got, tc.want)
			}
			for k := range got {
				if !slices.Contains(canary.StrategyKeys, k) {
					t.Errorf("Nginx() wrote %s, which is not in StrategyKeys", k)
				}
			}
		})
	}
}

func TestStrategyKeysAreTheCanaryKeysExceptOptInAndAffinity(t *testing.T) {
	var want []string
	for _, k := range canary.NginxCanaryKeys {
		if k != canary.NginxCanary && k != canary.NginxAffinityCanaryBehav {
			want = append(want, k)
		}
	}
	if !slices.Equal(canary.StrategyKeys, want) {
		t.Errorf("StrategyKeys = %v, want %v", canary.StrategyKeys, want)
	}
}

// validNginxSpecs are Specs the controller accepts and FromNginx returns
// unchanged: WeightTotal never 0, strings within the controller's character
// sets and without leading or trailing spaces.
var validNginxSpecs = map[string]canary.Spec{
	"default":                    {WeightTotal: 100},
	"weight 20":                  {Weight: 20, WeightTotal: 100},
	"full weight":                {Weight: 100, WeightTotal: 100},
	"weight above total":         {Weight: 150, WeightTotal: 100},
	"negative weight":            {Weight: -5, WeightTotal: 100},
	"per mille":                  {Weight: 5, WeightTotal: 1000},
	"total below 100":            {Weight: 5, WeightTotal: 50},
	"negative total":             {WeightTotal: -1},
	"header and value":           {WeightTotal: 100, Header: "foo", HeaderValue: "bar"},
	"header and pattern":         {WeightTotal: 100, Header: "User-Agent", HeaderPattern: `^.*(iPhone|Android)\s?$`},
	"value without header":       {WeightTotal: 100, HeaderValue: "orphan"},
	"cookie and weight":          {Weight: 10, WeightTotal: 100, Cookie: "canary_opt-in"},
	"inner space in a value":     {WeightTotal: 100, HeaderValue: "a b"},
	"everything":                 {Weight: 1, WeightTotal: 10000, Header: "x:y/z", HeaderValue: "~1.0", HeaderPattern: "a|b", Cookie: "c"},
	"largest weight and total":   {Weight: 1<<31 - 1, WeightTotal: 1<<31 - 1},
	"smallest weight, odd total": {Weight: -1 << 31, WeightTotal: 101},
}

func TestNginxRoundTrip(t *testing.T) {
	for name, s := range validNginxSpecs {
		t.Run(name, func(t *testing.T) {
			assertNginxRoundTrip(t, s)
		})
	}
}

// assertNginxRoundTrip checks FromNginx(s.Nginx() + canary: "true") == (s, true).
func assertNginxRoundTrip(t *testing.T, s canary.Spec) {
	t.Helper()
	a := s.Nginx()
	if _, ok := a[canary.NginxCanary]; ok {
		t.Fatalf("Nginx() wrote the canary opt-in: %v", a)
	}
	a[canary.NginxCanary] = "true"
	got, enabled := canary.FromNginx(a)
	if got != s || !enabled {
		t.Errorf("FromNginx(%v) = %+v, %v; want %+v, true", a, got, enabled, s)
	}
}
