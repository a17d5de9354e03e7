package facts_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/canarygate/canarygate/pkg/canary"
	"github.com/canarygate/canarygate/pkg/facts"
)

func TestServiceTarget(t *testing.T) {
	tests := map[string]struct {
		svc  *corev1.Service
		want string
	}{
		"the serving.kserve.io/inferenceservice selector names the InferenceService": {
			svc:  service(ns, "s", map[string]string{canary.LabelInferenceService: "model-v1"}),
			want: "model-v1",
		},
		"KServe's predictor selector app=isvc.<name>-predictor names it": {
			svc:  service(ns, "s", map[string]string{"app": "isvc.model-v2-predictor"}),
			want: "model-v2",
		},
		"the kserve label wins over the predictor selector": {
			svc: service(ns, "s", map[string]string{
				canary.LabelInferenceService: "model-v1", "app": "isvc.model-v2-predictor",
			}),
			want: "model-v1",
		},
		"an empty kserve label falls back to the predictor selector": {
			svc: service(ns, "s", map[string]string{
				canary.LabelInferenceService: "", "app": "isvc.model-v2-predictor",
			}),
			want: "model-v2",
		},
		"app=isvc.-predictor names no InferenceService": {
			svc:  service(ns, "s", map[string]string{"app": "isvc.-predictor"}),
			want: "",
		},
		"an app selector without the isvc. prefix is not a model Service": {
			svc:  service(ns, "s", map[string]string{"app": "model-v1-predictor"}),
			want: "",
		},
		"an app selector without the -predictor suffix is not a model Service": {
			svc:  service(ns, "s", map[string]string{"app": "isvc.model-v1"}),
			want: "",
		},
		"other selectors are not a model Service": {
			svc:  service(ns, "s", map[string]string{"component": "predictor", "name": "model-v1"}),
			want: "",
		},
		"a Service without a selector is not a model Service": {
			svc:  service(ns, "s", nil),
			want: "",
		},
		"a nil Service is not a model Service": {
			svc:  nil,
			want: "",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := facts.ServiceTarget(tc.svc); got != tc.want {
				t.Errorf("ServiceTarget() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewClasses(t *testing.T) {
	tests := map[string]struct {
		in   []string
		want facts.Classes
	}{
		"no classes default to nginx":     {in: nil, want: facts.Classes{"nginx"}},
		"an empty list defaults too":      {in: []string{}, want: facts.Classes{"nginx"}},
		"given classes are kept in order": {in: []string{"internal", "nginx"}, want: facts.Classes{"internal", "nginx"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := facts.NewClasses(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("NewClasses(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestClasses(t *testing.T) {
	classes := facts.Classes{"nginx", "internal"}
	tests := map[string]struct {
		classes  facts.Classes
		ing      *networkingv1.Ingress
		want     string
		governed bool
	}{
		"spec.ingressClassName names the class": {
			classes: classes, ing: ingress("i", mainSvc, withClassName("internal")),
			want: "internal", governed: true,
		},
		"spec.ingressClassName wins over the legacy annotation": {
			classes: classes,
			ing:     ingress("i", mainSvc, withClassName("internal"), annotated(canary.IngressClassAnnotation, "traefik")),
			want:    "internal", governed: true,
		},
		"an empty ingressClassName falls back to the legacy annotation": {
			classes: classes,
			ing:     ingress("i", mainSvc, withClassName(""), annotated(canary.IngressClassAnnotation, "internal")),
			want:    "internal", governed: true,
		},
		"the legacy kubernetes.io/ingress.class annotation names the class": {
			classes: classes, ing: ingress("i", mainSvc, annotated(canary.IngressClassAnnotation, "internal")),
			want: "internal", governed: true,
		},
		"an Ingress with no class gets the first governed class": {
			classes: facts.Classes{"internal", "nginx"}, ing: ingress("i", mainSvc),
			want: "internal", governed: true,
		},
		"a class that is not governed is ungoverned (by name)": {
			classes: classes, ing: ingress("i", mainSvc, withClassName("traefik")),
			want: "traefik", governed: false,
		},
		"a class that is not governed is ungoverned (by annotation)": {
			classes: classes, ing: ingress("i", mainSvc, annotated(canary.IngressClassAnnotation, "traefik")),
			want: "traefik", governed: false,
		},
		"empty classes behave as the default nginx": {
			classes: nil, ing: ingress("i", mainSvc),
			want: "nginx", governed: true,
		},
		"empty classes govern only nginx": {
			classes: facts.Classes{}, ing: ingress("i", mainSvc, withClassName("traefik")),
			want: "traefik", governed: false,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.classes.Of(tc.ing); got != tc.want {
				t.Errorf("Of() = %q, want %q", got, tc.want)
			}
			if got := tc.classes.Governed(tc.ing); got != tc.governed {
				t.Errorf("Governed() = %v, want %v", got, tc.governed)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	classes := facts.Classes{"nginx"}
	key := func(h, path, pt string) facts.RouteKey {
		return facts.RouteKey{Class: "nginx", Host: h, Path: path, PathType: pt}
	}
	tests := map[string]struct {
		ing  *networkingv1.Ingress
		want []facts.Route
	}{
		"ImplementationSpecific is read as Prefix": {
			ing:  ingress("i", mainSvc),
			want: []facts.Route{{Key: key(host, "/", "Prefix"), Field: "spec.rules[0].http.paths[0]", Service: mainSvc}},
		},
		"an unset pathType is read as Prefix": {
			ing: ingress("i", mainSvc, func(ing *networkingv1.Ingress) {
				ing.Spec.Rules[0].HTTP.Paths[0].PathType = nil
			}),
			want: []facts.Route{{Key: key(host, "/", "Prefix"), Field: "spec.rules[0].http.paths[0]", Service: mainSvc}},
		},
		"an empty pathType is read as Prefix": {
			ing: ingress("i", mainSvc, func(ing *networkingv1.Ingress) {
				ing.Spec.Rules[0].HTTP.Paths[0].PathType = ptr(networkingv1.PathType(""))
			}),
			want: []facts.Route{{Key: key(host, "/", "Prefix"), Field: "spec.rules[0].http.paths[0]", Service: mainSvc}},
		},
		"Exact stays Exact and the path string is kept as written": {
			ing: ingress("i", mainSvc, func(ing *networkingv1.Ingress) {
				ing.Spec.Rules = []networkingv1.IngressRule{httpRule(host, "/api/", ptr(networkingv1.PathTypeExact), mainSvc)}
			}),
			want: []facts.Route{{Key: key(host, "/api/", "Exact"), Field: "spec.rules[0].http.paths[0]", Service: mainSvc}},
		},
		"the default backend is host \"\" path / Prefix, and the ingress class is part of the key": {
			ing: &networkingv1.Ingress{Spec: networkingv1.IngressSpec{
				IngressClassName: ptr("internal"),
				DefaultBackend:   ptr(serviceBackend(mainSvc)),
			}},
			want: []facts.Route{{
				Key:   facts.RouteKey{Class: "internal", Host: "", Path: "/", PathType: "Prefix"},
				Field: "spec.defaultBackend", Service: mainSvc,
			}},
		},
		"a rule without http is skipped and field paths keep the rule's index": {
			ing: ingress("i", mainSvc, func(ing *networkingv1.Ingress) {
				ing.Spec.DefaultBackend = ptr(serviceBackend("fallback"))
				ing.Spec.Rules = []networkingv1.IngressRule{
					{Host: "bare.example.com"},
					httpRule(host, "/", nil, mainSvc),
				}
				ing.Spec.Rules[1].HTTP.Paths = append(ing.Spec.Rules[1].HTTP.Paths, networkingv1.HTTPIngressPath{
					Path: "/v2", PathType: ptr(networkingv1.PathTypeExact), Backend: serviceBackend(canSvc),
				})
			}),
			want: []facts.Route{
				{Key: key("", "/", "Prefix"), Field: "spec.defaultBackend", Service: "fallback"},
				{Key: key(host, "/", "Prefix"), Field: "spec.rules[1].http.paths[0]", Service: mainSvc},
				{Key: key(host, "/v2", "Exact"), Field: "spec.rules[1].http.paths[1]", Service: canSvc},
			},
		},
		"a resource backend has a route but no Service": {
			ing: ingress("i", mainSvc, func(ing *networkingv1.Ingress) {
				ing.Spec.Rules[0].HTTP.Paths[0].Backend = networkingv1.IngressBackend{
					Resource: &corev1.TypedLocalObjectReference{Kind: "Bucket", Name: "static"},
				}
			}),
			want: []facts.Route{{Key: key(host, "/", "Prefix"), Field: "spec.rules[0].http.paths[0]", Service: ""}},
		},
		"an Ingress without rules or default backend has no routes": {
			ing:  &networkingv1.Ingress{},
			want: nil,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := classes.Routes(tc.ing); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Routes() =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestBackends(t *testing.T) {
	tests := map[string]struct {
		ing  *networkingv1.Ingress
		want []string
	}{
		"one rule, one Service": {ing: ingress("i", mainSvc), want: []string{mainSvc}},
		"default backend first, then rules, each Service once": {
			ing: ingress("i", mainSvc, func(ing *networkingv1.Ingress) {
				ing.Spec.DefaultBackend = ptr(serviceBackend(canSvc))
				ing.Spec.Rules = append(ing.Spec.Rules,
					networkingv1.IngressRule{Host: "no-http.example.com"},
					httpRule("other.example.com", "/", nil, mainSvc),
					httpRule("third.example.com", "/", nil, canSvc),
				)
			}),
			want: []string{canSvc, mainSvc},
		},
		"resource backends are not Services": {
			ing: &networkingv1.Ingress{Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{
				Resource: &corev1.TypedLocalObjectReference{Kind: "Bucket", Name: "static"},
			}}},
			want: nil,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := facts.Backends(tc.ing); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Backends() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIsCanary(t *testing.T) {
	tests := map[string]struct {
		annotations map[string]string
		want        bool
	}{
		`"true" is a canary`:             {annotations: map[string]string{canary.NginxCanary: "true"}, want: true},
		`"1" is a canary (ParseBool)`:    {annotations: map[string]string{canary.NginxCanary: "1"}, want: true},
		`"TRUE" is a canary (ParseBool)`: {annotations: map[string]string{canary.NginxCanary: "TRUE"}, want: true},
		`"yes" is not a canary`:          {annotations: map[string]string{canary.NginxCanary: "yes"}, want: false},
		`"false" is not a canary`:        {annotations: map[string]string{canary.NginxCanary: "false"}, want: false},
		"strategy without the opt-in is not a canary": {
			annotations: map[string]string{canary.NginxWeight: "50"}, want: false,
		},
		"no annotations is not a canary": {annotations: nil, want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ing := ingress("i", mainSvc)
			ing.Annotations = tc.annotations
			if got := facts.IsCanary(ing); got != tc.want {
				t.Errorf("IsCanary(%v) = %v, want %v", tc.annotations, got, tc.want)
			}
		})
	}
}

func TestPrimaryOf(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	services := []any{
		modelService(mainSvc, stable),
		modelService(canSvc, canaryIS),
		service(ns, "plain", map[string]string{"app": "web"}),
	}
	mainRef := &facts.Ref{Namespace: ns, Name: "model-ingress"}
	canaryRef := &facts.Ref{Namespace: ns, Name: "gray-release-canary"}
	v1 := facts.Ref{Namespace: ns, Name: stable}
	v2 := facts.Ref{Namespace: ns, Name: canaryIS}
	mainIng := ingress("model-ingress", mainSvc)
	canaryIng := func(opts ...ingressOpt) *networkingv1.Ingress {
		return ingress("gray-release-canary", canSvc, opts...)
	}
	tests := map[string]struct {
		objects []any
		key     facts.RouteKey
		want    facts.Primary
		wantErr error
	}{
		"no main route: no primary": {
			objects: []any{canaryIng(asCanary(canary.NginxWeight, "100"))},
			want:    facts.Primary{},
		},
		"a key no Ingress has: no primary": {
			objects: []any{mainIng},
			key:     facts.RouteKey{Class: "nginx", Host: host, Path: "/other", PathType: "Prefix"},
			want:    facts.Primary{},
		},
		"the main route's Service selects model-v1": {
			objects: []any{mainIng},
			want:    facts.Primary{ISVC: v1, Main: v1, MainIngress: mainRef},
		},
		"a canary at weight 20 leaves model-v1 the primary": {
			objects: []any{mainIng, canaryIng(asCanary(canary.NginxWeight, "20"))},
			want:    facts.Primary{ISVC: v1, Main: v1, MainIngress: mainRef},
		},
		"a header canary leaves model-v1 the primary": {
			objects: []any{mainIng, canaryIng(asCanary(canary.NginxHeader, "foo", canary.NginxHeaderValue, "bar"))},
			want:    facts.Primary{ISVC: v1, Main: v1, MainIngress: mainRef},
		},
		"a canary at weight 100 makes model-v2 the primary": {
			objects: []any{mainIng, canaryIng(asCanary(canary.NginxWeight, "100"))},
			want:    facts.Primary{ISVC: v2, Main: v1, ViaCanary: true, MainIngress: mainRef, CanaryIngress: canaryRef},
		},
		"a canary above weight 100 is full too": {
			objects: []any{mainIng, canaryIng(asCanary(canary.NginxWeight, "150"))},
			want:    facts.Primary{ISVC: v2, Main: v1, ViaCanary: true, MainIngress: mainRef, CanaryIngress: canaryRef},
		},
		"weight 999 of total 1000 leaves the main route the primary": {
			objects: []any{mainIng, canaryIng(asCanary(canary.NginxWeight, "999", canary.NginxWeightTotal, "1000"))},
			want:    facts.Primary{ISVC: v1, Main: v1, MainIngress: mainRef},
		},
		"weight 1000 of total 1000 is full": {
			objects: []any{mainIng, canaryIng(asCanary(canary.NginxWeight, "1000", canary.NginxWeightTotal, "1000"))},
			want:    facts.Primary{ISVC: v2, Main: v1, ViaCanary: true, MainIngress: mainRef, CanaryIngress: canaryRef},
		},
		"a total of 50 counts as 100: weight 100 is full": {
			objects: []any{mainIng, canaryIng(asCanary(canary.NginxWeight, "100", canary.NginxWeightTotal, "50"))},
			want:    facts.Primary{ISVC: v2, Main: v1, ViaCanary: true, MainIngress: mainRef, CanaryIngress: canaryRef},
		},
		"a total of 50 counts as 100: weight 50 is not full": {
			objects: []any{mainIng, canaryIng(asCanary(canary.NginxWeight, "50", canary.NginxWeightTotal, "50"))},
			want:    facts.Primary{ISVC: v1, Main: v1, MainIngress: mainRef},
		},
		"a full-weight Ingress without canary: \"true\" is a second main route: ambiguous": {
			objects: []any{mainIng, canaryIng(annotated(canary.NginxCanary, "yes", canary.NginxWeight, "100"))},
			wantErr: facts.ErrAmbiguous,
		},
		"two main routes in different namespaces are ambiguous": {
			objects: []any{mainIng, ingress("model-ingress", mainSvc, inNamespace("other"))},
			wantErr: facts.ErrAmbiguous,
		},
		"a main route whose backend Service is missing: no primary": {
			objects: []any{ingress("model-ingress", "missing-svc"), canaryIng(asCanary(canary.NginxWeight, "100"))},
			want:    facts.Primary{MainIngress: mainRef},
		},
		"a main route to a Service that is not a model Service: no primary": {
			objects: []any{ingress("model-ingress", "plain")},
			want:    facts.Primary{MainIngress: mainRef},
		},
		"a full canary whose Service is missing leaves the main route the primary": {
			objects: []any{mainIng, ingress("gray-release-canary", "missing-svc", asCanary(canary.NginxWeight, "100"))},
			want:    facts.Primary{ISVC: v1, Main: v1, MainIngress: mainRef, CanaryIngress: canaryRef},
		},
		"only the oldest canary is consulted: an older weight-0 canary hides a newer full one": {
			objects: []any{
				mainIng,
				ingress("b-old", canSvc, asCanary(), createdAt(t0)),
				ingress("a-new", canSvc, asCanary(canary.NginxWeight, "100"), createdAt(t0.Add(time.Hour))),
			},
			want: facts.Primary{ISVC: v1, Main: v1, MainIngress: mainRef},
		},
		"only the oldest canary is consulted: an older full canary wins over a newer weight-0 one": {
			objects: []any{
				mainIng,
				ingress("a-new", canSvc, asCanary(), createdAt(t0.Add(time.Hour))),
				ingress("b-old", canSvc, asCanary(canary.NginxWeight, "100"), createdAt(t0)),
			},
			want: facts.Primary{
				ISVC: v2, Main: v1, ViaCanary: true, MainIngress: mainRef,
				CanaryIngress: &facts.Ref{Namespace: ns, Name: "b-old"},
			},
		},
		"a canary not yet created (no timestamp) sorts after a created one": {
			objects: []any{
				mainIng,
				ingress("a-unset", canSvc, asCanary(canary.NginxWeight, "100")),
				ingress("z-created", canSvc, asCanary(), createdAt(t0)),
			},
			want: facts.Primary{ISVC: v1, Main: v1, MainIngress: mainRef},
		},
		"a path without a Service backend is skipped when resolving the main route": {
			objects: []any{ingress("model-ingress", mainSvc, withHost(""), func(ing *networkingv1.Ingress) {
				ing.Spec.DefaultBackend = &networkingv1.IngressBackend{
					Resource: &corev1.TypedLocalObjectReference{Kind: "Bucket", Name: "static"},
				}
			})},
			key:  facts.RouteKey{Class: "nginx", Host: "", Path: "/", PathType: "Prefix"},
			want: facts.Primary{ISVC: v1, Main: v1, MainIngress: mainRef},
		},
		"canaries of an ungoverned class are not consulted": {
			objects: []any{mainIng, canaryIng(asCanary(canary.NginxWeight, "100"), withClassName("traefik"))},
			want:    facts.Primary{ISVC: v1, Main: v1, MainIngress: mainRef},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			set := facts.NewSet(facts.NewClasses(nil))
			for _, o := range append(append([]any{}, services...), tc.objects...) {
				set.Put(o)
			}
			key := tc.key
			if key == (facts.RouteKey{}) {
				key = refKey
			}
			got, err := facts.PrimaryOf(t.Context(), set, set.Classes(), key)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("PrimaryOf() error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("PrimaryOf() error = %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("PrimaryOf() =\n%s\nwant\n%s", fmtPrimary(got), fmtPrimary(tc.want))
			}
		})
	}
}

func fmtPrimary(p facts.Primary) string {
	ref := func(r *facts.Ref) string {
		if r == nil {
			return "<nil>"
		}
		return r.String()
	}
	return "ISVC=" + p.ISVC.String() + " Main=" + p.Main.String() +
		" ViaCanary=" + map[bool]string{true: "true", false: "false"}[p.ViaCanary] +
		" MainIngress=" + ref(p.MainIngress) + " CanaryIngress=" + ref(p.CanaryIngress)
}

func TestOldest(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		ings []*networkingv1.Ingress
		want string
	}{
		"the earliest creationTimestamp wins": {
			ings: []*networkingv1.Ingress{
				ingress("a", canSvc, createdAt(t0.Add(time.Second))),
				ingress("b", canSvc, createdAt(t0)),
			},
			want: "default/b",
		},
		"unset timestamps sort last": {
			ings: []*networkingv1.Ingress{
				ingress("a", canSvc),
				ingress("b", canSvc, createdAt(t0)),
			},
			want: "default/b",
		},
		"equal timestamps fall back to namespace, then name": {
			ings: []*networkingv1.Ingress{
				ingress("a", canSvc, createdAt(t0), inNamespace("zz")),
				ingress("c", canSvc, createdAt(t0)),
				ingress("b", canSvc, createdAt(t0)),
			},
			want: "default/b",
		},
		"all unset: name order": {
			ings: []*networkingv1.Ingress{ingress("b", canSvc), ingress("a", canSvc)},
			want: "default/a",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := facts.Oldest(tc.ings)
			if s := got.Namespace + "/" + got.Name; s != tc.want {
				t.Errorf("Oldest() = %s, want %s", s, tc.want)
			}
		})
	}
}
