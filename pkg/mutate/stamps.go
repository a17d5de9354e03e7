package mutate

import (
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/canarygate/canarygate/pkg/canary"
	"github.com/canarygate/canarygate/pkg/facts"
)

// Expectation says what one stamp may hold after a request: the old
// object's value, or — when its write condition holds — the value canarygate
// writes. Mutation writes from it; the gate re-checks stamps against it, so a
// stamp can be neither forged nor kept stale, even when the mutating call was
// skipped.
type Expectation struct {
	Key   string `json:"key"`
	Field string `json:"field"`
	// Written reports whether the write condition holds in this request.
	Written bool `json:"written"`
	// Time marks a timestamp stamp: any RFC 3339 time within the tolerance
	// of now is what would be written.
	Time bool `json:"time"`
	// Value is the exact value written (when Written and not Time).
	Value string `json:"value"`
	// Old and OldPresent are the old object's value.
	Old        string `json:"old"`
	OldPresent bool   `json:"oldPresent"`
	// Actual and Present are what the object carries.
	Actual  string `json:"actual"`
	Present bool   `json:"present"`
}

// Request is what a mutation or a stamp check needs to know about one
// admission request.
type Request struct {
	Operation string // CREATE, UPDATE or DELETE
	Object    *unstructured.Unstructured
	OldObject *unstructured.Unstructured
	User      string
	Now       time.Time
	// Tolerance is how far a time stamp may be from Now and still count as
	// written now: the webhook timeout plus clock skew.
	Tolerance time.Duration
	// Phase is PhaseMutate when predicting the generation the API server
	// will give the object, PhaseValidate when reading it from the object.
	Phase Phase
}

// Phase says whether the object's generation is already final.
type Phase int

// Phases of admission. The API server bumps metadata.generation between the
// mutating and the validating webhooks.
const (
	PhaseMutate Phase = iota
	PhaseValidate
)

// Generation returns the generation the object has after the write: CREATE
// 1; UPDATE the old generation plus one when anything outside metadata and
// status changed, else the old generation. In PhaseValidate the object
// already carries it.
func Generation(req Request) int64 {
	if req.Phase == PhaseValidate && req.Object != nil && req.Object.GetGeneration() != 0 {
		return req.Object.GetGeneration()
	}
	if req.Operation == "CREATE" || req.OldObject == nil {
		return 1
	}
	old := req.OldObject.GetGeneration()
	if SpecChanged(req.OldObject, req.Object) {
		return old + 1
	}
	return old
}

// SpecChanged reports whether anything outside metadata and status differs,
// the rule the API server uses to bump a custom resource's generation.
func SpecChanged(oldObj, newObj *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) map[string]any {
		out := map[string]any{}
		if u == nil {
			return out
		}
		for k, v := range u.Object {
			switch k {
			case "metadata", "status", "apiVersion", "kind":
				continue
			}
			out[k] = v
		}
		return out
	}
	a, b := strip(oldObj), strip(newObj)
	// Compare through JSON so int64 and float64 of one number agree.
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var na, nb any
	_ = json.Unmarshal(ja, &na)
	_ = json.Unmarshal(jb, &nb)
	return !reflect.DeepEqual(na, nb)
}

// Expect returns the expectation of every stamp of the object's kind.
// Readers answer "before the request" questions: the generation of the
// InferenceService a Service or route resolved to before.
func Expect(ctx context.Context, req Request, before facts.Reader, classes facts.Classes, inj *Injection) ([]Expectation, error) {
	if req.Object == nil {
		return nil, nil
	}
	var out []Expectation
	switch req.Object.GroupVersionKind().GroupKind() {
	case facts.InferenceServiceKind:
		out = expectVerification(req)
	case facts.IngressKind:
		ing, oldIng, err := ingresses(req)
		if err != nil {
			return nil, err
		}
		if !classes.Governed(ing) && (oldIng == nil || !classes.Governed(oldIng)) {
			return nil, nil
		}
		// Every stamp of an Ingress is checked on every governed Ingress
		// (or one leaving governance): a stamp whose write condition does
		// not hold keeps the old value, so a canary cannot carry forged
		// rollback stamps into a later promotion, nor an Ingress shed
		// them by changing class.
		if facts.IsCanary(ing) && classes.Governed(ing) {
			out = append(out, expectCanary(req, ing, oldIng, inj)...)
		} else {
			out = append(out, Expectation{Key: canary.StampCanarySince}, Expectation{Key: canary.StampSource})
		}
		prev := previous{}
		if !facts.IsCanary(ing) && classes.Governed(ing) {
			if prev, err = previousForIngress(ctx, before, classes, ing, oldIng); err != nil {
				return nil, err
			}
		}
		out = append(out, expectPrevious(req, prev)...)
	case facts.ServiceKind:
		prev, err := previousForService(ctx, before, req)
		if err != nil {
			return nil, err
		}
		out = expectPrevious(req, prev)
	}
	for i := range out {
		e := &out[i]
		e.Field = `metadata.annotations["` + e.Key + `"]`
		e.Old, e.OldPresent = annotation(req.OldObject, e.Key)
		e.Actual, e.Present = annotation(req.Object, e.Key)
	}
	return out, nil
}

func annotation(u *unstructured.Unstructured, key string) (string, bool) {
	if u == nil {
		return "", false
	}
	v, ok := u.GetAnnotations()[key]
	return v, ok
}

