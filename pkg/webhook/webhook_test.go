package webhook_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/canarygate/canarygate/pkg/policy"
	"github.com/canarygate/canarygate/pkg/webhook"
)

// endpoints are the three paths, in the order results are listed.
var endpoints = []string{webhook.PathGate, webhook.PathLint, webhook.PathMutate}

// want is one endpoint's expected answer. The message is compared exactly
// when message is set, else it must start with prefix and contain every
// fragment; warnings likewise (exact, or one prefix per warning).
type want struct {
	allowed         bool
	code            int32
	message         string
	prefix          string
	contains        []string
	warnings        []string
	warningPrefixes []string
	// patch is the expected JSON patch (ops in any order); "" means no
	// patch and no patchType.
	patch string
}

func allowed() want { return want{allowed: true, code: http.StatusOK} }

func (w want) check(t *testing.T, endpoint string, got *admissionv1.AdmissionResponse) {
	t.Helper()
	code := int32(0)
	if got.Result != nil {
		code = got.Result.Code
	}
	if got.Allowed != w.allowed || code != w.code {
		t.Errorf("%s: allowed=%v code=%d, want allowed=%v code=%d\n%s", endpoint, got.Allowed, code, w.allowed, w.code, describe(got))
	}
	msg := message(got)
	switch {
	case w.message != "" && msg != w.message:
		t.Errorf("%s: message\n  %q\nwant\n  %q", endpoint, msg, w.message)
	case w.message == "" && w.prefix == "" && len(w.contains) == 0 && msg != "":
		t.Errorf("%s: message %q, want none", endpoint, msg)
	case !strings.HasPrefix(msg, w.prefix):
		t.Errorf("%s: message %q, want it to start with %q", endpoint, msg, w.prefix)
	}
	for _, f := range w.contains {
		if !strings.Contains(msg, f) {
			t.Errorf("%s: message %q, want it to contain %q", endpoint, msg, f)
		}
	}
	if w.warningPrefixes != nil {
		if len(got.Warnings) != len(w.warningPrefixes) {
			t.Errorf("%s: warnings %q, want %d starting with %q", endpoint, got.Warnings, len(w.warningPrefixes), w.warningPrefixes)
		} else {
			for i, p := range w.warningPrefixes {
				if !strings.HasPrefix(got.Warnings[i], p) {
					t.Errorf("%s: warning %d %q, want it to start with %q", endpoint, i, got.Warnings[i], p)
				}
			}
		}
	} else if !slices.Equal(got.Warnings, w.warnings) {
		t.Errorf("%s: warnings\n  %q\nwant\n  %q", endpoint, got.Warnings, w.warnings)
	}
	checkPatch(t, endpoint, got, w.patch)
}

// checkPatch compares the response's patch with a JSON patch, ignoring the
// order of operations.
// withManagedFields returns a copy of u carrying managedFields as the API
// server sends them.
func withManagedFields(t *testing.T, u *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	c := u.DeepCopy()
	c.SetManagedFields([]metav1.ManagedFieldsEntry{{
		Manager: "kubectl-client-side-apply", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
		FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:annotations":{".":{}}},"f:spec":{"f:selector":{}}}`),
	}})
	if len(c.GetManagedFields()) != 1 {
		t.Fatal("managedFields not set")
	}
	return c
}

func checkPatch(t *testing.T, endpoint string, got *admissionv1.AdmissionResponse, patch string) {
	t.Helper()
	if patch == "" {
		if len(got.Patch) != 0 || got.PatchType != nil {
			t.Errorf("%s: patch %s (type %v), want none", endpoint, got.Patch, got.PatchType)
		}
		return
	}
	if got.PatchType == nil || *got.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Errorf("%s: patchType %v, want JSONPatch", endpoint, got.PatchType)
	}
	var gotOps, wantOps []map[string]any
	if err := json.Unmarshal(got.Patch, &gotOps); err != nil {
		t.Fatalf("%s: patch %s is not a JSON patch: %v", endpoint, got.Patch, err)
	}
	if err := json.Unmarshal([]byte(patch), &wantOps); err != nil {
		t.Fatalf("bad expected patch %s: %v", patch, err)
	}
	byPath := func(a, b map[string]any) int { return strings.Compare(fmt.Sprint(a["path"]), fmt.Sprint(b["path"])) }
	slices.SortFunc(gotOps, byPath)
	slices.SortFunc(wantOps, byPath)
	if !reflect.DeepEqual(gotOps, wantOps) {
		t.Errorf("%s: patch\n  %s\nwant\n  %s", endpoint, got.Patch, patch)
	}
}

