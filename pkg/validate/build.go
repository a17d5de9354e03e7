package validate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/canarygate/canarygate/pkg/canary"
	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/kserve"
	"github.com/canarygate/canarygate/pkg/mutate"
)

// Request is one admission request, from the API server or from `check`.
type Request struct {
	UID       string
	Operation string // CREATE, UPDATE or DELETE
	Kind      schema.GroupVersionKind
	Namespace string
	Name      string
	// Object is nil on DELETE; OldObject is nil on CREATE.
	Object, OldObject *unstructured.Unstructured
	User              string
	Groups            []string
	DryRun            bool
}

// ErrMalformed is wrapped by errors about a request canarygate cannot
// understand; such requests are denied, never skipped.
var ErrMalformed = errors.New("malformed request")

// Builder gathers the facts of the policy input.
type Builder struct {
	Classes facts.Classes
}

// Build returns the policy input for req. before answers what held before
// the request (the cluster, or `check --state`), after what holds with the
// request applied. Lookup failures are recorded in Input.Errors (the gate
// denies on them); an object that does not fit its kind's schema is an
// error wrapping ErrMalformed.
func (b Builder) Build(ctx context.Context, req Request, before, after facts.Reader, now time.Time) (*Input, error) {
	in := &Input{
		Version: InputVersion,
		Request: RequestInfo{
			UID: req.UID, Operation: req.Operation,
			Kind:      GVK{Group: req.Kind.Group, Version: req.Kind.Version, Kind: req.Kind.Kind},
			Namespace: req.Namespace, Name: req.Name, DryRun: req.DryRun,
			UserInfo: UserInfo{Username: req.User, Groups: nonNil(req.Groups)},
		},
		Object:    content(req.Object),
		OldObject: content(req.OldObject),
		Now:       now.UTC().Format(time.RFC3339Nano),
		NowNs:     now.UnixNano(),
		Switches:  []Switch{},
		Exposures: []Exposure{},
		Targets:   map[string]Target{},
		Stamps:    []mutate.Expectation{},
		Errors:    []string{},
	}
	g := &gatherer{b: b, in: in, before: before, after: after, ctx: ctx}
	g.namespace(req.Namespace)

	newObj, err := facts.Decode(req.Object)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	oldObj, err := facts.Decode(req.OldObject)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	switch req.Kind.GroupKind() {
	case facts.IngressKind:
		ing, _ := newObj.(*networkingv1.Ingress)
		old, _ := oldObj.(*networkingv1.Ingress)
		g.ingress(ing, old)
	case facts.ServiceKind:
		svc, _ := newObj.(*corev1.Service)
		old, _ := oldObj.(*corev1.Service)
		g.service(req, svc, old)
	case facts.InferenceServiceKind:
		isvc, _ := newObj.(*kserve.InferenceService)
		old, _ := oldObj.(*kserve.InferenceService)
		g.inferenceService(req, isvc, old)
	}
	if req.OldObject != nil {
		if prev := req.OldObject.GetAnnotations()[canary.StampPreviousISVC]; prev != "" {
			g.target(facts.Ref{Namespace: req.Namespace, Name: prev})
		}
	}
	g.readTargets()
	if req.Object != nil && req.Operation != "DELETE" {
		g.stamps(req, newObj)
	}
	return in, nil
}

type gatherer struct {
	ctx           context.Context
	b             Builder
	in            *Input
	before, after facts.Reader
	// targets are the InferenceServices named so far, in order; they are
	// read together by readTargets.
	targets []facts.Ref
}

func (g *gatherer) fail(what string, err error) {
	g.in.Errors = append(g.in.Errors, (&facts.LookupError{What: what, Err: err}).Error())
}

func (g *gatherer) namespace(name string) {
	g.in.Namespace = NamespaceInfo{Name: name, Labels: map[string]string{}, Phase: string(corev1.NamespaceActive)}
	if name == "" {
		return
	}
	ns, err := g.after.Namespace(g.ctx, name)
	if err != nil {
		g.fail("namespace "+name, err)
		return
	}
	if ns == nil {
		return
	}
	if ns.Labels != nil {
		g.in.Namespace.Labels = ns.Labels
	}
	if ns.Status.Phase != "" {
		g.in.Namespace.Phase = string(ns.Status.Phase)
	}
}

