package scenario_test

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/canarygate/canarygate/pkg/check"
)

func metaNow(t time.Time) metav1.Time { return metav1.NewTime(t) }

// mustAllow fails unless every object of the report was allowed.
func mustAllow(t *testing.T, step string, r *check.Report) {
	t.Helper()
	for _, res := range r.Results {
		if !res.Allowed {
			t.Fatalf("%s: %s %s denied: %+v", step, res.Kind, res.Name, res.Violations)
		}
	}
}

// mustDeny fails unless the object was denied with the code.
func mustDeny(t *testing.T, step string, r *check.Report, kind, name, code string) {
	t.Helper()
	v, _ := codes(r, kind, name)
	if !slices.Contains(v, code) {
		t.Fatalf("%s: want %s %s denied with %s, got violations %v (report %+v)", step, kind, name, code, v, r.Summary)
	}
}

func unstructuredSlice(obj map[string]any, fields ...string) ([]any, bool, error) {
	return unstructured.NestedSlice(obj, fields...)
}

func setNested(obj map[string]any, value any, fields ...string) error {
	return unstructured.SetNestedField(obj, value, fields...)
}
