package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/mutate"
	"github.com/canarygate/canarygate/pkg/validate"
	"github.com/canarygate/canarygate/pkg/webhook"
	"github.com/canarygate/canarygate/test/harness"
)

// request is one realistic admission request of the reference scenario,
// built from the live object the control plane holds (uid, generation,
// timestamps as the API server sends them) and a fixture.
type request struct {
	Name      string
	Operation string
	GVK       schema.GroupVersionKind
	Resource  string
	Namespace string
	ObjName   string
	Object    *unstructured.Unstructured // nil on DELETE
	OldObject *unstructured.Unstructured // nil on CREATE
}

// reference is the cluster state the load runs against: the reference
// scenario up to step 3a (DESIGN §1) in namespace default.
var referenceState = []string{
	"00-isvc-model-v1.yaml", "00-isvc-model-v2.yaml", "01-services.yaml",
	"02-ingress.yaml", "03a-canary-header.yaml",
}

// seedReference applies the reference scenario up to step 3a and reports
// both InferenceServices Ready, as KServe would.
func seedReference(ctx context.Context, env *harness.Env) error {
	dir := filepath.Join(env.Root, "test", "fixtures", "scenario")
	for _, f := range referenceState {
		if r := env.Run(ctx, "", "apply", "-n", "default", "-f", filepath.Join(dir, f)); r.Code != 0 {
			return fmt.Errorf("applying %s: %s", f, r.Output())
		}
	}
	for _, name := range []string{"model-v1", "model-v2"} {
		status := `{"status":{"observedGeneration":1,"conditions":[{"type":"PredictorReady","status":"True"},{"type":"IngressReady","status":"True"},{"type":"Ready","status":"True"}]}}`
		if r := env.Run(ctx, "", "patch", "inferenceservice", name, "-n", "default", "--subresource=status", "--type=merge", "-p", status); r.Code != 0 {
			return fmt.Errorf("marking %s Ready: %s", name, r.Output())
		}
	}
	return nil
}

// live reads one object as the API server holds it.
func live(ctx context.Context, env *harness.Env, resource, name string) (*unstructured.Unstructured, error) {
	r := env.Run(ctx, "", "get", resource, name, "-n", "default", "-o", "json")
	if r.Code != 0 {
		return nil, fmt.Errorf("reading %s %s: %s", resource, name, r.Output())
	}
	u := &unstructured.Unstructured{}
	return u, u.UnmarshalJSON([]byte(r.Stdout))
}

// fixture reads one object of the scenario's fixtures.
func fixture(root, file string) (*unstructured.Unstructured, error) {
	raw, err := os.ReadFile(filepath.Join(root, "test", "fixtures", "scenario", file))
	if err != nil {
		return nil, err
	}
	j, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	return u, u.UnmarshalJSON(j)
}

// updated is old with the fixture's labels, annotations and spec: what
// `kubectl apply` of the fixture sends as the new object.
func updated(old, fix *unstructured.Unstructured, edit func(ann map[string]string)) *unstructured.Unstructured {
	u := old.DeepCopy()
	ann := maps.Clone(fix.GetAnnotations())
	if ann == nil {
		ann = map[string]string{}
	}
	if edit != nil {
		edit(ann)
	}
	u.SetAnnotations(ann)
	if l := fix.GetLabels(); l != nil {
		u.SetLabels(l)
	}
	if spec, ok := fix.Object["spec"]; ok {
		u.Object["spec"] = runtime.DeepCopyJSONValue(spec)
	}
	return u
}

// referenceRequests returns the requests of the load: the reference
// scenario's writes, allowed and denied, each sent to every endpoint.
func referenceRequests(ctx context.Context, env *harness.Env) ([]request, error) {
	get := func(resource, name string) *unstructured.Unstructured {
		u, err := live(ctx, env, resource, name)
		if err != nil {
			panic(err)
		}
		return u
	}
	fix := func(file string) *unstructured.Unstructured {
		u, err := fixture(env.Root, file)
		if err != nil {
			panic(err)
		}
		return u
	}
	var out []request
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
		}()
		ingGVK := schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}
		svcGVK := schema.GroupVersionKind{Version: "v1", Kind: "Service"}
		isvcGVK := schema.GroupVersionKind{Group: "serving.kserve.io", Version: "v1beta1", Kind: "InferenceService"}

		canary := get("ingress", "gray-release-canary")
		weight := fix("03b-canary-weight.yaml")
		out = append(out,
			request{Name: "canary weight 20 (step 3b)", Operation: "UPDATE", GVK: ingGVK, Resource: "ingresses",
				Object: updated(canary, weight, nil), OldObject: canary},
			request{Name: "canary weight 80, unverified target", Operation: "UPDATE", GVK: ingGVK, Resource: "ingresses",
				Object: updated(canary, weight, func(a map[string]string) { a["nginx.ingress.kubernetes.io/canary-weight"] = "80" }), OldObject: canary},
			request{Name: "canary weight \"20%\"", Operation: "UPDATE", GVK: ingGVK, Resource: "ingresses",
				Object: updated(canary, weight, func(a map[string]string) { a["nginx.ingress.kubernetes.io/canary-weight"] = "20%" }), OldObject: canary},
		)

		main := fix("02-ingress.yaml")
		main.SetName("model-ingress-b")
		main.SetNamespace("default")
		rules, _, _ := unstructured.NestedSlice(main.Object, "spec", "rules")
		rules[0].(map[string]any)["host"] = "model-b.example.com"
		_ = unstructured.SetNestedSlice(main.Object, rules, "spec", "rules")
		out = append(out, request{Name: "main Ingress create, new host", Operation: "CREATE", GVK: ingGVK, Resource: "ingresses", Object: main})

		svc := get("service", "model-svc")
		out = append(out,
			request{Name: "Service switch to unverified model-v2 (step 4)", Operation: "UPDATE", GVK: svcGVK, Resource: "services",
				Object: updated(svc, fix("04-switch.yaml"), nil), OldObject: svc},
		)
		relabel := svc.DeepCopy()
		relabel.SetLabels(map[string]string{"team": "ml"})
		out = append(out, request{Name: "Service relabel", Operation: "UPDATE", GVK: svcGVK, Resource: "services", Object: relabel, OldObject: svc})

		v2 := get("inferenceservice", "model-v2")
		out = append(out, request{Name: "verify model-v2 (step 4, before)", Operation: "UPDATE", GVK: isvcGVK, Resource: "inferenceservices",
			Object: updated(v2, fix("04-verify-model-v2.yaml"), nil), OldObject: v2})
		v1 := get("inferenceservice", "model-v1")
		out = append(out, request{Name: "delete model-v1 while model-svc selects it", Operation: "DELETE", GVK: isvcGVK, Resource: "inferenceservices", OldObject: v1})
		return nil
	}()
	for i := range out {
		r := &out[i]
		r.Namespace = "default"
		if r.Object != nil {
			r.ObjName = r.Object.GetName()
		} else {
			r.ObjName = r.OldObject.GetName()
		}
	}
	return out, err
}

