package facts

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/canarygate/canarygate/pkg/canary"
)

// DefaultIngressClass is the class assumed when none is configured.
const DefaultIngressClass = "nginx"

// RouteKey is what ingress-nginx merges a canary into its main route on:
// class, host, the exact path string and the path type, with
// ImplementationSpecific and unset read as Prefix.
type RouteKey struct {
	Class    string `json:"class"`
	Host     string `json:"host"`
	Path     string `json:"path"`
	PathType string `json:"pathType"`
}

func (k RouteKey) String() string {
	host := k.Host
	if host == "" {
		host = "*"
	}
	return fmt.Sprintf("%s %s%s (%s)", k.Class, host, k.Path, k.PathType)
}

// Route is one rule path of an Ingress.
type Route struct {
	Key     RouteKey
	Field   string // field path of the path entry
	Service string // backend Service name; "" when the backend is not a Service
}

// Classes is the governed ingress classes; the first is assumed for
// Ingresses that name none. An empty Classes (the zero value) behaves as
// NewClasses(nil): it governs nginx.
type Classes []string

// NewClasses returns the classes, defaulting to nginx when empty.
func NewClasses(classes []string) Classes {
	if len(classes) == 0 {
		return Classes{DefaultIngressClass}
	}
	return Classes(classes)
}

// Of returns an Ingress's class: spec.ingressClassName, else the legacy
// annotation, else the first governed class.
func (c Classes) Of(ing *networkingv1.Ingress) string {
	if ing.Spec.IngressClassName != nil && *ing.Spec.IngressClassName != "" {
		return *ing.Spec.IngressClassName
	}
	if v := ing.Annotations[canary.IngressClassAnnotation]; v != "" {
		return v
	}
	return NewClasses(c)[0]
}

// Governed reports whether canarygate governs the Ingress's class.
func (c Classes) Governed(ing *networkingv1.Ingress) bool {
	class := c.Of(ing)
	for _, g := range NewClasses(c) {
		if g == class {
			return true
		}
	}
	return false
}

// Routes returns the route keys of an Ingress, one per rule path, plus the
// default backend as host "" path "/" (Prefix). Rules without an http block
// contribute nothing.
func (c Classes) Routes(ing *networkingv1.Ingress) []Route {
	class := c.Of(ing)
	var out []Route
	if b := ing.Spec.DefaultBackend; b != nil {
		out = append(out, Route{
			Key:     RouteKey{Class: class, Host: "", Path: "/", PathType: string(networkingv1.PathTypePrefix)},
			Field:   "spec.defaultBackend",
			Service: backendService(b),
		})
	}
	for i, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for j, p := range rule.HTTP.Paths {
			out = append(out, Route{
				Key:     RouteKey{Class: class, Host: rule.Host, Path: p.Path, PathType: pathType(p.PathType)},
				Field:   fmt.Sprintf("spec.rules[%d].http.paths[%d]", i, j),
				Service: backendService(&p.Backend),
			})
		}
	}
	return out
}

func pathType(t *networkingv1.PathType) string {
	if t == nil || *t == networkingv1.PathTypeImplementationSpecific || *t == "" {
		return string(networkingv1.PathTypePrefix)
	}
	return string(*t)
}

func backendService(b *networkingv1.IngressBackend) string {
	if b == nil || b.Service == nil {
		return ""
	}
	return b.Service.Name
}

// Backends returns the distinct Service names an Ingress routes to.
func Backends(ing *networkingv1.Ingress) []string {
	seen := map[string]bool{}
	var out []string
	add := func(b *networkingv1.IngressBackend) {
		if s := backendService(b); s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	add(ing.Spec.DefaultBackend)
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for i := range rule.HTTP.Paths {
			add(&rule.HTTP.Paths[i].Backend)
		}
	}
	return out
}

// IsCanary reports whether ingress-nginx treats the Ingress as a canary.
func IsCanary(ing *networkingv1.Ingress) bool {
	_, enabled := canary.FromNginx(ing.Annotations)
	return enabled
}

