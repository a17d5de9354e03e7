package webhook_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/canarygate/canarygate/pkg/webhook"
)

// fuzzReplyTimeout bounds one answer: far above a decision's milliseconds,
// far below the API server's webhook timeout of 5 s times the three calls.
const fuzzReplyTimeout = 10 * time.Second

// fuzzScenario holds the reference objects, loaded once per process by
// the seeds: reading and decoding the fixtures on every input would
// dominate the run.
var fuzzScenario scenario

// FuzzAdmissionHandler POSTs random and mutated AdmissionReview bodies to
// each endpoint over real HTTP and asserts what the API server relies on:
// an answer within fuzzReplyTimeout; a body that is not a review canarygate
// understands is answered 400 (413 past the size limit), as an HTTP status
// or inside an AdmissionReview; any other answer is an AdmissionReview over
// HTTP 200 that carries the request's UID, is allowed or denied with a
// consistent status, carries a JSON patch only from /mutate, and never
// reports a recovered panic or a 500.
//
// Arguments: endpoint picks the path (modulo 3); body is the raw review;
// when body is a JSON object and path is not empty, the value at path (a
// JSON pointer without the leading slash, "~1" for "/") is replaced with
// value (parsed as JSON when it is JSON, else taken as a string) — a
// structure-aware mutation that reaches the decisions behind the decoder.
func FuzzAdmissionHandler(f *testing.F) {
	for _, seed := range admissionSeeds(f) {
		f.Add(seed.endpoint, seed.body, seed.path, seed.value)
	}
	f.Fuzz(func(t *testing.T, endpoint uint8, body []byte, path string, value []byte) {
		s := fuzzScenario
		h := newHarness(t, s.cluster(s.canaryWeight))
		body = mutateReview(body, path, value)
		ep := endpoints[int(endpoint)%len(endpoints)]

		var (
			status int
			answer string
		)
		done := make(chan struct{})
		go func() {
			defer close(done)
			status, answer = h.postPlain(t, ep, "application/json", body)
		}()
		select {
		case <-done:
		case <-time.After(fuzzReplyTimeout):
			t.Fatalf("POST %s: no answer within %s (a hang) for body %q", ep, fuzzReplyTimeout, body)
		}
		if t.Failed() {
			return // postPlain could not send or read
		}
		switch status {
		case http.StatusOK:
			var rev admissionv1.AdmissionReview
			if err := json.Unmarshal([]byte(answer), &rev); err != nil {
				t.Fatalf("POST %s: HTTP 200 with %q, not an AdmissionReview: %v", ep, answer, err)
			}
			checkFuzzAnswer(t, ep, body, rev)
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			// No review to answer: refused before decoding, with a reason.
			if strings.TrimSpace(answer) == "" {
				t.Fatalf("POST %s: HTTP %d without a reason", ep, status)
			}
		default:
			t.Fatalf("POST %s: HTTP %d %q, want 200 with an AdmissionReview, or 400/413\nbody: %q", ep, status, answer, body)
		}
	})
}

