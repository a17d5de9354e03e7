package validate_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/canarygate/canarygate/pkg/canary"
	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/kserve"
	"github.com/canarygate/canarygate/pkg/mutate"
	"github.com/canarygate/canarygate/pkg/policy"
	"github.com/canarygate/canarygate/pkg/validate"
)

// bigSet returns a facts set of 1,000 InferenceServices, 5,000 Services and
// 5,000 Ingresses across 100 namespaces: per namespace 10 models, each with
// five Services and a main Ingress per Service.
func bigSet() *facts.Set {
	s := facts.NewSet(facts.NewClasses(nil))
	for n := range 100 {
		ns := fmt.Sprintf("team-%03d", n)
		s.PutNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		for m := range 10 {
			name := fmt.Sprintf("model-%d", m)
			s.PutInferenceService(readyISVC(ns, name, 1))
			for v := range 5 {
				svc := fmt.Sprintf("%s-svc-%d", name, v)
				s.PutService(modelService(ns, svc, name))
				host := fmt.Sprintf("%s-%d.%s.example.com", name, v, ns)
				s.PutIngress(benchIngress(ns, svc+"-main", host, svc, nil))
			}
		}
	}
	return s
}

func modelService(ns, name, isvc string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{canary.LabelInferenceService: isvc}},
	}
}

func benchIngress(ns, name, host, svc string, ann map[string]string) *networkingv1.Ingress {
	pt := networkingv1.PathTypePrefix
	class := "nginx"
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann},
		Spec: networkingv1.IngressSpec{IngressClassName: &class, Rules: []networkingv1.IngressRule{{
			Host: host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &pt,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 80}}},
			}}}},
		}}},
	}
}

func readyISVC(ns, name string, gen int64) *kserve.InferenceService {
	return &kserve.InferenceService{
		TypeMeta:   metav1.TypeMeta{APIVersion: "serving.kserve.io/v1beta1", Kind: kserve.Kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: gen},
		Spec:       []byte(`{"predictor":{"model":{"modelFormat":{"name":"sklearn"}}}}`),
		Status:     kserve.Status{ObservedGeneration: gen, Conditions: []kserve.Condition{{Type: "Ready", Status: "True"}}},
	}
}

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
	oldSvc := modelService("team-042", "model-3-svc-0", "model-3")
	newSvc := oldSvc.DeepCopy()
	newSvc.Spec.Selector[canary.LabelInferenceService] = "model-4"

	canaryIng := benchIngress("team-042", "model-3-canary", "model-3-0.team-042.example.com", "model-4-svc-1",
		map[string]string{canary.NginxCanary: "true", canary.NginxWeight: "20"})

	oldISVC := readyISVC("team-042", "model-4", 1)
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
		set: bigSet(), engine: engine, classes: classes,
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
