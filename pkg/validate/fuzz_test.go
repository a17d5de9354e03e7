package validate_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/kserve"
	"github.com/canarygate/canarygate/pkg/policy"
	"github.com/canarygate/canarygate/pkg/validate"
)

// fuzzKinds are the governed kinds, in the order the fuzzer's kind byte
// picks them.
var fuzzKinds = []schema.GroupVersionKind{
	{Version: "v1", Kind: "Service"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
	{Group: kserve.Group, Version: kserve.Version, Kind: kserve.Kind},
}

var fuzzOps = []string{"CREATE", "UPDATE", "DELETE"}

// errFuzzLookup is what a failing lookup returns.
var errFuzzLookup = errors.New("lookup failed on purpose")

// FuzzInputBuilder builds the policy input for arbitrary objects of the three
// governed kinds and operations (validate.Builder.Build through
// Validator.Validate) against the reference cluster, and evaluates the
// built-in policies on it. It asserts: no panic; an error only for an object
// that does not fit its kind's schema (wrapping validate.ErrMalformed) or a
// lookup (*facts.LookupError), never an evaluation error; a schema misfit is
// always reported; the input is deterministic and encodes to JSON; every
// decision item carries a code the project documents, on that code's
// endpoint, with a message; a failed lookup makes the gate deny (CG307) and
// never happens when every lookup succeeds.
//
// Arguments: kind picks the kind (modulo 3) and, divided by 3, the fixture
// object used when obj or old is not a JSON object; op picks CREATE, UPDATE
// or DELETE; fail is a bit mask of the Reader methods that fail (bit 0
// Service, 1 InferenceService, 2 IngressesByRoute, 3 ServicesSelecting, 4
// IngressesRoutingTo, 5 Namespace); key=value is set on the object as an
// annotation, or a label when label is true (skipped when key is empty).
func FuzzInputBuilder(f *testing.F) {
	fx := loadFuzzFixtures(f)
	engine, err := policy.Load(f.Context(), policy.Options{Builtin: true})
	if err != nil {
		f.Fatal(err)
	}
	codes := documentedCodes(f)
	for _, s := range inputSeeds(f, fx) {
		f.Add(s.kind, s.op, s.fail, s.obj, s.old, s.key, s.value, s.label)
	}
	classes := facts.NewClasses(nil)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, kind, op, fail uint8, obj, old []byte, key, value string, label bool) {
		gvk := fuzzKinds[int(kind)%len(fuzzKinds)]
		templates := fx.byKind[gvk.Kind]
		template := templates[int(kind)/len(fuzzKinds)%len(templates)]
		operation := fuzzOps[int(op)%len(fuzzOps)]

		newObj, oldObj := objectOf(obj, template, gvk), objectOf(old, template, gvk)
		if key != "" {
			setKey(newObj, key, value, label)
		}
		// What the API server guarantees: one namespace and name for both
		// objects, no object on DELETE, no old object on CREATE.
		switch operation {
		case "CREATE":
			oldObj = nil
		case "UPDATE":
			setMeta(oldObj, "namespace", newObj.GetNamespace())
			setMeta(oldObj, "name", newObj.GetName())
		case "DELETE":
			newObj = nil
		}
		subject := newObj
		if subject == nil {
			subject = oldObj
		}
		req := validate.Request{
			UID: "fuzz", Operation: operation, Kind: gvk,
			Namespace: subject.GetNamespace(), Name: subject.GetName(),
			Object: newObj, OldObject: oldObj,
			User: "alice", Groups: []string{"system:authenticated"},
		}

		before := facts.Reader(failing{Reader: fx.cluster, mask: fail})
		after := before
		newTyped, newErr := facts.Decode(newObj)
		_, oldErr := facts.Decode(oldObj)
		switch {
		case operation == "DELETE":
			after = facts.Overlay{Base: before, Classes: classes, Deleted: gvk.GroupKind(), Ref: facts.Ref{Namespace: req.Namespace, Name: req.Name}}
		case newErr == nil:
			after = facts.Overlay{Base: before, Classes: classes, Put: newTyped}
		}

		v := validate.Validator{Engine: engine, Builder: validate.Builder{Classes: classes}}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		d, err := v.Validate(ctx, req, before, after, now)

		var lookup *facts.LookupError
		switch {
		case err != nil && !errors.Is(err, validate.ErrMalformed) && !errors.As(err, &lookup):
			t.Fatalf("%s %s: error %v wraps neither validate.ErrMalformed nor a lookup error", operation, gvk.Kind, err)
		case err == nil && (newErr != nil || oldErr != nil):
			t.Fatalf("%s %s: an object that does not fit the schema (%v, %v) was not reported as malformed", operation, gvk.Kind, newErr, oldErr)
		case err != nil:
			return
		}

		in := d.Input
		if in == nil || in.Version != validate.InputVersion || in.Errors == nil || in.Switches == nil || in.Targets == nil {
			t.Fatalf("%s %s: incomplete input %+v", operation, gvk.Kind, in)
		}
		raw, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("%s %s: the input does not encode: %v", operation, gvk.Kind, err)
		}
		again, err := v.Builder.Build(ctx, req, before, after, now)
		if err != nil {
			t.Fatalf("%s %s: a second Build failed: %v", operation, gvk.Kind, err)
		}
		if raw2, _ := json.Marshal(again); string(raw2) != string(raw) {
			t.Fatalf("%s %s: Build is not deterministic:\n%s\n%s", operation, gvk.Kind, raw, raw2)
		}
		if fail == 0 && len(in.Errors) > 0 {
			t.Fatalf("%s %s: lookup errors %q although every lookup succeeds", operation, gvk.Kind, in.Errors)
		}
		cg307 := false
		for _, it := range d.Items {
			doc, ok := codes[it.Code]
			switch {
			case !ok:
				t.Errorf("%s %s: item %+v has a code policies/codes.json does not document", operation, gvk.Kind, it)
			case it.Endpoint != doc.Endpoint:
				t.Errorf("%s %s: item %s on endpoint %q, documented on %q", operation, gvk.Kind, it.Code, it.Endpoint, doc.Endpoint)
			case it.Message == "":
				t.Errorf("%s %s: item %s without a message", operation, gvk.Kind, it.Code)
			case it.Enforcement != policy.EnforceDeny && it.Enforcement != policy.EnforceWarn && it.Enforcement != policy.EnforceDryRun:
				t.Errorf("%s %s: item %s with enforcement %q", operation, gvk.Kind, it.Code, it.Enforcement)
			}
			cg307 = cg307 || (it.Code == "CG307" && it.Enforcement == policy.EnforceDeny)
		}
		if len(in.Errors) > 0 && !cg307 {
			t.Fatalf("%s %s: lookups failed (%q) but the gate does not deny with CG307: %+v", operation, gvk.Kind, in.Errors, d.Items)
		}
	})
}

