package canary_test

import (
	"testing"

	"github.com/canarygate/canarygate/pkg/canary"
)

func TestSpecPredicates(t *testing.T) {
	tests := map[string]struct {
		spec    canary.Spec
		total   int
		full    bool
		exposes bool
		zero    bool
	}{
		"the zero Spec routes nobody and splits by 100": {
			spec: canary.Spec{}, total: 100, zero: true,
		},
		"a weight of 20 percent exposes but is not full": {
			spec: canary.Spec{Weight: 20, WeightTotal: 100}, total: 100, exposes: true,
		},
		"a weight equal to the total is full": {
			spec: canary.Spec{Weight: 100, WeightTotal: 100}, total: 100, full: true, exposes: true,
		},
		"a weight above the total is full": {
			spec: canary.Spec{Weight: 150, WeightTotal: 100}, total: 100, full: true, exposes: true,
		},
		"a weight one below the total is not full": {
			spec: canary.Spec{Weight: 99}, total: 100, exposes: true,
		},
		"a total of 50 counts as 100, so weight 50 is half, not full": {
			spec: canary.Spec{Weight: 50, WeightTotal: 50}, total: 100, exposes: true,
		},
		"a total of 50 counts as 100, so weight 100 is full": {
			spec: canary.Spec{Weight: 100, WeightTotal: 50}, total: 100, full: true, exposes: true,
		},
		"a negative total counts as 100": {
			spec: canary.Spec{Weight: 100, WeightTotal: -5}, total: 100, full: true, exposes: true,
		},
		"a total of 1000 is used as written": {
			spec: canary.Spec{Weight: 999, WeightTotal: 1000}, total: 1000, exposes: true,
		},
		"weight 1000 of 1000 is full": {
			spec: canary.Spec{Weight: 1000, WeightTotal: 1000}, total: 1000, full: true, exposes: true,
		},
		"a total alone is still zero": {
			spec: canary.Spec{WeightTotal: 1000}, total: 1000, zero: true,
		},
		"a negative weight routes nobody but is not zero": {
			spec: canary.Spec{Weight: -5}, total: 100,
		},
		"a header rule exposes the canary to clients that opt in": {
			spec: canary.Spec{Header: "X-Canary"}, total: 100, exposes: true,
		},
		"a cookie rule exposes the canary to clients that opt in": {
			spec: canary.Spec{Cookie: "canary"}, total: 100, exposes: true,
		},
		"a header value without a header has no effect": {
			spec: canary.Spec{HeaderValue: "bar", HeaderPattern: ".*"}, total: 100, zero: true,
		},
		"the reference scenario's header rule (step 3a)": {
			spec: canary.Spec{Header: "foo", HeaderValue: "bar", WeightTotal: 100}, total: 100, exposes: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.spec.EffectiveTotal(); got != tc.total {
				t.Errorf("EffectiveTotal() = %d, want %d", got, tc.total)
			}
			if got := tc.spec.Full(); got != tc.full {
				t.Errorf("Full() = %v, want %v", got, tc.full)
			}
			if got := tc.spec.Exposes(); got != tc.exposes {
				t.Errorf("Exposes() = %v, want %v", got, tc.exposes)
			}
			if got := tc.spec.IsZero(); got != tc.zero {
				t.Errorf("IsZero() = %v, want %v", got, tc.zero)
			}
		})
	}
}
