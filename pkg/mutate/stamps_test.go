package mutate_test

import (
	"maps"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/canarygate/canarygate/pkg/canary"
	"github.com/canarygate/canarygate/pkg/mutate"
)

// stampsOf returns the values of the given stamp keys the object carries.
func stampsOf(u *unstructured.Unstructured, keys ...string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		if v, ok := u.GetAnnotations()[k]; ok {
			out[k] = v
		}
	}
	return out
}

var verificationStamps = []string{canary.StampVerifiedBy, canary.StampVerifiedAt, canary.StampVerifiedGeneration}

func verified(by, at, gen string) map[string]string {
	return map[string]string{
		canary.StampVerifiedBy: by, canary.StampVerifiedAt: at, canary.StampVerifiedGeneration: gen,
	}
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

func TestMutateVerificationStamps(t *testing.T) {
	t0 := rfc3339(now.Add(-24 * time.Hour))
	yes := map[string]string{canary.KeyVerified: "true"}
	bobs := verified("bob", t0, "2")
	tests := map[string]struct {
		op        string
		old, obj  *unstructured.Unstructured
		want      map[string]string
		wantCodes []string
	}{
		"CREATE with verified: true writes user, now and generation 1": {
			op:   "CREATE",
			obj:  isvcObject(canaryIS, 0, declaration, yes, nil),
			want: verified("alice", rfc3339(now), "1"),
		},
		"verified given as a label works too": {
			op:   "CREATE",
			obj:  isvcObject(canaryIS, 0, merge(declaration, yes), nil, nil),
			want: verified("alice", rfc3339(now), "1"),
		},
		"CREATE without verified writes nothing": {
			op:   "CREATE",
			obj:  isvcObject(canaryIS, 0, declaration, nil, nil),
			want: map[string]string{},
		},
		`CREATE with verified: "false" and a forged verified-by drops it with a CG703 notice`: {
			op:        "CREATE",
			obj:       isvcObject(canaryIS, 0, declaration, map[string]string{canary.KeyVerified: "false", canary.StampVerifiedBy: "mallory"}, nil),
			want:      map[string]string{},
			wantCodes: []string{mutate.NoticeStampRestored},
		},
		"UPDATE verifying without a spec change stamps the old generation": {
			op:   "UPDATE",
			old:  isvcObject(canaryIS, 4, declaration, nil, nil),
			obj:  isvcObject(canaryIS, 4, declaration, yes, nil),
			want: verified("alice", rfc3339(now), "4"),
		},
		"UPDATE verifying with a label change only stamps the old generation": {
			op:   "UPDATE",
			old:  isvcObject(canaryIS, 4, declaration, nil, nil),
			obj:  isvcObject(canaryIS, 4, merge(declaration, yes, map[string]string{"team": "ml"}), nil, nil),
			want: verified("alice", rfc3339(now), "4"),
		},
		"UPDATE verifying with a spec change stamps the old generation plus one": {
			op:   "UPDATE",
			old:  isvcObject(canaryIS, 4, declaration, nil, nil),
			obj:  isvcObject(canaryIS, 4, declaration, yes, predictor("xgboost")),
			want: verified("alice", rfc3339(now), "5"),
		},
		"UPDATE of an already verified object copies the stamps and restores a forged verified-by": {
			op:        "UPDATE",
			old:       isvcObject(canaryIS, 2, declaration, merge(yes, bobs), nil),
			obj:       isvcObject(canaryIS, 2, declaration, merge(yes, bobs, map[string]string{canary.StampVerifiedBy: "mallory"}), nil),
			want:      bobs,
			wantCodes: []string{mutate.NoticeStampRestored},
		},
		"UPDATE of an already verified object copies stamps the request dropped, without a notice": {
			op:   "UPDATE",
			old:  isvcObject(canaryIS, 2, declaration, merge(yes, bobs), nil),
			obj:  isvcObject(canaryIS, 2, declaration, yes, nil),
			want: bobs,
		},
		"UPDATE of an already verified object keeps the stamps when the spec changes (the verification goes stale)": {
			op:   "UPDATE",
			old:  isvcObject(canaryIS, 2, declaration, merge(yes, bobs), nil),
			obj:  isvcObject(canaryIS, 2, declaration, merge(yes, bobs), predictor("xgboost")),
			want: bobs,
		},
		"moving verified from a label to an annotation is not a new verification": {
			op:   "UPDATE",
			old:  isvcObject(canaryIS, 2, merge(declaration, yes), bobs, nil),
			obj:  isvcObject(canaryIS, 2, declaration, merge(yes, bobs), nil),
			want: bobs,
		},
		"removing verified keeps the old stamps": {
			op:   "UPDATE",
			old:  isvcObject(canaryIS, 2, declaration, merge(yes, bobs), nil),
			obj:  isvcObject(canaryIS, 2, declaration, bobs, nil),
			want: bobs,
		},
		"verifying again after removing verified writes all three stamps anew, even when the request carries the old ones": {
			op:   "UPDATE",
			old:  isvcObject(canaryIS, 4, declaration, bobs, nil),
			obj:  isvcObject(canaryIS, 4, declaration, merge(yes, bobs), nil),
			want: verified("alice", rfc3339(now), "4"),
		},
		"a verified-at within the tolerance of now is kept (reinvocation)": {
			op:   "UPDATE",
			old:  isvcObject(canaryIS, 4, declaration, nil, nil),
			obj:  isvcObject(canaryIS, 4, declaration, merge(yes, map[string]string{canary.StampVerifiedAt: rfc3339(now.Add(-10 * time.Second))}), nil),
			want: verified("alice", rfc3339(now.Add(-10*time.Second)), "4"),
		},
		"a verified-at outside the tolerance is replaced by now with a CG703 notice": {
			op:        "UPDATE",
			old:       isvcObject(canaryIS, 4, declaration, nil, nil),
			obj:       isvcObject(canaryIS, 4, declaration, merge(yes, map[string]string{canary.StampVerifiedAt: rfc3339(now.Add(-time.Hour))}), nil),
			want:      verified("alice", rfc3339(now), "4"),
			wantCodes: []string{mutate.NoticeStampRestored},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res, err := mutator().Mutate(t.Context(), mutate.Request{
				Operation: tc.op, Object: tc.obj, OldObject: tc.old, User: "alice", Now: now,
			}, scenario(nil))
			if err != nil {
				t.Fatalf("Mutate() error = %v", err)
			}
			if got := stampsOf(res.Object, verificationStamps...); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("stamps =\n%v\nwant\n%v", got, tc.want)
			}
			wantCodes := tc.wantCodes
			if wantCodes == nil {
				wantCodes = []string{}
			}
			if got := codes(res.Notices); !reflect.DeepEqual(got, wantCodes) {
				t.Errorf("notice codes = %v, want %v (%v)", got, wantCodes, res.Notices)
			}
			if got := applyPatch(t, tc.obj, res.Patch); jsonOf(t, got) != jsonOf(t, res.Object.Object) {
				t.Errorf("the patch does not turn the request's object into the result")
			}
		})
	}
}

