package check_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canarygate/canarygate/pkg/check"
	"github.com/canarygate/canarygate/pkg/manifest"
	"github.com/canarygate/canarygate/pkg/policy"
)

const fixtures = "../../test/fixtures/scenario"

func engine(t *testing.T) *policy.Engine {
	t.Helper()
	e, err := policy.Load(t.Context(), policy.Options{Builtin: true})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func fx(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(fixtures, n)
	}
	return out
}

var now = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func run(t *testing.T, opts check.Options) *check.Report {
	t.Helper()
	opts.Engine = engine(t)
	opts.Now = func() time.Time { return now }
	r, err := check.Run(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// decisions summarises a report as "KIND/NAME OP allowed|denied:CODES".
func decisions(r *check.Report) map[string]string {
	out := map[string]string{}
	for _, res := range r.Results {
		d := "allowed"
		if !res.Allowed {
			var codes []string
			for _, v := range res.Violations {
				codes = append(codes, v.Code)
			}
			d = "denied:" + strings.Join(codes, ",")
		}
		out[res.Kind+"/"+res.Name+" "+res.Operation] = d
	}
	return out
}

func TestOrderOfInputNeverMatters(t *testing.T) {
	state := fx("00-isvc-model-v1.yaml", "00-isvc-model-v2.yaml")
	files := fx("01-services.yaml", "02-ingress.yaml", "03b-canary-weight.yaml")
	forward := run(t, check.Options{Files: files, State: state})
	reversed := make([]string, len(files))
	for i, f := range files {
		reversed[len(files)-1-i] = f
	}
	backward := run(t, check.Options{Files: reversed, State: state})
	a, b := decisions(forward), decisions(backward)
	if len(a) != len(b) {
		t.Fatalf("different result sets: %v vs %v", a, b)
	}
	for k, v := range a {
		if b[k] != v {
			t.Fatalf("%s: %s in one order, %s in the other", k, v, b[k])
		}
	}
}

func TestRunErrors(t *testing.T) {
	e := engine(t)
	tests := map[string]struct {
		files []string
		state []string
		want  string
		is    error
	}{
		"an empty input set is an error": {
			files: []string{write(t, "empty.yaml", "# nothing here\n")},
			is:    manifest.ErrNoObjects,
		},
		"an unreadable file names the path": {
			files: []string{filepath.Join(t.TempDir(), "missing.yaml")},
			want:  "missing.yaml",
		},
		"invalid YAML names FILE:LINE": {
			files: []string{write(t, "bad.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: [x\n")},
			want:  "bad.yaml:",
		},
		"an object twice in the input is an error naming both places": {
			files: fx("01-services.yaml", "01-services.yaml"),
			want:  "is also defined at",
			is:    check.ErrInput,
		},
		"stdin cannot feed both the input and the state": {
			files: []string{"-"}, state: []string{"-"},
			want: "not both", is: check.ErrInput,
		},
		"an object that does not fit its schema is an error": {
			files: []string{write(t, "svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports: nope\n")},
			want:  "svc.yaml:1",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := check.Run(t.Context(), check.Options{Files: tc.files, State: tc.state, Engine: e})
			if err == nil {
				t.Fatal("want an error")
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %q is not %v", err, tc.is)
			}
		})
	}
}

func TestUngovernedKindsAreReportedAllowedAndUntouched(t *testing.T) {
	cm := write(t, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n")
	r := run(t, check.Options{Files: []string{cm}})
	if len(r.Results) != 1 {
		t.Fatalf("want 1 result, got %d", len(r.Results))
	}
	res := r.Results[0]
	if !res.Allowed || len(res.Patch) != 0 || res.Namespace != "default" || res.Operation != "CREATE" {
		t.Fatalf("unexpected result %+v", res)
	}
}

func TestNamespaceFlagAppliesToObjectsWithoutOne(t *testing.T) {
	svc := write(t, "svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  selector:\n    a: b\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n")
	r := run(t, check.Options{Files: []string{svc}, Namespace: "team"})
	if r.Results[0].Namespace != "team" || r.Results[1].Namespace != "" {
		t.Fatalf("namespaces: %q %q", r.Results[0].Namespace, r.Results[1].Namespace)
	}
}

func TestUpdateKeepsStatusAndComputesGeneration(t *testing.T) {
	state := fx("00-isvc-model-v2.yaml")
	changed := strings.Replace(readFile(t, state[0]), "model-2\n", "model-3\n", 1)
	changed = changed[:strings.Index(changed, "status:")]
	r := run(t, check.Options{Files: []string{write(t, "v2.yaml", changed)}, State: state})
	res := r.Results[0]
	if res.Operation != "UPDATE" {
		t.Fatalf("operation %s, want UPDATE", res.Operation)
	}
	if g := res.Object.GetGeneration(); g != 2 {
		t.Fatalf("generation %d after a spec change, want 2", g)
	}
	if _, ok := res.Object.Object["status"]; !ok {
		t.Fatal("the state's status was dropped")
	}
	if string(res.Object.GetUID()) != "0b7e4f0c-2f0e-4c7a-8d4e-8a3b9c5d2e02" {
		t.Fatalf("uid not kept: %q", res.Object.GetUID())
	}
}

func TestCreateDropsStatus(t *testing.T) {
	r := run(t, check.Options{Files: fx("00-isvc-model-v2.yaml")})
	res := r.Results[0]
	if _, ok := res.Object.Object["status"]; ok || res.Object.GetGeneration() != 1 {
		t.Fatalf("CREATE kept status or generation %d", res.Object.GetGeneration())
	}
}

func TestPruneOnlyTouchesGovernedKindsInInputNamespaces(t *testing.T) {
	other := write(t, "other.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: elsewhere\n  namespace: other\nspec:\n  selector:\n    a: b\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: default\n")
	state := append(fx("00-isvc-model-v1.yaml", "00-isvc-model-v2.yaml", "01-services.yaml"), other)
	r := run(t, check.Options{Files: fx("00-isvc-model-v1.yaml", "00-isvc-model-v2.yaml", "01-services.yaml")[:2], State: state, Prune: true})
	got := decisions(r)
	for _, want := range []string{"Service/model-svc DELETE", "Service/model-v2-svc DELETE"} {
		if _, ok := got[want]; !ok {
			t.Fatalf("missing %s in %v", want, got)
		}
	}
	for k := range got {
		if strings.Contains(k, "elsewhere") || strings.Contains(k, "ConfigMap") {
			t.Fatalf("pruned %s, which is outside the input's namespaces or not governed", k)
		}
	}
	if got["Service/model-svc DELETE"] != "allowed" {
		t.Fatalf("model-svc delete: %s", got["Service/model-svc DELETE"])
	}
}

func TestJSONReportFollowsTheContract(t *testing.T) {
	r := run(t, check.Options{
		Files: fx("04-switch.yaml"),
		State: fx("00-isvc-model-v1.yaml", "00-isvc-model-v2.yaml", "01-services.yaml", "02-ingress.yaml"),
	})
	var buf bytes.Buffer
	if err := check.WriteReport(&buf, r, check.FormatJSON, false); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []map[string]json.RawMessage `json:"results"`
		Summary map[string]int               `json:"summary"`
	}
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if dec.More() {
		t.Fatal("more than one JSON document on stdout")
	}
	for _, k := range []string{"source", "apiVersion", "kind", "namespace", "name", "operation", "allowed", "violations", "warnings", "patch"} {
		if _, ok := doc.Results[0][k]; !ok {
			t.Fatalf("result lacks %q: %v", k, doc.Results[0])
		}
	}
	for _, k := range []string{"objects", "denied", "warnings", "mutated"} {
		if _, ok := doc.Summary[k]; !ok {
			t.Fatalf("summary lacks %q", k)
		}
	}
	if doc.Summary["denied"] != 1 || string(doc.Results[0]["allowed"]) != "false" {
		t.Fatalf("the unverified switch was not denied: %s", buf.String())
	}
	if string(doc.Results[0]["source"]) != `"`+fx("04-switch.yaml")[0]+`:1"` {
		t.Fatalf("source %s", doc.Results[0]["source"])
	}
}

func TestJUnitReportHasOneCasePerObject(t *testing.T) {
	r := run(t, check.Options{
		Files: fx("04-switch.yaml", "02-ingress.yaml"),
		State: fx("00-isvc-model-v1.yaml", "00-isvc-model-v2.yaml", "01-services.yaml"),
	})
	var buf bytes.Buffer
	if err := check.WriteReport(&buf, r, check.FormatJUnit, false); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	cases := doc.Suites[0].Cases
	if len(cases) != 2 {
		t.Fatalf("want 2 test cases, got %d", len(cases))
	}
	if cases[0].Failure == nil || !strings.Contains(cases[0].Failure.Message, "CG301") {
		t.Fatalf("the switch is not a failure with CG301: %+v", cases[0])
	}
}

func TestTextReportHasNoColourUnlessAsked(t *testing.T) {
	r := run(t, check.Options{Files: fx("01-services.yaml"), State: fx("00-isvc-model-v1.yaml", "00-isvc-model-v2.yaml")})
	var plain, coloured bytes.Buffer
	_ = check.WriteReport(&plain, r, check.FormatText, false)
	_ = check.WriteReport(&coloured, r, check.FormatText, true)
	if strings.Contains(plain.String(), "\x1b[") || !strings.Contains(coloured.String(), "\x1b[") {
		t.Fatal("colour not controlled by the flag")
	}
	if !strings.Contains(plain.String(), "2 object(s): 0 denied") {
		t.Fatalf("summary line missing:\n%s", plain.String())
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
