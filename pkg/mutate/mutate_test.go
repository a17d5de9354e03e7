package mutate_test

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/canarygate/canarygate/pkg/canary"
	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/mutate"
)

func TestMutateCanaryIngress(t *testing.T) {
	canaryOn := map[string]string{canary.NginxCanary: "true"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := maps.Clone(base)
		if m == nil {
			m = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	// injected is what the reference canary carries after injection.
	injected := with(canaryOn,
		canary.NginxHeader, "foo", canary.NginxHeaderValue, "bar",
		canary.StampSource, canaryIS, canary.StampCanarySince, rfc3339(now))
	unchanged := map[string]string(nil) // the request's annotations, untouched

	tests := map[string]struct {
		declaration map[string]string // canary labels of model-v2 in the facts
		extra       []any             // more facts
		ing         *networkingv1.Ingress
		want        map[string]string // exact annotations after mutation; nil: unchanged
		wantCodes   []string
		wantNotice  string // a substring of the notices
	}{
		"the reference canary takes header foo=bar from model-v2's labels, with source and canary-since stamps": {
			declaration: declaration,
			ing:         ingress("gray-release-canary", canaryOn, canarySvc),
			want:        injected,
		},
		"an explicit canary-weight that disagrees is removed, and a CG701 notice names it": {
			declaration: declaration,
			ing:         ingress("gray-release-canary", with(canaryOn, canary.NginxWeight, "50"), canarySvc),
			want:        injected,
			wantCodes:   []string{mutate.NoticeReplaced},
			wantNotice:  canary.NginxWeight + ` "50" removed`,
		},
		"an explicit header that disagrees is replaced, and a CG701 notice names it": {
			declaration: declaration,
			ing:         ingress("gray-release-canary", with(canaryOn, canary.NginxHeader, "x-other"), canarySvc),
			want:        injected,
			wantCodes:   []string{mutate.NoticeReplaced},
			wantNotice:  canary.NginxHeader + ` "x-other" → "foo"`,
		},
		"explicit annotations that agree with the declaration give no notice": {
			declaration: declaration,
			ing:         ingress("gray-release-canary", with(canaryOn, canary.NginxHeader, "foo", canary.NginxHeaderValue, "bar"), canarySvc),
			want:        injected,
		},
		"a declared weight and total are rendered as canary-weight and canary-weight-total": {
			declaration: map[string]string{canary.KeyStable: stable, canary.KeyWeight: "20", canary.KeyWeightTotal: "1000"},
			ing:         ingress("gray-release-canary", with(canaryOn, canary.NginxHeader, "foo"), canarySvc),
			want: with(canaryOn, canary.NginxWeight, "20", canary.NginxWeightTotal, "1000",
				canary.StampSource, canaryIS, canary.StampCanarySince, rfc3339(now)),
			wantCodes:  []string{mutate.NoticeReplaced},
			wantNotice: canary.NginxHeader + ` "foo" removed`,
		},
		"a declaration without strategy injects none: a source stamp but no canary-since": {
			declaration: map[string]string{canary.KeyStable: stable},
			ing:         ingress("gray-release-canary", canaryOn, canarySvc),
			want:        with(canaryOn, canary.StampSource, canaryIS),
		},
		"a key given both as label and annotation still injects (the annotation wins)": {
			extra: []any{func() any {
				is := isvcFact(canaryIS, 1, declaration)
				is.Annotations = map[string]string{canary.KeyHeaderValue: "bar"}
				return is
			}()},
			ing:  ingress("gray-release-canary", canaryOn, canarySvc),
			want: injected,
		},
		"backends through two Services that select the same InferenceService still inject": {
			declaration: declaration,
			extra:       []any{modelService("model-v2-alt", canaryIS)},
			ing:         ingress("gray-release-canary", canaryOn, canarySvc, "model-v2-alt"),
			want:        injected,
		},
		`canarygate.io/inject: "false" opts out of injection`: {
			declaration: declaration,
			ing:         ingress("gray-release-canary", with(canaryOn, canary.KeyInject, "false"), canarySvc),
			want:        unchanged,
		},
		`an opted-out canary with its own header rule gets canary-since but no source`: {
			declaration: declaration,
			ing:         ingress("gray-release-canary", with(canaryOn, canary.KeyInject, "false", canary.NginxHeader, "x-mine"), canarySvc),
			want:        with(canaryOn, canary.KeyInject, "false", canary.NginxHeader, "x-mine", canary.StampCanarySince, rfc3339(now)),
		},
		"a plain Ingress is never turned into a canary": {
			declaration: declaration,
			ing:         ingress("model-v2-direct", nil, canarySvc),
			want:        unchanged,
		},
		`canary: "yes" is not a canary (ParseBool), so nothing is injected`: {
			declaration: declaration,
			ing:         ingress("gray-release-canary", map[string]string{canary.NginxCanary: "yes"}, canarySvc),
			want:        unchanged,
		},
		"backends resolving to two different InferenceServices inject nothing": {
			declaration: declaration,
			ing:         ingress("gray-release-canary", canaryOn, canarySvc, mainSvc),
			want:        unchanged,
		},
		"backends resolving to two different InferenceServices inject nothing, whichever comes last": {
			declaration: declaration,
			ing:         ingress("gray-release-canary", canaryOn, mainSvc, canarySvc),
			want:        unchanged,
		},
		"a backend Service that does not exist yet injects nothing": {
			declaration: declaration,
			ing:         ingress("gray-release-canary", canaryOn, "not-yet-created"),
			want:        unchanged,
		},
		"a backend InferenceService that does not exist yet injects nothing": {
			declaration: declaration,
			extra:       []any{modelService("model-v3-svc", "model-v3")},
			ing:         ingress("gray-release-canary", canaryOn, "model-v3-svc"),
			want:        unchanged,
		},
		"an InferenceService that declares no canarygate.io/stable injects nothing": {
			declaration: map[string]string{canary.KeyHeader: "foo"},
			ing:         ingress("gray-release-canary", canaryOn, canarySvc),
			want:        unchanged,
		},
		"an invalid declaration injects nothing and gives a CG702 notice": {
			declaration: map[string]string{canary.KeyStable: stable, canary.KeyWeight: "abc"},
			ing:         ingress("gray-release-canary", with(canaryOn, canary.NginxWeight, "5"), canarySvc),
			want:        with(canaryOn, canary.NginxWeight, "5", canary.StampCanarySince, rfc3339(now)),
			wantCodes:   []string{mutate.NoticeNotInjected},
			wantNotice:  canary.KeyWeight + ` "abc"`,
		},
		"a canary of an ungoverned class is left alone": {
			declaration: declaration,
			ing: func() *networkingv1.Ingress {
				ing := ingress("gray-release-canary", canaryOn, canarySvc)
				ing.Spec.IngressClassName = ptr("traefik")
				return ing
			}(),
			want: unchanged,
		},
		"a request's forged source stamp on a canary without injection is removed with a CG703 notice": {
			declaration: declaration,
			ing:         ingress("gray-release-canary", with(canaryOn, canary.KeyInject, "false", canary.StampSource, "model-v9"), canarySvc),
			want:        with(canaryOn, canary.KeyInject, "false"),
			wantCodes:   []string{mutate.NoticeStampRestored},
			wantNotice:  canary.StampSource,
		},
		"a request's stale canary-since on CREATE is replaced by now with a CG703 notice": {
			declaration: declaration,
			ing:         ingress("gray-release-canary", with(canaryOn, canary.StampCanarySince, rfc3339(now.Add(-time.Hour))), canarySvc),
			want:        injected,
			wantCodes:   []string{mutate.NoticeStampRestored},
			wantNotice:  canary.StampCanarySince,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			set := scenario(tc.declaration, tc.extra...)
			obj := toUnstructured(t, tc.ing)
			orig := obj.DeepCopy()
			res, err := mutator().Mutate(t.Context(), mutate.Request{
				Operation: "CREATE", Object: obj, User: "alice", Now: now,
			}, set)
			if err != nil {
				t.Fatalf("Mutate() error = %v", err)
			}
			if !reflect.DeepEqual(obj.Object, orig.Object) {
				t.Errorf("Mutate() modified the request's object")
			}
			want := tc.want
			if want == nil {
				want = annotationsOf(orig)
				if res.Object != obj || len(res.Patch) != 0 {
					t.Errorf("Mutate() changed the object: patch %v", res.Patch)
				}
			}
			if got := annotationsOf(res.Object); !reflect.DeepEqual(got, want) {
				t.Errorf("annotations =\n%v\nwant\n%v", got, want)
			}
			wantCodes := tc.wantCodes
			if wantCodes == nil {
				wantCodes = []string{}
			}
			if got := codes(res.Notices); !reflect.DeepEqual(got, wantCodes) {
				t.Errorf("notice codes = %v, want %v (%v)", got, wantCodes, res.Notices)
			}
			if tc.wantNotice != "" && !slices.ContainsFunc(res.Notices, func(n mutate.Notice) bool {
				return strings.Contains(n.Message, tc.wantNotice)
			}) {
				t.Errorf("no notice mentions %q: %v", tc.wantNotice, res.Notices)
			}
			// Whatever changed, the patch turns the original into the result.
			if got := applyPatch(t, orig, res.Patch); jsonOf(t, got) != jsonOf(t, res.Object.Object) {
				t.Errorf("patch %v applied to the original =\n%s\nwant\n%s", res.Patch, jsonOf(t, got), jsonOf(t, res.Object.Object))
			}
		})
	}
}

func TestMutateIsIdempotent(t *testing.T) {
	type step struct {
		op   string
		old  bool // the first result is the old object too
		when time.Duration
	}
	tests := map[string]struct {
		first func(t *testing.T) (mutate.Request, *facts.Set)
		again []step
	}{
		"an injected canary Ingress": {
			first: func(t *testing.T) (mutate.Request, *facts.Set) {
				ing := ingress("gray-release-canary", map[string]string{
					canary.NginxCanary: "true", canary.NginxWeight: "50",
				}, canarySvc)
				return mutate.Request{Operation: "CREATE", Object: toUnstructured(t, ing), User: "alice", Now: now}, scenario(declaration)
			},
			again: []step{
				{op: "UPDATE", old: true, when: time.Hour},
				{op: "CREATE", when: 5 * time.Second},
			},
		},
		"a verified InferenceService": {
			first: func(t *testing.T) (mutate.Request, *facts.Set) {
				obj := isvcObject(canaryIS, 0, declaration, map[string]string{canary.KeyVerified: "true"}, nil)
				return mutate.Request{Operation: "CREATE", Object: obj, User: "alice", Now: now}, scenario(nil)
			},
			again: []step{
				{op: "UPDATE", old: true, when: time.Hour},
				{op: "CREATE", when: 5 * time.Second},
			},
		},
		"a Service switched from model-v1 to model-v2": {
			first: func(t *testing.T) (mutate.Request, *facts.Set) {
				return mutate.Request{
					Operation: "UPDATE", User: "alice", Now: now,
					Object:    toUnstructured(t, modelService(mainSvc, canaryIS)),
					OldObject: toUnstructured(t, modelService(mainSvc, stable)),
				}, scenario(nil)
			},
			again: []step{
				{op: "UPDATE", old: true, when: time.Hour},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req, set := tc.first(t)
			first, err := mutator().Mutate(t.Context(), req, set)
			if err != nil {
				t.Fatal(err)
			}
			if len(first.Patch) == 0 {
				t.Fatalf("the first mutation made no patch; the test needs one")
			}
			for _, s := range tc.again {
				again := mutate.Request{
					Operation: s.op, Object: first.Object.DeepCopy(), OldObject: req.OldObject,
					User: req.User, Now: now.Add(s.when),
				}
				if s.old {
					// A later UPDATE, by someone else, of the mutated object.
					again.OldObject = first.Object.DeepCopy()
					again.User = "bob"
				}
				res, err := mutator().Mutate(t.Context(), again, set)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Patch) != 0 || len(res.Notices) != 0 {
					t.Errorf("%s %v later: patch %v, notices %v; want none", s.op, s.when, res.Patch, res.Notices)
				}
			}
		})
	}
}

