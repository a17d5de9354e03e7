package canary_test

import (
	"maps"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/canarygate/canarygate/pkg/canary"
)

func TestFromKeys(t *testing.T) {
	def := canary.Spec{WeightTotal: 100}
	// weightReason is the reason for a weight outside 0..total.
	weightReason := func(total int) string {
		return "must be an integer between 0 and the total (" + strconv.Itoa(total) + ")"
	}
	tests := map[string]fromKeysCase{
		"no keys: not a canary": {
			want: canary.Declaration{Spec: def, Keys: map[string]string{}, FromLabel: map[string]bool{}},
		},
		"the reference scenario's canary, declared with labels": {
			labels: map[string]string{
				canary.KeyStable: "model-v1", canary.KeyHeader: "foo", canary.KeyHeaderValue: "bar",
				"app": "unrelated",
			},
			want: canary.Declaration{
				Stable: "model-v1",
				Spec:   canary.Spec{WeightTotal: 100, Header: "foo", HeaderValue: "bar"},
				Keys:   map[string]string{canary.KeyStable: "model-v1", canary.KeyHeader: "foo", canary.KeyHeaderValue: "bar"},
				FromLabel: map[string]bool{
					canary.KeyStable: true, canary.KeyHeader: true, canary.KeyHeaderValue: true,
				},
			},
		},
		"a label declares the canary and an annotation sets weight and verification": {
			labels: map[string]string{canary.KeyStable: "model-v1"},
			annotations: map[string]string{
				canary.KeyWeight: "20", canary.KeyWeightTotal: "1000", canary.KeyVerified: "true",
				canary.KeyHeaderPattern: "^(a|b)$", canary.KeyCookie: "canary",
			},
			want: canary.Declaration{
				Stable:   "model-v1",
				Spec:     canary.Spec{Weight: 20, WeightTotal: 1000, HeaderPattern: "^(a|b)$", Cookie: "canary"},
				Verified: true,
				Keys: map[string]string{
					canary.KeyStable: "model-v1", canary.KeyWeight: "20", canary.KeyWeightTotal: "1000",
					canary.KeyVerified: "true", canary.KeyHeaderPattern: "^(a|b)$", canary.KeyCookie: "canary",
				},
				FromLabel: map[string]bool{canary.KeyStable: true},
			},
		},
		"an annotation wins over a label with the same key, and says so": {
			labels:      map[string]string{canary.KeyWeight: "10", canary.KeyStable: "old"},
			annotations: map[string]string{canary.KeyWeight: "30", canary.KeyStable: "model-v1"},
			want: canary.Declaration{
				Stable:    "model-v1",
				Spec:      canary.Spec{Weight: 30, WeightTotal: 100},
				Keys:      map[string]string{canary.KeyWeight: "30", canary.KeyStable: "model-v1"},
				FromLabel: map[string]bool{},
			},
			problems: []canary.Problem{
				{Key: canary.KeyStable, Value: "model-v1", Both: true},
				{Key: canary.KeyWeight, Value: "30", Both: true},
			},
		},
		"the same value as label and annotation is still reported": {
			labels:      map[string]string{canary.KeyVerified: "false"},
			annotations: map[string]string{canary.KeyVerified: "false"},
			want: canary.Declaration{
				Spec: def, Keys: map[string]string{canary.KeyVerified: "false"}, FromLabel: map[string]bool{},
			},
			problems: []canary.Problem{{Key: canary.KeyVerified, Value: "false", Both: true}},
		},
		"a winning annotation is still validated": {
			labels:      map[string]string{canary.KeyWeight: "10"},
			annotations: map[string]string{canary.KeyWeight: "ten"},
			want: canary.Declaration{
				Spec: def, Keys: map[string]string{canary.KeyWeight: "ten"}, FromLabel: map[string]bool{},
			},
			problems: []canary.Problem{
				{Key: canary.KeyWeight, Value: "ten", Both: true},
				{Key: canary.KeyWeight, Value: "ten", Reason: weightReason(100)},
			},
		},
		"weight 0 and weight equal to the total are valid": {
			annotations: map[string]string{canary.KeyWeight: "100"},
			want: canary.Declaration{
				Spec: canary.Spec{Weight: 100, WeightTotal: 100}, Keys: map[string]string{canary.KeyWeight: "100"}, FromLabel: map[string]bool{},
			},
		},
		`weight "+20" is a problem`:             weightProblem("+20", weightReason(100)),
		`weight " 20" is a problem`:             weightProblem(" 20", weightReason(100)),
		`weight "20%" is a problem`:             weightProblem("20%", weightReason(100)),
		`weight "5.5" is a problem`:             weightProblem("5.5", weightReason(100)),
		`weight "-5" is a problem`:              weightProblem("-5", weightReason(100)),
		`weight "" is a problem`:                weightProblem("", weightReason(100)),
		`weight "101" is a problem`:             weightProblem("101", weightReason(100)),
		`weight "0x10" is a problem`:            weightProblem("0x10", weightReason(100)),
		`a weight overflowing int is a problem`: weightProblem("99999999999999999999", weightReason(100)),
		"weight is bounded by a declared total": {
			annotations: map[string]string{canary.KeyWeight: "1001", canary.KeyWeightTotal: "1000"},
			want: canary.Declaration{
				Spec:      canary.Spec{WeightTotal: 1000},
				Keys:      map[string]string{canary.KeyWeight: "1001", canary.KeyWeightTotal: "1000"},
				FromLabel: map[string]bool{},
			},
			problems: []canary.Problem{{Key: canary.KeyWeight, Value: "1001", Reason: weightReason(1000)}},
		},
		"an invalid total is reported and the weight is bounded by 100": {
			annotations: map[string]string{canary.KeyWeight: "50", canary.KeyWeightTotal: "50"},
			want: canary.Declaration{
				Spec:      canary.Spec{Weight: 50, WeightTotal: 100},
				Keys:      map[string]string{canary.KeyWeight: "50", canary.KeyWeightTotal: "50"},
				FromLabel: map[string]bool{},
			},
			problems: []canary.Problem{{Key: canary.KeyWeightTotal, Value: "50", Reason: totalReason}},
		},
		`total "abc" is a problem`:   totalProblem("abc"),
		`total "0" is a problem`:     totalProblem("0"),
		`total "99" is a problem`:    totalProblem("99"),
		`total "+1000" is a problem`: totalProblem("+1000"),
		`total "" is a problem`:      totalProblem(""),
		`header "X=1" is a problem`:  stringProblem(canary.KeyHeader, "X=1", basicReason),
		`header "X Canary" is a problem (no space trickery in our own keys)`: stringProblem(canary.KeyHeader, "X Canary", basicReason),
		`header-value "a,b" is a problem`:                                    stringProblem(canary.KeyHeaderValue, "a,b", basicReason),
		`cookie "a;b" is a problem`:                                          stringProblem(canary.KeyCookie, "a;b", basicReason),
		`header-pattern "a b" is a problem`:                                  stringProblem(canary.KeyHeaderPattern, "a b", patternCharsReason),
		`header-pattern "a{1,2}" is a problem`:                               stringProblem(canary.KeyHeaderPattern, "a{1,2}", patternCharsReason),
		`header-pattern "(" does not compile`: {
			annotations: map[string]string{canary.KeyHeaderPattern: "("},
			want: canary.Declaration{
				Spec: def, Keys: map[string]string{canary.KeyHeaderPattern: "("}, FromLabel: map[string]bool{},
			},
			problems:       []canary.Problem{{Key: canary.KeyHeaderPattern, Value: "("}},
			reasonContains: []string{"does not compile as a Go (RE2) regular expression", "missing closing )"},
		},
		"a PCRE lookahead does not compile in Go": {
			annotations: map[string]string{canary.KeyHeaderPattern: "^(?=a)"},
			want: canary.Declaration{
				Spec: def, Keys: map[string]string{canary.KeyHeaderPattern: "^(?=a)"}, FromLabel: map[string]bool{},
			},
			problems:       []canary.Problem{{Key: canary.KeyHeaderPattern, Value: "^(?=a)"}},
			reasonContains: []string{"invalid or unsupported Perl syntax"},
		},
		"header-pattern as a label is a problem (annotation only)": {
			labels: map[string]string{canary.KeyHeaderPattern: "abc"},
			want: canary.Declaration{
				Spec:      def,
				Keys:      map[string]string{canary.KeyHeaderPattern: "abc"},
				FromLabel: map[string]bool{canary.KeyHeaderPattern: true},
			},
			problems: []canary.Problem{{Key: canary.KeyHeaderPattern, Value: "abc", Reason: patternLabelReason}},
		},
		"header-pattern as label and annotation: the annotation is used": {
			labels:      map[string]string{canary.KeyHeaderPattern: "abc"},
			annotations: map[string]string{canary.KeyHeaderPattern: "^a.c$"},
			want: canary.Declaration{
				Spec:      canary.Spec{WeightTotal: 100, HeaderPattern: "^a.c$"},
				Keys:      map[string]string{canary.KeyHeaderPattern: "^a.c$"},
				FromLabel: map[string]bool{},
			},
			problems: []canary.Problem{{Key: canary.KeyHeaderPattern, Value: "^a.c$", Both: true}},
		},
		`verified "True" is a problem`: stringProblem(canary.KeyVerified, "True", verifiedReason),
		`verified "yes" is a problem`:  stringProblem(canary.KeyVerified, "yes", verifiedReason),
		`verified "false" is valid and not verified`: {
			annotations: map[string]string{canary.KeyVerified: "false"},
			want: canary.Declaration{
				Spec: def, Keys: map[string]string{canary.KeyVerified: "false"}, FromLabel: map[string]bool{},
			},
		},
		"empty strings mean unset and are valid": {
			annotations: map[string]string{canary.KeyStable: "", canary.KeyHeader: "", canary.KeyHeaderPattern: "", canary.KeyCookie: ""},
			want: canary.Declaration{
				Spec: def,
				Keys: map[string]string{
					canary.KeyStable: "", canary.KeyHeader: "", canary.KeyHeaderPattern: "", canary.KeyCookie: "",
				},
				FromLabel: map[string]bool{},
			},
		},
		"every problem at once, in declaration key order": {
			labels: map[string]string{canary.KeyHeaderPattern: "x", canary.KeyStable: "a"},
			annotations: map[string]string{
				canary.KeyStable: "b", canary.KeyWeight: "-1", canary.KeyWeightTotal: "10",
				canary.KeyHeader: "a b", canary.KeyHeaderValue: "*", canary.KeyCookie: "=", canary.KeyVerified: "1",
			},
			want: canary.Declaration{
				Stable: "b",
				Spec:   def,
				Keys: map[string]string{
					canary.KeyStable: "b", canary.KeyWeight: "-1", canary.KeyWeightTotal: "10",
					canary.KeyHeader: "a b", canary.KeyHeaderValue: "*", canary.KeyHeaderPattern: "x",
					canary.KeyCookie: "=", canary.KeyVerified: "1",
				},
				FromLabel: map[string]bool{canary.KeyHeaderPattern: true},
			},
			problems: []canary.Problem{
				{Key: canary.KeyStable, Value: "b", Both: true},
				{Key: canary.KeyWeight, Value: "-1", Reason: weightReason(100)},
				{Key: canary.KeyWeightTotal, Value: "10", Reason: totalReason},
				{Key: canary.KeyHeader, Value: "a b", Reason: basicReason},
				{Key: canary.KeyHeaderValue, Value: "*", Reason: basicReason},
				{Key: canary.KeyHeaderPattern, Value: "x", Reason: patternLabelReason},
				{Key: canary.KeyCookie, Value: "=", Reason: basicReason},
				{Key: canary.KeyVerified, Value: "1", Reason: verifiedReason},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, problems := canary.FromKeys(tc.labels, tc.annotations)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("FromKeys() declaration =\n  %+v\nwant\n  %+v", got, tc.want)
			}
			for _, p := range problems {
				if p.Both != (p.Reason == "") {
					t.Errorf("problem %+v: Both must be set exactly when Reason is empty", p)
				}
				if p.Reason != "" && p.Reason != strings.ToLower(p.Reason[:1])+p.Reason[1:] {
					t.Errorf("reason %q must start lower-case", p.Reason)
				}
			}
			if tc.reasonContains != nil {
				if len(problems) != 1 {
					t.Fatalf("FromKeys() problems = %+v, want exactly one", problems)
				}
				for _, s := range tc.reasonContains {
					if !strings.Contains(problems[0].Reason, s) {
						t.Errorf("reason %q does not contain %q", problems[0].Reason, s)
					}
				}
				problems[0].Reason = ""
			}
			if !reflect.DeepEqual(problems, tc.problems) {
				t.Errorf("FromKeys() problems =\n  %+v\nwant\n  %+v", problems, tc.problems)
			}
		})
	}
}

