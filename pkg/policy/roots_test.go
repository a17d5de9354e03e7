package policy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/canarygate/canarygate/pkg/policy"
)

func TestRootsMayNotOverlap(t *testing.T) {
	bundleDir := func(manifest string, files map[string]string) string {
		dir := t.TempDir()
		writeFile(t, dir, ".manifest", []byte(manifest))
		for name, content := range files {
			writeFile(t, dir, name, []byte(content))
		}
		return dir
	}
	platform := open(t, example, policy.SourceOptions{})
	team := bundleDir(`{"roots": ["canarygate/ext/platform/team"]}`, map[string]string{
		"team.rego": "package canarygate.ext.platform.team\n\nitems contains {\"code\": \"T1\"} if false\n",
	})
	everything := bundleDir(`{}`, map[string]string{"x.rego": "package canarygate.ext.all\n"})
	builtin := bundleDir(`{"roots": ["canarygate"]}`, map[string]string{
		"b.rego": "package canarygate.builtin.main\n\ndecision := set()\n",
	})
	twin := plainDir(t)

	tests := map[string]struct {
		sources []policy.Source
		want    []string
	}{
		"a bundle inside another bundle's root": {
			sources: []policy.Source{platform, open(t, team, policy.SourceOptions{})},
			want:    []string{team + " claims root \"canarygate/ext/platform/team\"", "root \"canarygate/ext/platform\" of " + example},
		},
		"a bundle without .manifest roots claims all of data": {
			sources: []policy.Source{open(t, everything, policy.SourceOptions{})},
			want:    []string{everything + " claims root \"\" (all of data", `root "canarygate/builtin" of builtin`},
		},
		"a bundle claiming the built-ins' root": {
			sources: []policy.Source{open(t, builtin, policy.SourceOptions{})},
			want:    []string{builtin + ` claims root "canarygate"`, `"canarygate/builtin" of builtin`, "belongs to the built-in policies"},
		},
		"two directories with the same package": {
			sources: []policy.Source{open(t, plainDir(t), policy.SourceOptions{}), open(t, twin, policy.SourceOptions{})},
			want:    []string{twin + ` claims root "canarygate/ext/team"`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := policy.Load(t.Context(), policy.Options{Builtin: true, Sources: tc.sources})
			if !errors.Is(err, policy.ErrRoots) || !errors.Is(err, policy.ErrLoad) {
				t.Fatalf("Load = %v, want an error wrapping ErrRoots and ErrLoad", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	t.Run("only one source provides canarygate.config", func(t *testing.T) {
		config := bundleDir(`{"roots": ["canarygate/config"]}`, map[string]string{
			"canarygate/config/data.json": `{"settings": {"max_unverified_weight": 10}}`,
		})
		_, err := policy.Load(t.Context(), policy.Options{Builtin: true, Sources: []policy.Source{platform, open(t, config, policy.SourceOptions{})}})
		if err == nil || !strings.Contains(err.Error(), "both "+example+" and "+config+" provide canarygate.config") {
			t.Errorf("Load = %v, want both sources named", err)
		}
	})

	t.Run("disjoint roots load together", func(t *testing.T) {
		load(t, platform, open(t, plainDir(t), policy.SourceOptions{}))
	})
}
