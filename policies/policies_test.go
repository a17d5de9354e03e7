package policies_test

import (
	"testing"

	"github.com/canarygate/canarygate/pkg/policy"
)

// TestRego runs every built-in `test_` rule through OPA's test runner on the
// engine canarygate embeds.
func TestRego(t *testing.T) {
	results, err := policy.Test(t.Context(), policy.Options{Builtin: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 {
		t.Fatal("no Rego tests ran")
	}
	for _, r := range results {
		name := r.Package + "." + r.Name
		t.Run(name, func(t *testing.T) {
			if r.Error != nil {
				t.Fatalf("%s: error: %v\n%s", r.Location, r.Error, r.Output)
			}
			if r.Fail {
				t.Fatalf("%s: failed\n%s", r.Location, r.Output)
			}
		})
	}
}