// ServiceTarget returns the InferenceService name a Service selects: the
// serving.kserve.io/inferenceservice selector, else KServe's predictor
// selector app=isvc.<name>-predictor; "" for a Service that is not a model
// Service. The name resolves whether or not the InferenceService exists.
func ServiceTarget(svc *corev1.Service) string {
	if svc == nil {
		return ""
	}
	if name := svc.Spec.Selector[canary.LabelInferenceService]; name != "" {
		return name
	}
	if app := svc.Spec.Selector[canary.LabelApp]; strings.HasPrefix(app, "isvc.") && strings.HasSuffix(app, "-predictor") {
		name := strings.TrimSuffix(strings.TrimPrefix(app, "isvc."), "-predictor")
		if name != "" {
			return name
		}
	}
	return ""
}

// Primary is what a route key sends its traffic to.
type Primary struct {
	// ISVC is the primary InferenceService; empty Name means no primary.
	ISVC Ref
	// Main is the main route's InferenceService (equal to ISVC unless a
	// full-weight canary took over).
	Main Ref
	// ViaCanary is set when a canary at full weight is the primary.
	ViaCanary bool
	// MainIngress and CanaryIngress name the Ingresses consulted.
	MainIngress, CanaryIngress *Ref
}

// PrimaryOf resolves the primary of a route key: the InferenceService its
// main route's backend Service selects; the canary's target instead when the
// (oldest) canary's weight is at or above its effective total. No main
// route, a missing backend Service or a non-model Service: no primary. Two
// main routes: ErrAmbiguous.
func PrimaryOf(ctx context.Context, r Reader, classes Classes, key RouteKey) (Primary, error) {
	ings, err := r.IngressesByRoute(ctx, key)
	if err != nil {
		return Primary{}, err
	}
	var mains, canaries []*networkingv1.Ingress
	for _, ing := range ings {
		if IsCanary(ing) {
			canaries = append(canaries, ing)
		} else {
			mains = append(mains, ing)
		}
	}
	var p Primary
	if len(mains) > 1 {
		return p, fmt.Errorf("%w: %s", ErrAmbiguous, key)
	}
	if len(mains) == 0 {
		return p, nil
	}
	main := mains[0]
	p.MainIngress = &Ref{Namespace: main.Namespace, Name: main.Name}
	target, err := routeTarget(ctx, r, classes, main, key)
	if err != nil {
		return p, err
	}
	p.Main, p.ISVC = target, target
	if len(canaries) == 0 || target.Name == "" {
		return p, nil
	}
	c := Oldest(canaries)
	spec, _ := canary.FromNginx(c.Annotations)
	if !spec.Full() {
		return p, nil
	}
	ct, err := routeTarget(ctx, r, classes, c, key)
	if err != nil {
		return p, err
	}
	p.CanaryIngress = &Ref{Namespace: c.Namespace, Name: c.Name}
	if ct.Name != "" {
		p.ISVC, p.ViaCanary = ct, true
	}
	return p, nil
}

// routeTarget resolves the InferenceService behind the path of ing that has
// the route key.
func routeTarget(ctx context.Context, r Reader, classes Classes, ing *networkingv1.Ingress, key RouteKey) (Ref, error) {
	for _, rt := range classes.Routes(ing) {
		if rt.Key != key || rt.Service == "" {
			continue
		}
		svc, err := r.Service(ctx, ing.Namespace, rt.Service)
		if err != nil {
			return Ref{}, err
		}
		if name := ServiceTarget(svc); name != "" {
			return Ref{Namespace: ing.Namespace, Name: name}, nil
		}
		return Ref{}, nil
	}
	return Ref{}, nil
}

// RouteTarget is routeTarget for callers outside the package.
func RouteTarget(ctx context.Context, r Reader, classes Classes, ing *networkingv1.Ingress, key RouteKey) (Ref, error) {
	return routeTarget(ctx, r, classes, ing, key)
}

// Oldest returns the Ingress ingress-nginx consults first among canaries of
// one key: the oldest by creation time, then by namespace and name (objects
// not yet created sort last, in name order, so the answer is stable).
func Oldest(ings []*networkingv1.Ingress) *networkingv1.Ingress {
	s := append([]*networkingv1.Ingress(nil), ings...)
	sort.SliceStable(s, func(i, j int) bool {
		a, b := s[i], s[j]
		at, bt := a.CreationTimestamp, b.CreationTimestamp
		switch {
		case at.IsZero() != bt.IsZero():
			return !at.IsZero()
		case !at.Equal(&bt):
			return at.Before(&bt)
		case a.Namespace != b.Namespace:
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return s[0]
}
