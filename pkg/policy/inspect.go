package policy

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Summary is what a policy source provides, as `canarygate policy inspect`
// prints it.
type Summary struct {
	Source   string `json:"source"`
	Kind     string `json:"kind"`
	Revision string `json:"revision,omitempty"`
	// Roots are the .manifest roots, or the roots the content implies
	// (RootsImplied) for a directory without a .manifest.
	Roots        []string      `json:"roots"`
	RootsImplied bool          `json:"rootsImplied,omitempty"`
	Packages     []PackageInfo `json:"packages"`
	// Codes are the decision codes the source's `items` rules emit, found
	// by reading the rules (string literals under "code", or the first
	// argument of a helper call such as item("EX001", …)); a code computed
	// at evaluation time is not listed.
	Codes []CodeInfo `json:"codes"`
	// Data are the paths of the data the source provides, down to scalars
	// and arrays (canarygate.config.settings.verifier_groups).
	Data []string `json:"data"`
	// Tests is the number of test_ rules.
	Tests int `json:"tests"`
}

// PackageInfo is one package of a source.
type PackageInfo struct {
	Package string   `json:"package"`
	Files   []string `json:"files"`
	Rules   int      `json:"rules"`
	Tests   int      `json:"tests"`
}

// CodeInfo is one code a source emits.
type CodeInfo struct {
	Code    string `json:"code"`
	Package string `json:"package"`
	// Endpoint is "lint" when the item says so, else "gate".
	Endpoint string `json:"endpoint"`
	// Enforcement is the enforcement the source's own canarygate.config
	// sets globally ("deny" when it sets none), and Profiles the
	// enforcement per profile where a profile sets one.
	Enforcement string            `json:"enforcement"`
	Profiles    map[string]string `json:"profiles,omitempty"`
	// Locations are the file:line of the rules emitting it.
	Locations []string `json:"locations"`
}

var codePattern = regexp.MustCompile(`^[A-Z][A-Z0-9]*[0-9]+$`)

// Inspect summarises a source. It returns an error wrapping ErrLoad when a
// module does not parse.
func Inspect(src Source) (Summary, error) {
	sum := Summary{Source: src.Name, Kind: src.Kind, Revision: src.Revision, Roots: src.Roots}
	pkgs := map[string]*PackageInfo{}
	codes := map[string]*CodeInfo{}
	var implied []string
	names := make([]string, 0, len(src.Modules))
	for n := range src.Modules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		m, err := ast.ParseModuleWithOpts(name, src.Modules[name], ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return sum, fmt.Errorf("%w: %s: %w", ErrLoad, src.Name, err)
		}
		implied = append(implied, packageRoot(m.Package.Path))
		pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
		p := pkgs[pkg]
		if p == nil {
			p = &PackageInfo{Package: pkg}
			pkgs[pkg] = p
		}
		p.Files = append(p.Files, name)
		for _, rule := range m.Rules {
			ref := rule.Head.Ref()
			last := ""
			if s, ok := ref[len(ref)-1].Value.(ast.String); ok {
				last = string(s)
			} else if v, ok := ref[len(ref)-1].Value.(ast.Var); ok {
				last = string(v)
			}
			if len(ref) == 1 {
				last = rule.Head.Name.String()
			}
			if strings.HasPrefix(last, "test_") {
				p.Tests++
				sum.Tests++
				continue
			}
			p.Rules++
			if last != "items" {
				continue
			}
			for code, endpoint := range emitted(rule) {
				c := codes[code]
				if c == nil {
					c = &CodeInfo{Code: code, Package: pkg, Endpoint: endpoint}
					codes[code] = c
				}
				if endpoint == EndpointLint {
					c.Endpoint = EndpointLint
				}
				c.Locations = append(c.Locations, fmt.Sprintf("%s:%d", name, rule.Location.Row))
			}
		}
	}
	if src.Roots == nil {
		sum.RootsImplied = true
		sum.Roots = dedupe(append(implied, dataRoots(src.Data)...))
	}
	cfg := dig(src.Data, "canarygate", "config")
	global := dig(cfg, "enforcement")
	profiles := dig(cfg, "profiles")
	for _, c := range codes {
		c.Enforcement = EnforceDeny
		if e, ok := global[c.Code].(string); ok {
			c.Enforcement = e
		}
		for name, p := range profiles {
			pm, _ := p.(map[string]any)
			if e, ok := dig(pm, "enforcement")[c.Code].(string); ok {
				if c.Profiles == nil {
					c.Profiles = map[string]string{}
				}
				c.Profiles[name] = e
			}
		}
		sum.Codes = append(sum.Codes, *c)
	}
	sort.Slice(sum.Codes, func(i, j int) bool { return sum.Codes[i].Code < sum.Codes[j].Code })
	for _, p := range pkgs {
		sum.Packages = append(sum.Packages, *p)
	}
	sort.Slice(sum.Packages, func(i, j int) bool { return sum.Packages[i].Package < sum.Packages[j].Package })
	sum.Data = leaves(src.Data, "")
	sort.Strings(sum.Data)
	if sum.Roots == nil {
		sum.Roots = []string{}
	}
	return sum, nil
}

// emitted returns the codes a rule's items carry, with their endpoint.
func emitted(rule *ast.Rule) map[string]string {
	out := map[string]string{}
	ast.WalkTerms(rule, func(t *ast.Term) bool {
		switch v := t.Value.(type) {
		case ast.Object:
			c := v.Get(ast.InternedTerm("code"))
			if c == nil {
				return false
			}
			code, ok := c.Value.(ast.String)
			if !ok || !codePattern.MatchString(string(code)) {
				return false
			}
			endpoint := EndpointGate
			if e := v.Get(ast.InternedTerm("endpoint")); e != nil && e.Value.Compare(ast.String(EndpointLint)) == 0 {
				endpoint = EndpointLint
			}
			out[string(code)] = endpoint
		case ast.Call:
			if len(v) > 1 {
				if code, ok := v[1].Value.(ast.String); ok && codePattern.MatchString(string(code)) {
					if _, seen := out[string(code)]; !seen {
						out[string(code)] = EndpointGate
					}
				}
			}
		}
		return false
	})
	return out
}

func dig(m map[string]any, path ...string) map[string]any {
	for _, k := range path {
		next, _ := m[k].(map[string]any)
		m = next
	}
	return m
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// leaves lists the paths of the scalars and arrays under m.
func leaves(m map[string]any, at string) []string {
	var out []string
	for k, v := range m {
		p := at + "." + k
		if !identifier.MatchString(k) {
			p = fmt.Sprintf("%s[%q]", at, k)
		}
		if at == "" {
			p = strings.TrimPrefix(p, ".")
		}
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			out = append(out, leaves(sub, p)...)
			continue
		}
		out = append(out, p)
	}
	return out
}