func TestMutatePatch(t *testing.T) {
	ing := ingress("gray-release-canary", map[string]string{canary.NginxCanary: "true", canary.NginxWeight: "50"}, canarySvc)
	orig := toUnstructured(t, ing)
	res, err := mutator().Mutate(t.Context(), mutate.Request{
		Operation: "CREATE", Object: orig.DeepCopy(), User: "alice", Now: now,
	}, scenario(declaration))
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]string{}
	for _, op := range res.Patch {
		byPath[op.Path] = op.Operation
		if v, ok := op.Value.(string); ok && op.Operation != "remove" {
			byPath[op.Path] += " " + v
		}
	}
	want := map[string]string{
		"/metadata/annotations/nginx.ingress.kubernetes.io~1canary-by-header":       "add foo",
		"/metadata/annotations/nginx.ingress.kubernetes.io~1canary-by-header-value": "add bar",
		"/metadata/annotations/nginx.ingress.kubernetes.io~1canary-weight":          "remove",
		"/metadata/annotations/canarygate.io~1source":                               "add " + canaryIS,
		"/metadata/annotations/canarygate.io~1canary-since":                         "add " + rfc3339(now),
	}
	if !reflect.DeepEqual(byPath, want) {
		t.Errorf("patch ops =\n%v\nwant\n%v", byPath, want)
	}
	if got := applyPatch(t, orig, res.Patch); jsonOf(t, got) != jsonOf(t, res.Object.Object) {
		t.Errorf("the patch does not turn the original into the mutated object")
	}
}