// ingress gathers the route, switch, exposure and deletion facts of an
// Ingress request.
func (g *gatherer) ingress(ing, old *networkingv1.Ingress) {
	subject := ing
	if subject == nil {
		subject = old
	}
	if subject == nil {
		return
	}
	classes := g.b.Classes
	f := &IngressFacts{Class: classes.Of(subject), Governed: classes.Governed(subject) || (old != nil && classes.Governed(old)), Routes: []RouteFacts{}}
	g.in.Ingress = f
	if !f.Governed {
		return
	}
	spec, enabled := canary.FromNginx(subject.Annotations)
	f.Canary, f.Spec = enabled, specFacts(spec)
	for _, rt := range classes.Routes(subject) {
		f.Routes = append(f.Routes, g.route(subject, rt, enabled))
	}

	// Switches: every route key of the old and new object.
	keys := map[facts.RouteKey]string{}
	for _, o := range []*networkingv1.Ingress{old, ing} {
		if o == nil || !classes.Governed(o) {
			continue
		}
		for _, rt := range classes.Routes(o) {
			keys[rt.Key] = rt.Field
		}
	}
	for _, key := range sortedKeys(keys) {
		g.routeSwitch(key, keys[key])
	}

	// Route keys an UPDATE takes from a main route while canaries remain.
	f.Abandoned = []AbandonedRoute{}
	if ing != nil && old != nil && classes.Governed(old) && !facts.IsCanary(old) {
		kept := map[facts.RouteKey]bool{}
		if classes.Governed(ing) && !facts.IsCanary(ing) {
			for _, rt := range classes.Routes(ing) {
				kept[rt.Key] = true
			}
		}
		for _, rt := range classes.Routes(old) {
			if kept[rt.Key] {
				continue
			}
			a := AbandonedRoute{Key: rt.Key, Canaries: []IngressRef{}}
			others, err := g.after.IngressesByRoute(g.ctx, rt.Key)
			if err != nil {
				g.fail("Ingresses of route "+rt.Key.String(), err)
			}
			for _, o := range others {
				if facts.IsCanary(o) && (o.Namespace != ing.Namespace || o.Name != ing.Name) {
					a.Canaries = append(a.Canaries, g.ingressRef(o, rt.Key))
				}
			}
			f.Abandoned = append(f.Abandoned, a)
		}
	}

	// Exposures: a canary the request writes.
	if ing != nil && enabled {
		var oldSpec *SpecFacts
		if old != nil {
			if os, oe := canary.FromNginx(old.Annotations); oe {
				sf := specFacts(os)
				oldSpec = &sf
			}
		}
		seen := map[string]bool{}
		for _, r := range f.Routes {
			if r.ISVC == "" || seen[r.ISVC] {
				continue
			}
			seen[r.ISVC] = true
			ref := facts.Ref{Namespace: ing.Namespace, Name: r.ISVC}
			g.in.Exposures = append(g.in.Exposures, Exposure{
				Subject: fmt.Sprintf("Ingress %s/%s", ing.Namespace, ing.Name),
				Field:   "metadata.annotations",
				Target:  ref, Spec: f.Spec, Old: oldSpec,
			})
			g.target(ref)
		}
	}

	// Deletion: canaries left without their main route.
	if ing == nil && old != nil && !enabled {
		d := &DeletionFacts{SelectingServices: []ServiceRef{}, RoutingIngresses: []IngressRef{}, Canaries: []IngressRef{}}
		for _, r := range f.Routes {
			d.Canaries = append(d.Canaries, r.Canaries...)
		}
		g.in.Deletion = d
	}
}

// route gathers the facts of one route key of the subject Ingress, read
// after the request.
func (g *gatherer) route(self *networkingv1.Ingress, rt facts.Route, selfCanary bool) RouteFacts {
	key := rt.Key
	r := RouteFacts{Key: key, Field: rt.Field, Service: rt.Service, Mains: []IngressRef{}, Canaries: []IngressRef{}, ServiceUsers: []IngressRef{}, MainServiceUsers: []IngressRef{}}
	if rt.Service != "" {
		r.ISVC = g.serviceTarget(self.Namespace, rt.Service)
	}
	others, err := g.after.IngressesByRoute(g.ctx, key)
	if err != nil {
		g.fail("Ingresses of route "+key.String(), err)
	}
	var mains []*networkingv1.Ingress
	for _, o := range others {
		if o.Namespace == self.Namespace && o.Name == self.Name {
			continue
		}
		ref := g.ingressRef(o, key)
		if ref.Canary {
			r.Canaries = append(r.Canaries, ref)
		} else {
			r.Mains = append(r.Mains, ref)
			mains = append(mains, o)
		}
	}
	if rt.Service != "" {
		r.ServiceUsers = g.serviceUsers(self.Namespace, rt.Service, self, key)
	}
	if selfCanary && len(mains) > 0 {
		main := facts.Oldest(mains)
		for _, mr := range g.b.Classes.Routes(main) {
			if mr.Key == key && mr.Service != "" {
				r.MainServiceUsers = g.serviceUsers(main.Namespace, mr.Service, nil, key)
			}
		}
	}
	return r
}