// objectOf is the JSON object raw, else a copy of template, with the kind's
// apiVersion and kind and a namespace (the API server fills it in).
func objectOf(raw []byte, template *unstructured.Unstructured, gvk schema.GroupVersionKind) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	var m map[string]any
	if json.Unmarshal(raw, &m) == nil && m != nil {
		u.Object = m
	} else {
		u = template.DeepCopy()
	}
	u.SetGroupVersionKind(gvk)
	if ns, ok := u.Object["metadata"].(map[string]any); !ok || ns["namespace"] == nil || ns["namespace"] == "" {
		setMeta(u, "namespace", "default")
	}
	return u
}

// setMeta sets a metadata string field even when metadata is not an object
// (the schema check reports that, not a panic here).
func setMeta(u *unstructured.Unstructured, field, value string) {
	md, ok := u.Object["metadata"].(map[string]any)
	if !ok {
		if u.Object["metadata"] != nil {
			return
		}
		md = map[string]any{}
		u.Object["metadata"] = md
	}
	md[field] = value
}

// setKey sets key=value as an annotation or a label, leaving a metadata
// that is not an object for the schema check to report.
func setKey(u *unstructured.Unstructured, key, value string, label bool) {
	md, ok := u.Object["metadata"].(map[string]any)
	if !ok {
		return
	}
	field := "annotations"
	if label {
		field = "labels"
	}
	m, ok := md[field].(map[string]any)
	if !ok {
		if md[field] != nil {
			return
		}
		m = map[string]any{}
		md[field] = m
	}
	m[key] = value
}