// scenario holds the reference objects tests build requests from.
type scenario struct {
	isvcV1, isvcV2, svc, v2svc, ingress, switched, canaryHeader, canaryWeight *unstructured.Unstructured
	labelIngress, labelISVC                                                   *unstructured.Unstructured
}

func newScenario(t *testing.T) scenario {
	t.Helper()
	return scenario{
		isvcV1:       fixture(t, scenarioDir+"/00-isvc-model-v1.yaml", "model-v1"),
		isvcV2:       fixture(t, scenarioDir+"/00-isvc-model-v2.yaml", "model-v2"),
		svc:          fixture(t, scenarioDir+"/01-services.yaml", "model-svc"),
		v2svc:        fixture(t, scenarioDir+"/01-services.yaml", "model-v2-svc"),
		ingress:      fixture(t, scenarioDir+"/02-ingress.yaml", "model-ingress"),
		switched:     fixture(t, scenarioDir+"/04-switch.yaml", "model-svc"),
		canaryHeader: fixture(t, scenarioDir+"/03a-canary-header.yaml", "gray-release-canary"),
		canaryWeight: fixture(t, scenarioDir+"/03b-canary-weight.yaml", "gray-release-canary"),
		labelIngress: fixture(t, labelsDir+"/03-canary-ingress.yaml", "gray-release-canary"),
		labelISVC:    fixture(t, labelsDir+"/03a-isvc-model-v2.yaml", "model-v2"),
	}
}

// cluster is the reference cluster before any canary: model-v1 and model-v2
// Ready (model-v2 not verified), both Services and the main Ingress.
func (s scenario) cluster(more ...*unstructured.Unstructured) []*unstructured.Unstructured {
	return append([]*unstructured.Unstructured{s.isvcV1, s.isvcV2, s.svc, s.v2svc, s.ingress}, more...)
}

// verifiedV2 is model-v2 verified at its generation by bob.
func (s scenario) verifiedV2() *unstructured.Unstructured {
	return withAnnotations(s.isvcV2, map[string]string{
		"canarygate.io/verified":            "true",
		"canarygate.io/verified-by":         "bob",
		"canarygate.io/verified-at":         "2026-11-30T09:00:00Z",
		"canarygate.io/verified-generation": "1",
	})
}

const (
	canarySincePatch = `[{"op":"add","path":"/metadata/annotations/canarygate.io~1canary-since","value":"2026-12-01T10:00:00Z"}]`
	previousPatch    = `[{"op":"add","path":"/metadata/annotations","value":{"canarygate.io/previous-isvc":"model-v1","canarygate.io/previous-generation":"1"}}]`
)

