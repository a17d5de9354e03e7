package facts

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/canarygate/canarygate/pkg/kserve"
)

// Governed kinds.
var (
	ServiceKind          = schema.GroupKind{Group: "", Kind: "Service"}
	IngressKind          = schema.GroupKind{Group: "networking.k8s.io", Kind: "Ingress"}
	InferenceServiceKind = schema.GroupKind{Group: kserve.Group, Kind: kserve.Kind}
	NamespaceKind        = schema.GroupKind{Group: "", Kind: "Namespace"}
)

// Governed reports whether canarygate makes decisions about a kind.
func Governed(gk schema.GroupKind) bool {
	return gk == ServiceKind || gk == IngressKind || gk == InferenceServiceKind
}

// Decode converts an unstructured object of a governed kind (or a
// Namespace) to its typed form: *corev1.Service, *networkingv1.Ingress,
// *kserve.InferenceService or *corev1.Namespace. It returns an error naming
// the field for content that does not fit the type, and (nil, nil) for other
// kinds.
func Decode(u *unstructured.Unstructured) (any, error) {
	if u == nil {
		return nil, nil
	}
	var out any
	switch u.GroupVersionKind().GroupKind() {
	case ServiceKind:
		out = &corev1.Service{}
	case IngressKind:
		out = &networkingv1.Ingress{}
	case InferenceServiceKind:
		out = &kserve.InferenceService{}
	case NamespaceKind:
		out = &corev1.Namespace{}
	default:
		return nil, nil
	}
	raw, err := json.Marshal(u.Object)
	if err != nil {
		return nil, fmt.Errorf("encoding %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("%s %s does not match the %s schema: %w", u.GetKind(), u.GetName(), u.GetKind(), err)
	}
	return out, nil
}

// Put adds a decoded object to the set; other kinds are ignored.
func (s *Set) Put(obj any) {
	switch o := obj.(type) {
	case *corev1.Service:
		s.PutService(o)
	case *networkingv1.Ingress:
		s.PutIngress(o)
	case *kserve.InferenceService:
		s.PutInferenceService(o)
	case *corev1.Namespace:
		s.PutNamespace(o)
	}
}

// Delete removes the object of a governed kind named by gk and ref.
func (s *Set) Delete(gk schema.GroupKind, ref Ref) {
	switch gk {
	case ServiceKind:
		s.DeleteService(ref)
	case IngressKind:
		s.DeleteIngress(ref)
	case InferenceServiceKind:
		s.DeleteInferenceService(ref)
	case NamespaceKind:
		delete(s.namespaces, ref.Name)
	}
}
