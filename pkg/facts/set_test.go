package facts_test

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canarygate/canarygate/pkg/canary"
	"github.com/canarygate/canarygate/pkg/facts"
)

// lookups is what the Set's indexes answer, as namespace/name lists.
type lookups struct {
	selecting map[string][]string         // InferenceService name in ns → Services
	byRoute   map[facts.RouteKey][]string // route key → Ingresses
	routingTo map[string][]string         // Service name in ns → Ingresses
}

func checkLookups(t *testing.T, set *facts.Set, want lookups) {
	t.Helper()
	ctx := t.Context()
	for isvc, w := range want.selecting {
		got, err := set.ServicesSelecting(ctx, ns, isvc)
		if err != nil {
			t.Fatalf("ServicesSelecting(%s): %v", isvc, err)
		}
		if n := names(got); !reflect.DeepEqual(n, w) {
			t.Errorf("ServicesSelecting(%s) = %v, want %v", isvc, n, w)
		}
	}
	for key, w := range want.byRoute {
		got, err := set.IngressesByRoute(ctx, key)
		if err != nil {
			t.Fatalf("IngressesByRoute(%s): %v", key, err)
		}
		if n := names(got); !reflect.DeepEqual(n, w) {
			t.Errorf("IngressesByRoute(%s) = %v, want %v", key, n, w)
		}
	}
	for svc, w := range want.routingTo {
		got, err := set.IngressesRoutingTo(ctx, ns, svc)
		if err != nil {
			t.Fatalf("IngressesRoutingTo(%s): %v", svc, err)
		}
		if n := names(got); !reflect.DeepEqual(n, w) {
			t.Errorf("IngressesRoutingTo(%s) = %v, want %v", svc, n, w)
		}
	}
}