// checkFuzzAnswer asserts the invariants of one answer.
func checkFuzzAnswer(t *testing.T, ep string, body []byte, rev admissionv1.AdmissionReview) {
	t.Helper()
	r := rev.Response
	if r == nil {
		t.Fatalf("POST %s: an AdmissionReview without a response", ep)
	}
	code := int32(0)
	if r.Result != nil {
		code = r.Result.Code
	}
	// A recovered panic reads "canarygate could not decide: internal
	// error: …" (a 500 from the gate, a warning from lint and mutate); the
	// prefix cannot come from a value the request carries.
	for _, w := range append([]string{message(r)}, r.Warnings...) {
		if strings.HasPrefix(w, "canarygate could not decide: internal error") {
			t.Fatalf("POST %s: a recovered panic: %s\nbody: %q", ep, describe(r), body)
		}
	}
	switch code {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		// Not a review canarygate can answer: no decision, no patch.
		if r.Allowed || len(r.Patch) != 0 {
			t.Fatalf("POST %s: a %d answer that decides: %s", ep, code, describe(r))
		}
		if message(r) == "" {
			t.Fatalf("POST %s: a %d answer without a message", ep, code)
		}
		return
	case http.StatusOK:
		if !r.Allowed {
			t.Fatalf("POST %s: code 200 but not allowed: %s", ep, describe(r))
		}
	case http.StatusForbidden:
		if r.Allowed || message(r) == "" {
			t.Fatalf("POST %s: a denial must be disallowed and say why: %s", ep, describe(r))
		}
	default:
		t.Fatalf("POST %s: unexpected code %d: %s\nbody: %q", ep, code, describe(r), body)
	}
	// The handler answered: it must be for the review's request.
	if r.UID == "" {
		t.Fatalf("POST %s: answered %s without a UID", ep, describe(r))
	}
	if uid, ok := reviewUID(body); ok && uid != string(r.UID) {
		t.Fatalf("POST %s: response UID %q, want the request's %q", ep, r.UID, uid)
	}
	if len(r.Patch) != 0 || r.PatchType != nil {
		if ep != webhook.PathMutate {
			t.Fatalf("POST %s: a validating endpoint answered a patch: %s", ep, describe(r))
		}
		if r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch || !r.Allowed {
			t.Fatalf("POST %s: a patch must be an allowed JSONPatch: %s", ep, describe(r))
		}
		var ops []jsonpatch.JsonPatchOperation
		if err := json.Unmarshal(r.Patch, &ops); err != nil || len(ops) == 0 {
			t.Fatalf("POST %s: patch %s is not a JSON patch: %v", ep, r.Patch, err)
		}
		for _, op := range ops {
			if (op.Operation != "add" && op.Operation != "replace" && op.Operation != "remove") || (op.Path != "/metadata" && !strings.HasPrefix(op.Path, "/metadata/")) {
				t.Fatalf("POST %s: patch op %+v outside metadata", ep, op)
			}
		}
	}
	total := 0
	for _, w := range r.Warnings {
		total += len(w)
	}
	if total >= 4096 {
		t.Fatalf("POST %s: %d bytes of warnings, the API server truncates past 4 KiB", ep, total)
	}
}