// serviceUsers lists the routes using a Service other than the route key
// `except` of the Ingress `self` (nil: every Ingress counts).
func (g *gatherer) serviceUsers(ns, svc string, self *networkingv1.Ingress, except facts.RouteKey) []IngressRef {
	out := []IngressRef{}
	users, err := g.after.IngressesRoutingTo(g.ctx, ns, svc)
	if err != nil {
		g.fail(fmt.Sprintf("Ingresses routing to Service %s/%s", ns, svc), err)
		return out
	}
	for _, u := range users {
		isSelf := self != nil && u.Namespace == self.Namespace && u.Name == self.Name
		if isSelf {
			continue
		}
		canaryUser := facts.IsCanary(u)
		for _, rt := range g.b.Classes.Routes(u) {
			if rt.Service != svc || rt.Key == except {
				continue
			}
			k := rt.Key
			out = append(out, IngressRef{Namespace: u.Namespace, Name: u.Name, Canary: canaryUser, Service: svc, Key: &k})
		}
	}
	return out
}

func (g *gatherer) ingressRef(o *networkingv1.Ingress, key facts.RouteKey) IngressRef {
	ref := IngressRef{Namespace: o.Namespace, Name: o.Name, Canary: facts.IsCanary(o)}
	for _, rt := range g.b.Classes.Routes(o) {
		if rt.Key == key {
			ref.Service = rt.Service
			if rt.Service != "" {
				ref.ISVC = g.serviceTarget(o.Namespace, rt.Service)
			}
			break
		}
	}
	return ref
}

func (g *gatherer) serviceTarget(ns, name string) string {
	svc, err := g.after.Service(g.ctx, ns, name)
	if err != nil {
		g.fail(fmt.Sprintf("Service %s/%s", ns, name), err)
		return ""
	}
	return facts.ServiceTarget(svc)
}

// routeSwitch records a change of a route key's primary. When the key has
// several main routes after the request, ingress-nginx may send traffic to
// any of them, so each main's target counts as a possible new primary.
func (g *gatherer) routeSwitch(key facts.RouteKey, field string) {
	from, err := facts.PrimaryOf(g.ctx, g.before, g.b.Classes, key)
	if err != nil && !errors.Is(err, facts.ErrAmbiguous) {
		g.fail("primary of route "+key.String()+" before the request", err)
		return
	}
	subject := "route " + key.String()
	to, err := facts.PrimaryOf(g.ctx, g.after, g.b.Classes, key)
	switch {
	case errors.Is(err, facts.ErrAmbiguous):
		ings, lerr := g.after.IngressesByRoute(g.ctx, key)
		if lerr != nil {
			g.fail("Ingresses of route "+key.String(), lerr)
			return
		}
		for _, o := range ings {
			if facts.IsCanary(o) {
				continue
			}
			t, terr := facts.RouteTarget(g.ctx, g.after, g.b.Classes, o, key)
			if terr != nil {
				g.fail("target of route "+key.String(), terr)
				return
			}
			if t.Name != "" && t != from.ISVC {
				g.addSwitch(Switch{Subject: subject, Field: field, From: from.ISVC, To: t, MainBefore: from.Main})
			}
		}
		return
	case err != nil:
		g.fail("primary of route "+key.String()+" after the request", err)
		return
	}
	if to.ISVC.Name != "" && to.ISVC != from.ISVC {
		g.addSwitch(Switch{Subject: subject, Field: field, From: from.ISVC, To: to.ISVC, Main: to.Main, MainBefore: from.Main})
	}
}

// addSwitch records a switch once: a Service switch and the route switch it
// causes move the same primary from the same InferenceService to the same
// one, and one denial says it.
func (g *gatherer) addSwitch(s Switch) {
	for _, have := range g.in.Switches {
		if have.From == s.From && have.To == s.To {
			return
		}
	}
	g.in.Switches = append(g.in.Switches, s)
	g.target(s.To)
	if s.From.Name != "" {
		g.target(s.From)
	}
}

