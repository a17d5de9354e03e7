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
// a stable and a canary Service pair, main and canary Ingresses.
func bigSet() *facts.Set {
	s := facts.NewSet(facts.NewClasses(nil))
	pt := networkingv1.PathTypePrefix
	class := "nginx"
	ing := func(ns, name, host, svc string, ann map[string]string) *networkingv1.Ingress {
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
	for n := range 100 {
		ns := fmt.Sprintf("team-%03d", n)
		s.PutNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		for m := range 10 {
			name := fmt.Sprintf("model-%d", m)
			s.PutInferenceService(readyISVC(ns, name, 1))
			for v := range 5 {
				svc := fmt.Sprintf("%s-svc-%d", name, v)
				s.PutService(&corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svc},
					Spec:       corev1.ServiceSpec{Selector: map[string]string{canary.LabelInferenceService: name}},
				})
				host := fmt.Sprintf("%s-%d.%s.example.com", name, v, ns)
				s.PutIngress(ing(ns, svc+"-main", host, svc, nil))
			}
		}
	}
	return s
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

// BenchmarkDecision measures one object's mutation plus validation on both
// endpoints against a facts set of 11,000 objects, and reports p50 and p99
// of the per-decision latency next to ns/op.
func BenchmarkDecision(b *testing.B) {
	set := bigSet()
	engine, err := policy.Load(b.Context(), policy.Options{Builtin: true})
	if err != nil {
		b.Fatal(err)
	}
	classes := facts.NewClasses(nil)
	v := validate.Validator{Engine: engine, Builder: validate.Builder{Classes: classes}}
	m := mutate.Mutator{Classes: classes, Tolerance: time.Minute}
	now := time.Now()

	oldSvc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-042", Name: "model-3-svc-0"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{canary.LabelInferenceService: "model-3"}},
	}
	newSvc := oldSvc.DeepCopy()
	newSvc.Spec.Selector[canary.LabelInferenceService] = "model-4"

	pt := networkingv1.PathTypePrefix
	class := "nginx"
	canaryIng := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-042", Name: "model-3-canary", Annotations: map[string]string{
			canary.NginxCanary: "true", canary.NginxWeight: "20",
		}},
		Spec: networkingv1.IngressSpec{IngressClassName: &class, Rules: []networkingv1.IngressRule{{
			Host: "model-3-0.team-042.example.com",
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &pt,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "model-4-svc-1", Port: networkingv1.ServiceBackendPort{Number: 80}}},
			}}}},
		}}},
	}
	oldISVC := readyISVC("team-042", "model-4", 1)
	newISVC := oldISVC.DeepCopy()
	newISVC.Annotations = map[string]string{canary.KeyStable: "model-3", canary.KeyWeight: "30"}

	cases := map[string]struct {
		op       string
		obj, old *unstructured.Unstructured
	}{
		"canary Ingress create": {op: "CREATE", obj: toUnstructured(b, canaryIng, "Ingress", "networking.k8s.io/v1")},
		"Service switch":        {op: "UPDATE", obj: toUnstructured(b, newSvc, "Service", "v1"), old: toUnstructured(b, oldSvc, "Service", "v1")},
		"InferenceService update": {
			op:  "UPDATE",
			obj: isvcUnstructured(b, newISVC), old: isvcUnstructured(b, oldISVC),
		},
	}
	for name, tc := range cases {
		b.Run(name, func(b *testing.B) {
			after := set.Clone()
			typed, err := facts.Decode(tc.obj)
			if err != nil {
				b.Fatal(err)
			}
			after.Put(typed)
			durations := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				res, err := m.Mutate(b.Context(), mutate.Request{Operation: tc.op, Object: tc.obj, OldObject: tc.old, User: "bench", Now: now}, set)
				if err != nil {
					b.Fatal(err)
				}
				req := validate.Request{
					Operation: tc.op, Kind: tc.obj.GroupVersionKind(), Namespace: tc.obj.GetNamespace(), Name: tc.obj.GetName(),
					Object: res.Object, OldObject: tc.old, User: "bench",
				}
				if _, err := v.Validate(b.Context(), req, set, after, now); err != nil {
					b.Fatal(err)
				}
				durations = append(durations, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(durations)
			if n := len(durations); n > 0 {
				b.ReportMetric(float64(durations[n/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(durations[n*99/100].Microseconds()), "p99-µs")
			}
		})
	}
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
