// Package webhook serves canarygate's three admission endpoints — mutate,
// gate and lint — with the same mutation and policies `canarygate check`
// runs. Handlers are thin: decode the review, call the decision, map the
// result to a response in one place.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/mutate"
	"github.com/canarygate/canarygate/pkg/policy"
	"github.com/canarygate/canarygate/pkg/validate"
)

// Paths of the endpoints (DESIGN §4); the webhook configurations, the chart
// and the tests rely on them.
const (
	PathMutate = "/mutate"
	PathGate   = "/validate/gate"
	PathLint   = "/validate/lint"
)

// maxWarningBytes keeps warnings under the API server's 4 KiB total.
const maxWarningBytes = 3800

// ErrNotReady is returned by readiness checks before the caches have
// synced or the policies have loaded.
var ErrNotReady = errors.New("canarygate is not ready")

// Options wires the handlers.
type Options struct {
	// Classes are the governed ingress classes.
	Classes facts.Classes
	// Engine holds the current policy set; nil until loaded.
	Engine *atomic.Pointer[policy.Engine]
	// Facts answers the gate's lookups: the cache, with InferenceServices
	// read live.
	Facts facts.Reader
	// Cached answers the lint and mutating endpoints' lookups: the cache,
	// InferenceServices included (live only when the cache lacks one). The
	// gate re-checks everything they decide on, so the cache's word is
	// enough for them. Nil: Facts.
	Cached facts.Reader
	// Ready returns nil once the caches have synced (and anything else the
	// decisions need is in place), else why not.
	Ready func() error
	// Timeout bounds fact lookups and evaluation, well below the webhook
	// timeout so the gate answers (and denies) rather than times out.
	Timeout time.Duration
	// Tolerance is how far a time stamp may be from now.
	Tolerance time.Duration
	Metrics   *Metrics
	Log       logr.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Handlers are the three endpoints.
type Handlers struct {
	Mutate, Gate, Lint http.Handler
}

// New returns the handlers. Panics inside a handler are recovered by the
// handler itself so each endpoint fails the way DESIGN §4 says (the gate
// denies, lint and mutate allow with a warning).
func New(opts Options) Handlers {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	return Handlers{
		Mutate: guard{&admission.Webhook{Handler: &handler{opts: opts, endpoint: "mutate"}}, "mutate", opts.Metrics},
		Gate:   guard{&admission.Webhook{Handler: &handler{opts: opts, endpoint: policy.EndpointGate}}, policy.EndpointGate, opts.Metrics},
		Lint:   guard{&admission.Webhook{Handler: &handler{opts: opts, endpoint: policy.EndpointLint}}, policy.EndpointLint, opts.Metrics},
	}
}

// MaxReviewBytes is the largest AdmissionReview body served (the API
// server's own limit on an object is 3 MiB; a review carries two objects).
// A larger body is refused before it is read whole.
const MaxReviewBytes = 7 * 1024 * 1024

// guard answers malformed AdmissionReview bodies with HTTP 400 (413 when too
// large) and a reason, before controller-runtime's decoder — which reads
// any apiVersion, or a body without a request, as a v1 review — sees them.
// Well-formed reviews pass through unchanged.
type guard struct {
	next     http.Handler
	endpoint string
	metrics  *Metrics
}

func (g guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := &statusWriter{ResponseWriter: w}
	g.serve(rw, r)
	if rw.status >= 400 && g.metrics != nil {
		g.metrics.Decisions.WithLabelValues(g.endpoint, "", "", "malformed", "").Inc()
	}
}

// statusWriter remembers the status the guard answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (g guard) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "canarygate admission endpoints take POST", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		http.Error(w, fmt.Sprintf("Content-Type %q: an AdmissionReview is application/json", ct), http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxReviewBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		http.Error(w, fmt.Sprintf("request body is larger than %d bytes", MaxReviewBytes), http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		http.Error(w, fmt.Sprintf("reading the request body: %v", err), http.StatusBadRequest)
		return
	}
	if err := checkReview(body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	g.next.ServeHTTP(w, r)
}

