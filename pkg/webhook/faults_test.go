package webhook_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/canarygate/canarygate/pkg/kserve"
	"github.com/canarygate/canarygate/pkg/policy"
	"github.com/canarygate/canarygate/pkg/webhook"
)

// slowReader answers like its Reader but blocks InferenceService reads (the
// gate's live read) until the request's deadline passes.
type slowReader struct{ panicky }

func (s slowReader) InferenceService(ctx context.Context, _, _ string) (*kserve.InferenceService, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestASlowLookupIsBoundedAndTheGateDenies(t *testing.T) {
	s := newScenario(t)
	set := factsOf(t, s.cluster())
	const bound = 300 * time.Millisecond
	h := newHarnessWith(t, set, builtinEngine(t), func(o *webhook.Options) {
		o.Facts = slowReader{panicky{Reader: set, armed: new(atomic.Bool)}}
		o.Timeout = bound
	})
	req := request(t, admissionv1.Update, s.switched, s.svc)

	start := time.Now()
	resp := h.post(t, webhook.PathGate, req)
	took := time.Since(start)
	if resp.Allowed {
		t.Fatal("the gate allowed a switch whose target could not be read")
	}
	if msg := message(resp); !strings.Contains(msg, "[CG307]") || !strings.Contains(msg, "context deadline exceeded") {
		t.Fatalf("denial %q does not say which lookup failed and why", msg)
	}
	if took > bound+2*time.Second {
		t.Fatalf("the gate answered after %s; the lookup bound is %s", took, bound)
	}

	// Lint never denies on a failed lookup: its codes do not depend on it.
	if resp := h.post(t, webhook.PathLint, req); !resp.Allowed {
		t.Fatalf("lint denied on a failed lookup: %q", message(resp))
	}
}

// conflicting is a platform rule whose evaluation fails at run time: a
// complete rule with two different values is an evaluation error in OPA.
var conflicting = policy.Options{Builtin: true, Sources: []policy.Source{{
	Name: "conflicting",
	Modules: map[string]string{"conflicting.rego": `package canarygate.ext.conflicting

value := "a" if input.request.kind.kind == "Service"

value := "b" if input.request.kind.kind == "Service"

items contains {"code": "EX900", "message": value}
`},
}}}

func TestAPolicyEvaluationErrorDeniesOnTheGateOnly(t *testing.T) {
	s := newScenario(t)
	engine, err := policy.Load(t.Context(), conflicting)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, factsOf(t, s.cluster()), engine)
	req := request(t, admissionv1.Update, s.switched, s.svc)

	gate := h.post(t, webhook.PathGate, req)
	if gate.Allowed || !strings.Contains(message(gate), "canarygate could not decide: evaluating policies") {
		t.Fatalf("gate answer %v %q, want a denial naming the evaluation error", gate.Allowed, message(gate))
	}
	lint := h.post(t, webhook.PathLint, req)
	if !lint.Allowed || len(lint.Warnings) == 0 || !strings.Contains(lint.Warnings[0], "evaluating policies") {
		t.Fatalf("lint answer %v %v, want allowed with the evaluation error as a warning", lint.Allowed, lint.Warnings)
	}
	// The server keeps serving other kinds normally.
	other := h.post(t, webhook.PathGate, request(t, admissionv1.Create, s.canaryWeight, nil))
	if strings.Contains(message(other), "evaluating policies") {
		t.Fatalf("an Ingress request hit the Service-only error: %q", message(other))
	}
}