func (g *gatherer) service(req Request, svc, old *corev1.Service) {
	f := &ServiceFacts{Before: facts.ServiceTarget(old), After: facts.ServiceTarget(svc)}
	g.in.Service = f
	if svc != nil && f.After != "" && f.After != f.Before {
		ns := svc.Namespace
		from := facts.Ref{}
		if f.Before != "" {
			from = facts.Ref{Namespace: ns, Name: f.Before}
		}
		g.addSwitch(Switch{
			Subject: fmt.Sprintf("Service %s/%s", ns, svc.Name), Field: "spec.selector",
			From: from, To: facts.Ref{Namespace: ns, Name: f.After},
		})
	}
	if svc != nil && f.After != f.Before {
		g.routesThrough(svc, f.After)
	}
	if req.Operation == "DELETE" && old != nil {
		d := &DeletionFacts{SelectingServices: []ServiceRef{}, RoutingIngresses: []IngressRef{}, Canaries: []IngressRef{}}
		users, err := g.after.IngressesRoutingTo(g.ctx, old.Namespace, old.Name)
		if err != nil {
			g.fail(fmt.Sprintf("Ingresses routing to Service %s/%s", old.Namespace, old.Name), err)
		}
		for _, u := range users {
			d.RoutingIngresses = append(d.RoutingIngresses, IngressRef{Namespace: u.Namespace, Name: u.Name, Canary: facts.IsCanary(u), Service: old.Name})
		}
		g.in.Deletion = d
	}
}

// routesThrough judges the routes a Service feeds when its target changes:
// each route key of an Ingress using the Service may change its primary
// (DESIGN §4: every route key a request touches), and each canary Ingress
// using it now exposes the new target at its weight and rules.
func (g *gatherer) routesThrough(svc *corev1.Service, target string) {
	users, err := g.after.IngressesRoutingTo(g.ctx, svc.Namespace, svc.Name)
	if err != nil {
		g.fail(fmt.Sprintf("Ingresses routing to Service %s/%s", svc.Namespace, svc.Name), err)
		return
	}
	for _, ing := range users {
		if !g.b.Classes.Governed(ing) {
			continue
		}
		for _, rt := range g.b.Classes.Routes(ing) {
			if rt.Service == svc.Name {
				g.routeSwitch(rt.Key, fmt.Sprintf("Ingress %s/%s %s", ing.Namespace, ing.Name, rt.Field))
			}
		}
		if spec, enabled := canary.FromNginx(ing.Annotations); enabled && target != "" {
			ref := facts.Ref{Namespace: svc.Namespace, Name: target}
			g.in.Exposures = append(g.in.Exposures, Exposure{
				Subject: fmt.Sprintf("Ingress %s/%s (through Service %s)", ing.Namespace, ing.Name, svc.Name),
				Field:   "spec.selector",
				Target:  ref, Spec: specFacts(spec),
			})
			g.target(ref)
		}
	}
}

func (g *gatherer) inferenceService(req Request, isvc, old *kserve.InferenceService) {
	if isvc != nil && req.Operation != "DELETE" {
		decl, _ := canary.FromKeys(isvc.Labels, isvc.Annotations)
		if decl.Stable != "" {
			ref := facts.Ref{Namespace: isvc.Namespace, Name: isvc.Name}
			e := Exposure{
				Subject: fmt.Sprintf("InferenceService %s/%s", isvc.Namespace, isvc.Name),
				Field:   "metadata",
				Target:  ref, Spec: specFacts(decl.Spec),
			}
			if old != nil {
				if od, _ := canary.FromKeys(old.Labels, old.Annotations); od.Stable != "" {
					sf := specFacts(od.Spec)
					e.Old = &sf
				}
			}
			g.in.Exposures = append(g.in.Exposures, e)
			g.target(ref)
		}
	}
	if req.Operation == "DELETE" && old != nil {
		d := &DeletionFacts{SelectingServices: []ServiceRef{}, RoutingIngresses: []IngressRef{}, Canaries: []IngressRef{}}
		svcs, err := g.after.ServicesSelecting(g.ctx, old.Namespace, old.Name)
		if err != nil {
			g.fail(fmt.Sprintf("Services selecting InferenceService %s/%s", old.Namespace, old.Name), err)
		}
		for _, s := range svcs {
			owned := false
			for _, o := range s.OwnerReferences {
				if o.Kind == kserve.Kind && o.Name == old.Name && (o.UID == "" || o.UID == old.UID) {
					owned = true
				}
			}
			d.SelectingServices = append(d.SelectingServices, ServiceRef{Namespace: s.Namespace, Name: s.Name, Owned: owned})
		}
		g.in.Deletion = d
	}
}

// target names an InferenceService the decision depends on; readTargets
// records its facts.
func (g *gatherer) target(ref facts.Ref) {
	if ref.Name == "" || slices.Contains(g.targets, ref) {
		return
	}
	g.targets = append(g.targets, ref)
}

