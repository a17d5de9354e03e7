package facts

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
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
	if exact(u.Object) {
		// The converter is several times faster than a JSON round trip;
		// it is used only where it decodes what JSON would (see exact).
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err == nil {
			return out, nil
		}
		out = reflect.New(reflect.TypeOf(out).Elem()).Interface()
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

// exact reports whether the unstructured converter decodes content exactly
// as encoding/json does. JSON matches a key to a field case-insensitively
// and refuses numbers a field cannot hold, where the converter ignores the
// key and narrows the number; so content qualifies only when it holds
// strings, booleans, nulls, maps, slices and integers in 0..MaxInt32, and
// no key that differs from a field name of the decoded types only in case.
// Anything else takes the JSON path, which keeps JSON's errors naming the
// field.
func exact(v any) bool {
	switch x := v.(type) {
	case nil, string, bool:
		return true
	case int64:
		return x >= 0 && x <= math.MaxInt32
	case int:
		return x >= 0 && x <= math.MaxInt32
	case int32:
		return x >= 0
	case map[string]any:
		names := fieldNames()
		for k, e := range x {
			if _, ok := names.exact[k]; !ok {
				if _, folded := names.folded[strings.ToLower(k)]; folded || !ascii(k) {
					return false
				}
			}
			if !exact(e) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range x {
			if !exact(e) {
				return false
			}
		}
		return true
	}
	return false
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// names are the JSON field names of the decoded types, as written and
// lower-cased.
type names struct {
	exact, folded map[string]struct{}
}

// fieldNames walks the decoded types once. Types that decode themselves
// (metav1.Time, intstr.IntOrString, json.RawMessage) are not walked: both
// paths hand them their JSON. A name that differs from another only in case
// is left out of exact, so content carrying it always takes the JSON path.
var fieldNames = sync.OnceValue(func() names {
	unmarshaler := reflect.TypeFor[json.Unmarshaler]()
	variants := map[string]map[string]struct{}{}
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] || reflect.PointerTo(t).Implements(unmarshaler) {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" && !f.Anonymous {
				name = f.Name
			}
			if name != "" && name != "-" {
				lower := strings.ToLower(name)
				if variants[lower] == nil {
					variants[lower] = map[string]struct{}{}
				}
				variants[lower][name] = struct{}{}
			}
			walk(f.Type)
		}
	}
	for _, t := range []any{corev1.Service{}, networkingv1.Ingress{}, kserve.InferenceService{}, corev1.Namespace{}} {
		walk(reflect.TypeOf(t))
	}
	n := names{exact: map[string]struct{}{}, folded: map[string]struct{}{}}
	for lower, vs := range variants {
		n.folded[lower] = struct{}{}
		if len(vs) == 1 {
			for v := range vs {
				n.exact[v] = struct{}{}
			}
		}
	}
	return n
})

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
