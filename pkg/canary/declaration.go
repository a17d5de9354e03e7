package canary

import (
	"fmt"
	"regexp"
	"strconv"
)

// Declaration is the canary intent read from a canary InferenceService's
// canarygate.io/ labels and annotations (DESIGN §2).
type Declaration struct {
	// Stable is the name of the stable InferenceService this one is a canary
	// of (canarygate.io/stable); "" means the object is not a canary.
	Stable string
	// Spec is the strategy the keys declare. A key with an invalid value is
	// left at its zero value (WeightTotal at 100) and reported as a Problem.
	Spec Spec
	// Verified is true only when canarygate.io/verified is exactly "true".
	// It is the claim, not the proof: the gate also checks the stamps.
	Verified bool
	// Keys holds the effective value of every declaration key present,
	// valid or not (the annotation wins over a label), so callers can diff
	// declarations and quote the value a user wrote.
	Keys map[string]string
	// FromLabel marks the keys whose effective value came from a label;
	// changing those restarts the model's pods (KServe copies labels onto the
	// pod template). Keys from annotations are absent, not false.
	FromLabel map[string]bool
}

// Problem is a value in a declaration the domain cannot use, or a key given
// twice. FromKeys never repairs silently: every value it drops is reported,
// and the caller decides whether it is a warning or a denial.
type Problem struct {
	// Key is the full key, e.g. canarygate.io/weight.
	Key string
	// Value is the value at fault; for Both, the annotation's (winning) value.
	Value string
	// Reason is lower-case and actionable, e.g. "must be an integer between
	// 0 and the total (100)"; "" when Both is set.
	Reason string
	// Both is set for a key given both as a label and as an annotation: the
	// annotation wins, and the user should remove one of them.
	Both bool
}

// String renders the Problem as a sentence fragment for a warning or denial,
// e.g. `canarygate.io/weight "150" must be an integer between 0 and the total (100)`.
func (p Problem) String() string {
	if p.Both {
		return fmt.Sprintf("%s is set both as a label and as an annotation; the annotation %q wins, remove one of them", p.Key, p.Value)
	}
	return fmt.Sprintf("%s %q %s", p.Key, p.Value, p.Reason)
}

// Reasons FromKeys gives. They are what the user sees, so each says how to
// fix the value.
const (
	reasonTotal        = "must be an integer of at least 100 (digits only); omit it for percentages"
	reasonWeightFormat = "must be an integer between 0 and the total (%d)"
	reasonBasic        = "may contain only letters, digits and / . _ ~ : - (the characters ingress-nginx accepts)"
	reasonPatternChars = "may contain only letters, digits, / . _ ~ : - and the regex characters ^ $ [ ] ( ) { } * + ? & = \\ | (no spaces or commas; ingress-nginx drops anything else)"
	reasonPatternRE2   = "does not compile as a Go (RE2) regular expression (%v); rewrite it without PCRE-only features such as lookaround or backreferences"
	reasonPatternLabel = "must be an annotation, not a label; move it to metadata.annotations"
	reasonVerified     = `must be "true" or "false"`
)