func TestMutateEmptyAnnotationsNeedNoPatch(t *testing.T) {
	// A manifest may carry `annotations: {}`; nothing to stamp means no patch.
	svc := toUnstructured(t, modelService(mainSvc, stable))
	svc.Object["metadata"].(map[string]any)["annotations"] = map[string]any{}
	res, err := mutator().Mutate(t.Context(), mutate.Request{
		Operation: "CREATE", Object: svc, User: "alice", Now: now,
	}, scenario(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Patch) != 0 || res.Object != svc {
		t.Errorf("patch = %v, want none", res.Patch)
	}
}

func TestMutateDeleteIsUnchanged(t *testing.T) {
	for name, obj := range map[string]func(t *testing.T) map[string]any{
		"a canary Ingress": func(t *testing.T) map[string]any {
			return toUnstructured(t, ingress("gray-release-canary", map[string]string{canary.NginxCanary: "true"}, canarySvc)).Object
		},
		"an InferenceService with a forged stamp": func(t *testing.T) map[string]any {
			return isvcObject(canaryIS, 2, nil, map[string]string{canary.KeyVerified: "true", canary.StampVerifiedBy: "mallory"}, nil).Object
		},
	} {
		t.Run(name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: obj(t)}
			orig := u.DeepCopy()
			res, err := mutator().Mutate(t.Context(), mutate.Request{
				Operation: "DELETE", Object: u, OldObject: u.DeepCopy(), User: "alice", Now: now,
			}, scenario(declaration))
			if err != nil {
				t.Fatal(err)
			}
			if res.Object != u || len(res.Patch) != 0 || len(res.Notices) != 0 {
				t.Errorf("DELETE: object %p (want %p), patch %v, notices %v", res.Object, u, res.Patch, res.Notices)
			}
			if !reflect.DeepEqual(u.Object, orig.Object) {
				t.Errorf("DELETE modified the object")
			}
		})
	}
}