func TestSetIndexes(t *testing.T) {
	otherKey := facts.RouteKey{Class: "nginx", Host: "other.example.com", Path: "/", PathType: "Prefix"}
	none := []string{}
	tests := map[string]struct {
		steps func(s *facts.Set)
		want  lookups
	}{
		"a Service is found by the InferenceService it selects, either selector form": {
			steps: func(s *facts.Set) {
				s.Put(modelService(mainSvc, stable))
				s.Put(service(ns, "kserve-svc", map[string]string{"app": "isvc.model-v1-predictor"}))
				s.Put(service("other", mainSvc, map[string]string{canary.LabelInferenceService: stable}))
				s.Put(service(ns, "plain", map[string]string{"app": "web"}))
			},
			want: lookups{selecting: map[string][]string{
				stable: {"default/kserve-svc", "default/model-svc"},
				"web":  none,
			}},
		},
		"a Service whose selector changes leaves the old ServicesSelecting index": {
			steps: func(s *facts.Set) {
				s.Put(modelService(mainSvc, stable))
				s.Put(modelService(mainSvc, canaryIS))
			},
			want: lookups{selecting: map[string][]string{stable: none, canaryIS: {"default/model-svc"}}},
		},
		"a Service that stops selecting a model leaves every index": {
			steps: func(s *facts.Set) {
				s.Put(modelService(mainSvc, stable))
				s.Put(service(ns, mainSvc, map[string]string{"app": "web"}))
			},
			want: lookups{selecting: map[string][]string{stable: none}},
		},
		"a deleted Service leaves the index": {
			steps: func(s *facts.Set) {
				s.Put(modelService(mainSvc, stable))
				s.Put(modelService("second", stable))
				s.Delete(facts.ServiceKind, facts.Ref{Namespace: ns, Name: mainSvc})
			},
			want: lookups{selecting: map[string][]string{stable: {"default/second"}}},
		},
		"Ingresses are found by route key, across namespaces, in namespace/name order": {
			steps: func(s *facts.Set) {
				s.Put(ingress("model-ingress", mainSvc))
				s.Put(ingress("gray-release-canary", canSvc, asCanary()))
				s.Put(ingress("elsewhere", mainSvc, inNamespace("a-team")))
				s.Put(ingress("other-host", mainSvc, withHost("other.example.com")))
			},
			want: lookups{byRoute: map[facts.RouteKey][]string{
				refKey:   {"a-team/elsewhere", "default/gray-release-canary", "default/model-ingress"},
				otherKey: {"default/other-host"},
			}},
		},
		"an Ingress whose host changes leaves the old route key": {
			steps: func(s *facts.Set) {
				s.Put(ingress("model-ingress", mainSvc))
				s.Put(ingress("model-ingress", mainSvc, withHost("other.example.com")))
			},
			want: lookups{byRoute: map[facts.RouteKey][]string{refKey: none, otherKey: {"default/model-ingress"}}},
		},
		"an Ingress whose backend changes leaves the old IngressesRoutingTo index": {
			steps: func(s *facts.Set) {
				s.Put(ingress("model-ingress", mainSvc))
				s.Put(ingress("model-ingress", canSvc))
			},
			want: lookups{routingTo: map[string][]string{mainSvc: none, canSvc: {"default/model-ingress"}}},
		},
		"a deleted Ingress leaves the route and backend indexes": {
			steps: func(s *facts.Set) {
				s.Put(ingress("model-ingress", mainSvc))
				s.Put(ingress("gray-release-canary", canSvc, asCanary()))
				s.Delete(facts.IngressKind, facts.Ref{Namespace: ns, Name: "gray-release-canary"})
			},
			want: lookups{
				byRoute:   map[facts.RouteKey][]string{refKey: {"default/model-ingress"}},
				routingTo: map[string][]string{canSvc: none, mainSvc: {"default/model-ingress"}},
			},
		},
		"an ungoverned Ingress is never found by route but is found by backend": {
			steps: func(s *facts.Set) {
				s.Put(ingress("traefik-route", mainSvc, withClassName("traefik")))
			},
			want: lookups{
				byRoute:   map[facts.RouteKey][]string{refKey: none, {Class: "traefik", Host: host, Path: "/", PathType: "Prefix"}: none},
				routingTo: map[string][]string{mainSvc: {"default/traefik-route"}},
			},
		},
		"an Ingress moved to an ungoverned class leaves the route index": {
			steps: func(s *facts.Set) {
				s.Put(ingress("model-ingress", mainSvc))
				s.Put(ingress("model-ingress", mainSvc, withClassName("traefik")))
			},
			want: lookups{
				byRoute:   map[facts.RouteKey][]string{refKey: none},
				routingTo: map[string][]string{mainSvc: {"default/model-ingress"}},
			},
		},
		"an Ingress moved into a governed class joins the route index": {
			steps: func(s *facts.Set) {
				s.Put(ingress("model-ingress", mainSvc, withClassName("traefik")))
				s.Put(ingress("model-ingress", mainSvc))
			},
			want: lookups{byRoute: map[facts.RouteKey][]string{refKey: {"default/model-ingress"}}},
		},
		"objects of other kinds are ignored": {
			steps: func(s *facts.Set) {
				s.Put(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: mainSvc}})
				s.Put(nil)
			},
			want: lookups{selecting: map[string][]string{stable: none}, routingTo: map[string][]string{mainSvc: none}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			set := facts.NewSet(facts.NewClasses(nil))
			tc.steps(set)
			checkLookups(t, set, tc.want)
		})
	}
}