// FromKeys reads the canary declaration (DESIGN §2) from an
// InferenceService's labels and annotations. Any key may be either; when both
// carry it, the annotation wins and a Problem with Both=true says so (even
// when the values agree: the label still restarts pods when changed).
//
// Values are checked more strictly than ingress-nginx checks its own
// annotations, because canarygate renders them and must never produce a
// value the controller would silently repair. Each of these is reported as a
// Problem and left at its zero value in Spec:
//   - weight not a plain integer (digits only: "+20", " 20", "20%", "5.5",
//     "-5" are rejected) or outside 0..total, where total is the declared
//     total if valid, else 100;
//   - weight-total not a plain integer ≥ 100;
//   - header, header-value or cookie outside CharsetBasic;
//   - header-pattern outside CharsetPattern, not compiling with Go regexp
//     (PCRE-only syntax included: the caller may downgrade that to a
//     warning), or given only as a label (it is annotation only; when an
//     annotation carries it too, the annotation is used and only Both is
//     reported);
//   - verified other than "true" or "false".
//
// Empty strings are valid for header, header-value, header-pattern, cookie
// and stable and mean "unset". Problems come in DeclarationKeys order. The
// returned maps are never nil.
func FromKeys(labels, annotations map[string]string) (Declaration, []Problem) {
	d := Declaration{
		Spec:      Spec{WeightTotal: DefaultWeightTotal},
		Keys:      map[string]string{},
		FromLabel: map[string]bool{},
	}
	var problems []Problem
	for _, k := range DeclarationKeys {
		av, inAnnotation := annotations[k]
		lv, inLabel := labels[k]
		switch {
		case inAnnotation:
			d.Keys[k] = av
			if inLabel {
				problems = append(problems, Problem{Key: k, Value: av, Both: true})
			}
		case inLabel:
			d.Keys[k] = lv
			d.FromLabel[k] = true
		}
	}

	// The total bounds the weight, so read it first; report in key order.
	var totalProblem *Problem
	if v, ok := d.Keys[KeyWeightTotal]; ok {
		if n, ok := plainInt(v); ok && n >= DefaultWeightTotal {
			d.Spec.WeightTotal = n
		} else {
			totalProblem = &Problem{Key: KeyWeightTotal, Value: v, Reason: reasonTotal}
		}
	}

	for _, k := range DeclarationKeys {
		v, ok := d.Keys[k]
		if !ok {
			continue
		}
		bad := func(reason string) {
			problems = append(problems, Problem{Key: k, Value: v, Reason: reason})
		}
		switch k {
		case KeyStable:
			d.Stable = v
		case KeyWeight:
			if n, ok := plainInt(v); ok && n <= d.Spec.WeightTotal {
				d.Spec.Weight = n
			} else {
				bad(fmt.Sprintf(reasonWeightFormat, d.Spec.WeightTotal))
			}
		case KeyWeightTotal:
			if totalProblem != nil {
				problems = append(problems, *totalProblem)
			}
		case KeyHeader:
			d.Spec.Header = basicKey(v, bad)
		case KeyHeaderValue:
			d.Spec.HeaderValue = basicKey(v, bad)
		case KeyCookie:
			d.Spec.Cookie = basicKey(v, bad)
		case KeyHeaderPattern:
			d.Spec.HeaderPattern = patternKey(v, d.FromLabel[k], bad)
		case KeyVerified:
			switch v {
			case "true":
				d.Verified = true
			case "false":
			default:
				bad(reasonVerified)
			}
		}
	}
	return d, problems
}

// plainInt accepts digits only (no sign, no spaces), so a declaration can
// never depend on strconv's leniency; it fails on overflow too.
func plainInt(v string) (int, bool) {
	if v == "" {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}

func basicKey(v string, bad func(string)) string {
	if !basicChars.MatchString(v) {
		bad(reasonBasic)
		return ""
	}
	return v
}

func patternKey(v string, fromLabel bool, bad func(string)) string {
	if fromLabel {
		bad(reasonPatternLabel)
		return ""
	}
	if !patternChars.MatchString(v) {
		bad(reasonPatternChars)
		return ""
	}
	if _, err := regexp.Compile(v); err != nil {
		bad(fmt.Sprintf(reasonPatternRE2, err))
		return ""
	}
	return v
}

// Keys renders the strategy as canarygate declaration keys (KeyWeight, …),
// omitting defaults exactly like Nginx: no weight when 0, no total when 100
// or unset, no empty strings. It renders neither KeyStable nor KeyVerified,
// which are not strategy. FromKeys(nil, s.Keys()) returns s without Problems
// for any s that FromKeys accepts.
func (s Spec) Keys() map[string]string {
	return s.render(declarationStrategy)
}