// Reasons as FromKeys words them; a change of wording must be deliberate.
const (
	totalReason        = "must be an integer of at least 100 (digits only); omit it for percentages"
	basicReason        = "may contain only letters, digits and / . _ ~ : - (the characters ingress-nginx accepts)"
	patternCharsReason = "may contain only letters, digits, / . _ ~ : - and the regex characters ^ $ [ ] ( ) { } * + ? & = \\ | (no spaces or commas; ingress-nginx drops anything else)"
	patternLabelReason = "must be an annotation, not a label; move it to metadata.annotations"
	verifiedReason     = `must be "true" or "false"`
)

// fromKeysCase is one FromKeys table case.
type fromKeysCase struct {
	labels, annotations map[string]string
	want                canary.Declaration
	problems            []canary.Problem
	// reasonContains replaces an exact Reason check for reasons that quote
	// another library's error text.
	reasonContains []string
}

// stringProblem is a case where annotation key=v is invalid for reason and
// leaves the Spec at its default.
func stringProblem(key, v, reason string) fromKeysCase {
	return fromKeysCase{
		annotations: map[string]string{key: v},
		want: canary.Declaration{
			Spec: canary.Spec{WeightTotal: 100}, Keys: map[string]string{key: v}, FromLabel: map[string]bool{},
		},
		problems: []canary.Problem{{Key: key, Value: v, Reason: reason}},
	}
}