func TestSetGetAndDelete(t *testing.T) {
	ctx := t.Context()
	set := facts.NewSet(facts.NewClasses(nil))
	set.Put(modelService(mainSvc, stable))
	set.Put(inferenceService(stable, 3))
	set.Put(ingress("model-ingress", mainSvc))
	set.Put(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})

	if svc, _ := set.Service(ctx, ns, mainSvc); svc == nil || svc.Name != mainSvc {
		t.Errorf("Service(%s) = %v, want it", mainSvc, svc)
	}
	if svc, err := set.Service(ctx, "other", mainSvc); svc != nil || err != nil {
		t.Errorf("Service in another namespace = %v, %v; want nil, nil", svc, err)
	}
	if is, _ := set.InferenceService(ctx, ns, stable); is == nil || is.Generation != 3 {
		t.Errorf("InferenceService(%s) = %v, want generation 3", stable, is)
	}
	if n, _ := set.Namespace(ctx, ns); n == nil {
		t.Errorf("Namespace(%s) = nil, want it", ns)
	}

	set.Delete(facts.InferenceServiceKind, facts.Ref{Namespace: ns, Name: stable})
	set.Delete(facts.NamespaceKind, facts.Ref{Name: ns})
	set.Delete(facts.ServiceKind, facts.Ref{Namespace: ns, Name: mainSvc})
	set.Delete(facts.IngressKind, facts.Ref{Namespace: ns, Name: "model-ingress"})
	// Deleting what is not there is a no-op.
	set.Delete(facts.IngressKind, facts.Ref{Namespace: ns, Name: "model-ingress"})

	if is, err := set.InferenceService(ctx, ns, stable); is != nil || err != nil {
		t.Errorf("deleted InferenceService = %v, %v; want nil, nil", is, err)
	}
	if n, _ := set.Namespace(ctx, ns); n != nil {
		t.Errorf("deleted Namespace = %v, want nil", n)
	}
	if svc, _ := set.Service(ctx, ns, mainSvc); svc != nil {
		t.Errorf("deleted Service = %v, want nil", svc)
	}
	checkLookups(t, set, lookups{
		selecting: map[string][]string{stable: {}},
		byRoute:   map[facts.RouteKey][]string{refKey: {}},
		routingTo: map[string][]string{mainSvc: {}},
	})
}

func TestSetClone(t *testing.T) {
	orig := facts.NewSet(facts.Classes{"nginx", "internal"})
	orig.Put(modelService(mainSvc, stable))
	orig.Put(inferenceService(stable, 1))
	orig.Put(ingress("model-ingress", mainSvc))
	orig.Put(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})

	clone := orig.Clone()
	if !reflect.DeepEqual(clone.Classes(), orig.Classes()) {
		t.Errorf("Clone().Classes() = %v, want %v", clone.Classes(), orig.Classes())
	}
	// The clone answers like the original.
	checkLookups(t, clone, lookups{
		selecting: map[string][]string{stable: {"default/model-svc"}},
		byRoute:   map[facts.RouteKey][]string{refKey: {"default/model-ingress"}},
		routingTo: map[string][]string{mainSvc: {"default/model-ingress"}},
	})
	if n, _ := clone.Namespace(t.Context(), ns); n == nil {
		t.Errorf("clone lost the Namespace")
	}
	if is, _ := clone.InferenceService(t.Context(), ns, stable); is == nil {
		t.Errorf("clone lost the InferenceService")
	}

	// Changing the clone leaves the original alone …
	clone.Put(modelService(mainSvc, canaryIS))
	clone.Put(ingress("gray-release-canary", canSvc, asCanary()))
	clone.Delete(facts.IngressKind, facts.Ref{Namespace: ns, Name: "model-ingress"})
	clone.Delete(facts.InferenceServiceKind, facts.Ref{Namespace: ns, Name: stable})
	checkLookups(t, orig, lookups{
		selecting: map[string][]string{stable: {"default/model-svc"}, canaryIS: {}},
		byRoute:   map[facts.RouteKey][]string{refKey: {"default/model-ingress"}},
		routingTo: map[string][]string{mainSvc: {"default/model-ingress"}, canSvc: {}},
	})
	if is, _ := orig.InferenceService(t.Context(), ns, stable); is == nil {
		t.Errorf("deleting from the clone deleted from the original")
	}
	checkLookups(t, clone, lookups{
		selecting: map[string][]string{stable: {}, canaryIS: {"default/model-svc"}},
		byRoute:   map[facts.RouteKey][]string{refKey: {"default/gray-release-canary"}},
	})

	// … and the other way round.
	orig.Put(ingress("late", mainSvc, withHost("late.example.com")))
	lateKey := facts.RouteKey{Class: "nginx", Host: "late.example.com", Path: "/", PathType: "Prefix"}
	checkLookups(t, clone, lookups{byRoute: map[facts.RouteKey][]string{lateKey: {}}})
}

func TestSetIsAReader(t *testing.T) {
	var _ facts.Reader = facts.NewSet(nil)
	// A zero Classes governs nginx, so a Set built without classes still
	// indexes routes instead of panicking.
	set := facts.NewSet(nil)
	set.Put(ingress("model-ingress", mainSvc))
	checkLookups(t, set, lookups{byRoute: map[facts.RouteKey][]string{refKey: {"default/model-ingress"}}})
}
