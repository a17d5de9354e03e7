package mutate_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/canarygate/canarygate/pkg/canary"
	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/kserve"
	"github.com/canarygate/canarygate/pkg/mutate"
)

// The reference scenario (DESIGN §1).
const (
	ns        = "default"
	host      = "model.example.com"
	mainSvc   = "model-svc"
	canarySvc = "model-v2-svc"
	stable    = "model-v1"
	canaryIS  = "model-v2"
	tolerance = 30 * time.Second
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// rfc3339 is how canarygate writes a time stamp.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func mutator() mutate.Mutator {
	return mutate.Mutator{Classes: facts.NewClasses(nil), Tolerance: tolerance}
}

func ptr[T any](v T) *T { return &v }

// toUnstructured converts a typed object as the API server would send it.
func toUnstructured(t *testing.T, obj runtime.Object) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func modelService(name, isvc string) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{canary.LabelInferenceService: isvc},
			Ports:    []corev1.ServicePort{{Port: 80}},
		},
	}
}

// ingress is an Ingress in ns for host "/" (ImplementationSpecific) with one
// path per backend Service and the given annotations.
func ingress(name string, annotations map[string]string, backends ...string) *networkingv1.Ingress {
	ing := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations},
	}
	var paths []networkingv1.HTTPIngressPath
	for i, b := range backends {
		path := "/"
		if i > 0 {
			path = "/" + strconv.Itoa(i)
		}
		paths = append(paths, networkingv1.HTTPIngressPath{
			Path: path, PathType: ptr(networkingv1.PathTypeImplementationSpecific),
			Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
				Name: b, Port: networkingv1.ServiceBackendPort{Number: 80},
			}},
		})
	}
	ing.Spec.Rules = []networkingv1.IngressRule{{
		Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}},
	}}
	return ing
}

// isvcObject is an InferenceService as the API server sends it.
func isvcObject(name string, generation int64, labels, annotations map[string]string, spec map[string]any) *unstructured.Unstructured {
	meta := map[string]any{"namespace": ns, "name": name}
	if generation != 0 {
		meta["generation"] = generation
	}
	if labels != nil {
		meta["labels"] = toAny(labels)
	}
	if annotations != nil {
		meta["annotations"] = toAny(annotations)
	}
	if spec == nil {
		spec = predictor("sklearn")
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": kserve.GroupVersion.String(), "kind": kserve.Kind,
		"metadata": meta, "spec": spec,
	}}
}

func predictor(format string) map[string]any {
	return map[string]any{"predictor": map[string]any{"model": map[string]any{
		"modelFormat": map[string]any{"name": format}, "storageUri": "gs://models/canary",
	}}}
}

func toAny(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// isvcFact is an InferenceService as the facts hold it.
func isvcFact(name string, generation int64, labels map[string]string) *kserve.InferenceService {
	return &kserve.InferenceService{
		TypeMeta:   metav1.TypeMeta{APIVersion: kserve.GroupVersion.String(), Kind: kserve.Kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: generation, Labels: labels},
	}
}

// declaration is the reference scenario's step 3a, declared on model-v2.
var declaration = map[string]string{
	canary.KeyStable: stable, canary.KeyHeader: "foo", canary.KeyHeaderValue: "bar",
}

// scenario returns the facts of the reference scenario: both Services,
// model-v1 at generation 3 and model-v2 carrying the given canary labels.
func scenario(canaryLabels map[string]string, extra ...any) *facts.Set {
	set := facts.NewSet(facts.NewClasses(nil))
	set.Put(modelService(mainSvc, stable))
	set.Put(modelService(canarySvc, canaryIS))
	set.Put(isvcFact(stable, 3, nil))
	set.Put(isvcFact(canaryIS, 1, canaryLabels))
	for _, o := range extra {
		set.Put(o)
	}
	return set
}

// annotationsOf returns the object's annotations (never nil).
func annotationsOf(u *unstructured.Unstructured) map[string]string {
	a := u.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	return a
}

func codes(ns []mutate.Notice) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, n.Code)
	}
	return out
}

// applyPatch applies an RFC 6902 patch (add, replace, remove over objects
// and arrays) to a JSON copy of obj, so a test can check that the patch
// turns the original into the mutated object.
func applyPatch(t *testing.T, obj *unstructured.Unstructured, patch []jsonpatch.JsonPatchOperation) map[string]any {
	t.Helper()
	raw, err := json.Marshal(obj.Object)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, op := range patch {
		var err error
		doc, err = applyOp(doc, op)
		if err != nil {
			t.Fatalf("applying %s %s: %v", op.Operation, op.Path, err)
		}
	}
	return doc.(map[string]any)
}

func applyOp(doc any, op jsonpatch.JsonPatchOperation) (any, error) {
	if !strings.HasPrefix(op.Path, "/") {
		return nil, fmt.Errorf("path %q does not start with /", op.Path)
	}
	var tokens []string
	for _, tok := range strings.Split(op.Path[1:], "/") {
		tokens = append(tokens, strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~"))
	}
	// Round-trip the value through JSON so it has the shape of the document.
	var value any
	if op.Operation != "remove" {
		raw, err := json.Marshal(op.Value)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, &value); err != nil {
			return nil, err
		}
	}
	parent := doc
	for _, tok := range tokens[:len(tokens)-1] {
		switch p := parent.(type) {
		case map[string]any:
			next, ok := p[tok]
			if !ok {
				return nil, fmt.Errorf("no member %q", tok)
			}
			parent = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(p) {
				return nil, fmt.Errorf("bad index %q", tok)
			}
			parent = p[i]
		default:
			return nil, fmt.Errorf("cannot descend into %T", parent)
		}
	}
	last := tokens[len(tokens)-1]
	switch p := parent.(type) {
	case map[string]any:
		_, exists := p[last]
		switch op.Operation {
		case "add":
			p[last] = value
		case "replace":
			if !exists {
				return nil, fmt.Errorf("replace of missing member %q", last)
			}
			p[last] = value
		case "remove":
			if !exists {
				return nil, fmt.Errorf("remove of missing member %q", last)
			}
			delete(p, last)
		default:
			return nil, fmt.Errorf("unsupported op %q", op.Operation)
		}
	default:
		return nil, fmt.Errorf("ops on %T are not supported by this test helper", parent)
	}
	return doc, nil
}

// jsonOf normalises an object through JSON for comparison.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var n any
	if err := json.Unmarshal(raw, &n); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(n)
	return string(out)
}