func weightProblem(v, reason string) fromKeysCase { return stringProblem(canary.KeyWeight, v, reason) }
func totalProblem(v string) fromKeysCase {
	return stringProblem(canary.KeyWeightTotal, v, totalReason)
}

func TestKeys(t *testing.T) {
	tests := map[string]struct {
		spec canary.Spec
		want map[string]string
	}{
		"the zero Spec renders nothing": {spec: canary.Spec{}, want: map[string]string{}},
		"defaults are omitted":          {spec: canary.Spec{WeightTotal: 100}, want: map[string]string{}},
		"the reference scenario's header rule": {
			spec: canary.Spec{Header: "foo", HeaderValue: "bar", WeightTotal: 100},
			want: map[string]string{canary.KeyHeader: "foo", canary.KeyHeaderValue: "bar"},
		},
		"weight, total, pattern and cookie": {
			spec: canary.Spec{Weight: 5, WeightTotal: 1000, HeaderPattern: "^a$", Cookie: "c"},
			want: map[string]string{
				canary.KeyWeight: "5", canary.KeyWeightTotal: "1000",
				canary.KeyHeaderPattern: "^a$", canary.KeyCookie: "c",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.spec.Keys(); !maps.Equal(got, tc.want) {
				t.Errorf("Keys() = %v, want %v", got, tc.want)
			}
		})
	}
}