func TestMalformedReviewsAreAnsweredBadRequest(t *testing.T) {
	s := newScenario(t)
	h := newHarness(t, s.cluster())
	switchReview := func(t *testing.T) []byte { return reviewBody(t, request(t, admissionv1.Update, s.switched, s.svc)) }
	retyped := func(apiVersion, kind string) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			var m map[string]any
			if err := json.Unmarshal(switchReview(t), &m); err != nil {
				t.Fatal(err)
			}
			for k, v := range map[string]string{"apiVersion": apiVersion, "kind": kind} {
				if v == "" {
					delete(m, k)
				} else {
					m[k] = v
				}
			}
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	tests := map[string]struct {
		body        func(t *testing.T) []byte
		contentType string
		status      int
		reason      string
	}{
		"unparsable JSON is answered 400 with the parse error": {
			body:   func(*testing.T) []byte { return []byte(`{"apiVersion": "admission.k8s.io/v1", "kind": `) },
			status: http.StatusBadRequest, reason: "request body is not a JSON AdmissionReview: unexpected end of JSON input",
		},
		"a raw control character inside a string is answered 400": {
			body: func(*testing.T) []byte {
				return []byte("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"a\x01b\"}}")
			},
			status: http.StatusBadRequest, reason: `request body is not a JSON AdmissionReview: invalid character '\x01' in string literal`,
		},
		"an empty body is answered 400": {
			body:   func(*testing.T) []byte { return nil },
			status: http.StatusBadRequest, reason: "request body is empty; send an AdmissionReview",
		},
		"a body that is not declared JSON is answered 400": {
			body: switchReview, contentType: "application/yaml",
			status: http.StatusBadRequest, reason: `Content-Type "application/yaml": an AdmissionReview is application/json`,
		},
		"an AdmissionReview of an apiVersion canarygate does not know is answered 400": {
			body:   retyped("admission.k8s.io/v2", "AdmissionReview"),
			status: http.StatusBadRequest,
			reason: `body has apiVersion "admission.k8s.io/v2" and kind "AdmissionReview"; canarygate reads an AdmissionReview of admission.k8s.io/v1 or v1beta1`,
		},
		"a body of another kind is answered 400": {
			body:   retyped("v1", "Pod"),
			status: http.StatusBadRequest, reason: `body has apiVersion "v1" and kind "Pod"; canarygate reads an AdmissionReview of admission.k8s.io/v1 or v1beta1`,
		},
		"an AdmissionReview without apiVersion and kind is answered 400": {
			body:   retyped("", ""),
			status: http.StatusBadRequest, reason: `body has apiVersion "" and kind ""; canarygate reads an AdmissionReview of admission.k8s.io/v1 or v1beta1`,
		},
		"an AdmissionReview without a request is answered 400": {
			body: func(*testing.T) []byte {
				return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`)
			},
			status: http.StatusBadRequest, reason: "AdmissionReview has no request, or its request has no uid",
		},
		"a body over the 7 MiB limit is refused 413 before it is read whole": {
			body: func(*testing.T) []byte {
				return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","name":"` + strings.Repeat("a", 7<<20) + `"}}`)
			},
			status: http.StatusRequestEntityTooLarge, reason: "request body is larger than 7340032 bytes",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			body := tc.body(t)
			for _, ep := range endpoints {
				status, text := h.postPlain(t, ep, ct, body)
				if status != tc.status || strings.TrimSpace(text) != tc.reason {
					t.Errorf("%s: HTTP %d %q, want %d %q", ep, status, text, tc.status, tc.reason)
				}
			}
		})
	}
}

func TestV1beta1ReviewsAreAnsweredInKind(t *testing.T) {
	s := newScenario(t)
	h := newHarness(t, s.cluster())
	req := request(t, admissionv1.Update, s.switched, s.svc)
	body := bytes.Replace(reviewBody(t, req), []byte(`"apiVersion":"admission.k8s.io/v1"`), []byte(`"apiVersion":"admission.k8s.io/v1beta1"`), 1)
	_, rev := h.postRaw(t, webhook.PathGate, "application/json", body)
	if rev.APIVersion != "admission.k8s.io/v1beta1" || rev.Response == nil || rev.Response.UID != req.UID {
		t.Fatalf("answer %s %s %+v, want a v1beta1 AdmissionReview for UID %s", rev.APIVersion, rev.Kind, rev.Response, req.UID)
	}
	want{code: http.StatusForbidden, prefix: "[CG301] "}.check(t, webhook.PathGate, rev.Response)
}

