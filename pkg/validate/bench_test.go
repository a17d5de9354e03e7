package validate_test

import (
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/canarygate/canarygate/pkg/canary"
	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/kserve"
	"github.com/canarygate/canarygate/pkg/mutate"
	"github.com/canarygate/canarygate/pkg/policy"
	"github.com/canarygate/canarygate/pkg/validate"
	"github.com/canarygate/canarygate/test/benchfacts"
)

func toUnstructured(b *testing.B, obj runtime.Object, kind, apiVersion string) *unstructured.Unstructured {
	b.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		b.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetKind(kind)
	u.SetAPIVersion(apiVersion)
	return u
}

func isvcUnstructured(b *testing.B, isvc *kserve.InferenceService) *unstructured.Unstructured {
	b.Helper()
	u := &unstructured.Unstructured{}
	raw, err := jsonMarshal(isvc)
	if err != nil {
		b.Fatal(err)
	}
	if err := u.UnmarshalJSON(raw); err != nil {
		b.Fatal(err)
	}
	return u
}

// decisionCase is one request of the decision benchmarks.
type decisionCase struct {
	name     string
	op       string
	obj, old *unstructured.Unstructured
	// denied is the code the gate must return, "" when it allows: a
	// benchmark of a pipeline that stopped deciding is worthless.
	denied string
}

// decisionCases are the three requests issue 6 names, all in namespace
// team-042 of bigSet: a canary Ingress create (injection, route and
// Service lookups, the nginx and structure rules), a Service switch to an
// unverified InferenceService (denied by the gate) and an InferenceService
// canary-key update (the isvc rules and the stamps).
func decisionCases(b *testing.B) []decisionCase {
	oldSvc := benchfacts.ModelService("team-042", "model-3-svc-0", "model-3")
	newSvc := oldSvc.DeepCopy()
	newSvc.Spec.Selector[canary.LabelInferenceService] = "model-4"

	canaryIng := benchfacts.Ingress("team-042", "model-3-canary", "model-3-0.team-042.example.com", "model-4-svc-1",
		map[string]string{canary.NginxCanary: "true", canary.NginxWeight: "20"})

	oldISVC := benchfacts.ReadyISVC("team-042", "model-4", 1)
	newISVC := oldISVC.DeepCopy()
	newISVC.Annotations = map[string]string{canary.KeyStable: "model-3", canary.KeyWeight: "30"}

	return []decisionCase{
		{name: "canary Ingress create", op: "CREATE", obj: toUnstructured(b, canaryIng, "Ingress", "networking.k8s.io/v1")},
		{name: "Service switch", op: "UPDATE", obj: toUnstructured(b, newSvc, "Service", "v1"), old: toUnstructured(b, oldSvc, "Service", "v1"), denied: "CG301"},
		{name: "InferenceService update", op: "UPDATE", obj: isvcUnstructured(b, newISVC), old: isvcUnstructured(b, oldISVC)},
	}
}

// pipeline is what one decision needs besides the request.
type pipeline struct {
	set     *facts.Set
	engine  *policy.Engine
	classes facts.Classes
	m       mutate.Mutator
	v       validate.Validator
	now     time.Time
}

func newPipeline(b *testing.B) pipeline {
	b.Helper()
	engine, err := policy.Load(b.Context(), policy.Options{Builtin: true})
	if err != nil {
		b.Fatal(err)
	}
	classes := facts.NewClasses(nil)
	return pipeline{
		set: benchfacts.BigSet(), engine: engine, classes: classes,
		m:   mutate.Mutator{Classes: classes, Tolerance: time.Minute},
		v:   validate.Validator{Engine: engine, Builder: validate.Builder{Classes: classes}},
		now: time.Now(),
	}
}

// after is the facts with the request applied, as the webhook sees them:
// an overlay on the cluster, never a copy of it.
func (p pipeline) after(b *testing.B, obj *unstructured.Unstructured) facts.Reader {
	typed, err := facts.Decode(obj)
	if err != nil {
		b.Fatal(err)
	}
	return facts.Overlay{Base: p.set, Classes: p.classes, Put: typed}
}

