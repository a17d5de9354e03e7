package policy_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"

	"github.com/canarygate/canarygate/pkg/policy"
)

// example is the platform bundle the docs describe.
const example = "../../examples/platform-bundle"

// readBundle reads a bundle directory with OPA's own reader, as `opa build`
// would before writing it.
func readBundle(t *testing.T, dir string) bundle.Bundle {
	t.Helper()
	b, err := bundle.NewCustomReader(bundle.NewDirectoryLoader(dir)).WithRegoVersion(ast.RegoV1).Read()
	if err != nil {
		t.Fatalf("reading bundle %s: %v", dir, err)
	}
	return b
}

// tarball writes a bundle as `opa build` does, with OPA's bundle writer.
func tarball(t *testing.T, b bundle.Bundle) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).UseModulePath(true).DisableFormat(true).Write(b); err != nil {
		t.Fatalf("writing bundle: %v", err)
	}
	return buf.Bytes()
}

// writeFile writes content to dir/name, creating directories.
func writeFile(t *testing.T, dir, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// copyDir copies a directory tree.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		writeFile(t, dst, rel, raw)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// keyPair generates an RSA key and writes its PEM files; it returns the
// private key PEM and the public key path.
func keyPair(t *testing.T) (private string, publicPath string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	return string(priv), writeFile(t, t.TempDir(), "pub.pem", pub)
}

// sign signs a bundle as `opa build --signing-key` does.
func sign(t *testing.T, b *bundle.Bundle, privatePEM, scope string) {
	t.Helper()
	sc := bundle.NewSigningConfig(privatePEM, "RS256", "")
	if scope != "" {
		claims := writeFile(t, t.TempDir(), "claims.json", []byte(`{"scope": "`+scope+`"}`))
		sc = bundle.NewSigningConfig(privatePEM, "RS256", claims)
	}
	if err := b.GenerateSignature(sc, "platform-key", true); err != nil {
		t.Fatalf("signing: %v", err)
	}
}

// load compiles the built-ins with the given sources.
func load(t *testing.T, sources ...policy.Source) *policy.Engine {
	t.Helper()
	e, err := policy.Load(t.Context(), policy.Options{Builtin: true, Sources: sources})
	if err != nil {
		t.Fatalf("policy.Load: %v", err)
	}
	return e
}

// open opens a source and fails the test on error.
func open(t *testing.T, spec string, opts policy.SourceOptions) policy.Source {
	t.Helper()
	src, err := policy.Open(t.Context(), spec, opts)
	if err != nil {
		t.Fatalf("policy.Open(%s): %v", spec, err)
	}
	return src
}

// canaryWrite is the policy input of a write of canary Ingress
// team-a/gray-release-canary moving its weight from old (-1: CREATE) to
// weight, optionally with a header rule, in a namespace of profile ("" none).
func canaryWrite(profile string, old, weight int, header string) map[string]any {
	spec := func(w int, h string) map[string]any {
		return map[string]any{
			"weight": w, "weightTotal": 100, "effectiveTotal": 100,
			"header": h, "headerValue": "", "headerPattern": "", "cookie": "",
			"exposes": w > 0 || h != "", "full": w >= 100,
		}
	}
	labels := map[string]any{}
	if profile != "" {
		labels["canarygate.io/profile"] = profile
	}
	op, oldSpec, oldObject := "UPDATE", any(spec(old, "")), any(map[string]any{"metadata": map[string]any{"name": "gray-release-canary", "namespace": "team-a"}})
	if old < 0 {
		op, oldSpec, oldObject = "CREATE", nil, nil
	}
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	return map[string]any{
		"version": "v1",
		"request": map[string]any{
			"uid": "test", "operation": op, "dryRun": true,
			"kind":      map[string]any{"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"},
			"namespace": "team-a", "name": "gray-release-canary",
			"userInfo": map[string]any{"username": "alice", "groups": []any{"system:authenticated"}},
		},
		"object":    map[string]any{"metadata": map[string]any{"name": "gray-release-canary", "namespace": "team-a"}},
		"oldObject": oldObject,
		"now":       now.Format(time.RFC3339Nano), "now_ns": now.UnixNano(),
		"namespace": map[string]any{"name": "team-a", "labels": labels, "phase": "Active"},
		"ingress":   map[string]any{"class": "nginx", "governed": true, "canary": true, "spec": spec(weight, header), "routes": []any{}},
		"switches":  []any{},
		"exposures": []any{map[string]any{
			"subject": "Ingress team-a/gray-release-canary", "field": "metadata.annotations",
			"target": map[string]any{"namespace": "team-a", "name": "model-v2"},
			"spec":   spec(weight, header), "old": oldSpec,
		}},
		"targets": map[string]any{"team-a/model-v2": map[string]any{
			"namespace": "team-a", "name": "model-v2", "exists": true, "generation": 1, "observedGeneration": 1,
			"conditions": map[string]any{"Ready": "True"}, "annotations": map[string]any{}, "labels": map[string]any{},
			"verified": false, "canarySince": "",
		}},
		"stamps": []any{}, "errors": []any{},
	}
}

// decide evaluates an input and returns "CODE:enforcement" for every item
// whose code is one of codes (all items when none given), sorted.
func decide(t *testing.T, e *policy.Engine, input map[string]any, codes ...string) []string {
	t.Helper()
	v, err := policy.ToValue(input)
	if err != nil {
		t.Fatal(err)
	}
	items, err := e.Evaluate(t.Context(), v)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	out := []string{}
	for _, it := range items {
		if len(codes) > 0 && !contains(codes, it.Code) {
			continue
		}
		out = append(out, it.Code+":"+it.Enforcement)
	}
	sort.Strings(out)
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// platformDecisions are the decisions of the example bundle's own codes
// and of the built-in weight gate for a few canary writes, as one string,
// to compare engines built from different forms of the same bundle.
func platformDecisions(t *testing.T, e *policy.Engine) string {
	t.Helper()
	var lines []string
	for _, c := range []struct {
		profile     string
		old, weight int
		header      string
	}{
		{"", -1, 5, ""}, {"", -1, 20, ""}, {"", 5, 10, ""}, {"", 20, 50, ""}, {"", 50, 100, ""},
		{"prod", -1, 5, ""}, {"prod", -1, 5, "x-canary"}, {"staging", -1, 5, ""},
	} {
		got := decide(t, e, canaryWrite(c.profile, c.old, c.weight, c.header), "CGX01", "CGX02", "CGX03", "CG302")
		lines = append(lines, strings.Join(got, ","))
	}
	return strings.Join(lines, " | ")
}

// eventually polls cond until it holds or fails the test after 15s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// plainDir is a directory of platform rules without a .manifest.
func plainDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, "rules.rego", []byte(`package canarygate.ext.team

items contains {"code": "EX001", "message": "always", "field": ""} if input.request.kind.kind == "Service"
`))
	return dir
}