func TestRequestsCanarygateCannotRead(t *testing.T) {
	s := newScenario(t)
	h := newHarness(t, s.cluster())
	configMap := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "settings", "namespace": "default"},
		"data":     map[string]any{"spec": "not a Service"},
	}}
	badPorts := s.switched.DeepCopy()
	if err := unstructured.SetNestedField(badPorts.Object, "80", "spec", "ports"); err != nil {
		t.Fatal(err)
	}
	const portsErr = "object: Service model-svc does not match the Service schema: json: cannot unmarshal string into Go struct field ServiceSpec.spec.ports of type []v1.ServicePort"

	tests := map[string]struct {
		req func(t *testing.T) *admissionv1.AdmissionRequest
		// reason is why canarygate cannot read the request; "" when the
		// request is not governed and every endpoint allows it.
		reason string
		// notGoverned is the message of an allowed ungoverned request.
		notGoverned string
	}{
		"a ConfigMap is not governed": {
			req: func(t *testing.T) *admissionv1.AdmissionRequest {
				return request(t, admissionv1.Create, configMap, nil)
			},
			notGoverned: "kind not governed by canarygate",
		},
		"a status subresource update of the switched Service is not governed": {
			req: func(t *testing.T) *admissionv1.AdmissionRequest {
				r := request(t, admissionv1.Update, s.switched, s.svc)
				r.SubResource = "status"
				return r
			},
			notGoverned: "subresource requests are not governed",
		},
		"a Service whose spec.ports is a string on CREATE": {
			req:    func(t *testing.T) *admissionv1.AdmissionRequest { return request(t, admissionv1.Create, badPorts, nil) },
			reason: portsErr,
		},
		"a Service whose spec.ports is a string on UPDATE": {
			req: func(t *testing.T) *admissionv1.AdmissionRequest {
				return request(t, admissionv1.Update, badPorts, s.svc)
			},
			reason: portsErr,
		},
		"an object of another kind than the request": {
			req: func(t *testing.T) *admissionv1.AdmissionRequest {
				r := request(t, admissionv1.Update, s.switched, s.svc)
				r.Object = rawOf(t, s.ingress)
				return r
			},
			reason: "object is of kind Ingress, but the request is for kind Service",
		},
		"an oldObject of another kind than the request": {
			req: func(t *testing.T) *admissionv1.AdmissionRequest {
				r := request(t, admissionv1.Update, s.switched, s.svc)
				r.OldObject = rawOf(t, configMap)
				return r
			},
			reason: "oldObject is of kind ConfigMap, but the request is for kind Service",
		},
		"a CREATE with a null object": {
			req: func(t *testing.T) *admissionv1.AdmissionRequest {
				r := request(t, admissionv1.Create, s.switched, nil)
				r.Object = runtime.RawExtension{Raw: []byte("null")}
				return r
			},
			reason: "CREATE request without an object",
		},
		"an UPDATE without oldObject": {
			req: func(t *testing.T) *admissionv1.AdmissionRequest {
				return request(t, admissionv1.Update, s.switched, nil)
			},
			reason: "UPDATE request without oldObject",
		},
		"a DELETE without oldObject": {
			req: func(t *testing.T) *admissionv1.AdmissionRequest {
				r := request(t, admissionv1.Delete, nil, s.v2svc)
				r.OldObject = runtime.RawExtension{}
				return r
			},
			reason: "DELETE request without oldObject",
		},
		"an object that is not a JSON object": {
			req: func(t *testing.T) *admissionv1.AdmissionRequest {
				r := request(t, admissionv1.Create, s.switched, nil)
				r.Object = runtime.RawExtension{Raw: []byte(`["model-svc"]`)}
				return r
			},
			reason: "object: ",
		},
		"the unknown operation CONNECT": {
			req:    func(t *testing.T) *admissionv1.AdmissionRequest { return request(t, "CONNECT", s.switched, nil) },
			reason: `operation "CONNECT" is not one canarygate handles`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req := tc.req(t)
			got := map[string]*admissionv1.AdmissionResponse{}
			for _, ep := range endpoints {
				got[ep] = h.post(t, ep, req)
			}
			if tc.reason == "" {
				for _, ep := range endpoints {
					want{allowed: true, code: http.StatusOK, message: tc.notGoverned}.check(t, ep, got[ep])
				}
				return
			}
			msg := "canarygate cannot read this object: " + tc.reason
			if strings.HasSuffix(tc.reason, ": ") {
				// The decoder's own words follow; only where is asserted.
				want{code: http.StatusForbidden, prefix: msg}.check(t, webhook.PathGate, got[webhook.PathGate])
				for _, ep := range endpoints[1:] {
					want{allowed: true, code: http.StatusOK, warningPrefixes: []string{msg}}.check(t, ep, got[ep])
				}
				return
			}
			want{code: http.StatusForbidden, message: msg}.check(t, webhook.PathGate, got[webhook.PathGate])
			for _, ep := range endpoints[1:] {
				want{allowed: true, code: http.StatusOK, warnings: []string{msg}}.check(t, ep, got[ep])
			}
		})
	}
}

func TestNotReady(t *testing.T) {
	s := newScenario(t)
	tests := map[string]struct {
		engine *policy.Engine
		ready  func() error
		reason string
	}{
		"before the caches have synced": {
			engine: builtinEngine(t),
			ready:  func() error { return fmt.Errorf("%w: caches are syncing", webhook.ErrNotReady) },
			reason: "canarygate is not ready: caches are syncing",
		},
		"before the policies have loaded": {
			ready:  func() error { return nil },
			reason: "canarygate is not ready: policies are not loaded",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarnessWith(t, factsOf(t, s.cluster()), tc.engine, func(o *webhook.Options) { o.Ready = tc.ready })
			// Ready, mutate would stamp this canary and the gate allow it.
			req := request(t, admissionv1.Create, s.canaryWeight, nil)
			warning := "canarygate could not decide: " + tc.reason + "; admitted unchecked"
			wants := map[string]want{
				webhook.PathGate:   {code: http.StatusForbidden, message: "canarygate could not decide: " + tc.reason + "; the gate denies rather than guesses, retry in a moment"},
				webhook.PathLint:   {allowed: true, code: http.StatusOK, warnings: []string{warning}},
				webhook.PathMutate: {allowed: true, code: http.StatusOK, warnings: []string{warning}},
			}
			for _, ep := range endpoints {
				wants[ep].check(t, ep, h.post(t, ep, req))
			}
			// Requests canarygate does not govern need nothing to be ready.
			cm := request(t, admissionv1.Create, &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "x", "namespace": "default"},
			}}, nil)
			for _, ep := range endpoints {
				want{allowed: true, code: http.StatusOK, message: "kind not governed by canarygate"}.check(t, ep, h.post(t, ep, cm))
			}
		})
	}
}

