// Package check is the offline admission dry-run behind `canarygate check`:
// it replays a set of manifests against a recorded cluster state through
// the same mutation and policies the webhook runs, as the API server would
// call them — every object mutated first, then every mutated object
// validated against the final facts.
package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/manifest"
	"github.com/canarygate/canarygate/pkg/mutate"
	"github.com/canarygate/canarygate/pkg/policy"
	"github.com/canarygate/canarygate/pkg/validate"
)

// DefaultUser is the identity decisions are made for when none is given.
const DefaultUser = "canarygate-check"

// ErrInput is wrapped by errors about the input set itself (exit status 2).
var ErrInput = errors.New("invalid input")

// Options configures a run.
type Options struct {
	// Files and State are paths as manifest.Read takes them.
	Files, State []string
	// Stdin is read for the path "-".
	Stdin io.Reader
	// Prune turns state objects of governed kinds in the input's namespaces
	// that are absent from the input into DELETEs.
	Prune bool
	// Namespace is given to namespaced objects without one.
	Namespace string
	// Classes are the governed ingress classes.
	Classes facts.Classes
	// User and Groups are the identity decisions are made for.
	User   string
	Groups []string
	// Engine is the compiled policy set.
	Engine *policy.Engine
	// Now is the decision time; time.Now when nil.
	Now func() time.Time
	// Tolerance is how far a time stamp may be from now (the webhook
	// timeout plus clock skew).
	Tolerance time.Duration
}

// Finding is one violation or warning.
type Finding struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Result is the decision about one object.
type Result struct {
	Source     string                         `json:"source"`
	APIVersion string                         `json:"apiVersion"`
	Kind       string                         `json:"kind"`
	Namespace  string                         `json:"namespace"`
	Name       string                         `json:"name"`
	Operation  string                         `json:"operation"`
	Allowed    bool                           `json:"allowed"`
	Violations []Finding                      `json:"violations"`
	Warnings   []Finding                      `json:"warnings"`
	Patch      []jsonpatch.JsonPatchOperation `json:"patch"`

	// Object is the object after mutation (nil on DELETE).
	Object *unstructured.Unstructured `json:"-"`
}

// Summary counts the results.
type Summary struct {
	Objects  int `json:"objects"`
	Denied   int `json:"denied"`
	Warnings int `json:"warnings"`
	Mutated  int `json:"mutated"`
}

// Report is the outcome of a run: the DESIGN §6 JSON document.
type Report struct {
	Results []Result `json:"results"`
	Summary Summary  `json:"summary"`
}

// Denied reports whether any object was denied.
func (r *Report) Denied() bool { return r.Summary.Denied > 0 }

// item is one object in flight.
type item struct {
	source    string
	op        string
	obj, old  *unstructured.Unstructured // old: the state's object (UPDATE, DELETE)
	mutated   *unstructured.Unstructured
	patch     []jsonpatch.JsonPatchOperation
	notices   []mutate.Notice
	governed  bool
	namespace string
}

type objKey struct {
	gk        schema.GroupKind
	namespace string
	name      string
}

func keyOf(u *unstructured.Unstructured) objKey {
	return objKey{gk: u.GroupVersionKind().GroupKind(), namespace: u.GetNamespace(), name: u.GetName()}
}