// validKeysSpecs are Specs FromKeys accepts: total ≥ 100, weight 0..total,
// strings in the strict character sets, a pattern that compiles.
var validKeysSpecs = map[string]canary.Spec{
	"default":              {WeightTotal: 100},
	"weight 20":            {Weight: 20, WeightTotal: 100},
	"full weight":          {Weight: 100, WeightTotal: 100},
	"per mille":            {Weight: 999, WeightTotal: 1000},
	"header and value":     {WeightTotal: 100, Header: "foo", HeaderValue: "bar"},
	"header and pattern":   {WeightTotal: 100, Header: "User-Agent", HeaderPattern: `^.*(iPhone|Android)\s?$`},
	"cookie and weight":    {Weight: 10, WeightTotal: 100, Cookie: "canary_opt-in"},
	"value without header": {WeightTotal: 100, HeaderValue: "orphan"},
	"everything":           {Weight: 1, WeightTotal: 10000, Header: "x:y/z", HeaderValue: "~1.0", HeaderPattern: "a|b", Cookie: "c"},
}

func TestKeysRoundTrip(t *testing.T) {
	for name, s := range validKeysSpecs {
		t.Run(name, func(t *testing.T) {
			assertKeysRoundTrip(t, s)
		})
	}
}

// Every Spec FromKeys accepts also survives the nginx round trip: what a
// declaration produces is what the controller reads.
func TestValidKeysSpecsAreValidForNginx(t *testing.T) {
	for name, s := range validKeysSpecs {
		t.Run(name, func(t *testing.T) {
			assertNginxRoundTrip(t, s)
		})
	}
}

// assertKeysRoundTrip checks FromKeys(nil, s.Keys()) returns s without problems.
func assertKeysRoundTrip(t *testing.T, s canary.Spec) {
	t.Helper()
	keys := s.Keys()
	d, problems := canary.FromKeys(nil, keys)
	if d.Spec != s || len(problems) != 0 {
		t.Errorf("FromKeys(nil, %v) = %+v, %+v; want %+v and no problems", keys, d.Spec, problems, s)
	}
	if !maps.Equal(d.Keys, keys) || len(d.FromLabel) != 0 {
		t.Errorf("FromKeys(nil, %v) recorded keys %v from labels %v", keys, d.Keys, d.FromLabel)
	}
}

func TestProblemString(t *testing.T) {
	tests := map[string]struct {
		p    canary.Problem
		want string
	}{
		"an invalid value quotes key, value and reason": {
			p:    canary.Problem{Key: canary.KeyWeight, Value: "150", Reason: "must be an integer between 0 and the total (100)"},
			want: `canarygate.io/weight "150" must be an integer between 0 and the total (100)`,
		},
		"a key given twice names the winning annotation": {
			p:    canary.Problem{Key: canary.KeyWeight, Value: "30", Both: true},
			want: `canarygate.io/weight is set both as a label and as an annotation; the annotation "30" wins, remove one of them`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.p.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}
