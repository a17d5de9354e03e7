package facts_test

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/kserve"
)

func overlayService(ns, name, isvc string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"serving.kserve.io/inferenceservice": isvc}},
	}
}

func overlayIngress(ns, name, host, svc string, canaryOn bool) *networkingv1.Ingress {
	ann := map[string]string{}
	if canaryOn {
		ann["nginx.ingress.kubernetes.io/canary"] = "true"
	}
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
			Host: host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path:    "/",
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc}},
			}}}},
		}}},
	}
}

// TestOverlayAnswersAsTheChangedSet checks, for every single change, that an
// Overlay over a Set answers every lookup exactly as a copy of the Set with
// the change applied.
func TestOverlayAnswersAsTheChangedSet(t *testing.T) {
	classes := facts.NewClasses(nil)
	base := facts.NewSet(classes)
	objs := []any{
		overlayService("default", "model-svc", "model-v1"),
		overlayService("default", "model-v2-svc", "model-v2"),
		overlayIngress("default", "model-ingress", "model.example.com", "model-svc", false),
		overlayIngress("default", "gray-release-canary", "model.example.com", "model-v2-svc", true),
		&kserve.InferenceService{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "model-v1"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
	}
	for _, o := range objs {
		base.Put(o)
	}
	type change struct {
		put any
		gk  schema.GroupKind
		ref facts.Ref
	}
	changes := map[string]change{
		"switch model-svc to model-v2":      {put: overlayService("default", "model-svc", "model-v2")},
		"add a Service":                     {put: overlayService("default", "extra", "model-v1")},
		"move the main Ingress to a host":   {put: overlayIngress("default", "model-ingress", "other.example.com", "model-svc", false)},
		"turn the canary into a main route": {put: overlayIngress("default", "gray-release-canary", "model.example.com", "model-v2-svc", false)},
		"add an InferenceService":           {put: &kserve.InferenceService{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "model-v2"}}},
		"delete the canary Ingress":         {gk: facts.IngressKind, ref: facts.Ref{Namespace: "default", Name: "gray-release-canary"}},
		"delete model-v2-svc":               {gk: facts.ServiceKind, ref: facts.Ref{Namespace: "default", Name: "model-v2-svc"}},
		"delete model-v1":                   {gk: facts.InferenceServiceKind, ref: facts.Ref{Namespace: "default", Name: "model-v1"}},
		"label the namespace":               {put: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", Labels: map[string]string{"a": "b"}}}},
	}
	keys := []facts.RouteKey{
		{Class: "nginx", Host: "model.example.com", Path: "/", PathType: "Prefix"},
		{Class: "nginx", Host: "other.example.com", Path: "/", PathType: "Prefix"},
	}
	for name, c := range changes {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			want := base.Clone()
			o := facts.Overlay{Base: base, Classes: classes, Put: c.put, Deleted: c.gk, Ref: c.ref}
			if c.put != nil {
				want.Put(c.put)
			} else {
				want.Delete(c.gk, c.ref)
			}
			for _, svc := range []string{"model-svc", "model-v2-svc", "extra"} {
				a, _ := o.Service(ctx, "default", svc)
				b, _ := want.Service(ctx, "default", svc)
				if a != b {
					t.Errorf("Service %s: overlay %v, set %v", svc, a, b)
				}
				ai, _ := o.IngressesRoutingTo(ctx, "default", svc)
				bi, _ := want.IngressesRoutingTo(ctx, "default", svc)
				if objNames(ai) != objNames(bi) {
					t.Errorf("IngressesRoutingTo %s: overlay %s, set %s", svc, objNames(ai), objNames(bi))
				}
			}
			for _, isvc := range []string{"model-v1", "model-v2"} {
				a, _ := o.InferenceService(ctx, "default", isvc)
				b, _ := want.InferenceService(ctx, "default", isvc)
				if a != b {
					t.Errorf("InferenceService %s: overlay %v, set %v", isvc, a, b)
				}
				as, _ := o.ServicesSelecting(ctx, "default", isvc)
				bs, _ := want.ServicesSelecting(ctx, "default", isvc)
				if objNames(as) != objNames(bs) {
					t.Errorf("ServicesSelecting %s: overlay %s, set %s", isvc, objNames(as), objNames(bs))
				}
			}
			for _, k := range keys {
				a, _ := o.IngressesByRoute(ctx, k)
				b, _ := want.IngressesByRoute(ctx, k)
				if objNames(a) != objNames(b) {
					t.Errorf("IngressesByRoute %s: overlay %s, set %s", k, objNames(a), objNames(b))
				}
				pa, errA := facts.PrimaryOf(ctx, o, classes, k)
				pb, errB := facts.PrimaryOf(ctx, want, classes, k)
				if pa.ISVC != pb.ISVC || (errA == nil) != (errB == nil) {
					t.Errorf("PrimaryOf %s: overlay %v/%v, set %v/%v", k, pa.ISVC, errA, pb.ISVC, errB)
				}
			}
			a, _ := o.Namespace(ctx, "default")
			b, _ := want.Namespace(ctx, "default")
			if a != b {
				t.Errorf("Namespace: overlay %v, set %v", a, b)
			}
		})
	}
}

// objNames lists objects as a sorted-by-construction string for comparison.
func objNames[T interface{ GetName() string }](objs []T) string {
	set := map[string]bool{}
	for _, o := range objs {
		set[o.GetName()] = true
	}
	out := ""
	for _, n := range []string{"model-svc", "model-v2-svc", "extra", "model-ingress", "gray-release-canary"} {
		if set[n] {
			out += n + ","
		}
	}
	if len(set) != len(objs) {
		out += fmt.Sprintf("(%d objects)", len(objs))
	}
	return out
}