// checkReview returns why a body is not an AdmissionReview canarygate can
// answer: not JSON, another apiVersion or kind, or no request with a uid.
func checkReview(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("request body is empty; send an AdmissionReview")
	}
	var review struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Request    *struct {
			UID string `json:"uid"`
		} `json:"request"`
	}
	if err := json.Unmarshal(body, &review); err != nil {
		return fmt.Errorf("request body is not a JSON AdmissionReview: %w", err)
	}
	if review.Kind != "AdmissionReview" || (review.APIVersion != admissionv1.SchemeGroupVersion.String() && review.APIVersion != "admission.k8s.io/v1beta1") {
		return fmt.Errorf("body has apiVersion %q and kind %q; canarygate reads an AdmissionReview of admission.k8s.io/v1 or v1beta1", review.APIVersion, review.Kind)
	}
	if review.Request == nil || review.Request.UID == "" {
		return errors.New("AdmissionReview has no request, or its request has no uid")
	}
	return nil
}

type handler struct {
	opts     Options
	endpoint string
}

// Handle implements admission.Handler.
func (h *handler) Handle(ctx context.Context, req admission.Request) (resp admission.Response) {
	// Latency is measured on the real clock; Options.Now is the decision
	// time the policies see.
	start := time.Now()
	var codes []string
	defer func() {
		if r := recover(); r != nil {
			h.opts.Log.Error(fmt.Errorf("panic: %v", r), "handler panicked", "endpoint", h.endpoint, "uid", req.UID, "stack", string(debug.Stack()))
			resp = h.failure(fmt.Errorf("internal error: %v", r))
			if !resp.Allowed {
				// A panic is a server error (500), still carrying the UID.
				resp = admission.Errored(http.StatusInternalServerError, errors.New(resp.Result.Message))
			}
			codes = []string{"panic"}
		}
		h.record(req, resp, codes, start)
	}()
	if req.UID == "" {
		err := errors.New("AdmissionReview has no request, or its request has no uid")
		return admission.Errored(http.StatusBadRequest, err)
	}
	if req.SubResource != "" {
		return admission.Allowed("subresource requests are not governed")
	}
	gk := req.Kind
	kind := facts.Governed(schemaGK(gk.Group, gk.Kind))
	if !kind {
		return admission.Allowed("kind not governed by canarygate")
	}
	if err := h.opts.Ready(); err != nil {
		return h.failure(err)
	}
	engine := h.opts.Engine.Load()
	if engine == nil {
		return h.failure(fmt.Errorf("%w: policies are not loaded", ErrNotReady))
	}
	// The server's context ends when shutdown starts; in-flight requests
	// are decided within canarygate's own deadline, not cut short.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.opts.Timeout)
	defer cancel()

	vreq, err := decode(req)
	if err != nil {
		return h.malformed(err)
	}
	if h.endpoint == "mutate" {
		return h.mutate(ctx, vreq, start)
	}
	// One memo per request: each InferenceService is read once per
	// decision, however many rules depend on it.
	base := facts.NewMemo(h.reader())
	after, err := overlay(base, h.opts.Classes, vreq)
	if err != nil {
		return h.malformed(err)
	}
	v := validate.Validator{
		Engine: engine, Builder: validate.Builder{Classes: h.opts.Classes}, Endpoint: h.endpoint,
		// Lookups get three quarters of the budget; evaluation the rest.
		LookupTimeout: h.opts.Timeout * 3 / 4,
	}
	d, err := v.Validate(ctx, vreq, base, after, h.opts.Now())
	if h.opts.Metrics != nil {
		h.opts.Metrics.Evaluation.WithLabelValues(h.endpoint).Observe(time.Since(start).Seconds())
	}
	if err != nil {
		if errors.Is(err, validate.ErrMalformed) {
			return h.malformed(err)
		}
		return h.failure(err)
	}
	denials, warnings := d.Denials(h.endpoint), d.Warnings(h.endpoint)
	h.recordDryRuns(req, d.DryRuns(h.endpoint))
	// Each code counts once per decision, however many items carry it.
	for _, it := range append(denials, warnings...) {
		if !slices.Contains(codes, it.Code) {
			codes = append(codes, it.Code)
		}
	}
	resp = admission.Allowed("")
	if len(denials) > 0 {
		resp = admission.Denied(joinItems(denials))
	}
	resp = resp.WithWarnings(warningLines(warnings)...)
	if h.endpoint == policy.EndpointGate {
		for _, it := range d.Items {
			if it.Code == "CG306" && vreq.Object != nil {
				resp.AuditAnnotations = map[string]string{
					"override-reason": vreq.Object.GetAnnotations()["canarygate.io/override-reason"],
					"override-user":   vreq.User,
				}
			}
		}
	}
	return resp
}