// readTargets records the facts of every target, read after the request
// (the gate reads its target as it will be, so a spec change in the same
// request cannot slip through). The gate reads them live from the API
// server, and a switch names two (from and to), so they are read
// concurrently: the request waits for the slowest read, not for their sum.
// The reader must allow concurrent lookups (facts.Memo, the cluster cache
// and a manifest Set do). Results are recorded in the order the targets
// were named, so the input does not depend on which read finished first.
func (g *gatherer) readTargets() {
	type read struct {
		isvc   *kserve.InferenceService
		err    error
		panics any
	}
	reads := make([]read, len(g.targets))
	lookup := func(i int) {
		defer func() {
			// A panic in a reader belongs to the request's goroutine,
			// where the webhook answers it (an unrecovered panic in this
			// one would end the server).
			if v := recover(); v != nil {
				reads[i].panics = v
			}
		}()
		ref := g.targets[i]
		reads[i].isvc, reads[i].err = g.after.InferenceService(g.ctx, ref.Namespace, ref.Name)
	}
	if len(g.targets) == 1 {
		lookup(0)
	} else {
		var wg sync.WaitGroup
		for i := range g.targets {
			wg.Go(func() { lookup(i) })
		}
		wg.Wait()
	}
	for i, ref := range g.targets {
		if reads[i].panics != nil {
			panic(reads[i].panics)
		}
		g.record(ref, reads[i].isvc, reads[i].err)
	}
}

// record stores one target's facts.
func (g *gatherer) record(ref facts.Ref, isvc *kserve.InferenceService, err error) {
	key := ref.String()
	t := Target{Namespace: ref.Namespace, Name: ref.Name, Conditions: map[string]string{}, Annotations: map[string]string{}, Labels: map[string]string{}}
	if err != nil {
		g.fail("InferenceService "+key, err)
		t.Unreadable = true
	}
	if isvc != nil {
		t.Exists = true
		t.Generation = isvc.Generation
		t.ObservedGeneration = isvc.Status.ObservedGeneration
		for _, c := range isvc.Status.Conditions {
			t.Conditions[c.Type] = c.Status
		}
		if isvc.Annotations != nil {
			t.Annotations = isvc.Annotations
		}
		if isvc.Labels != nil {
			t.Labels = isvc.Labels
		}
		decl, _ := canary.FromKeys(isvc.Labels, isvc.Annotations)
		t.Verified = decl.Verified
	}
	t.CanarySince = g.canarySince(ref)
	g.in.Targets[key] = t
}

// canarySince returns the oldest canary-since stamp of the canary Ingresses
// routing to an InferenceService.
func (g *gatherer) canarySince(ref facts.Ref) string {
	svcs, err := g.after.ServicesSelecting(g.ctx, ref.Namespace, ref.Name)
	if err != nil {
		g.fail("Services selecting InferenceService "+ref.String(), err)
		return ""
	}
	oldest := ""
	var oldestT time.Time
	for _, s := range svcs {
		ings, err := g.after.IngressesRoutingTo(g.ctx, s.Namespace, s.Name)
		if err != nil {
			g.fail(fmt.Sprintf("Ingresses routing to Service %s/%s", s.Namespace, s.Name), err)
			continue
		}
		for _, ing := range ings {
			if !facts.IsCanary(ing) {
				continue
			}
			v := ing.Annotations[canary.StampCanarySince]
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				continue
			}
			if oldest == "" || t.Before(oldestT) {
				oldest, oldestT = v, t
			}
		}
	}
	return oldest
}

func (g *gatherer) stamps(req Request, obj any) {
	mreq := mutate.Request{
		Operation: req.Operation, Object: req.Object, OldObject: req.OldObject,
		User: req.User, Phase: mutate.PhaseValidate,
	}
	var inj *mutate.Injection
	if ing, ok := obj.(*networkingv1.Ingress); ok && g.b.Classes.Governed(ing) {
		var err error
		inj, _, err = mutate.InjectionFor(g.ctx, g.after, ing)
		if err != nil {
			g.fail("injection source of Ingress "+req.Name, err)
		}
	}
	exps, err := mutate.Expect(g.ctx, mreq, g.before, g.b.Classes, inj)
	if err != nil {
		g.fail("stamps", err)
		return
	}
	if exps != nil {
		g.in.Stamps = exps
	}
}

func sortedKeys(m map[facts.RouteKey]string) []facts.RouteKey {
	out := make([]facts.RouteKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
