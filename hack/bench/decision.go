package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/canarygate/canarygate/pkg/canary"
	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/kserve"
	"github.com/canarygate/canarygate/pkg/validate"
)

// bigSet returns the decision benchmark's facts set (the same shape as
// pkg/validate BenchmarkDecision): 1,000 InferenceServices, 5,000 Services
// and 5,000 Ingresses across 100 namespaces.
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
				s.PutIngress(ingress(ns, svc+"-main", fmt.Sprintf("%s-%d.%s.example.com", name, v, ns), svc, nil))
			}
		}
	}
	return s
}

func modelService(ns, name, isvc string) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{canary.LabelInferenceService: isvc},
			Ports:    []corev1.ServicePort{{Port: 80}},
		},
	}
}

func ingress(ns, name, host, svc string, ann map[string]string) *networkingv1.Ingress {
	pt := networkingv1.PathTypePrefix
	class := "nginx"
	return &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
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

// decisionCase is one request of the decision benchmark.
type decisionCase struct {
	Name     string
	Op       string
	Obj, Old *unstructured.Unstructured
}

// decisionCases are the benchmark's three requests: a canary Ingress
// create, a Service switch, and an InferenceService canary-key update.
func decisionCases() ([]decisionCase, error) {
	oldSvc := modelService("team-042", "model-3-svc-0", "model-3")
	newSvc := oldSvc.DeepCopy()
	newSvc.Spec.Selector[canary.LabelInferenceService] = "model-4"
	canaryIng := ingress("team-042", "model-3-canary", "model-3-0.team-042.example.com", "model-4-svc-1",
		map[string]string{canary.NginxCanary: "true", canary.NginxWeight: "20"})
	oldISVC := readyISVC("team-042", "model-4", 1)
	newISVC := oldISVC.DeepCopy()
	newISVC.Annotations = map[string]string{canary.KeyStable: "model-3", canary.KeyWeight: "30"}

	var out []decisionCase
	for _, c := range []struct {
		name, op string
		obj, old any
	}{
		{"canary Ingress create", "CREATE", canaryIng, nil},
		{"Service switch", "UPDATE", newSvc, oldSvc},
		{"InferenceService update", "UPDATE", newISVC, oldISVC},
	} {
		obj, err := toUnstructured(c.obj)
		if err != nil {
			return nil, err
		}
		old, err := toUnstructured(c.old)
		if err != nil {
			return nil, err
		}
		out = append(out, decisionCase{Name: c.name, Op: c.op, Obj: obj, Old: old})
	}
	return out, nil
}

func toUnstructured(obj any) (*unstructured.Unstructured, error) {
	if obj == nil {
		return nil, nil
	}
	if r, ok := obj.(runtime.Object); ok && r.GetObjectKind().GroupVersionKind().Kind != "" {
		if _, isISVC := obj.(*kserve.InferenceService); !isISVC {
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
			if err != nil {
				return nil, err
			}
			return &unstructured.Unstructured{Object: m}, nil
		}
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	return u, u.UnmarshalJSON(raw)
}

// inputFor builds the policy input of a case the way the webhook's gate
// does: the facts before, and the facts with the request applied.
func inputFor(ctx context.Context, set *facts.Set, c decisionCase, now time.Time) (*validate.Input, error) {
	typed, err := facts.Decode(c.Obj)
	if err != nil {
		return nil, err
	}
	after := facts.Overlay{Base: set, Classes: set.Classes(), Put: typed}
	b := validate.Builder{Classes: set.Classes()}
	return b.Build(ctx, validate.Request{
		UID: "bench", Operation: c.Op, Kind: c.Obj.GroupVersionKind(),
		Namespace: c.Obj.GetNamespace(), Name: c.Obj.GetName(),
		Object: c.Obj, OldObject: c.Old, User: "bench",
	}, set, after, now)
}
