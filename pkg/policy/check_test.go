package policy_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/canarygate/canarygate/pkg/check"
	"github.com/canarygate/canarygate/pkg/policy"
)

// TestCheckDecidesWithTheBundle replays step 3b of the reference release
// (a canary Ingress at weight 20, no header) in a prod namespace through
// `canarygate check`'s engine, with the example bundle read from a
// directory, an archive and a URL: every form gives the same report.
func TestCheckDecidesWithTheBundle(t *testing.T) {
	const fixtures = "../../test/fixtures/scenario"
	dir := t.TempDir()
	namespace := writeFile(t, dir, "namespace.yaml", []byte(`apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    canarygate.io/profile: prod
`))
	state := []string{namespace}
	for _, f := range []string{"00-isvc-model-v1.yaml", "00-isvc-model-v2.yaml", "01-services.yaml", "02-ingress.yaml"} {
		state = append(state, filepath.Join(fixtures, f))
	}
	archive := tarball(t, readBundle(t, example))
	srv := newBundleServer(t, archive)

	report := func(t *testing.T, e *policy.Engine) (*check.Report, string) {
		t.Helper()
		r, err := check.Run(t.Context(), check.Options{
			Files: []string{filepath.Join(fixtures, "03b-canary-weight.yaml")}, State: state,
			Namespace: "shop", Engine: e, Tolerance: time.Minute,
			Now: func() time.Time { return time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC) },
		})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return r, string(raw)
	}
	violations := func(r *check.Report) []string {
		var codes []string
		for _, res := range r.Results {
			for _, v := range res.Violations {
				codes = append(codes, v.Code)
			}
		}
		slices.Sort(codes)
		return codes
	}

	builtinOnly, _ := report(t, load(t))
	if got := violations(builtinOnly); len(got) != 0 {
		t.Fatalf("built-ins alone deny %v; the example is meant to add the denials", got)
	}

	fromDir, want := report(t, load(t, open(t, example, policy.SourceOptions{})))
	if got := violations(fromDir); !slices.Equal(got, []string{"CGX02", "CGX03"}) {
		t.Errorf("violations with the bundle = %v, want CGX02 (0 → 20 skips 5) and CGX03 (prod needs x-canary)", got)
	}
	for name, spec := range map[string]string{
		"archive": writeFile(t, dir, "platform.tar.gz", archive),
		"URL":     srv.url(),
	} {
		t.Run("the same report from the "+name, func(t *testing.T) {
			if _, got := report(t, load(t, open(t, spec, policy.SourceOptions{}))); got != want {
				t.Errorf("report:\n got %s\nwant %s", got, want)
			}
		})
	}
}
