package policies_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/canarygate/canarygate/pkg/policy"
	"github.com/canarygate/canarygate/policies"
)

var codeRE = regexp.MustCompile(`"(CG[0-9]{3})"`)

// codeEntry is one code of codes.json.
type codeEntry struct {
	Endpoint    string `json:"endpoint"`
	Enforcement string `json:"enforcement"`
	Title       string `json:"title"`
}

type codeTable struct {
	Canarygate struct {
		Builtin struct {
			Codes map[string]codeEntry `json:"codes"`
		} `json:"builtin"`
	} `json:"canarygate"`
}

// readCodes returns the code table, codes.json.
func readCodes(t *testing.T) map[string]codeEntry {
	t.Helper()
	raw, err := fs.ReadFile(policies.FS, "codes.json")
	if err != nil {
		t.Fatal(err)
	}
	var table codeTable
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	return table.Canarygate.Builtin.Codes
}

// TestCodesAreDeclaredTestedAndDocumented keeps the code table, the rules,
// their tests and docs/policies.md in step: a code a rule emits must be in
// the table (with one endpoint and a valid enforcement), tested, and
// documented.
func TestCodesAreDeclaredTestedAndDocumented(t *testing.T) {
	codes := readCodes(t)
	emitted := map[string]bool{}
	tested := map[string]bool{}
	entries, err := fs.ReadDir(policies.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".rego") {
			continue
		}
		src, err := fs.ReadFile(policies.FS, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range codeRE.FindAllStringSubmatch(string(src), -1) {
			if strings.HasSuffix(e.Name(), "_test.rego") {
				tested[m[1]] = true
			} else {
				emitted[m[1]] = true
			}
		}
	}
	docs, err := os.ReadFile("../docs/policies.md")
	if err != nil {
		t.Fatal(err)
	}
	for code := range emitted {
		if _, ok := codes[code]; !ok {
			t.Errorf("%s is emitted by a rule but missing from codes.json", code)
		}
	}
	for code, c := range codes {
		if !slices.Contains([]string{"gate", "lint"}, c.Endpoint) {
			t.Errorf("%s: endpoint %q is neither gate nor lint", code, c.Endpoint)
		}
		if !slices.Contains([]string{"deny", "warn", "dryrun"}, c.Enforcement) {
			t.Errorf("%s: enforcement %q is not deny, warn or dryrun", code, c.Enforcement)
		}
		if !emitted[code] {
			t.Errorf("%s is in codes.json but no rule emits it", code)
		}
		if !tested[code] {
			t.Errorf("%s has no Rego test", code)
		}
		if !strings.Contains(string(docs), code) {
			t.Errorf("%s is not documented in docs/policies.md", code)
		}
	}
}

var (
	packageRE = regexp.MustCompile(`(?m)^package canarygate\.builtin\.rules\.([a-z]+)$`)
	itemRE    = regexp.MustCompile(`lib\.item\("(CG[0-9]{3})"`)
)

// TestAreasHoldOneEndpoint keeps main.rego's areas table true: the webhook
// evaluates, for each endpoint, only the rule areas listed under it, so an
// area listed under "gate" that also emitted a lint code would lose that
// code on the lint endpoint (and cost the gate for nothing), and an area
// listed under no endpoint of its codes would never run in serve.
func TestAreasHoldOneEndpoint(t *testing.T) {
	codes := readCodes(t)

	// The codes each area's rules emit, from the sources.
	emits := map[string][]string{}
	entries, err := fs.ReadDir(policies.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".rego") || strings.HasSuffix(e.Name(), "_test.rego") {
			continue
		}
		src, err := fs.ReadFile(policies.FS, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		pkg := packageRE.FindStringSubmatch(string(src))
		if pkg == nil {
			continue
		}
		for _, m := range itemRE.FindAllStringSubmatch(string(src), -1) {
			emits[pkg[1]] = append(emits[pkg[1]], m[1])
		}
	}
	if len(emits) == 0 {
		t.Fatal("no rule area emits a code: the pattern no longer matches the sources")
	}

	// The areas table, as the engine evaluates it.
	src, err := policy.Builtin(false)
	if err != nil {
		t.Fatal(err)
	}
	opts := []func(*rego.Rego){rego.Query("data.canarygate.builtin.main.areas"), rego.Store(inmem.NewFromObject(src.Data))}
	for name, text := range src.Modules {
		opts = append(opts, rego.Module(name, text))
	}
	rs, err := rego.New(opts...).Eval(t.Context())
	if err != nil || len(rs) != 1 || len(rs[0].Expressions) != 1 {
		t.Fatalf("evaluating the areas table: %v (%d results)", err, len(rs))
	}
	areas, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok || len(areas) == 0 {
		t.Fatalf("areas = %#v, want a table by kind", rs[0].Expressions[0].Value)
	}
	listed := map[string]bool{}
	for kind, byEndpoint := range areas {
		for endpoint, list := range byEndpoint.(map[string]any) {
			for _, a := range list.([]any) {
				area := a.(string)
				listed[area+" "+endpoint] = true
				if _, ok := emits[area]; !ok {
					t.Errorf("areas[%s][%s] lists %q, which emits no code", kind, endpoint, area)
				}
				for _, code := range emits[area] {
					if ep := codes[code].Endpoint; ep != endpoint {
						t.Errorf("areas[%s][%s] lists %q, which emits %s of endpoint %q: move the rule to an area of its endpoint", kind, endpoint, area, code, ep)
					}
				}
			}
		}
	}
	for area, list := range emits {
		for _, code := range list {
			if ep := codes[code].Endpoint; !listed[area+" "+ep] {
				t.Errorf("%s (%s) is emitted by area %q, which no kind lists under %q: serve never evaluates it", code, ep, area, ep)
			}
		}
	}
}
