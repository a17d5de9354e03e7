// Package facts answers the lookups canarygate's decisions need — which
// Services select an InferenceService, which Ingresses share a route key,
// what a route's primary is — over one interface with two implementations:
// a manifest set (Set, for `canarygate check`) and the cluster cache (for
// `canarygate serve`). The resolution rules live here once, so both paths
// relate objects exactly the same way.
package facts

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/canarygate/canarygate/pkg/kserve"
)

// ErrAmbiguous is returned when a route key has more than one main route, so
// its primary cannot be told.
var ErrAmbiguous = errors.New("route key has more than one main route")

// Reader is the set of lookups decisions make. Every method returns nil (and
// no error) for an object that does not exist; an error means the answer is
// unknown and the gate must deny rather than guess. Returned objects are
// shared: callers must not modify them.
type Reader interface {
	// Service returns the Service ns/name.
	Service(ctx context.Context, namespace, name string) (*corev1.Service, error)
	// InferenceService returns the InferenceService ns/name.
	InferenceService(ctx context.Context, namespace, name string) (*kserve.InferenceService, error)
	// IngressesByRoute returns every governed Ingress, in any namespace,
	// with a rule for the route key (ingress-nginx merges canaries by host
	// across namespaces).
	IngressesByRoute(ctx context.Context, key RouteKey) ([]*networkingv1.Ingress, error)
	// ServicesSelecting returns the Services in namespace whose selector
	// resolves to the InferenceService name.
	ServicesSelecting(ctx context.Context, namespace, isvc string) ([]*corev1.Service, error)
	// IngressesRoutingTo returns the Ingresses in namespace with a backend
	// (default or rule) naming the Service.
	IngressesRoutingTo(ctx context.Context, namespace, service string) ([]*networkingv1.Ingress, error)
	// Namespace returns the Namespace; nil when it is unknown.
	Namespace(ctx context.Context, name string) (*corev1.Namespace, error)
}

// Ref names a namespaced object.
type Ref struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (r Ref) String() string { return r.Namespace + "/" + r.Name }

// LookupError records a lookup that failed; decisions depending on it deny.
type LookupError struct {
	What string
	Err  error
}

func (e *LookupError) Error() string { return fmt.Sprintf("reading %s: %v", e.What, e.Err) }
func (e *LookupError) Unwrap() error { return e.Err }
