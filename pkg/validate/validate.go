// Package validate turns an admission request and the facts around it into
// the policy input document, evaluates the policies, and returns the
// decision of each validating endpoint. It is shared by the webhook and by
// `canarygate check`, so both decide identically.
package validate

import (
	"context"
	"fmt"
	"time"

	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/policy"
)

// Validator evaluates requests with one compiled policy set.
type Validator struct {
	Engine  *policy.Engine
	Builder Builder
	// Endpoint limits evaluation to the rules that can emit codes of one
	// validating endpoint ("gate" or "lint"); empty evaluates both.
	Endpoint string
	// LookupTimeout, when set, bounds the fact lookups alone, so a slow
	// lookup leaves time to evaluate the policies and deny with the lookup
	// that failed (CG307) rather than run out of time altogether.
	LookupTimeout time.Duration
}

// Decision is the outcome of validating one request on both endpoints.
type Decision struct {
	// Items are every decision item, with endpoint and enforcement.
	Items []policy.Item
	// Input is the document the policies saw.
	Input *Input
}

// Validate builds the input and evaluates the policies. A malformed request
// or an evaluation error is returned as an error; callers on the gate deny
// on it (fail closed), callers on lint allow with a warning.
func (v *Validator) Validate(ctx context.Context, req Request, before, after facts.Reader, now time.Time) (Decision, error) {
	lookupCtx := ctx
	if v.LookupTimeout > 0 {
		var cancel context.CancelFunc
		lookupCtx, cancel = context.WithTimeout(ctx, v.LookupTimeout)
		defer cancel()
	}
	in, err := v.Builder.Build(lookupCtx, req, before, after, now)
	if err != nil {
		return Decision{}, err
	}
	in.Endpoint = v.Endpoint
	val, err := policy.ToValue(in)
	if err != nil {
		return Decision{Input: in}, fmt.Errorf("encoding policy input: %w", err)
	}
	items, err := v.Engine.Evaluate(ctx, val)
	if err != nil {
		return Decision{Input: in}, err
	}
	return Decision{Items: items, Input: in}, nil
}

// Denials returns the items enforced as deny on an endpoint ("" for both).
func (d Decision) Denials(endpoint string) []policy.Item {
	return d.filter(endpoint, policy.EnforceDeny)
}

// Warnings returns the items enforced as warn on an endpoint ("" for both).
func (d Decision) Warnings(endpoint string) []policy.Item {
	return d.filter(endpoint, policy.EnforceWarn)
}

// DryRuns returns the items enforced as dryrun on an endpoint ("" for
// both): recorded and counted, never blocking or warning.
func (d Decision) DryRuns(endpoint string) []policy.Item {
	return d.filter(endpoint, policy.EnforceDryRun)
}

func (d Decision) filter(endpoint, enforcement string) []policy.Item {
	var out []policy.Item
	for _, it := range d.Items {
		if it.Enforcement == enforcement && (endpoint == "" || it.Endpoint == endpoint) {
			out = append(out, it)
		}
	}
	return out
}
