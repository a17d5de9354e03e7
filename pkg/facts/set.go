package facts

import (
	"context"
	"sort"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/canarygate/canarygate/pkg/kserve"
)

// Set is a Reader over an in-memory set of objects (a manifest set or a
// snapshot), with an index per lookup so no decision scans every object.
// A Set is not safe for concurrent writes; reads after the last write are.
type Set struct {
	classes    Classes
	services   map[Ref]*corev1.Service
	isvcs      map[Ref]*kserve.InferenceService
	ingresses  map[Ref]*networkingv1.Ingress
	namespaces map[string]*corev1.Namespace

	byRoute    map[RouteKey]map[Ref]bool
	bySelector map[Ref]map[Ref]bool // InferenceService ref → Services
	byBackend  map[Ref]map[Ref]bool // Service ref → Ingresses
}

// NewSet returns an empty Set governing the given ingress classes.
func NewSet(classes Classes) *Set {
	return &Set{
		classes:    classes,
		services:   map[Ref]*corev1.Service{},
		isvcs:      map[Ref]*kserve.InferenceService{},
		ingresses:  map[Ref]*networkingv1.Ingress{},
		namespaces: map[string]*corev1.Namespace{},
		byRoute:    map[RouteKey]map[Ref]bool{},
		bySelector: map[Ref]map[Ref]bool{},
		byBackend:  map[Ref]map[Ref]bool{},
	}
}

// Classes returns the governed ingress classes.
func (s *Set) Classes() Classes { return s.classes }

// Clone returns an independent copy of the set (objects are shared; they
// are never modified in place).
func (s *Set) Clone() *Set {
	c := NewSet(s.classes)
	for _, v := range s.services {
		c.PutService(v)
	}
	for _, v := range s.isvcs {
		c.PutInferenceService(v)
	}
	for _, v := range s.ingresses {
		c.PutIngress(v)
	}
	for _, v := range s.namespaces {
		c.PutNamespace(v)
	}
	return c
}

func add(idx map[Ref]map[Ref]bool, k, v Ref) {
	m := idx[k]
	if m == nil {
		m = map[Ref]bool{}
		idx[k] = m
	}
	m[v] = true
}

func del(idx map[Ref]map[Ref]bool, k, v Ref) {
	if m := idx[k]; m != nil {
		delete(m, v)
		if len(m) == 0 {
			delete(idx, k)
		}
	}
}

// PutService adds or replaces a Service.
func (s *Set) PutService(svc *corev1.Service) {
	ref := Ref{Namespace: svc.Namespace, Name: svc.Name}
	s.DeleteService(ref)
	s.services[ref] = svc
	if name := ServiceTarget(svc); name != "" {
		add(s.bySelector, Ref{Namespace: svc.Namespace, Name: name}, ref)
	}
}

// DeleteService removes a Service if present.
func (s *Set) DeleteService(ref Ref) {
	old := s.services[ref]
	if old == nil {
		return
	}
	delete(s.services, ref)
	if name := ServiceTarget(old); name != "" {
		del(s.bySelector, Ref{Namespace: old.Namespace, Name: name}, ref)
	}
}

// PutInferenceService adds or replaces an InferenceService.
func (s *Set) PutInferenceService(isvc *kserve.InferenceService) {
	s.isvcs[Ref{Namespace: isvc.Namespace, Name: isvc.Name}] = isvc
}

// DeleteInferenceService removes an InferenceService if present.
func (s *Set) DeleteInferenceService(ref Ref) { delete(s.isvcs, ref) }

// PutIngress adds or replaces an Ingress. Ingresses of classes not governed
// are kept (so a class change is seen) but never returned by route lookups.
func (s *Set) PutIngress(ing *networkingv1.Ingress) {
	ref := Ref{Namespace: ing.Namespace, Name: ing.Name}
	s.DeleteIngress(ref)
	s.ingresses[ref] = ing
	if s.classes.Governed(ing) {
		for _, r := range s.classes.Routes(ing) {
			m := s.byRoute[r.Key]
			if m == nil {
				m = map[Ref]bool{}
				s.byRoute[r.Key] = m
			}
			m[ref] = true
		}
	}
	for _, svc := range Backends(ing) {
		add(s.byBackend, Ref{Namespace: ing.Namespace, Name: svc}, ref)
	}
}

// DeleteIngress removes an Ingress if present.
func (s *Set) DeleteIngress(ref Ref) {
	old := s.ingresses[ref]
	if old == nil {
		return
	}
	delete(s.ingresses, ref)
	for _, r := range s.classes.Routes(old) {
		if m := s.byRoute[r.Key]; m != nil {
			delete(m, ref)
			if len(m) == 0 {
				delete(s.byRoute, r.Key)
			}
		}
	}
	for _, svc := range Backends(old) {
		del(s.byBackend, Ref{Namespace: old.Namespace, Name: svc}, ref)
	}
}

// PutNamespace adds or replaces a Namespace.
func (s *Set) PutNamespace(ns *corev1.Namespace) { s.namespaces[ns.Name] = ns }

// Service implements Reader.
func (s *Set) Service(_ context.Context, namespace, name string) (*corev1.Service, error) {
	return s.services[Ref{Namespace: namespace, Name: name}], nil
}

// InferenceService implements Reader.
func (s *Set) InferenceService(_ context.Context, namespace, name string) (*kserve.InferenceService, error) {
	return s.isvcs[Ref{Namespace: namespace, Name: name}], nil
}

// IngressesByRoute implements Reader.
func (s *Set) IngressesByRoute(_ context.Context, key RouteKey) ([]*networkingv1.Ingress, error) {
	return collect(s.byRoute[key], s.ingresses), nil
}

// ServicesSelecting implements Reader.
func (s *Set) ServicesSelecting(_ context.Context, namespace, isvc string) ([]*corev1.Service, error) {
	return collect(s.bySelector[Ref{Namespace: namespace, Name: isvc}], s.services), nil
}

// IngressesRoutingTo implements Reader.
func (s *Set) IngressesRoutingTo(_ context.Context, namespace, service string) ([]*networkingv1.Ingress, error) {
	return collect(s.byBackend[Ref{Namespace: namespace, Name: service}], s.ingresses), nil
}

// Namespace implements Reader.
func (s *Set) Namespace(_ context.Context, name string) (*corev1.Namespace, error) {
	return s.namespaces[name], nil
}

// collect returns the indexed objects in namespace/name order.
func collect[T any](refs map[Ref]bool, objs map[Ref]*T) []*T {
	if len(refs) == 0 {
		return nil
	}
	keys := make([]Ref, 0, len(refs))
	for r := range refs {
		keys = append(keys, r)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Namespace != keys[j].Namespace {
			return keys[i].Namespace < keys[j].Namespace
		}
		return keys[i].Name < keys[j].Name
	})
	out := make([]*T, 0, len(keys))
	for _, k := range keys {
		if o := objs[k]; o != nil {
			out = append(out, o)
		}
	}
	return out
}