// review is the AdmissionReview the API server sends for r.
func (r request) review(uid string) ([]byte, error) {
	raw := func(u *unstructured.Unstructured) (runtime.RawExtension, error) {
		if u == nil {
			return runtime.RawExtension{}, nil
		}
		b, err := u.MarshalJSON()
		return runtime.RawExtension{Raw: b}, err
	}
	obj, err := raw(r.Object)
	if err != nil {
		return nil, err
	}
	old, err := raw(r.OldObject)
	if err != nil {
		return nil, err
	}
	dry := false
	gvk := metav1.GroupVersionKind{Group: r.GVK.Group, Version: r.GVK.Version, Kind: r.GVK.Kind}
	gvr := metav1.GroupVersionResource{Group: r.GVK.Group, Version: r.GVK.Version, Resource: r.Resource}
	rev := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID(uid), Kind: gvk, Resource: gvr, RequestKind: &gvk, RequestResource: &gvr,
			Name: r.ObjName, Namespace: r.Namespace, Operation: admissionv1.Operation(r.Operation),
			UserInfo: authenticationv1.UserInfo{Username: harness.User, Groups: []string{"system:masters", "system:authenticated"}},
			Object:   obj, OldObject: old, DryRun: &dry,
		},
	}
	return json.Marshal(rev)
}

// input is the policy input canarygate builds for r against the facts:
// what bare OPA is given, so it decides on the same facts.
func (r request) input(ctx context.Context, set *facts.Set, now time.Time) ([]byte, error) {
	after := facts.Overlay{Base: set, Classes: set.Classes()}
	if r.Operation == "DELETE" {
		after.Deleted = r.GVK.GroupKind()
		after.Ref = facts.Ref{Namespace: r.Namespace, Name: r.ObjName}
	} else {
		typed, err := facts.Decode(r.Object)
		if err != nil {
			return nil, err
		}
		after.Put = typed
	}
	in, err := validate.Builder{Classes: set.Classes()}.Build(ctx, validate.Request{
		UID: "bench", Operation: r.Operation, Kind: r.GVK, Namespace: r.Namespace, Name: r.ObjName,
		Object: r.Object, OldObject: r.OldObject, User: harness.User, Groups: []string{"system:masters", "system:authenticated"},
	}, set, after, now)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"input": in})
}

// liveFacts reads the governed objects of namespace default into a facts
// set: the facts canarygate's cache holds during the load.
func liveFacts(ctx context.Context, env *harness.Env) (*facts.Set, error) {
	set := facts.NewSet(facts.NewClasses(nil))
	for _, res := range []string{"services", "ingresses", "inferenceservices"} {
		r := env.Run(ctx, "", "get", res, "-n", "default", "-o", "json")
		if r.Code != 0 {
			return nil, fmt.Errorf("listing %s: %s", res, r.Output())
		}
		list := &unstructured.UnstructuredList{}
		if err := list.UnmarshalJSON([]byte(r.Stdout)); err != nil {
			return nil, err
		}
		for i := range list.Items {
			typed, err := facts.Decode(&list.Items[i])
			if err != nil {
				return nil, err
			}
			set.Put(typed)
		}
	}
	return set, nil
}

// endpoints are canarygate's three paths, each receiving every request.
var endpoints = []string{webhook.PathMutate, webhook.PathGate, webhook.PathLint}

// mutated is r as the validating webhooks see it: its object after
// canarygate's mutation at now (strategy and stamps written), as the API
// server sends it after calling the mutating webhook.
func (r request) mutated(ctx context.Context, set *facts.Set, now time.Time) (request, error) {
	if r.Object == nil {
		return r, nil
	}
	res, err := mutate.Mutator{Classes: set.Classes(), Tolerance: time.Minute}.Mutate(ctx, mutate.Request{
		Operation: r.Operation, Object: r.Object, OldObject: r.OldObject, User: harness.User, Now: now,
	}, set)
	if err != nil {
		return r, err
	}
	r.Object = res.Object
	return r, nil
}