func expectVerification(req Request) []Expectation {
	newDecl, _ := canary.FromKeys(req.Object.GetLabels(), req.Object.GetAnnotations())
	wasVerified := false
	if req.Operation == "UPDATE" && req.OldObject != nil {
		oldDecl, _ := canary.FromKeys(req.OldObject.GetLabels(), req.OldObject.GetAnnotations())
		wasVerified = oldDecl.Verified
	}
	written := newDecl.Verified && !wasVerified
	return []Expectation{
		{Key: canary.StampVerifiedBy, Written: written, Value: req.User},
		{Key: canary.StampVerifiedAt, Written: written, Time: true},
		{Key: canary.StampVerifiedGeneration, Written: written, Value: strconv.FormatInt(Generation(req), 10)},
	}
}

func expectCanary(req Request, ing, oldIng *networkingv1.Ingress, inj *Injection) []Expectation {
	spec, _ := canary.FromNginx(ing.Annotations)
	if inj != nil {
		spec = inj.Declaration.Spec
	}
	oldExposed := false
	if oldIng != nil {
		if os, enabled := canary.FromNginx(oldIng.Annotations); enabled && os.Exposes() {
			oldExposed = true
		}
	}
	out := []Expectation{{Key: canary.StampCanarySince, Written: spec.Exposes() && !oldExposed, Time: true}}
	src := Expectation{Key: canary.StampSource}
	if inj != nil {
		src.Written, src.Value = true, inj.Source.Name
	}
	return append(out, src)
}

// previous is the primary a Service or main route resolved to before the
// request, when the request moves it elsewhere.
type previous struct {
	isvc       string
	generation int64
	known      bool
}

func expectPrevious(_ Request, p previous) []Expectation {
	gen := ""
	if p.known {
		gen = strconv.FormatInt(p.generation, 10)
	}
	return []Expectation{
		{Key: canary.StampPreviousISVC, Written: p.known, Value: p.isvc},
		{Key: canary.StampPreviousGeneration, Written: p.known, Value: gen},
	}
}

func previousForService(ctx context.Context, before facts.Reader, req Request) (previous, error) {
	if req.OldObject == nil {
		return previous{}, nil
	}
	o, err := facts.Decode(req.OldObject)
	if err != nil {
		return previous{}, err
	}
	n, err := facts.Decode(req.Object)
	if err != nil {
		return previous{}, err
	}
	from := facts.ServiceTarget(asService(o))
	to := facts.ServiceTarget(asService(n))
	if from == "" || from == to {
		return previous{}, nil
	}
	return previousOf(ctx, before, req.Object.GetNamespace(), from)
}

func previousForIngress(ctx context.Context, before facts.Reader, classes facts.Classes, ing, oldIng *networkingv1.Ingress) (previous, error) {
	if oldIng == nil || facts.IsCanary(oldIng) {
		return previous{}, nil
	}
	newRoutes := map[facts.RouteKey]string{}
	for _, r := range classes.Routes(ing) {
		newRoutes[r.Key] = r.Service
	}
	for _, r := range classes.Routes(oldIng) {
		if r.Service == "" {
			continue
		}
		from, err := serviceTarget(ctx, before, oldIng.Namespace, r.Service)
		if err != nil {
			return previous{}, err
		}
		if from == "" {
			continue
		}
		toSvc, ok := newRoutes[r.Key]
		if !ok {
			continue
		}
		to := ""
		if toSvc != "" {
			if to, err = serviceTarget(ctx, before, ing.Namespace, toSvc); err != nil {
				return previous{}, err
			}
		}
		if to != from {
			return previousOf(ctx, before, oldIng.Namespace, from)
		}
	}
	return previous{}, nil
}

func serviceTarget(ctx context.Context, r facts.Reader, ns, name string) (string, error) {
	svc, err := r.Service(ctx, ns, name)
	if err != nil {
		return "", err
	}
	return facts.ServiceTarget(svc), nil
}

func previousOf(ctx context.Context, before facts.Reader, ns, name string) (previous, error) {
	isvc, err := before.InferenceService(ctx, ns, name)
	if err != nil {
		return previous{}, err
	}
	p := previous{isvc: name, known: true}
	if isvc != nil {
		p.generation = isvc.Generation
	}
	return p, nil
}

func ingresses(req Request) (ing, old *networkingv1.Ingress, err error) {
	o, err := facts.Decode(req.Object)
	if err != nil {
		return nil, nil, err
	}
	ing, _ = o.(*networkingv1.Ingress)
	if req.OldObject != nil && req.Operation == "UPDATE" {
		oo, err := facts.Decode(req.OldObject)
		if err != nil {
			return nil, nil, err
		}
		old, _ = oo.(*networkingv1.Ingress)
	}
	return ing, old, nil
}

// Accepts reports whether the object's stamp is acceptable: the old value
// unchanged, or what the write would produce. Times must parse as RFC 3339
// within tolerance of now.
func (e Expectation) Accepts(now time.Time, tolerance time.Duration) bool {
	if e.Present == e.OldPresent && e.Actual == e.Old {
		return true
	}
	if !e.Written || !e.Present {
		return false
	}
	if e.Time {
		t, err := time.Parse(time.RFC3339, e.Actual)
		if err != nil {
			return false
		}
		d := now.Sub(t)
		return d <= tolerance && d >= -tolerance
	}
	return e.Actual == e.Value
}