// decisionCase is a request on the reference cluster and what each
// endpoint answers.
type decisionCase struct {
	cluster []*unstructured.Unstructured
	op      admissionv1.Operation
	obj     *unstructured.Unstructured
	old     *unstructured.Unstructured
	gate    want
	lint    want
	mutate  want
}

func decisionCases(t *testing.T) map[string]decisionCase {
	s := newScenario(t)
	weight := func(w string) *unstructured.Unstructured {
		return withAnnotations(s.canaryWeight, map[string]string{"nginx.ingress.kubernetes.io/canary-weight": w})
	}
	return map[string]decisionCase{
		"the gate denies switching model-svc to model-v2 before model-v2 is verified": {
			cluster: s.cluster(), op: admissionv1.Update, obj: s.switched, old: s.svc,
			gate: want{code: http.StatusForbidden, prefix: "[CG301] Service default/model-svc: ", contains: []string{
				"switching the primary from model-v1 to model-v2 is blocked: model-v2 is not verified",
				"kubectl annotate inferenceservice model-v2 -n default canarygate.io/verified=true",
			}},
			lint:   allowed(),
			mutate: want{allowed: true, code: http.StatusOK, patch: previousPatch},
		},
		"the gate allows the switch once model-v2 is verified at its generation": {
			cluster: s.cluster(s.verifiedV2()), op: admissionv1.Update, obj: s.switched, old: s.svc,
			gate: allowed(), lint: allowed(),
			mutate: want{allowed: true, code: http.StatusOK, patch: previousPatch},
		},
		"the canary Ingress at weight 20 for an unverified model-v2 is allowed and stamped": {
			cluster: s.cluster(), op: admissionv1.Create, obj: s.canaryWeight,
			gate: allowed(), lint: allowed(),
			mutate: want{allowed: true, code: http.StatusOK, patch: canarySincePatch},
		},
		"the gate denies a canary weight above max_unverified_weight for an unverified model-v2": {
			cluster: s.cluster(), op: admissionv1.Create, obj: weight("80"),
			gate:   want{code: http.StatusForbidden, prefix: "[CG302] "},
			lint:   allowed(),
			mutate: want{allowed: true, code: http.StatusOK, patch: canarySincePatch},
		},
		"lint denies a canary-weight of 50% and the gate lets it through": {
			cluster: s.cluster(), op: admissionv1.Create, obj: weight("50%"),
			gate: allowed(),
			lint: want{code: http.StatusForbidden, message: `[CG102] Ingress default/gray-release-canary: canary-weight "50%" is not a plain non-negative integer; ` +
				`ingress-nginx would silently use 0 (no traffic to the canary); write digits only, e.g. "50"`},
			// A weight ingress-nginx reads as 0 exposes nothing: no stamp.
			mutate: allowed(),
		},
		"lint warns that a header value makes the header pattern ignored": {
			cluster: s.cluster(), op: admissionv1.Create,
			obj:  withAnnotations(s.canaryHeader, map[string]string{"nginx.ingress.kubernetes.io/canary-by-header-pattern": "^b.*"}),
			gate: allowed(),
			lint: want{allowed: true, code: http.StatusOK, warnings: []string{
				`[CG114] Ingress default/gray-release-canary: canary-by-header-value "bar" and canary-by-header-pattern "^b.*" are both set; ` +
					`ingress-nginx matches the exact value and ignores the pattern; remove one of them`,
			}},
			mutate: want{allowed: true, code: http.StatusOK, patch: canarySincePatch},
		},
		"the gate denies deleting model-v2-svc while the canary routes to it": {
			cluster: s.cluster(s.canaryWeight), op: admissionv1.Delete, old: s.v2svc,
			gate: want{code: http.StatusForbidden, message: "[CG502] Service default/model-v2-svc: cannot delete: Ingress(es) default/gray-release-canary still route to it; " +
				"remove it from them (or delete them) first"},
			lint: allowed(), mutate: allowed(),
		},
		"deleting model-v2-svc once no Ingress routes to it is allowed": {
			cluster: s.cluster(), op: admissionv1.Delete, old: s.v2svc,
			gate: allowed(), lint: allowed(), mutate: allowed(),
		},
	}
}

