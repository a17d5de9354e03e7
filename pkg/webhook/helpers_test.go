package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/kserve"
	"github.com/canarygate/canarygate/pkg/policy"
	"github.com/canarygate/canarygate/pkg/webhook"
)

const (
	scenarioDir = "../../test/fixtures/scenario"
	labelsDir   = "../../test/fixtures/labels"
)

// now is the fixed decision time of every test: after every fixture's
// creationTimestamp.
var now = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// harness serves the three handlers over real HTTP at their paths.
type harness struct {
	srv     *httptest.Server
	set     *facts.Set
	reg     *prometheus.Registry
	metrics *webhook.Metrics
	engine  *atomic.Pointer[policy.Engine]
}

// config changes the harness's options before the handlers are built.
type config func(*webhook.Options)

// newHarness puts the objects into a facts.Set (the cluster before the
// request), loads the built-in policies and serves the handlers.
func newHarness(t *testing.T, objs []*unstructured.Unstructured, configs ...config) *harness {
	t.Helper()
	return newHarnessWith(t, factsOf(t, objs), builtinEngine(t), configs...)
}

// factsOf returns a facts.Set holding the objects.
func factsOf(t *testing.T, objs []*unstructured.Unstructured) *facts.Set {
	t.Helper()
	set := facts.NewSet(facts.NewClasses(nil))
	for _, u := range objs {
		obj, err := facts.Decode(u)
		if err != nil {
			t.Fatalf("decoding %s %s: %v", u.GetKind(), u.GetName(), err)
		}
		set.Put(obj)
	}
	return set
}

// newHarnessWith serves the handlers over set with the given engine (nil:
// no engine loaded).
func newHarnessWith(t *testing.T, set *facts.Set, e *policy.Engine, configs ...config) *harness {
	t.Helper()
	engine := &atomic.Pointer[policy.Engine]{}
	if e != nil {
		engine.Store(e)
	}
	reg := prometheus.NewRegistry()
	m, err := webhook.NewMetrics(reg)
	if err != nil {
		t.Fatalf("NewMetrics() error = %v", err)
	}
	opts := webhook.Options{
		Classes:   facts.NewClasses(nil),
		Engine:    engine,
		Facts:     set,
		Ready:     func() error { return nil },
		Tolerance: time.Minute,
		Metrics:   m,
		Log:       logr.Discard(),
		Now:       func() time.Time { return now },
	}
	for _, c := range configs {
		c(&opts)
	}
	h := webhook.New(opts)
	mux := http.NewServeMux()
	mux.Handle(webhook.PathGate, h.Gate)
	mux.Handle(webhook.PathLint, h.Lint)
	mux.Handle(webhook.PathMutate, h.Mutate)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &harness{srv: srv, set: set, reg: reg, metrics: m, engine: engine}
}

var engines = map[string]*policy.Engine{}

// builtinEngine returns the built-in policy set, compiled once per test
// binary (compiling takes most of a test's time).
func builtinEngine(t *testing.T) *policy.Engine {
	t.Helper()
	return engineFor(t, "builtin", policy.Options{Builtin: true})
}

func engineFor(t *testing.T, name string, opts policy.Options) *policy.Engine {
	t.Helper()
	if e := engines[name]; e != nil {
		return e
	}
	e, err := policy.Load(t.Context(), opts)
	if err != nil {
		t.Fatalf("policy.Load(%s) error = %v", name, err)
	}
	engines[name] = e
	return e
}

// load reads the objects of a YAML fixture file.
func load(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if u.GetNamespace() == "" {
			// Applied with kubectl -n default: the API server fills in the
			// namespace before admission.
			u.SetNamespace("default")
		}
		out = append(out, u)
	}
	return out
}

// fixture returns the object named name in a fixture file.
func fixture(t *testing.T, file, name string) *unstructured.Unstructured {
	t.Helper()
	for _, u := range load(t, file) {
		if u.GetName() == name {
			return u
		}
	}
	t.Fatalf("%s holds no object named %s", file, name)
	return nil
}

// withAnnotations returns a copy of u with annotations set (an empty value
// removes the key).
func withAnnotations(u *unstructured.Unstructured, ann map[string]string) *unstructured.Unstructured {
	c := u.DeepCopy()
	a := c.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	for k, v := range ann {
		if v == "" {
			delete(a, k)
			continue
		}
		a[k] = v
	}
	c.SetAnnotations(a)
	return c
}

var resources = map[schema.GroupKind]string{
	facts.ServiceKind:          "services",
	facts.IngressKind:          "ingresses",
	facts.InferenceServiceKind: "inferenceservices",
	{Kind: "ConfigMap"}:        "configmaps",
}

var uids atomic.Int64

// request returns an admission request for obj (old on DELETE), as the API
// server sends it, with a fresh UID.
func request(t *testing.T, op admissionv1.Operation, obj, old *unstructured.Unstructured) *admissionv1.AdmissionRequest {
	t.Helper()
	subject := obj
	if subject == nil {
		subject = old
	}
	gvk := subject.GroupVersionKind()
	kind := metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind}
	res := metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: resources[gvk.GroupKind()]}
	return &admissionv1.AdmissionRequest{
		UID:         types.UID(fmt.Sprintf("uid-%d", uids.Add(1))),
		Kind:        kind,
		Resource:    res,
		RequestKind: &kind, RequestResource: &res,
		Name:      subject.GetName(),
		Namespace: subject.GetNamespace(),
		Operation: op,
		UserInfo:  authenticationv1.UserInfo{Username: "alice", Groups: []string{"system:authenticated"}},
		Object:    rawOf(t, obj),
		OldObject: rawOf(t, old),
	}
}

