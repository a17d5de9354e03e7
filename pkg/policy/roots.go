package policy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
)

// packageRoot is the root a package of a plain directory implies:
// canarygate/ext/<name> for a package under canarygate.ext, the package path
// itself otherwise.
func packageRoot(pkg ast.Ref) string {
	var segs []string
	for _, t := range pkg[1:] { // pkg[0] is data
		s, ok := t.Value.(ast.String)
		if !ok {
			break
		}
		segs = append(segs, string(s))
	}
	if len(segs) >= 3 && segs[0] == "canarygate" && segs[1] == "ext" {
		segs = segs[:3]
	}
	return strings.Join(segs, "/")
}

// dataRoots are the roots data of a plain directory implies: canarygate/<key>
// for every key under canarygate (canarygate/ext/<name> under ext), and the
// top-level key for anything else.
func dataRoots(data map[string]any) []string {
	var out []string
	for k, v := range data {
		cg, ok := v.(map[string]any)
		if k != "canarygate" || !ok {
			out = append(out, k)
			continue
		}
		for sub, sv := range cg {
			ext, ok := sv.(map[string]any)
			if sub != "ext" || !ok {
				out = append(out, "canarygate/"+sub)
				continue
			}
			for name := range ext {
				out = append(out, "canarygate/ext/"+name)
			}
		}
	}
	return out
}

func dedupe(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// showRoot prints a root for people: "" is the whole data document.
func showRoot(r string) string {
	if r == "" {
		return `"" (all of data: the bundle has no .manifest roots)`
	}
	return fmt.Sprintf("%q", r)
}

// checkRoots rejects the first pair of sources whose roots overlap, naming
// both sources and both roots. roots[i] belongs to sources[i].
func checkRoots(sources []Source, roots [][]string) error {
	for i := range sources {
		for j := range i {
			for _, a := range roots[i] {
				for _, b := range roots[j] {
					if !bundle.RootPathsOverlap(a, b) {
						continue
					}
					hint := "give each source its own root under canarygate/ext/<name>; only one may provide canarygate/config"
					if b == BuiltinRoot {
						hint = "canarygate/builtin belongs to the built-in policies; put platform rules under canarygate/ext/<name> and settings under canarygate/config, and list those as the .manifest roots"
					}
					return fmt.Errorf("%w: %w: %s claims root %s, which overlaps root %s of %s; %s",
						ErrLoad, ErrRoots, sources[i].Name, showRoot(a), showRoot(b), sources[j].Name, hint)
				}
			}
		}
	}
	return nil
}