func TestDecisions(t *testing.T) {
	for name, tc := range decisionCases(t) {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, tc.cluster)
			req := request(t, tc.op, tc.obj, tc.old)
			tc.gate.check(t, webhook.PathGate, h.post(t, webhook.PathGate, req))
			tc.lint.check(t, webhook.PathLint, h.post(t, webhook.PathLint, req))
			tc.mutate.check(t, webhook.PathMutate, h.post(t, webhook.PathMutate, req))
		})
	}
}

func TestDryRunGetsTheSameDecisions(t *testing.T) {
	for name, tc := range decisionCases(t) {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, tc.cluster)
			for _, ep := range endpoints {
				req := request(t, tc.op, tc.obj, tc.old)
				wet := h.post(t, ep, req)
				dry := true
				req = request(t, tc.op, tc.obj, tc.old)
				req.DryRun = &dry
				got := h.post(t, ep, req)
				got.UID, wet.UID = "", ""
				if !reflect.DeepEqual(got, wet) {
					t.Errorf("%s: dry run answered\n  %s\nwant the answer without dry run\n  %s", ep, describe(got), describe(wet))
				}
			}
		})
	}
}

func TestMutate(t *testing.T) {
	s := newScenario(t)
	labelsCluster := []*unstructured.Unstructured{s.isvcV1, s.labelISVC, s.svc, s.v2svc, s.ingress}
	stamped := withAnnotations(s.canaryWeight, map[string]string{"canarygate.io/canary-since": "2026-12-01T09:59:50Z"})
	tests := map[string]struct {
		cluster  []*unstructured.Unstructured
		op       admissionv1.Operation
		obj, old *unstructured.Unstructured
		want     want
	}{
		"the canary Ingress is stamped with canary-since": {
			cluster: s.cluster(), op: admissionv1.Create, obj: s.canaryWeight,
			want: want{allowed: true, code: http.StatusOK, patch: canarySincePatch},
		},
		"the label-declared canary gets model-v2's strategy and its source": {
			cluster: labelsCluster, op: admissionv1.Create, obj: s.labelIngress,
			want: want{allowed: true, code: http.StatusOK, patch: `[
				{"op":"add","path":"/metadata/annotations/canarygate.io~1canary-since","value":"2026-12-01T10:00:00Z"},
				{"op":"add","path":"/metadata/annotations/canarygate.io~1source","value":"model-v2"},
				{"op":"add","path":"/metadata/annotations/nginx.ingress.kubernetes.io~1canary-by-header","value":"foo"},
				{"op":"add","path":"/metadata/annotations/nginx.ingress.kubernetes.io~1canary-by-header-value","value":"bar"}]`},
		},
		"the switch is stamped with the InferenceService it leaves": {
			cluster: s.cluster(), op: admissionv1.Update, obj: s.switched, old: s.svc,
			want: want{allowed: true, code: http.StatusOK, patch: previousPatch},
		},
		"the main Ingress is left as it is": {
			cluster: s.cluster(), op: admissionv1.Create, obj: s.ingress,
			want: allowed(),
		},
		"a canary Ingress stamped a moment ago (a reinvocation) is left as it is": {
			cluster: s.cluster(), op: admissionv1.Create, obj: stamped,
			want: allowed(),
		},
		"managed fields are neither patched nor in the way": {
			cluster: s.cluster(), op: admissionv1.Update, obj: withManagedFields(t, s.switched), old: withManagedFields(t, s.svc),
			want: want{allowed: true, code: http.StatusOK, patch: previousPatch},
		},
		"a DELETE is never patched": {
			cluster: s.cluster(s.canaryWeight), op: admissionv1.Delete, old: s.canaryWeight,
			want: allowed(),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, tc.cluster)
			tc.want.check(t, webhook.PathMutate, h.post(t, webhook.PathMutate, request(t, tc.op, tc.obj, tc.old)))
		})
	}
}

