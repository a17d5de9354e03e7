// Package benchfacts builds the facts set canarygate's decision benchmarks
// run against — 1,000 InferenceServices, 5,000 Services and 5,000 Ingresses
// across 100 namespaces — so `go test -bench` and the `make bench` runner
// measure the same thing.
package benchfacts

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canarygate/canarygate/pkg/canary"
	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/kserve"
)

// BigSet returns the benchmark facts set: per namespace team-000…team-099,
// ten Ready InferenceServices model-0…model-9, each selected by five
// Services model-N-svc-0…4 with one main Ingress apiece.
func BigSet() *facts.Set {
	s := facts.NewSet(facts.NewClasses(nil))
	for n := range 100 {
		ns := fmt.Sprintf("team-%03d", n)
		s.PutNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		for m := range 10 {
			name := fmt.Sprintf("model-%d", m)
			s.PutInferenceService(ReadyISVC(ns, name, 1))
			for v := range 5 {
				svc := fmt.Sprintf("%s-svc-%d", name, v)
				s.PutService(ModelService(ns, svc, name))
				s.PutIngress(Ingress(ns, svc+"-main", fmt.Sprintf("%s-%d.%s.example.com", name, v, ns), svc, nil))
			}
		}
	}
	return s
}

// ModelService returns a Service selecting the InferenceService isvc.
func ModelService(ns, name, isvc string) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{canary.LabelInferenceService: isvc},
			Ports:    []corev1.ServicePort{{Port: 80}},
		},
	}
}

// Ingress returns an nginx Ingress routing host / to svc:80.
func Ingress(ns, name, host, svc string, ann map[string]string) *networkingv1.Ingress {
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

// ReadyISVC returns an InferenceService Ready at generation gen.
func ReadyISVC(ns, name string, gen int64) *kserve.InferenceService {
	return &kserve.InferenceService{
		TypeMeta:   metav1.TypeMeta{APIVersion: "serving.kserve.io/v1beta1", Kind: kserve.Kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: gen},
		Spec:       []byte(`{"predictor":{"model":{"modelFormat":{"name":"sklearn"}}}}`),
		Status:     kserve.Status{ObservedGeneration: gen, Conditions: []kserve.Condition{{Type: "Ready", Status: "True"}}},
	}
}