// failing is a facts.Reader whose lookups named by mask fail.
type failing struct {
	facts.Reader
	mask uint8
}

func (f failing) fails(bit uint) error {
	if f.mask&(1<<bit) != 0 {
		return errFuzzLookup
	}
	return nil
}

func (f failing) Service(ctx context.Context, ns, name string) (*corev1.Service, error) {
	if err := f.fails(0); err != nil {
		return nil, err
	}
	return f.Reader.Service(ctx, ns, name)
}

func (f failing) InferenceService(ctx context.Context, ns, name string) (*kserve.InferenceService, error) {
	if err := f.fails(1); err != nil {
		return nil, err
	}
	return f.Reader.InferenceService(ctx, ns, name)
}

func (f failing) IngressesByRoute(ctx context.Context, key facts.RouteKey) ([]*networkingv1.Ingress, error) {
	if err := f.fails(2); err != nil {
		return nil, err
	}
	return f.Reader.IngressesByRoute(ctx, key)
}

func (f failing) ServicesSelecting(ctx context.Context, ns, isvc string) ([]*corev1.Service, error) {
	if err := f.fails(3); err != nil {
		return nil, err
	}
	return f.Reader.ServicesSelecting(ctx, ns, isvc)
}

func (f failing) IngressesRoutingTo(ctx context.Context, ns, svc string) ([]*networkingv1.Ingress, error) {
	if err := f.fails(4); err != nil {
		return nil, err
	}
	return f.Reader.IngressesRoutingTo(ctx, ns, svc)
}

func (f failing) Namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	if err := f.fails(5); err != nil {
		return nil, err
	}
	return f.Reader.Namespace(ctx, name)
}

var _ facts.Reader = failing{}

// fuzzFixtures are the reference scenario's objects.
type fuzzFixtures struct {
	// byKind holds every fixture object of a kind, in file order.
	byKind map[string][]*unstructured.Unstructured
	// named holds them by file base name and object name.
	named map[string]*unstructured.Unstructured
	// cluster is the reference cluster at step 3b: both InferenceServices
	// (model-v2 not verified), both Services, the main route and the
	// weighted canary.
	cluster *facts.Set
}

func loadFuzzFixtures(tb testing.TB) fuzzFixtures {
	tb.Helper()
	fx := fuzzFixtures{byKind: map[string][]*unstructured.Unstructured{}, named: map[string]*unstructured.Unstructured{}}
	files, err := filepath.Glob("../../test/fixtures/*/*.yaml")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no fixtures under test/fixtures: %v", err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		for _, doc := range strings.Split(string(raw), "\n---\n") {
			j, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				tb.Fatalf("%s: %v", file, err)
			}
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(j); err != nil {
				tb.Fatalf("%s: %v", file, err)
			}
			if u.GetNamespace() == "" {
				u.SetNamespace("default")
			}
			fx.byKind[u.GetKind()] = append(fx.byKind[u.GetKind()], u)
			fx.named[filepath.Base(filepath.Dir(file))+"/"+filepath.Base(file)+"#"+u.GetName()] = u
		}
	}
	fx.cluster = facts.NewSet(facts.NewClasses(nil))
	fx.cluster.PutNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}})
	for _, name := range []string{
		"scenario/00-isvc-model-v1.yaml#model-v1", "scenario/00-isvc-model-v2.yaml#model-v2",
		"scenario/01-services.yaml#model-svc", "scenario/01-services.yaml#model-v2-svc",
		"scenario/02-ingress.yaml#model-ingress", "scenario/03b-canary-weight.yaml#gray-release-canary",
	} {
		typed, err := facts.Decode(fx.object(tb, name))
		if err != nil {
			tb.Fatal(err)
		}
		fx.cluster.Put(typed)
	}
	return fx
}