func rawOf(t *testing.T, u *unstructured.Unstructured) runtime.RawExtension {
	t.Helper()
	if u == nil {
		return runtime.RawExtension{}
	}
	raw, err := u.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return runtime.RawExtension{Raw: raw}
}

// reviewBody is the JSON AdmissionReview v1 carrying req.
func reviewBody(t *testing.T, req *admissionv1.AdmissionRequest) []byte {
	t.Helper()
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Request:  req,
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// post sends req to the endpoint at path and returns the response, failing
// the test unless the answer is an AdmissionReview v1 over HTTP 200 with the
// request's UID.
func (h *harness) post(t *testing.T, path string, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	t.Helper()
	status, rev := h.postRaw(t, path, "application/json", reviewBody(t, req))
	if status != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d, want 200", path, status)
	}
	if rev.APIVersion != admissionv1.SchemeGroupVersion.String() || rev.Kind != "AdmissionReview" {
		t.Errorf("POST %s: answered a %s %s, want an admission.k8s.io/v1 AdmissionReview", path, rev.APIVersion, rev.Kind)
	}
	if rev.Response == nil {
		t.Fatalf("POST %s: AdmissionReview without a response", path)
	}
	if rev.Response.UID != req.UID {
		t.Errorf("POST %s: response UID = %q, want the request's %q", path, rev.Response.UID, req.UID)
	}
	return rev.Response
}

// postRaw sends body as is and decodes the AdmissionReview answered.
func (h *harness) postRaw(t *testing.T, path, contentType string, body []byte) (int, admissionv1.AdmissionReview) {
	t.Helper()
	return h.postReader(t, path, contentType, bytes.NewReader(body))
}

// postPlain posts a body and returns the HTTP status and the raw answer,
// for bodies the server refuses before decoding.
func (h *harness) postPlain(t *testing.T, path, contentType string, body []byte) (int, string) {
	t.Helper()
	status, raw := h.send(t, path, contentType, bytes.NewReader(body))
	return status, string(raw)
}

// send posts a body and returns the HTTP status and the answer's bytes.
func (h *harness) send(t *testing.T, path, contentType string, body io.Reader) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, h.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: reading the answer: %v", path, err)
	}
	return resp.StatusCode, raw
}

func (h *harness) postReader(t *testing.T, path, contentType string, body io.Reader) (int, admissionv1.AdmissionReview) {
	t.Helper()
	status, raw := h.send(t, path, contentType, body)
	var rev admissionv1.AdmissionReview
	if err := json.Unmarshal(raw, &rev); err != nil {
		t.Fatalf("POST %s: answer %q is not an AdmissionReview: %v", path, raw, err)
	}
	return status, rev
}

// message is the status message of a response ("" when none).
func message(r *admissionv1.AdmissionResponse) string {
	if r.Result == nil {
		return ""
	}
	return r.Result.Message
}

// describe summarises a response for failure messages.
func describe(r *admissionv1.AdmissionResponse) string {
	code := int32(0)
	if r.Result != nil {
		code = r.Result.Code
	}
	pt := "<nil>"
	if r.PatchType != nil {
		pt = string(*r.PatchType)
	}
	return fmt.Sprintf("allowed=%v code=%d message=%q warnings=%q patchType=%s patch=%s", r.Allowed, code, message(r), r.Warnings, pt, r.Patch)
}

// panicky is a facts.Reader that panics on every lookup while armed, and
// otherwise answers as Reader.
type panicky struct {
	facts.Reader
	armed *atomic.Bool
}

func (p panicky) check(method string) {
	if p.armed.Load() {
		panic("panicky reader: " + method)
	}
}

func (p panicky) Service(ctx context.Context, ns, name string) (*corev1.Service, error) {
	p.check("Service")
	return p.Reader.Service(ctx, ns, name)
}

func (p panicky) InferenceService(ctx context.Context, ns, name string) (*kserve.InferenceService, error) {
	p.check("InferenceService")
	return p.Reader.InferenceService(ctx, ns, name)
}

func (p panicky) IngressesByRoute(ctx context.Context, key facts.RouteKey) ([]*networkingv1.Ingress, error) {
	p.check("IngressesByRoute")
	return p.Reader.IngressesByRoute(ctx, key)
}

func (p panicky) ServicesSelecting(ctx context.Context, ns, isvc string) ([]*corev1.Service, error) {
	p.check("ServicesSelecting")
	return p.Reader.ServicesSelecting(ctx, ns, isvc)
}

func (p panicky) IngressesRoutingTo(ctx context.Context, ns, svc string) ([]*networkingv1.Ingress, error) {
	p.check("IngressesRoutingTo")
	return p.Reader.IngressesRoutingTo(ctx, ns, svc)
}

func (p panicky) Namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	p.check("Namespace")
	return p.Reader.Namespace(ctx, name)
}

var _ facts.Reader = panicky{}
