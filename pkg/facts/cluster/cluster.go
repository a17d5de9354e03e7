// Package cluster implements facts.Reader over a controller-runtime cache:
// every lookup is a field-index hit, so a decision never lists every object
// in the cluster. InferenceServices the gate depends on can be read live
// (uncached) so a spec change made a moment ago cannot slip through a stale
// cache.
package cluster

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/kserve"
)

// Field index names.
const (
	// IndexRoute indexes governed Ingresses by route key.
	IndexRoute = "canarygate.io/route"
	// IndexBackend indexes Ingresses by "namespace/service" of each backend.
	IndexBackend = "canarygate.io/backend"
	// IndexTarget indexes Services by "namespace/isvc" they select.
	IndexTarget = "canarygate.io/isvc"
)

// RouteIndexValue is the index value of a route key.
func RouteIndexValue(k facts.RouteKey) string {
	return k.Class + "\x00" + k.Host + "\x00" + k.Path + "\x00" + k.PathType
}

// AddIndexes registers the field indexes the Reader uses. Call it before
// the cache starts.
func AddIndexes(ctx context.Context, idx client.FieldIndexer, classes facts.Classes) error {
	if err := idx.IndexField(ctx, &networkingv1.Ingress{}, IndexRoute, func(o client.Object) []string {
		ing, ok := o.(*networkingv1.Ingress)
		if !ok || !classes.Governed(ing) {
			return nil
		}
		var out []string
		for _, r := range classes.Routes(ing) {
			out = append(out, RouteIndexValue(r.Key))
		}
		return out
	}); err != nil {
		return fmt.Errorf("indexing Ingresses by route: %w", err)
	}
	if err := idx.IndexField(ctx, &networkingv1.Ingress{}, IndexBackend, func(o client.Object) []string {
		ing, ok := o.(*networkingv1.Ingress)
		if !ok {
			return nil
		}
		var out []string
		for _, s := range facts.Backends(ing) {
			out = append(out, ing.Namespace+"/"+s)
		}
		return out
	}); err != nil {
		return fmt.Errorf("indexing Ingresses by backend: %w", err)
	}
	if err := idx.IndexField(ctx, &corev1.Service{}, IndexTarget, func(o client.Object) []string {
		svc, ok := o.(*corev1.Service)
		if !ok {
			return nil
		}
		if t := facts.ServiceTarget(svc); t != "" {
			return []string{svc.Namespace + "/" + t}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("indexing Services by InferenceService: %w", err)
	}
	return nil
}

// Reader implements facts.Reader over a cache. Objects it returns belong to
// the cache: callers must not modify them.
type Reader struct {
	// Cache is the manager's cache (indexed with AddIndexes).
	Cache client.Reader
	// Live, when set, reads InferenceServices uncached.
	Live client.Reader
	// LiveOnMiss reads an InferenceService live only when the cache does
	// not hold it (one created a moment ago, not yet seen by the watch).
	// The mutating and lint endpoints use it: the gate re-reads everything
	// it judges live, so they may take the cache's word and spare the API
	// server a read per request.
	LiveOnMiss bool
}

var _ facts.Reader = Reader{}

// Service implements facts.Reader.
func (r Reader) Service(ctx context.Context, namespace, name string) (*corev1.Service, error) {
	svc := &corev1.Service{}
	if err := get(ctx, r.Cache, namespace, name, svc); err != nil || svc.Name == "" {
		return nil, err
	}
	return svc, nil
}

// InferenceService implements facts.Reader; it reads live when Live is set.
func (r Reader) InferenceService(ctx context.Context, namespace, name string) (*kserve.InferenceService, error) {
	reader := r.Cache
	if r.Live != nil && r.LiveOnMiss {
		isvc := &kserve.InferenceService{}
		if err := get(ctx, r.Cache, namespace, name, isvc); err != nil {
			return nil, err
		}
		if isvc.Name != "" {
			return isvc, nil
		}
	}
	if r.Live != nil {
		reader = r.Live
	}
	isvc := &kserve.InferenceService{}
	if err := get(ctx, reader, namespace, name, isvc); err != nil || isvc.Name == "" {
		return nil, err
	}
	return isvc, nil
}

// Namespace implements facts.Reader.
func (r Reader) Namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	ns := &corev1.Namespace{}
	if err := get(ctx, r.Cache, "", name, ns); err != nil || ns.Name == "" {
		return nil, err
	}
	return ns, nil
}

// IngressesByRoute implements facts.Reader.
func (r Reader) IngressesByRoute(ctx context.Context, key facts.RouteKey) ([]*networkingv1.Ingress, error) {
	return r.ingresses(ctx, client.MatchingFields{IndexRoute: RouteIndexValue(key)})
}

// IngressesRoutingTo implements facts.Reader.
func (r Reader) IngressesRoutingTo(ctx context.Context, namespace, service string) ([]*networkingv1.Ingress, error) {
	return r.ingresses(ctx, client.InNamespace(namespace), client.MatchingFields{IndexBackend: namespace + "/" + service})
}

// ServicesSelecting implements facts.Reader.
func (r Reader) ServicesSelecting(ctx context.Context, namespace, isvc string) ([]*corev1.Service, error) {
	list := &corev1.ServiceList{}
	if err := r.Cache.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{IndexTarget: namespace + "/" + isvc}); err != nil {
		return nil, fmt.Errorf("listing Services selecting %s/%s: %w", namespace, isvc, err)
	}
	out := make([]*corev1.Service, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

func (r Reader) ingresses(ctx context.Context, opts ...client.ListOption) ([]*networkingv1.Ingress, error) {
	list := &networkingv1.IngressList{}
	if err := r.Cache.List(ctx, list, opts...); err != nil {
		return nil, fmt.Errorf("listing Ingresses: %w", err)
	}
	out := make([]*networkingv1.Ingress, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

// get reads one object; a missing object leaves obj empty and is no error.
func get(ctx context.Context, r client.Reader, namespace, name string, obj client.Object) error {
	err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %T %s/%s: %w", obj, namespace, name, err)
	}
	return nil
}