// reader returns the lookups of the handler's endpoint: live
// InferenceServices for the gate, the cache for the others.
func (h *handler) reader() facts.Reader {
	if h.endpoint == policy.EndpointGate || h.opts.Cached == nil {
		return h.opts.Facts
	}
	return h.opts.Cached
}

func (h *handler) mutate(ctx context.Context, vreq validate.Request, start time.Time) admission.Response {
	m := mutate.Mutator{Classes: h.opts.Classes, Tolerance: h.opts.Tolerance}
	res, err := m.Mutate(ctx, mutate.Request{
		Operation: vreq.Operation, Object: vreq.Object, OldObject: vreq.OldObject,
		User: vreq.User, Now: h.opts.Now(),
	}, facts.NewMemo(h.reader()))
	if err != nil {
		return h.failure(err)
	}
	var warnings []string
	for _, n := range res.Notices {
		warnings = append(warnings, fmt.Sprintf("[%s] %s", n.Code, n.Message))
	}
	if len(res.Patch) == 0 {
		return admission.Allowed("").WithWarnings(truncate(warnings)...)
	}
	if h.opts.Metrics != nil {
		h.opts.Metrics.Evaluation.WithLabelValues(h.endpoint).Observe(time.Since(start).Seconds())
	}
	// The patch is the diff of the mutated copy against the decoded
	// request object (namespace filled in as the API server does), so it
	// carries only canarygate's changes.
	return admission.Patched("", res.Patch...).WithWarnings(truncate(warnings)...)
}

// failure answers when canarygate cannot decide: the gate denies (fail
// closed), lint and mutate allow with a warning (fail open).
func (h *handler) failure(err error) admission.Response {
	msg := fmt.Sprintf("canarygate could not decide: %v", err)
	if h.endpoint == policy.EndpointGate {
		return admission.Denied(msg + "; the gate denies rather than guesses, retry in a moment")
	}
	return admission.Allowed("").WithWarnings(msg + "; admitted unchecked")
}

// malformed answers a request canarygate cannot understand: the gate
// denies it with the reason; lint and mutate let the gate decide.
func (h *handler) malformed(err error) admission.Response {
	msg := fmt.Sprintf("canarygate cannot read this object: %v", err)
	if h.endpoint == policy.EndpointGate {
		return admission.Denied(msg)
	}
	return admission.Allowed("").WithWarnings(msg)
}

func (h *handler) record(req admission.Request, resp admission.Response, codes []string, start time.Time) {
	result := "allowed"
	switch {
	case !resp.Allowed:
		result = "denied"
	case len(resp.Warnings) > 0:
		result = "warned"
	}
	if h.opts.Metrics != nil {
		if len(codes) == 0 {
			h.opts.Metrics.Decisions.WithLabelValues(h.endpoint, req.Kind.Kind, string(req.Operation), result, "").Inc()
		}
		for _, c := range codes {
			h.opts.Metrics.Decisions.WithLabelValues(h.endpoint, req.Kind.Kind, string(req.Operation), result, c).Inc()
		}
	}
	dry := req.DryRun != nil && *req.DryRun
	h.opts.Log.Info("decision",
		"endpoint", h.endpoint, "uid", req.UID, "user", req.UserInfo.Username,
		"kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name,
		"operation", req.Operation, "result", result, "codes", codes, "dryRun", dry,
		"duration", time.Since(start).String())
}