func TestMutateCanarySince(t *testing.T) {
	t0 := rfc3339(now.Add(-24 * time.Hour))
	canaryIng := func(kv ...string) *unstructured.Unstructured {
		a := map[string]string{canary.NginxCanary: "true", canary.KeyInject: "false"}
		for i := 0; i+1 < len(kv); i += 2 {
			a[kv[i]] = kv[i+1]
		}
		return toUnstructured(t, ingress("gray-release-canary", a, canarySvc))
	}
	since := func(v string) map[string]string { return map[string]string{canary.StampCanarySince: v} }
	tests := map[string]struct {
		op       string
		old, obj *unstructured.Unstructured
		want     map[string]string
	}{
		"CREATE of an unexposed canary stamps nothing": {
			op: "CREATE", obj: canaryIng(), want: map[string]string{},
		},
		"CREATE of a weighted canary stamps now": {
			op: "CREATE", obj: canaryIng(canary.NginxWeight, "10"), want: since(rfc3339(now)),
		},
		"CREATE of a cookie canary stamps now": {
			op: "CREATE", obj: canaryIng(canary.NginxCookie, "canary"), want: since(rfc3339(now)),
		},
		"the first UPDATE that exposes the canary stamps now": {
			op: "UPDATE", old: canaryIng(), obj: canaryIng(canary.NginxWeight, "10"), want: since(rfc3339(now)),
		},
		"an UPDATE of an exposed canary copies the old stamp the request dropped": {
			op:   "UPDATE",
			old:  canaryIng(canary.NginxWeight, "10", canary.StampCanarySince, t0),
			obj:  canaryIng(canary.NginxWeight, "20"),
			want: since(t0),
		},
		"exposing again after weight 0 stamps now, not the old exposure's time": {
			op:   "UPDATE",
			old:  canaryIng(canary.StampCanarySince, t0),
			obj:  canaryIng(canary.NginxWeight, "10", canary.StampCanarySince, t0),
			want: since(rfc3339(now)),
		},
		"a weight that is not enabled (canary: yes) in the old object did not expose it": {
			op:   "UPDATE",
			old:  toUnstructured(t, ingress("gray-release-canary", map[string]string{canary.NginxCanary: "yes", canary.NginxWeight: "10", canary.KeyInject: "false"}, canarySvc)),
			obj:  canaryIng(canary.NginxWeight, "10"),
			want: since(rfc3339(now)),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res, err := mutator().Mutate(t.Context(), mutate.Request{
				Operation: tc.op, Object: tc.obj, OldObject: tc.old, User: "alice", Now: now,
			}, scenario(declaration))
			if err != nil {
				t.Fatalf("Mutate() error = %v", err)
			}
			if got := stampsOf(res.Object, canary.StampCanarySince, canary.StampSource); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("stamps = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMutatePreviousStamps(t *testing.T) {
	prevKeys := []string{canary.StampPreviousISVC, canary.StampPreviousGeneration}
	prev := func(isvc, gen string) map[string]string {
		return map[string]string{canary.StampPreviousISVC: isvc, canary.StampPreviousGeneration: gen}
	}
	svcWith := func(isvc string, stamps map[string]string) *unstructured.Unstructured {
		s := modelService(mainSvc, isvc)
		s.Annotations = stamps
		return toUnstructured(t, s)
	}
	ingWith := func(backend string, annotations map[string]string) *unstructured.Unstructured {
		return toUnstructured(t, ingress("model-ingress", annotations, backend))
	}
	tests := map[string]struct {
		op        string
		old, obj  *unstructured.Unstructured
		want      map[string]string
		wantCodes []string
	}{
		"a Service switched from model-v1 to model-v2 records model-v1 at generation 3": {
			op: "UPDATE", old: svcWith(stable, nil), obj: svcWith(canaryIS, nil), want: prev(stable, "3"),
		},
		"a switch replaces the stamps of an earlier switch": {
			op: "UPDATE", old: svcWith(canaryIS, prev(stable, "3")), obj: svcWith(stable, prev(stable, "3")), want: prev(canaryIS, "1"),
		},
		"a switch to KServe's predictor selector form is a switch too": {
			op:  "UPDATE",
			old: svcWith(stable, nil),
			obj: func() *unstructured.Unstructured {
				s := modelService(mainSvc, "")
				s.Spec.Selector = map[string]string{"app": "isvc.model-v2-predictor"}
				return toUnstructured(t, s)
			}(),
			want: prev(stable, "3"),
		},
		"a Service update that does not switch copies the old stamps": {
			op:   "UPDATE",
			old:  svcWith(canaryIS, prev(stable, "3")),
			obj:  svcWith(canaryIS, nil),
			want: prev(stable, "3"),
		},
		"a Service update that does not switch restores a forged stamp with a CG703 notice": {
			op:        "UPDATE",
			old:       svcWith(canaryIS, prev(stable, "3")),
			obj:       svcWith(canaryIS, prev("model-v0", "3")),
			want:      prev(stable, "3"),
			wantCodes: []string{mutate.NoticeStampRestored},
		},
		"a Service that starts selecting a model records nothing": {
			op: "UPDATE", old: toUnstructured(t, &corev1.Service{
				TypeMeta: modelService(mainSvc, "").TypeMeta, ObjectMeta: modelService(mainSvc, "").ObjectMeta,
			}),
			obj: svcWith(canaryIS, nil), want: map[string]string{},
		},
		"a CREATE records nothing": {
			op: "CREATE", obj: svcWith(canaryIS, nil), want: map[string]string{},
		},
		"a CREATE's forged stamps are removed with CG703 notices": {
			op: "CREATE", obj: svcWith(canaryIS, prev(stable, "3")), want: map[string]string{},
			wantCodes: []string{mutate.NoticeStampRestored, mutate.NoticeStampRestored},
		},
		"a main Ingress moved from model-svc to model-v2-svc records model-v1 at generation 3": {
			op: "UPDATE", old: ingWith(mainSvc, nil), obj: ingWith(canarySvc, nil), want: prev(stable, "3"),
		},
		"a main Ingress update that keeps its backend records nothing": {
			op: "UPDATE", old: ingWith(mainSvc, nil), obj: ingWith(mainSvc, map[string]string{"team": "ml"}), want: map[string]string{},
		},
		"an Ingress that stops being a canary was no main route before: it records nothing": {
			op:   "UPDATE",
			old:  ingWith(canarySvc, map[string]string{canary.NginxCanary: "true"}),
			obj:  ingWith(mainSvc, nil),
			want: map[string]string{},
		},
		"a main Ingress CREATE records nothing": {
			op: "CREATE", obj: ingWith(canarySvc, nil), want: map[string]string{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res, err := mutator().Mutate(t.Context(), mutate.Request{
				Operation: tc.op, Object: tc.obj, OldObject: tc.old, User: "alice", Now: now,
			}, scenario(nil))
			if err != nil {
				t.Fatalf("Mutate() error = %v", err)
			}
			if got := stampsOf(res.Object, prevKeys...); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("stamps = %v, want %v", got, tc.want)
			}
			wantCodes := tc.wantCodes
			if wantCodes == nil {
				wantCodes = []string{}
			}
			if got := codes(res.Notices); !reflect.DeepEqual(got, wantCodes) {
				t.Errorf("notice codes = %v, want %v (%v)", got, wantCodes, res.Notices)
			}
		})
	}
}

func TestGenerationAndSpecChanged(t *testing.T) {
	withSpec := func(gen int64, spec map[string]any) *unstructured.Unstructured {
		return isvcObject(canaryIS, gen, nil, nil, spec)
	}
	replicas := func(n any) map[string]any {
		return map[string]any{"predictor": map[string]any{"minReplicas": n}}
	}
	old := withSpec(4, predictor("sklearn"))
	tests := map[string]struct {
		req         mutate.Request
		want        int64
		specChanged bool
	}{
		"CREATE is generation 1": {
			req:  mutate.Request{Operation: "CREATE", Object: withSpec(0, predictor("sklearn"))},
			want: 1, specChanged: true,
		},
		"an UPDATE without an old object is treated as a CREATE": {
			req:  mutate.Request{Operation: "UPDATE", Object: withSpec(4, predictor("sklearn"))},
			want: 1, specChanged: true,
		},
		"an UPDATE that changes nothing keeps the generation": {
			req:  mutate.Request{Operation: "UPDATE", OldObject: old, Object: withSpec(4, predictor("sklearn"))},
			want: 4,
		},
		"an UPDATE of labels and annotations keeps the generation": {
			req: mutate.Request{Operation: "UPDATE", OldObject: old,
				Object: isvcObject(canaryIS, 4, map[string]string{"a": "b"}, map[string]string{canary.KeyVerified: "true"}, predictor("sklearn"))},
			want: 4,
		},
		"an UPDATE of the status only keeps the generation": {
			req: mutate.Request{Operation: "UPDATE", OldObject: old, Object: func() *unstructured.Unstructured {
				u := withSpec(4, predictor("sklearn"))
				u.Object["status"] = map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True"}}}
				return u
			}()},
			want: 4,
		},
		"an UPDATE of the spec bumps the generation": {
			req:  mutate.Request{Operation: "UPDATE", OldObject: old, Object: withSpec(4, predictor("xgboost"))},
			want: 5, specChanged: true,
		},
		"a new top-level field outside metadata and status bumps the generation": {
			req: mutate.Request{Operation: "UPDATE", OldObject: old, Object: func() *unstructured.Unstructured {
				u := withSpec(4, predictor("sklearn"))
				u.Object["extra"] = "x"
				return u
			}()},
			want: 5, specChanged: true,
		},
		"int64 and float64 of the same number are not a change": {
			req:  mutate.Request{Operation: "UPDATE", OldObject: withSpec(4, replicas(int64(2))), Object: withSpec(4, replicas(float64(2)))},
			want: 4,
		},
		"a different number is a change": {
			req:  mutate.Request{Operation: "UPDATE", OldObject: withSpec(4, replicas(int64(2))), Object: withSpec(4, replicas(float64(2.5)))},
			want: 5, specChanged: true,
		},
		"in the validate phase the object already carries its generation": {
			req:  mutate.Request{Operation: "UPDATE", Phase: mutate.PhaseValidate, OldObject: old, Object: withSpec(5, predictor("sklearn"))},
			want: 5,
		},
		"in the validate phase a missing generation is computed": {
			req:  mutate.Request{Operation: "UPDATE", Phase: mutate.PhaseValidate, OldObject: old, Object: withSpec(0, predictor("xgboost"))},
			want: 5, specChanged: true,
		},
		"in the mutate phase the object's own generation is ignored": {
			req:  mutate.Request{Operation: "UPDATE", Phase: mutate.PhaseMutate, OldObject: old, Object: withSpec(9, predictor("sklearn"))},
			want: 4,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := mutate.Generation(tc.req); got != tc.want {
				t.Errorf("Generation() = %d, want %d", got, tc.want)
			}
			if got := mutate.SpecChanged(tc.req.OldObject, tc.req.Object); got != tc.specChanged {
				t.Errorf("SpecChanged() = %v, want %v", got, tc.specChanged)
			}
		})
	}
}

func TestExpectationAccepts(t *testing.T) {
	at := func(d time.Duration) string { return rfc3339(now.Add(d)) }
	tests := map[string]struct {
		e    mutate.Expectation
		want bool
	}{
		"absent before and after": {
			e: mutate.Expectation{}, want: true,
		},
		"the old value unchanged": {
			e:    mutate.Expectation{Old: "bob", OldPresent: true, Actual: "bob", Present: true},
			want: true,
		},
		"the old value unchanged while the write condition holds": {
			e:    mutate.Expectation{Written: true, Value: "alice", Old: "bob", OldPresent: true, Actual: "bob", Present: true},
			want: true,
		},
		"a changed value without the write condition": {
			e:    mutate.Expectation{Old: "bob", OldPresent: true, Actual: "mallory", Present: true},
			want: false,
		},
		"a value added without the write condition": {
			e:    mutate.Expectation{Actual: "mallory", Present: true},
			want: false,
		},
		"an empty value added without the write condition": {
			e:    mutate.Expectation{Actual: "", Present: true},
			want: false,
		},
		"a value removed without the write condition": {
			e:    mutate.Expectation{Old: "bob", OldPresent: true},
			want: false,
		},
		"a value removed while the write condition holds": {
			e:    mutate.Expectation{Written: true, Value: "alice", Old: "bob", OldPresent: true},
			want: false,
		},
		"a value removed while the write condition holds, even when the written value is empty": {
			e:    mutate.Expectation{Written: true, Value: "", Old: "bob", OldPresent: true},
			want: false,
		},
		"exactly the written value": {
			e:    mutate.Expectation{Written: true, Value: "alice", Actual: "alice", Present: true},
			want: true,
		},
		"another value while the write condition holds": {
			e:    mutate.Expectation{Written: true, Value: "alice", Actual: "mallory", Present: true},
			want: false,
		},
		"a time stamp of now": {
			e:    mutate.Expectation{Written: true, Time: true, Actual: at(0), Present: true},
			want: true,
		},
		"a time stamp at the tolerance in the past": {
			e:    mutate.Expectation{Written: true, Time: true, Actual: at(-tolerance), Present: true},
			want: true,
		},
		"a time stamp at the tolerance in the future": {
			e:    mutate.Expectation{Written: true, Time: true, Actual: at(tolerance), Present: true},
			want: true,
		},
		"a time stamp past the tolerance": {
			e:    mutate.Expectation{Written: true, Time: true, Actual: at(-tolerance - time.Second), Present: true},
			want: false,
		},
		"a time stamp beyond the tolerance in the future": {
			e:    mutate.Expectation{Written: true, Time: true, Actual: at(tolerance + time.Second), Present: true},
			want: false,
		},
		"a time stamp in another zone is the same instant": {
			e:    mutate.Expectation{Written: true, Time: true, Actual: now.In(time.FixedZone("CET", 3600)).Format(time.RFC3339), Present: true},
			want: true,
		},
		"a time that is not RFC 3339": {
			e:    mutate.Expectation{Written: true, Time: true, Actual: now.Format(time.DateTime), Present: true},
			want: false,
		},
		"a garbage time": {
			e:    mutate.Expectation{Written: true, Time: true, Actual: "now", Present: true},
			want: false,
		},
		"a fresh time stamp without the write condition": {
			e:    mutate.Expectation{Time: true, Actual: at(0), Present: true},
			want: false,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.e.Accepts(now, tolerance); got != tc.want {
				t.Errorf("Accepts(%+v) = %v, want %v", tc.e, got, tc.want)
			}
		})
	}
}
