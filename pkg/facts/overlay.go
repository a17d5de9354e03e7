package facts

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/canarygate/canarygate/pkg/kserve"
)

// Overlay is a Reader that answers as Base would with one change applied:
// Put replaces (or adds) an object, Deleted removes one. The webhook judges
// each request with the cluster before it (Base) and after it (an Overlay),
// without copying the cluster.
type Overlay struct {
	Base    Reader
	Classes Classes
	// Put is the object the request writes (a *corev1.Service,
	// *networkingv1.Ingress, *kserve.InferenceService or *corev1.Namespace),
	// nil for a DELETE.
	Put any
	// Deleted names the object a DELETE removes; Kind is empty otherwise.
	Deleted schema.GroupKind
	Ref     Ref
}

// touches reports whether the overlay's change concerns the object gk/ref.
func (o Overlay) touches(gk schema.GroupKind, ref Ref) bool {
	switch p := o.Put.(type) {
	case *corev1.Service:
		return gk == ServiceKind && ref == Ref{Namespace: p.Namespace, Name: p.Name}
	case *networkingv1.Ingress:
		return gk == IngressKind && ref == Ref{Namespace: p.Namespace, Name: p.Name}
	case *kserve.InferenceService:
		return gk == InferenceServiceKind && ref == Ref{Namespace: p.Namespace, Name: p.Name}
	case *corev1.Namespace:
		return gk == NamespaceKind && ref.Name == p.Name
	}
	return gk == o.Deleted && ref == o.Ref
}

// Service implements Reader.
func (o Overlay) Service(ctx context.Context, namespace, name string) (*corev1.Service, error) {
	ref := Ref{Namespace: namespace, Name: name}
	if o.touches(ServiceKind, ref) {
		p, _ := o.Put.(*corev1.Service)
		return p, nil
	}
	return o.Base.Service(ctx, namespace, name)
}

// InferenceService implements Reader.
func (o Overlay) InferenceService(ctx context.Context, namespace, name string) (*kserve.InferenceService, error) {
	if o.touches(InferenceServiceKind, Ref{Namespace: namespace, Name: name}) {
		p, _ := o.Put.(*kserve.InferenceService)
		return p, nil
	}
	return o.Base.InferenceService(ctx, namespace, name)
}

// Namespace implements Reader.
func (o Overlay) Namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	if o.touches(NamespaceKind, Ref{Name: name}) {
		p, _ := o.Put.(*corev1.Namespace)
		return p, nil
	}
	return o.Base.Namespace(ctx, name)
}

// IngressesByRoute implements Reader.
func (o Overlay) IngressesByRoute(ctx context.Context, key RouteKey) ([]*networkingv1.Ingress, error) {
	base, err := o.Base.IngressesByRoute(ctx, key)
	if err != nil {
		return nil, err
	}
	return o.ingresses(base, func(ing *networkingv1.Ingress) bool {
		if !o.Classes.Governed(ing) {
			return false
		}
		for _, r := range o.Classes.Routes(ing) {
			if r.Key == key {
				return true
			}
		}
		return false
	}), nil
}

// IngressesRoutingTo implements Reader.
func (o Overlay) IngressesRoutingTo(ctx context.Context, namespace, service string) ([]*networkingv1.Ingress, error) {
	base, err := o.Base.IngressesRoutingTo(ctx, namespace, service)
	if err != nil {
		return nil, err
	}
	return o.ingresses(base, func(ing *networkingv1.Ingress) bool {
		return ing.Namespace == namespace && slices.Contains(Backends(ing), service)
	}), nil
}

// ServicesSelecting implements Reader.
func (o Overlay) ServicesSelecting(ctx context.Context, namespace, isvc string) ([]*corev1.Service, error) {
	base, err := o.Base.ServicesSelecting(ctx, namespace, isvc)
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.Service, 0, len(base)+1)
	for _, s := range base {
		if !o.touches(ServiceKind, Ref{Namespace: s.Namespace, Name: s.Name}) {
			out = append(out, s)
		}
	}
	if p, ok := o.Put.(*corev1.Service); ok && p.Namespace == namespace && ServiceTarget(p) == isvc {
		out = append(out, p)
	}
	return out, nil
}

// ingresses drops the overlaid Ingress from base and adds the written one
// when it matches.
func (o Overlay) ingresses(base []*networkingv1.Ingress, match func(*networkingv1.Ingress) bool) []*networkingv1.Ingress {
	out := make([]*networkingv1.Ingress, 0, len(base)+1)
	for _, ing := range base {
		if !o.touches(IngressKind, Ref{Namespace: ing.Namespace, Name: ing.Name}) {
			out = append(out, ing)
		}
	}
	if p, ok := o.Put.(*networkingv1.Ingress); ok && match(p) {
		out = append(out, p)
	}
	return out
}