// Run replays the input against the state and returns one result per input
// and pruned object. Errors about the input (unreadable, invalid, empty,
// duplicated) wrap ErrInput or come from manifest.Read with FILE:LINE.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Engine == nil {
		return nil, errors.New("check: no policy engine")
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.User == "" {
		opts.User = DefaultUser
	}
	opts.Classes = facts.NewClasses(opts.Classes)
	now := time.Now()
	if opts.Now != nil {
		now = opts.Now()
	}

	if slices.Contains(opts.Files, "-") && slices.Contains(opts.State, "-") {
		return nil, fmt.Errorf("%w: standard input can feed -f or --state, not both", ErrInput)
	}
	inputs, err := manifest.Read(opts.Files, opts.Stdin)
	if err != nil {
		return nil, err
	}
	var stateObjs []manifest.Object
	if len(opts.State) > 0 {
		stateObjs, err = manifest.Read(opts.State, opts.Stdin)
		if err != nil && !errors.Is(err, manifest.ErrNoObjects) {
			return nil, fmt.Errorf("--state: %w", err)
		}
	}

	// The state: what the cluster holds before.
	state := map[objKey]*unstructured.Unstructured{}
	stateSource := map[objKey]string{}
	before := facts.NewSet(opts.Classes)
	for _, o := range stateObjs {
		u := o.Object
		defaultNamespace(u, opts.Namespace)
		k := keyOf(u)
		if prev, dup := stateSource[k]; dup {
			return nil, fmt.Errorf("%w: %s: %s %s/%s is also defined at %s", ErrInput, o.Source, u.GetKind(), u.GetNamespace(), u.GetName(), prev)
		}
		state[k], stateSource[k] = u, o.Source
		typed, err := facts.Decode(u)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInput, o.Source, err)
		}
		before.Put(typed)
	}

	// The input: CREATE or UPDATE (replace) each object.
	var items []*item
	seen := map[objKey]string{}
	namespaces := map[string]bool{}
	for _, o := range inputs {
		u := o.Object
		defaultNamespace(u, opts.Namespace)
		k := keyOf(u)
		if prev, dup := seen[k]; dup {
			return nil, fmt.Errorf("%w: %s: %s %s/%s is also defined at %s; each object may appear once", ErrInput, o.Source, u.GetKind(), u.GetNamespace(), u.GetName(), prev)
		}
		seen[k] = o.Source
		it := &item{source: o.Source, obj: u, governed: facts.Governed(k.gk), namespace: u.GetNamespace()}
		if it.namespace != "" {
			namespaces[it.namespace] = true
		}
		if old, ok := state[k]; ok {
			it.op, it.old = "UPDATE", old
			replace(u, old)
		} else {
			it.op = "CREATE"
			create(u)
		}
		items = append(items, it)
	}
	if opts.Prune {
		var pruned []*item
		for k, old := range state {
			if !facts.Governed(k.gk) || !namespaces[k.namespace] {
				continue
			}
			if _, ok := seen[k]; ok {
				continue
			}
			pruned = append(pruned, &item{source: stateSource[k], op: "DELETE", old: old, governed: true, namespace: k.namespace})
		}
		sort.Slice(pruned, func(i, j int) bool { return pruned[i].source < pruned[j].source })
		items = append(items, pruned...)
	}

	// Phase 1: mutate every object against the state with the raw input
	// applied, so the order of objects never matters.
	raw, err := apply(before, items, func(it *item) *unstructured.Unstructured { return it.obj })
	if err != nil {
		return nil, err
	}
	mutator := mutate.Mutator{Classes: opts.Classes, Tolerance: opts.Tolerance}
	for _, it := range items {
		it.mutated = it.obj
		if !it.governed || it.op == "DELETE" {
			continue
		}
		res, err := mutator.Mutate(ctx, mutate.Request{
			Operation: it.op, Object: it.obj, OldObject: it.old, User: opts.User, Now: now,
		}, raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: mutating %s %s: %w", ErrInput, it.source, it.obj.GetKind(), it.obj.GetName(), err)
		}
		it.mutated, it.patch, it.notices = res.Object, res.Patch, res.Notices
	}

	// Phase 2: validate every mutated object against the final facts.
	final, err := apply(before, items, func(it *item) *unstructured.Unstructured { return it.mutated })
	if err != nil {
		return nil, err
	}
	v := validate.Validator{Engine: opts.Engine, Builder: validate.Builder{Classes: opts.Classes}}
	report := &Report{Results: make([]Result, 0, len(items))}
	for i, it := range items {
		subject := it.mutated
		if subject == nil {
			subject = it.old
		}
		res := Result{
			Source: it.source, APIVersion: subject.GetAPIVersion(), Kind: subject.GetKind(),
			Namespace: subject.GetNamespace(), Name: subject.GetName(), Operation: it.op,
			Violations: []Finding{}, Warnings: []Finding{}, Patch: it.patch, Object: it.mutated,
		}
		if res.Patch == nil {
			res.Patch = []jsonpatch.JsonPatchOperation{}
		}
		for _, n := range it.notices {
			res.Warnings = append(res.Warnings, Finding{Code: n.Code, Message: n.Message})
		}
		if it.governed {
			req := validate.Request{
				UID:       fmt.Sprintf("check-%d", i+1),
				Operation: it.op, Kind: subject.GroupVersionKind(),
				Namespace: subject.GetNamespace(), Name: subject.GetName(),
				User: opts.User, Groups: opts.Groups, DryRun: true,
			}
			if it.op != "DELETE" {
				req.Object = it.mutated
			}
			if it.op != "CREATE" {
				req.OldObject = it.old
			}
			d, err := v.Validate(ctx, req, before, final, now)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", it.source, err)
			}
			for _, x := range d.Denials("") {
				res.Violations = append(res.Violations, Finding{Code: x.Code, Message: x.Message, Field: x.Field})
			}
			for _, x := range d.Warnings("") {
				res.Warnings = append(res.Warnings, Finding{Code: x.Code, Message: x.Message, Field: x.Field})
			}
		}
		res.Allowed = len(res.Violations) == 0
		report.add(res)
	}
	return report, nil
}