func (p pipeline) request(tc decisionCase, obj *unstructured.Unstructured) validate.Request {
	return validate.Request{
		UID: "bench", Operation: tc.op, Kind: tc.obj.GroupVersionKind(), Namespace: tc.obj.GetNamespace(), Name: tc.obj.GetName(),
		Object: obj, OldObject: tc.old, User: "bench",
	}
}

// latencies collects per-iteration durations and reports their
// percentiles, so a benchmark shows the tail and not only the mean.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	at := func(q float64) float64 {
		return float64(l[min(len(l)-1, int(q*float64(len(l))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.90), "p90-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// BenchmarkDecision measures one request's mutation plus validation (both
// validating endpoints are answered from one evaluation) against a facts
// set of 11,000 objects, and reports p50, p90 and p99 of the per-decision
// latency next to ns/op (the mean, GC included) and allocations. Budget
// (issue 6): p99 ≤ 100 µs.
func BenchmarkDecision(b *testing.B) {
	p := newPipeline(b)
	for _, tc := range decisionCases(b) {
		b.Run(tc.name, func(b *testing.B) {
			after := p.after(b, tc.obj)
			durations := make(latencies, 0, 1<<16)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				res, err := p.m.Mutate(b.Context(), mutate.Request{Operation: tc.op, Object: tc.obj, OldObject: tc.old, User: "bench", Now: p.now}, p.set)
				if err != nil {
					b.Fatal(err)
				}
				d, err := p.v.Validate(b.Context(), p.request(tc, res.Object), p.set, after, p.now)
				if err != nil {
					b.Fatal(err)
				}
				durations = append(durations, time.Since(start))
				if denied := d.Denials(policy.EndpointGate); (tc.denied == "") != (len(denied) == 0) || (tc.denied != "" && denied[0].Code != tc.denied) {
					b.Fatalf("gate decided %v, want denial %q", denied, tc.denied)
				}
			}
			b.StopTimer()
			durations.report(b)
		})
	}
}

// BenchmarkDecisionStage splits BenchmarkDecision into its stages —
// mutation, building the input document, converting it to a policy value,
// and evaluating the policies — so a regression points at its stage.
func BenchmarkDecisionStage(b *testing.B) {
	p := newPipeline(b)
	for _, tc := range decisionCases(b) {
		after := p.after(b, tc.obj)
		res, err := p.m.Mutate(b.Context(), mutate.Request{Operation: tc.op, Object: tc.obj, OldObject: tc.old, User: "bench", Now: p.now}, p.set)
		if err != nil {
			b.Fatal(err)
		}
		req := p.request(tc, res.Object)
		in, err := p.v.Builder.Build(b.Context(), req, p.set, after, p.now)
		if err != nil {
			b.Fatal(err)
		}
		val, err := policy.ToValue(in)
		if err != nil {
			b.Fatal(err)
		}
		stages := []struct {
			name string
			run  func() error
		}{
			{"mutate", func() error {
				_, err := p.m.Mutate(b.Context(), mutate.Request{Operation: tc.op, Object: tc.obj, OldObject: tc.old, User: "bench", Now: p.now}, p.set)
				return err
			}},
			{"build", func() error {
				_, err := p.v.Builder.Build(b.Context(), req, p.set, after, p.now)
				return err
			}},
			{"value", func() error {
				_, err := policy.ToValue(in)
				return err
			}},
			{"evaluate", func() error {
				_, err := p.engine.Evaluate(b.Context(), val)
				return err
			}},
		}
		for _, st := range stages {
			b.Run(tc.name+"/"+st.name, func(b *testing.B) {
				durations := make(latencies, 0, 1<<16)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					start := time.Now()
					if err := st.run(); err != nil {
						b.Fatal(err)
					}
					durations = append(durations, time.Since(start))
				}
				b.StopTimer()
				durations.report(b)
			})
		}
	}
}
