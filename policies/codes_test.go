package policies_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/canarygate/canarygate/policies"
)

var codeRE = regexp.MustCompile(`"(CG[0-9]{3})"`)

type codeTable struct {
	Canarygate struct {
		Builtin struct {
			Codes map[string]struct {
				Endpoint    string `json:"endpoint"`
				Enforcement string `json:"enforcement"`
				Title       string `json:"title"`
			} `json:"codes"`
		} `json:"builtin"`
	} `json:"canarygate"`
}

// TestCodesAreDeclaredTestedAndDocumented keeps the code table, the rules,
// their tests and docs/policies.md in step: a code a rule emits must be in
// the table (with one endpoint and a valid enforcement), tested, and
// documented.
func TestCodesAreDeclaredTestedAndDocumented(t *testing.T) {
	raw, err := fs.ReadFile(policies.FS, "codes.json")
	if err != nil {
		t.Fatal(err)
	}
	var table codeTable
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	codes := table.Canarygate.Builtin.Codes
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
