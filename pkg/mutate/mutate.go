// Package mutate computes canarygate's mutations: the nginx canary strategy
// injected into a canary Ingress from its InferenceService's declaration,
// and the stamps of DESIGN §2. It returns JSON patches computed by diffing
// the mutated copy against the original, so patch paths are never built by
// hand and mutating an already-mutated object yields no patch.
package mutate

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/canarygate/canarygate/pkg/canary"
	"github.com/canarygate/canarygate/pkg/facts"
)

// Notice codes of the mutating webhook. They are reported as warnings and
// are not policy decisions: nothing can deny on them.
const (
	// NoticeReplaced: explicit strategy annotations that disagreed with the
	// InferenceService's declaration were replaced.
	NoticeReplaced = "CG701"
	// NoticeNotInjected: the canary Ingress resolves to an InferenceService
	// declaring a canary whose keys are invalid, so nothing was injected.
	NoticeNotInjected = "CG702"
	// NoticeStampRestored: a stamp in the request was replaced by the value
	// canarygate keeps (stamps are written only by canarygate).
	NoticeStampRestored = "CG703"
)

// Notice is a warning the mutation reports.
type Notice struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Injection is the declaration an Ingress takes its strategy from.
type Injection struct {
	Source      facts.Ref
	Declaration canary.Declaration
}

// Result is the outcome of mutating one object.
type Result struct {
	// Object is the mutated copy (the original when nothing changed).
	Object *unstructured.Unstructured
	// Patch is the RFC 6902 patch from the original to Object; empty when
	// nothing changed.
	Patch []jsonpatch.JsonPatchOperation
	// Notices are warnings for the user.
	Notices []Notice
}

// Mutator mutates objects against a facts Reader.
type Mutator struct {
	// Classes are the governed ingress classes.
	Classes facts.Classes
	// Tolerance is how old a time stamp in the request may be and still be
	// kept (idempotent reinvocation); the webhook timeout plus clock skew.
	Tolerance time.Duration
}

// Mutate returns the mutation of one request's object. Facts answer "what
// the cluster holds": the Services and InferenceServices the Ingress
// resolves to, and the generation of a Service's previous InferenceService.
// DELETE and ungoverned objects are returned unchanged.
func (m Mutator) Mutate(ctx context.Context, req Request, r facts.Reader) (Result, error) {
	res := Result{Object: req.Object}
	if req.Object == nil || req.Operation == "DELETE" {
		return res, nil
	}
	req.Phase = PhaseMutate
	if req.Tolerance == 0 {
		req.Tolerance = m.Tolerance
	}
	out := req.Object.DeepCopy()

	var inj *Injection
	if req.Object.GroupVersionKind().GroupKind() == facts.IngressKind {
		ing, _, err := ingresses(req)
		if err != nil {
			return res, err
		}
		if m.Classes.Governed(ing) {
			var notices []Notice
			inj, notices, err = InjectionFor(ctx, r, ing)
			if err != nil {
				return res, err
			}
			res.Notices = append(res.Notices, notices...)
			if inj != nil {
				res.Notices = append(res.Notices, inject(out, inj)...)
			}
		}
	}

	// Stamps are judged on the mutated object (after injection).
	sreq := req
	sreq.Object = out
	exps, err := Expect(ctx, sreq, r, m.Classes, inj)
	if err != nil {
		return res, err
	}
	ann := out.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	for _, e := range exps {
		want, keep := e.Old, e.OldPresent
		if e.Written {
			keep = true
			if e.Time {
				// Keep the request's time only when it is one canarygate
				// would write now (a reinvocation); an old time carried over
				// from the old object is not, though Accepts takes it.
				fresh := e
				fresh.Old, fresh.OldPresent = "", false
				want = req.Now.UTC().Format(time.RFC3339)
				if e.Present && fresh.Accepts(req.Now, req.Tolerance) {
					want = e.Actual
				}
			} else {
				want = e.Value
			}
		}
		// A value carried over unchanged from the old object was not set by
		// the request: replacing it is the write itself, not a restoration.
		carried := e.Present == e.OldPresent && e.Actual == e.Old
		if e.Present && !carried && (!keep || e.Actual != want) {
			res.Notices = append(res.Notices, Notice{Code: NoticeStampRestored, Message: fmt.Sprintf(
				"%s %s/%s: %s is written only by canarygate; the request's value %q was replaced", req.Object.GetKind(), req.Object.GetNamespace(), req.Object.GetName(), e.Key, e.Actual)})
		}
		if keep {
			ann[e.Key] = want
		} else {
			delete(ann, e.Key)
		}
	}
	if len(ann) == 0 {
		ann = nil
	}
	if ann != nil || len(out.GetAnnotations()) != 0 {
		// An empty annotations map in the request stays as it is: removing
		// it would be a patch that changes nothing.
		out.SetAnnotations(ann)
	}

	patch, err := diff(req.Object, out)
	if err != nil {
		return res, err
	}
	if len(patch) > 0 {
		res.Object, res.Patch = out, patch
	}
	return res, nil
}

