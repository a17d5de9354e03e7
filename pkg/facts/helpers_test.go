package facts_test

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canarygate/canarygate/pkg/canary"
	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/kserve"
)

// The reference scenario's names (DESIGN §1).
const (
	ns       = "default"
	host     = "model.example.com"
	mainSvc  = "model-svc"
	canSvc   = "model-v2-svc"
	stable   = "model-v1"
	canaryIS = "model-v2"
)

// refKey is the reference scenario's route key: host model.example.com,
// path "/" ImplementationSpecific, read as Prefix.
var refKey = facts.RouteKey{Class: "nginx", Host: host, Path: "/", PathType: "Prefix"}

func ptr[T any](v T) *T { return &v }

func service(namespace, name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: corev1.ServiceSpec{
			Selector: selector,
			Ports:    []corev1.ServicePort{{Port: 80}},
		},
	}
}

// modelService is a Service selecting an InferenceService by KServe's
// serving.kserve.io/inferenceservice label.
func modelService(name, isvc string) *corev1.Service {
	return service(ns, name, map[string]string{canary.LabelInferenceService: isvc})
}

func inferenceService(name string, generation int64) *kserve.InferenceService {
	return &kserve.InferenceService{
		TypeMeta:   metav1.TypeMeta{APIVersion: kserve.GroupVersion.String(), Kind: kserve.Kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: generation},
	}
}

// ingressOpt changes an Ingress built by ingress.
type ingressOpt func(*networkingv1.Ingress)

// ingress builds an Ingress in ns routing host/"/" (ImplementationSpecific)
// to backend port 80, changed by opts.
func ingress(name, backend string, opts ...ingressOpt) *networkingv1.Ingress {
	ing := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingv1.IngressSpec{
			Rules: []networkingv1.IngressRule{httpRule(host, "/", ptr(networkingv1.PathTypeImplementationSpecific), backend)},
		},
	}
	for _, o := range opts {
		o(ing)
	}
	return ing
}

func httpRule(h, path string, pt *networkingv1.PathType, backend string) networkingv1.IngressRule {
	return networkingv1.IngressRule{
		Host: h,
		IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: path, PathType: pt, Backend: serviceBackend(backend)}},
		}},
	}
}

func serviceBackend(name string) networkingv1.IngressBackend {
	return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
		Name: name, Port: networkingv1.ServiceBackendPort{Number: 80},
	}}
}

// annotated adds annotations.
func annotated(kv ...string) ingressOpt {
	return func(ing *networkingv1.Ingress) {
		if ing.Annotations == nil {
			ing.Annotations = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			ing.Annotations[kv[i]] = kv[i+1]
		}
	}
}

// asCanary marks the Ingress as an nginx canary with the given extra
// annotations.
func asCanary(kv ...string) ingressOpt {
	return annotated(append([]string{canary.NginxCanary, "true"}, kv...)...)
}

func createdAt(t time.Time) ingressOpt {
	return func(ing *networkingv1.Ingress) { ing.CreationTimestamp = metav1.NewTime(t) }
}

func inNamespace(namespace string) ingressOpt {
	return func(ing *networkingv1.Ingress) { ing.Namespace = namespace }
}

func withClassName(class string) ingressOpt {
	return func(ing *networkingv1.Ingress) { ing.Spec.IngressClassName = ptr(class) }
}

func withHost(h string) ingressOpt {
	return func(ing *networkingv1.Ingress) { ing.Spec.Rules[0].Host = h }
}

// names returns the namespace/name of each object.
func names[T metav1.Object](objs []T) []string {
	out := []string{}
	for _, o := range objs {
		out = append(out, o.GetNamespace()+"/"+o.GetName())
	}
	return out
}