func TestHandlerPanicsAreAnsweredAndCounted(t *testing.T) {
	s := newScenario(t)
	armed := &atomic.Bool{}
	armed.Store(true)
	set := factsOf(t, s.cluster())
	h := newHarnessWith(t, set, builtinEngine(t), func(o *webhook.Options) {
		o.Facts = panicky{Reader: set, armed: armed}
	})
	req := request(t, admissionv1.Update, s.switched, s.svc)
	wants := map[string]want{
		webhook.PathGate: {code: http.StatusInternalServerError,
			message: "canarygate could not decide: internal error: panicky reader: Namespace; the gate denies rather than guesses, retry in a moment"},
		webhook.PathLint: {allowed: true, code: http.StatusOK,
			warnings: []string{"canarygate could not decide: internal error: panicky reader: Namespace; admitted unchecked"}},
		webhook.PathMutate: {allowed: true, code: http.StatusOK,
			warnings: []string{"canarygate could not decide: internal error: panicky reader: InferenceService; admitted unchecked"}},
	}
	for _, ep := range endpoints {
		wants[ep].check(t, ep, h.post(t, ep, req)) // post checks the UID
	}

	// The server survives and decides again once lookups work.
	armed.Store(false)
	want{code: http.StatusForbidden, prefix: "[CG301] "}.check(t, webhook.PathGate, h.post(t, webhook.PathGate, request(t, admissionv1.Update, s.switched, s.svc)))

	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"gate", "Service", "UPDATE", "denied", "panic"}, 1},
		{[]string{"lint", "Service", "UPDATE", "warned", "panic"}, 1},
		{[]string{"mutate", "Service", "UPDATE", "warned", "panic"}, 1},
		{[]string{"gate", "Service", "UPDATE", "denied", "CG301"}, 1},
	} {
		if got := decisions(t, h, c.labels...); got != c.want {
			t.Errorf("canarygate_decisions_total%q = %v, want %v", c.labels, got, c.want)
		}
	}
}