func (fx fuzzFixtures) object(tb testing.TB, name string) *unstructured.Unstructured {
	tb.Helper()
	u, ok := fx.named[name]
	if !ok {
		tb.Fatalf("no fixture %s", name)
	}
	return u
}

// documentedCode is one entry of policies/codes.json.
type documentedCode struct {
	Endpoint    string `json:"endpoint"`
	Enforcement string `json:"enforcement"`
}

func documentedCodes(tb testing.TB) map[string]documentedCode {
	tb.Helper()
	raw, err := os.ReadFile("../../policies/codes.json")
	if err != nil {
		tb.Fatal(err)
	}
	var doc struct {
		Canarygate struct {
			Builtin struct {
				Codes map[string]documentedCode `json:"codes"`
			} `json:"builtin"`
		} `json:"canarygate"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Canarygate.Builtin.Codes) == 0 {
		tb.Fatalf("policies/codes.json: %v", err)
	}
	return doc.Canarygate.Builtin.Codes
}

type inputSeed struct {
	kind, op, fail uint8
	obj, old       []byte
	key, value     string
	label          bool
}

// inputSeeds are the reference release's requests, canary keys with values
// at and past their limits, forged stamps, failing lookups and objects that
// do not fit their schema. They run as a table in plain `go test`.
func inputSeeds(tb testing.TB, fx fuzzFixtures) []inputSeed {
	tb.Helper()
	js := func(name string) []byte {
		raw, err := json.Marshal(fx.object(tb, name).Object)
		if err != nil {
			tb.Fatal(err)
		}
		return raw
	}
	const (
		svc, ing, isvc      = 0, 1, 2
		create, update, del = 0, 1, 2
	)
	var (
		modelSvc = js("scenario/01-services.yaml#model-svc")
		v2Svc    = js("scenario/01-services.yaml#model-v2-svc")
		switched = js("scenario/04-switch.yaml#model-svc")
		main     = js("scenario/02-ingress.yaml#model-ingress")
		header   = js("scenario/03a-canary-header.yaml#gray-release-canary")
		weighted = js("scenario/03b-canary-weight.yaml#gray-release-canary")
		labelled = js("labels/03-canary-ingress.yaml#gray-release-canary")
		v1       = js("scenario/00-isvc-model-v1.yaml#model-v1")
		v2       = js("scenario/00-isvc-model-v2.yaml#model-v2")
		v2Keys   = js("labels/03a-isvc-model-v2.yaml#model-v2")
		verify   = js("scenario/04-verify-model-v2.yaml#model-v2")
	)
	seeds := []inputSeed{
		{kind: svc, op: update, obj: switched, old: modelSvc},
		{kind: svc, op: update, obj: switched, old: modelSvc, key: "canarygate.io/override-reason", value: "incident 42"},
		{kind: svc, op: update, obj: switched, old: modelSvc, key: "canarygate.io/previous-isvc", value: "model-v2"},
		{kind: svc, op: update, obj: modelSvc, old: switched, key: "canarygate.io/previous-generation", value: "-1"},
		{kind: svc, op: create, obj: switched},
		{kind: svc, op: del, old: v2Svc},
		{kind: svc, op: del, old: modelSvc, fail: 0x3f},
		{kind: svc, op: update, obj: []byte(`{"metadata":{"name":"model-svc"},"spec":{"selector":{"app":"isvc.model-v2-predictor"}}}`), old: modelSvc},
		{kind: svc, op: update, obj: []byte(`{"metadata":{"name":"model-svc"},"spec":{"selector":"model-v2"}}`), old: modelSvc},
		{kind: svc, op: update, obj: []byte(`{"metadata":[],"spec":{}}`), old: modelSvc},
		{kind: ing, op: create, obj: main},
		{kind: ing, op: create, obj: header},
		{kind: ing, op: update, obj: weighted, old: header},
		{kind: ing, op: create, obj: labelled},
		{kind: ing, op: create, obj: weighted, key: "nginx.ingress.kubernetes.io/canary-weight", value: "80"},
		{kind: ing, op: create, obj: weighted, key: "nginx.ingress.kubernetes.io/canary-weight", value: "99999999999999999999"},
		{kind: ing, op: create, obj: weighted, key: "nginx.ingress.kubernetes.io/canary-weight-total", value: "-7"},
		{kind: ing, op: create, obj: header, key: "nginx.ingress.kubernetes.io/canary-by-header", value: "User-Agent"},
		{kind: ing, op: create, obj: header, key: "nginx.ingress.kubernetes.io/canary-by-header-pattern", value: "(?i).*"},
		{kind: ing, op: create, obj: weighted, key: "canarygate.io/canary-since", value: "1970-01-01T00:00:00Z"},
		{kind: ing, op: create, obj: weighted, key: "nginx.ingress.kubernetes.io/canary", value: "false"},
		{kind: ing, op: update, obj: weighted, old: weighted, key: "kubernetes.io/ingress.class", value: "traefik"},
		{kind: ing, op: del, old: main},
		{kind: ing, op: del, old: weighted},
		{kind: ing, op: update, obj: weighted, old: header, fail: 0x04},
		{kind: ing, op: create, obj: []byte(`{"metadata":{"name":"x"},"spec":{"defaultBackend":{"service":{"name":"model-v2-svc","port":{"number":80}}}}}`)},
		{kind: ing, op: create, obj: []byte(`{"metadata":{"name":"x","annotations":{"nginx.ingress.kubernetes.io/canary":"true"}},"spec":{"rules":[{"host":"model.example.com"},{"http":{"paths":[{"path":"/","backend":{}}]}}]}}`)},
		{kind: ing, op: create, obj: []byte(`{"metadata":{"name":"x"},"spec":{"rules":"model.example.com"}}`)},
		{kind: isvc, op: create, obj: v2Keys},
		{kind: isvc, op: update, obj: verify, old: v2},
		{kind: isvc, op: update, obj: v2Keys, old: v2, key: "canarygate.io/weight", value: "51"},
		{kind: isvc, op: update, obj: v2Keys, old: v2, key: "canarygate.io/weight-total", value: "0", label: true},
		{kind: isvc, op: update, obj: v2Keys, old: v2, key: "canarygate.io/stable", value: "model-v2", label: true},
		{kind: isvc, op: update, obj: v2Keys, old: v2, key: "canarygate.io/header-pattern", value: "(("},
		{kind: isvc, op: update, obj: verify, old: v2, key: "canarygate.io/verified-by", value: "mallory"},
		{kind: isvc, op: update, obj: verify, old: v2, key: "canarygate.io/verified-generation", value: "9223372036854775808"},
		{kind: isvc, op: del, old: v1},
		{kind: isvc, op: del, old: v1, fail: 0x08},
		{kind: isvc, op: update, obj: v2Keys, old: v2, fail: 0x22},
		{kind: isvc, op: update, obj: []byte(`{"metadata":{"name":"model-v2","generation":"1"}}`), old: v2},
		{kind: isvc, op: update, obj: []byte(`{"metadata":{"name":"model-v2"},"status":{"conditions":{"type":"Ready"}}}`), old: v2},
		{kind: 3 + isvc, op: create, obj: []byte("not json"), key: "canarygate.io/weight", value: "20"},
	}
	for i := range seeds {
		if seeds[i].obj == nil {
			seeds[i].obj = []byte{}
		}
		if seeds[i].old == nil {
			seeds[i].old = []byte{}
		}
	}
	return seeds
}