func (r *Report) add(res Result) {
	r.Results = append(r.Results, res)
	r.Summary.Objects++
	if !res.Allowed {
		r.Summary.Denied++
	}
	r.Summary.Warnings += len(res.Warnings)
	if len(res.Patch) > 0 {
		r.Summary.Mutated++
	}
}

// apply returns the state with every item applied: objects put, DELETEs
// removed.
func apply(before *facts.Set, items []*item, pick func(*item) *unstructured.Unstructured) (*facts.Set, error) {
	out := before.Clone()
	for _, it := range items {
		if it.op == "DELETE" {
			out.Delete(keyOf(it.old).gk, facts.Ref{Namespace: it.old.GetNamespace(), Name: it.old.GetName()})
			continue
		}
		typed, err := facts.Decode(pick(it))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInput, it.source, err)
		}
		out.Put(typed)
	}
	return out, nil
}

// clusterScoped are the built-in kinds that take no namespace.
var clusterScoped = map[schema.GroupKind]bool{
	{Kind: "Namespace"}:        true,
	{Kind: "Node"}:             true,
	{Kind: "PersistentVolume"}: true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:                       true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}:                true,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:               true,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                                 true,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:                              true,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:                             true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}: true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:   true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}:      true,
	{Group: "apiregistration.k8s.io", Kind: "APIService"}:                           true,
	{Group: "cert-manager.io", Kind: "ClusterIssuer"}:                               true,
}

// defaultNamespace gives a namespaced object without a namespace the
// default one, as kubectl does.
func defaultNamespace(u *unstructured.Unstructured, ns string) {
	if u.GetNamespace() == "" && !clusterScoped[u.GroupVersionKind().GroupKind()] {
		u.SetNamespace(ns)
	}
}

// create prepares an object the API server would create: no status,
// generation 1, no server-set metadata.
func create(u *unstructured.Unstructured) {
	delete(u.Object, "status")
	u.SetGeneration(1)
	u.SetUID("")
	u.SetResourceVersion("")
}

// replace prepares an UPDATE that replaces old with u: the state's status
// and server-set metadata are kept and the generation is computed as the
// API server would (bumped when anything outside metadata and status
// changed).
func replace(u, old *unstructured.Unstructured) {
	if st, ok := old.Object["status"]; ok {
		u.Object["status"] = st
	} else {
		delete(u.Object, "status")
	}
	u.SetUID(old.GetUID())
	u.SetResourceVersion(old.GetResourceVersion())
	u.SetCreationTimestamp(old.GetCreationTimestamp())
	gen := old.GetGeneration()
	if mutate.SpecChanged(old, u) {
		gen++
	}
	u.SetGeneration(gen)
}