// InjectionFor returns the declaration a canary Ingress takes its strategy
// from, or nil when injection does not apply: the Ingress is not a canary
// (canarygate never turns a plain Ingress into one), opted out with
// canarygate.io/inject: "false", has backends that do not all resolve to one
// InferenceService, or that InferenceService is missing or declares no
// canarygate.io/stable. A declaration with invalid values injects nothing
// and yields a notice.
func InjectionFor(ctx context.Context, r facts.Reader, ing *networkingv1.Ingress) (*Injection, []Notice, error) {
	if !facts.IsCanary(ing) || ing.Annotations[canary.KeyInject] == "false" {
		return nil, nil, nil
	}
	backends := facts.Backends(ing)
	if len(backends) == 0 {
		return nil, nil, nil
	}
	target := ""
	for _, b := range backends {
		svc, err := r.Service(ctx, ing.Namespace, b)
		if err != nil {
			return nil, nil, err
		}
		t := facts.ServiceTarget(svc)
		if t == "" || (target != "" && t != target) {
			return nil, nil, nil
		}
		target = t
	}
	isvc, err := r.InferenceService(ctx, ing.Namespace, target)
	if err != nil || isvc == nil {
		return nil, nil, err
	}
	decl, problems := canary.FromKeys(isvc.Labels, isvc.Annotations)
	if decl.Stable == "" {
		return nil, nil, nil
	}
	var bad []string
	for _, p := range problems {
		if !p.Both {
			bad = append(bad, p.String())
		}
	}
	if len(bad) > 0 {
		return nil, []Notice{{Code: NoticeNotInjected, Message: fmt.Sprintf(
			"Ingress %s/%s: nothing injected from InferenceService %s because its canary keys are invalid: %s; fix them on the InferenceService",
			ing.Namespace, ing.Name, target, strings.Join(bad, "; "))}}, nil
	}
	return &Injection{Source: facts.Ref{Namespace: ing.Namespace, Name: target}, Declaration: decl}, nil, nil
}

// inject writes the declaration's strategy annotations onto out, replacing
// every strategy annotation, and reports explicit values it replaced.
func inject(out *unstructured.Unstructured, inj *Injection) []Notice {
	ann := out.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	want := inj.Declaration.Spec.Nginx()
	var replaced []string
	for _, k := range canary.StrategyKeys {
		have, present := ann[k]
		w, wanted := want[k]
		switch {
		case wanted && (!present || have != w):
			if present {
				replaced = append(replaced, fmt.Sprintf("%s %q → %q", k, have, w))
			}
			ann[k] = w
		case !wanted && present:
			replaced = append(replaced, fmt.Sprintf("%s %q removed", k, have))
			delete(ann, k)
		}
	}
	out.SetAnnotations(ann)
	if len(replaced) == 0 {
		return nil
	}
	sort.Strings(replaced)
	return []Notice{{Code: NoticeReplaced, Message: fmt.Sprintf(
		"Ingress %s/%s: the strategy comes from InferenceService %s (canarygate.io/ keys); explicit annotations replaced: %s. Change the keys on the InferenceService instead, or set canarygate.io/inject: \"false\" on the Ingress to opt out",
		out.GetNamespace(), out.GetName(), inj.Source.Name, strings.Join(replaced, ", "))}}
}

func diff(original, mutated *unstructured.Unstructured) ([]jsonpatch.JsonPatchOperation, error) {
	a, err := json.Marshal(original.Object)
	if err != nil {
		return nil, fmt.Errorf("encoding original: %w", err)
	}
	b, err := json.Marshal(mutated.Object)
	if err != nil {
		return nil, fmt.Errorf("encoding mutated: %w", err)
	}
	ops, err := jsonpatch.CreatePatch(a, b)
	if err != nil {
		return nil, fmt.Errorf("computing patch: %w", err)
	}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Path < ops[j].Path })
	return ops, nil
}

func asService(o any) *corev1.Service {
	s, _ := o.(*corev1.Service)
	return s
}