// recordDryRuns logs and counts the items a platform rolled out as dryrun:
// what they would have done, without blocking or warning.
func (h *handler) recordDryRuns(req admission.Request, items []policy.Item) {
	if len(items) == 0 {
		return
	}
	codes := make([]string, len(items))
	for i, it := range items {
		codes[i] = it.Code
		if h.opts.Metrics != nil {
			h.opts.Metrics.Decisions.WithLabelValues(h.endpoint, req.Kind.Kind, string(req.Operation), "dryrun", it.Code).Inc()
		}
	}
	h.opts.Log.Info("dryrun items", "endpoint", h.endpoint, "uid", req.UID, "kind", req.Kind.Kind,
		"namespace", req.Namespace, "name", req.Name, "codes", codes, "messages", joinItems(items))
}

// decode turns an admission request into the validate.Request both the
// mutation and the policies take.
func decode(req admission.Request) (validate.Request, error) {
	out := validate.Request{
		UID: string(req.UID), Operation: string(req.Operation),
		Namespace: req.Namespace, Name: req.Name,
		User: req.UserInfo.Username, Groups: req.UserInfo.Groups,
		DryRun: req.DryRun != nil && *req.DryRun,
	}
	out.Kind.Group, out.Kind.Version, out.Kind.Kind = req.Kind.Group, req.Kind.Version, req.Kind.Kind
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update, admissionv1.Delete:
	default:
		return out, fmt.Errorf("operation %q is not one canarygate handles", req.Operation)
	}
	var err error
	if out.Object, err = object(req.Object.Raw, req, "object"); err != nil {
		return out, err
	}
	if out.OldObject, err = object(req.OldObject.Raw, req, "oldObject"); err != nil {
		return out, err
	}
	switch {
	case req.Operation != admissionv1.Delete && out.Object == nil:
		return out, fmt.Errorf("%s request without an object", req.Operation)
	case req.Operation == admissionv1.Delete && out.OldObject == nil:
		return out, errors.New("DELETE request without oldObject")
	case req.Operation == admissionv1.Update && out.OldObject == nil:
		return out, errors.New("UPDATE request without oldObject")
	}
	if req.Operation == admissionv1.Delete {
		out.Object = nil
	}
	if out.Name == "" && out.Object != nil {
		out.Name = out.Object.GetName()
	}
	return out, nil
}

func object(raw []byte, req admission.Request, field string) (*unstructured.Unstructured, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if gvk := u.GroupVersionKind(); gvk.Group != req.Kind.Group || gvk.Kind != req.Kind.Kind {
		return nil, fmt.Errorf("%s is of kind %s, but the request is for kind %s", field, gvk.Kind, req.Kind.Kind)
	}
	if u.GetNamespace() == "" {
		u.SetNamespace(req.Namespace)
	}
	// managedFields (often most of an object's bytes) say who wrote which
	// field, which no decision reads; the cache strips them from the facts
	// too. Without them every later decode and the policy input are
	// smaller, and the patch (a diff of two copies of this object) is
	// unchanged.
	unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")
	// Check the schema here, for every endpoint: the mutation decodes only
	// some objects, so a malformed CREATE would pass it without a warning.
	if _, err := facts.Decode(u); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return u, nil
}

// overlay returns the facts with the request applied.
func overlay(base facts.Reader, classes facts.Classes, req validate.Request) (facts.Reader, error) {
	o := facts.Overlay{Base: base, Classes: classes}
	if req.Operation == string(admissionv1.Delete) {
		o.Deleted = req.Kind.GroupKind()
		o.Ref = facts.Ref{Namespace: req.Namespace, Name: req.Name}
		return o, nil
	}
	typed, err := facts.Decode(req.Object)
	if err != nil {
		return nil, err
	}
	o.Put = typed
	return o, nil
}

func joinItems(items []policy.Item) string {
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = fmt.Sprintf("[%s] %s", it.Code, it.Message)
	}
	return strings.Join(parts, "; ")
}

func warningLines(items []policy.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = fmt.Sprintf("[%s] %s", it.Code, it.Message)
	}
	return truncate(out)
}

// truncate keeps warnings within the API server's limit, saying how many
// were left out.
func truncate(warnings []string) []string {
	total := 0
	for i, w := range warnings {
		total += len(w)
		if total > maxWarningBytes {
			return append(warnings[:i:i], fmt.Sprintf("%d more warning(s) left out; run canarygate check for all of them", len(warnings)-i))
		}
	}
	return warnings
}

var _ http.Handler = (*admission.Webhook)(nil)