// decisions reads canarygate_decisions_total for endpoint, kind, operation,
// result and code from the harness's registry.
func decisions(t *testing.T, h *harness, labels ...string) float64 {
	t.Helper()
	names := []string{"endpoint", "kind", "operation", "result", "code"}
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "canarygate_decisions_total" {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for i, n := range names {
				if got[n] != labels[i] {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// evaluations is the number of observations of
// canarygate_policy_evaluation_seconds for an endpoint.
func evaluations(t *testing.T, h *harness, endpoint string) uint64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "canarygate_policy_evaluation_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "endpoint" && lp.GetValue() == endpoint {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

func TestMetricsCountDecisions(t *testing.T) {
	s := newScenario(t)
	h := newHarness(t, s.cluster())
	sw := func() *admissionv1.AdmissionRequest { return request(t, admissionv1.Update, s.switched, s.svc) }
	h.post(t, webhook.PathGate, sw())
	h.post(t, webhook.PathGate, sw())
	h.post(t, webhook.PathLint, sw())
	h.post(t, webhook.PathMutate, sw())
	h.post(t, webhook.PathLint, request(t, admissionv1.Create,
		withAnnotations(s.canaryWeight, map[string]string{"nginx.ingress.kubernetes.io/canary-weight": "50%"}), nil))
	h.postPlain(t, webhook.PathGate, "application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`))

	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"gate", "Service", "UPDATE", "denied", "CG301"}, 2},
		{[]string{"lint", "Service", "UPDATE", "allowed", ""}, 1},
		{[]string{"mutate", "Service", "UPDATE", "allowed", ""}, 1},
		{[]string{"lint", "Ingress", "CREATE", "denied", "CG102"}, 1},
		{[]string{"gate", "", "", "malformed", ""}, 1},
	} {
		if got := decisions(t, h, c.labels...); got != c.want {
			t.Errorf("canarygate_decisions_total%q = %v, want %v", c.labels, got, c.want)
		}
	}
	for ep, n := range map[string]uint64{"gate": 2, "lint": 2} {
		if got := evaluations(t, h, ep); got != n {
			t.Errorf("canarygate_policy_evaluation_seconds{endpoint=%q} has %d observations, want %d", ep, got, n)
		}
	}
}

// noisyPolicy is a platform rule with 60 lint warnings of about 100 bytes
// on every Service request.
var noisyPolicy = policy.Options{Builtin: true, Sources: []policy.Source{{
	Name: "noisy",
	Modules: map[string]string{"noisy.rego": `package canarygate.ext.noisy

items contains {
	"code": "EX001",
	"endpoint": "lint",
	"field": sprintf("f%03d", [i]),
	"message": sprintf("Service %s: warning %03d %s", [input.request.name, i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
} if {
	input.request.kind.kind == "Service"
	some i in numbers.range(1, 60)
}
`},
	Data: map[string]any{"canarygate": map[string]any{"config": map[string]any{"enforcement": map[string]any{"EX001": "warn"}}}},
}}}

func TestWarningsAreTruncatedUnder4KiB(t *testing.T) {
	s := newScenario(t)
	h := newHarnessWith(t, factsOf(t, s.cluster()), engineFor(t, "noisy", noisyPolicy))
	got := h.post(t, webhook.PathLint, request(t, admissionv1.Update, s.switched, s.svc))
	if !got.Allowed {
		t.Fatalf("lint: %s, want allowed", describe(got))
	}
	var lines []string
	for i := 1; i <= 60; i++ {
		lines = append(lines, fmt.Sprintf("[EX001] Service model-svc: warning %03d %s", i, strings.Repeat("x", 80)))
	}
	n := len(got.Warnings) - 1
	if n < 1 {
		t.Fatalf("warnings %q, want some kept and a last line saying how many were left out", got.Warnings)
	}
	if !slices.Equal(got.Warnings[:n], lines[:n]) {
		t.Errorf("kept warnings\n  %q\nwant the first %d in order\n  %q", got.Warnings[:n], n, lines[:n])
	}
	if last, want := got.Warnings[n], fmt.Sprintf("%d more warning(s) left out; run canarygate check for all of them", 60-n); last != want {
		t.Errorf("last warning %q, want %q", last, want)
	}
	total := 0
	for _, w := range got.Warnings {
		total += len(w)
	}
	if total >= 4096 {
		t.Errorf("warnings total %d bytes, want under 4 KiB", total)
	}
	if kept := total - len(got.Warnings[n]); kept+len(lines[n]) <= 3800 {
		t.Errorf("%d bytes kept, but warning %d (%d bytes) would still fit: truncated too early", kept, n+1, len(lines[n]))
	}
}

func TestLargeAndOddObjectsAreAnswered(t *testing.T) {
	s := newScenario(t)
	h := newHarness(t, s.cluster())
	blob := strings.Repeat("0123456789abcdef", 3<<20/16)
	big := withAnnotations(s.svc, map[string]string{"example.com/blob": blob})

	t.Run("an UPDATE with a 3 MiB annotation on both objects is answered normally", func(t *testing.T) {
		req := request(t, admissionv1.Update, big, big)
		for _, ep := range endpoints {
			allowed().check(t, ep, h.post(t, ep, req))
		}
		req = request(t, admissionv1.Update, withAnnotations(s.switched, map[string]string{"example.com/blob": blob}), big)
		want{code: http.StatusForbidden, prefix: "[CG301] "}.check(t, webhook.PathGate, h.post(t, webhook.PathGate, req))
	})

	t.Run("control characters and invalid UTF-8 in annotation values are judged, not fatal", func(t *testing.T) {
		obj := withAnnotations(s.canaryHeader, map[string]string{
			"nginx.ingress.kubernetes.io/canary-by-header": "fo\x00o\x1b[31m",
			"example.com/note": "@@BAD@@ \u202e\u0007 \t\r\n",
		})
		req := request(t, admissionv1.Create, obj, nil)
		// encoding/json writes valid UTF-8 only: put raw invalid bytes in
		// the body the way a broken client would.
		body := bytes.Replace(reviewBody(t, req), []byte("@@BAD@@"), []byte("\xff\xfe\xc0"), 1)
		for _, ep := range endpoints {
			status, rev := h.postRaw(t, ep, "application/json", body)
			if status != http.StatusOK || rev.Response == nil || rev.Response.UID != req.UID {
				t.Fatalf("%s: HTTP %d %+v, want an answer for UID %s", ep, status, rev.Response, req.UID)
			}
			switch ep {
			case webhook.PathLint:
				want{code: http.StatusForbidden, prefix: "[CG106] "}.check(t, ep, rev.Response)
			case webhook.PathGate:
				allowed().check(t, ep, rev.Response)
			}
		}
		// Still serving.
		allowed().check(t, webhook.PathLint, h.post(t, webhook.PathLint, request(t, admissionv1.Create, s.canaryWeight, nil)))
	})
}
