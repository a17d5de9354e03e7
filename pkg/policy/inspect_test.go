package policy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/canarygate/canarygate/pkg/policy"
)

func TestInspectExample(t *testing.T) {
	sum, err := policy.Inspect(open(t, example, policy.SourceOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sum.Roots, ","); got != "canarygate/ext/platform,canarygate/config" || sum.RootsImplied {
		t.Errorf("Roots = %s (implied %v)", got, sum.RootsImplied)
	}
	var codes []string
	for _, c := range sum.Codes {
		codes = append(codes, c.Code+":"+c.Endpoint+":"+c.Enforcement)
	}
	if want := []string{"CGX01:gate:deny", "CGX02:gate:deny", "CGX03:gate:deny", "CGX04:lint:dryrun"}; !slices.Equal(codes, want) {
		t.Errorf("codes = %v, want %v", codes, want)
	}
	if p := sum.Codes[2].Profiles["staging"]; p != "warn" {
		t.Errorf("CGX03 in staging = %q, want warn", p)
	}
	var pkgs []string
	for _, p := range sum.Packages {
		pkgs = append(pkgs, p.Package)
	}
	if want := []string{"canarygate.ext.platform", "canarygate.ext.platform.tests"}; !slices.Equal(pkgs, want) {
		t.Errorf("packages = %v, want %v", pkgs, want)
	}
	for _, key := range []string{"canarygate.config.settings.verifier_groups", "canarygate.config.profiles.prod.settings.min_soak_seconds"} {
		if !slices.Contains(sum.Data, key) {
			t.Errorf("data keys %v lack %s", sum.Data, key)
		}
	}
	if sum.Tests < 10 {
		t.Errorf("Tests = %d", sum.Tests)
	}
}

func TestInspectPlainDirectoryImpliesRoots(t *testing.T) {
	dir := plainDir(t)
	writeFile(t, dir, "canarygate/config/data.yaml", []byte("enforcement:\n  EX001: warn\n"))
	sum, err := policy.Inspect(open(t, dir, policy.SourceOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sum.Roots, ","); got != "canarygate/config,canarygate/ext/team" || !sum.RootsImplied {
		t.Errorf("Roots = %s (implied %v)", got, sum.RootsImplied)
	}
	if len(sum.Codes) != 1 || sum.Codes[0].Code != "EX001" || sum.Codes[0].Enforcement != "warn" {
		t.Errorf("Codes = %+v", sum.Codes)
	}
}