// reviewUID is the request UID controller-runtime's decoder reads from body
// (keys are case-sensitive there, unlike encoding/json); ok is false
// when body is not a JSON review with a request UID.
func reviewUID(body []byte) (string, bool) {
	var rev struct {
		Request *struct {
			UID string `json:"uid"`
		} `json:"request"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(body, &rev); err != nil || rev.Request == nil || rev.Request.UID == "" {
		return "", false
	}
	return rev.Request.UID, true
}

// mutateReview replaces the value at path (JSON pointer segments without the
// leading slash) in a JSON object body; other bodies are returned as they are.
func mutateReview(body []byte, path string, value []byte) []byte {
	if path == "" {
		return body
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return body
	}
	root, ok := doc.(map[string]any)
	if !ok {
		return body
	}
	var v any = string(value)
	vd := json.NewDecoder(bytes.NewReader(value))
	vd.UseNumber()
	var parsed any
	if err := vd.Decode(&parsed); err == nil && !vd.More() {
		v = parsed
	}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	out, err := json.Marshal(setAt(root, segs, v))
	if err != nil {
		return body
	}
	return out
}

// setAt sets segs in node to v, creating objects on the way and replacing
// anything that is neither an object nor an array indexed in range.
func setAt(node any, segs []string, v any) any {
	if len(segs) == 0 {
		return v
	}
	if arr, ok := node.([]any); ok {
		if i, err := strconv.Atoi(segs[0]); err == nil && i >= 0 && i < len(arr) {
			arr[i] = setAt(arr[i], segs[1:], v)
			return arr
		}
	}
	m, ok := node.(map[string]any)
	if !ok {
		m = map[string]any{}
	}
	m[segs[0]] = setAt(m[segs[0]], segs[1:], v)
	return m
}

type admissionSeed struct {
	endpoint uint8
	body     []byte
	path     string
	value    []byte
}

// loadTB is load for a testing.TB: seeds are built before any *testing.T
// exists.
func loadTB(tb testing.TB, file string) []*unstructured.Unstructured {
	tb.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		u := &unstructured.Unstructured{}
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err == nil {
			err = u.UnmarshalJSON(j)
		}
		if err != nil {
			tb.Fatalf("%s: %v", file, err)
		}
		if u.GetNamespace() == "" {
			u.SetNamespace("default")
		}
		out = append(out, u)
	}
	return out
}

// seedScenario is newScenario for a testing.TB.
func seedScenario(tb testing.TB) scenario {
	tb.Helper()
	one := func(file, name string) *unstructured.Unstructured {
		for _, u := range loadTB(tb, file) {
			if u.GetName() == name {
				return u
			}
		}
		tb.Fatalf("%s holds no object named %s", file, name)
		return nil
	}
	return scenario{
		isvcV1:       one(scenarioDir+"/00-isvc-model-v1.yaml", "model-v1"),
		isvcV2:       one(scenarioDir+"/00-isvc-model-v2.yaml", "model-v2"),
		svc:          one(scenarioDir+"/01-services.yaml", "model-svc"),
		v2svc:        one(scenarioDir+"/01-services.yaml", "model-v2-svc"),
		ingress:      one(scenarioDir+"/02-ingress.yaml", "model-ingress"),
		switched:     one(scenarioDir+"/04-switch.yaml", "model-svc"),
		canaryHeader: one(scenarioDir+"/03a-canary-header.yaml", "gray-release-canary"),
		canaryWeight: one(scenarioDir+"/03b-canary-weight.yaml", "gray-release-canary"),
		labelIngress: one(labelsDir+"/03-canary-ingress.yaml", "gray-release-canary"),
		labelISVC:    one(labelsDir+"/03a-isvc-model-v2.yaml", "model-v2"),
	}
}

// seedReview is the AdmissionReview v1 body the API server sends for obj
// (old on DELETE), built as request and reviewBody build it.
func seedReview(tb testing.TB, op admissionv1.Operation, obj, old *unstructured.Unstructured, mod func(map[string]any)) []byte {
	tb.Helper()
	subject := obj
	if subject == nil {
		subject = old
	}
	gvk := subject.GroupVersionKind()
	kind := map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}
	res := map[string]any{"group": gvk.Group, "version": gvk.Version, "resource": resources[gvk.GroupKind()]}
	req := map[string]any{
		"uid": fmt.Sprintf("seed-%d", uids.Add(1)), "kind": kind, "resource": res, "requestKind": kind, "requestResource": res,
		"name": subject.GetName(), "namespace": subject.GetNamespace(), "operation": string(op),
		"userInfo": map[string]any{"username": "alice", "groups": []any{"system:authenticated"}},
	}
	if obj != nil {
		req["object"] = obj.Object
	}
	if old != nil {
		req["oldObject"] = old.Object
	}
	if mod != nil {
		mod(req)
	}
	body, err := json.Marshal(map[string]any{"apiVersion": admissionv1.SchemeGroupVersion.String(), "kind": "AdmissionReview", "request": req})
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// admissionSeeds are reviews of the reference scenario on every endpoint,
// structure-aware mutations of them, and malformed bodies. They run as a
// table in plain `go test`.
func admissionSeeds(f *testing.F) []admissionSeed {
	f.Helper()
	s := seedScenario(f)
	fuzzScenario = s
	weight := func(w string) *unstructured.Unstructured {
		return withAnnotations(s.canaryWeight, map[string]string{"nginx.ingress.kubernetes.io/canary-weight": w})
	}
	configMap := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "settings", "namespace": "default"},
	}}
	var (
		switchReview = seedReview(f, admissionv1.Update, s.switched, s.svc, nil)
		canaryReview = seedReview(f, admissionv1.Create, s.canaryWeight, nil, nil)
		labelISVC    = seedReview(f, admissionv1.Create, s.labelISVC, nil, nil)
		verify       = seedReview(f, admissionv1.Update, withAnnotations(s.isvcV2, map[string]string{"canarygate.io/verified": "true"}), s.isvcV2, nil)
		deleteV2Svc  = seedReview(f, admissionv1.Delete, nil, s.v2svc, nil)
	)
	bodies := [][]byte{
		switchReview, canaryReview, labelISVC, verify, deleteV2Svc,
		seedReview(f, admissionv1.Update, s.switched, withAnnotations(s.svc, map[string]string{
			"canarygate.io/previous-isvc": "model-v2", "canarygate.io/previous-generation": "1",
		}), nil),
		seedReview(f, admissionv1.Update, weight("30"), s.canaryWeight, nil),
		seedReview(f, admissionv1.Create, weight("80"), nil, nil),
		seedReview(f, admissionv1.Create, weight("50%"), nil, nil),
		seedReview(f, admissionv1.Create, withAnnotations(s.canaryHeader, map[string]string{
			"nginx.ingress.kubernetes.io/canary-by-header": "User-Agent", "nginx.ingress.kubernetes.io/canary-by-header-pattern": ".*",
		}), nil, nil),
		seedReview(f, admissionv1.Create, s.labelIngress, nil, nil),
		seedReview(f, admissionv1.Update, withAnnotations(s.isvcV2, map[string]string{
			"canarygate.io/verified-by": "mallory", "canarygate.io/override-reason": "incident",
		}), s.isvcV2, func(r map[string]any) {
			r["userInfo"] = map[string]any{"username": "root", "groups": []any{"system:masters"}}
		}),
		seedReview(f, admissionv1.Delete, nil, s.isvcV1, nil),
		seedReview(f, admissionv1.Delete, nil, s.ingress, nil),
		seedReview(f, admissionv1.Delete, nil, s.canaryWeight, nil),
		seedReview(f, admissionv1.Create, s.ingress, nil, func(r map[string]any) { r["dryRun"] = true }),
		seedReview(f, admissionv1.Update, s.switched, s.svc, func(r map[string]any) { r["subResource"] = "status" }),
		seedReview(f, admissionv1.Create, configMap, nil, nil),
		bytes.Replace(switchReview, []byte(`"admission.k8s.io/v1"`), []byte(`"admission.k8s.io/v1beta1"`), 1),
		[]byte(`{"apiVersion": "admission.k8s.io/v1", "kind": `),
		[]byte("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"a\x01b\"}}"),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Service","version":"v1"},"operation":"CREATE","object":null}}`),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"networking.k8s.io","kind":"Ingress","version":"v1"},` +
			`"operation":"CREATE","namespace":"default","object":{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"i"},` +
			`"spec":{"rules":[{"host":"model.example.com","http":{"paths":[{"path":"/","backend":{}}]}}]}}}}`),
		[]byte("apiVersion: admission.k8s.io/v1\nkind: AdmissionReview\nrequest: {uid: y}\n"),
		[]byte(`[]`),
		nil,
	}
	var out []admissionSeed
	for _, b := range bodies {
		for ep := range endpoints {
			out = append(out, admissionSeed{endpoint: uint8(ep), body: b})
		}
	}
	mutations := []struct {
		body        []byte
		path, value string
	}{
		{switchReview, "request/operation", `"CONNECT"`},
		{switchReview, "request/kind/kind", `"Pod"`},
		{switchReview, "request/object/spec", `null`},
		{switchReview, "request/object/spec/selector", `{"app":"isvc."}`},
		{switchReview, "request/object/spec/selector/app", `"isvc.model-v2-predictor"`},
		{switchReview, "request/object/metadata", `[]`},
		{switchReview, "request/oldObject", `"model-svc"`},
		{switchReview, "request/object/metadata/namespace", `"elsewhere"`},
		{switchReview, "request/namespace", `""`},
		{switchReview, "request/uid", `7`},
		{canaryReview, "request/object/metadata/annotations/nginx.ingress.kubernetes.io~1canary-weight", `"99999999999999999999"`},
		{canaryReview, "request/object/metadata/annotations/nginx.ingress.kubernetes.io~1canary-weight-total", `"-1"`},
		{canaryReview, "request/object/metadata/annotations/nginx.ingress.kubernetes.io~1canary-by-header-pattern", `"(("`},
		{canaryReview, "request/object/metadata/annotations/canarygate.io~1canary-since", `"not a time"`},
		{canaryReview, "request/object/spec/rules/0/http/paths/0/backend", `{"resource":{"kind":"Bucket","name":"b"}}`},
		{canaryReview, "request/object/spec/rules/0/http", `null`},
		{canaryReview, "request/object/spec/rules/0/host", `""`},
		{canaryReview, "request/object/spec/defaultBackend/service/name", `"model-v2-svc"`},
		{canaryReview, "request/object/spec/ingressClassName", `"traefik"`},
		{canaryReview, "request/object/metadata/annotations", `{"nginx.ingress.kubernetes.io/canary":"true","canarygate.io/inject":"false"}`},
		{labelISVC, "request/object/metadata/labels/canarygate.io~1weight", `"101"`},
		{labelISVC, "request/object/metadata/labels/canarygate.io~1stable", `"model-v2"`},
		{labelISVC, "request/object/metadata/annotations/canarygate.io~1weight-total", `"0"`},
		{labelISVC, "request/object/metadata/generation", `-1`},
		{verify, "request/object/metadata/annotations/canarygate.io~1verified-generation", `"1e3"`},
		{verify, "request/object/status/conditions", `[{"type":"Ready"}]`},
		{deleteV2Svc, "request/oldObject", `null`},
		{deleteV2Svc, "request/oldObject/spec/ports", `"80"`},
	}
	for _, m := range mutations {
		for ep := range endpoints {
			out = append(out, admissionSeed{endpoint: uint8(ep), body: m.body, path: m.path, value: []byte(m.value)})
		}
	}
	return out
}
