package chart_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Paths relative to the repository root, where every command runs.
const (
	chartDir     = "charts/canarygate"
	kustomizeDir = "config/webhook"
	helmBin      = "bin/helm"
	kubectlBin   = "bin/controlplane/kubectl"
	// release and namespace of every rendering, as docs/install.md installs
	// the chart: with them the chart names its objects as kustomize does.
	release   = "canarygate"
	namespace = "canarygate-system"
)

// repoRoot is the repository root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// renderInputs are the directories whose files decide the renderings.
var renderInputs = []string{chartDir, "config"}

// trackInputs reads every file the tools will read, so that Go's test
// cache, which sees only the files this process opens, reruns the tests
// when the chart or the kustomize manifests change.
func trackInputs(t *testing.T) {
	t.Helper()
	root := repoRoot(t)
	for _, dir := range renderInputs {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			_, err = os.ReadFile(p)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// tool returns the absolute path of a tool binary under bin/, failing the
// test (never skipping it) when it has not been built: a missing tool must
// not pass for a clean chart.
func tool(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(repoRoot(t), rel)
	info, err := os.Stat(p)
	if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		t.Fatalf("%s is missing (%v): the chart tests run the real helm and kubectl; build them with `make helm controlplane` (bash hack/helm/build.sh; bash hack/controlplane/build.sh)", rel, err)
	}
	trackInputs(t)
	return p
}

// run executes a tool in the repository root with a private Helm home, and
// returns its stdout; err carries the exit status and stderr.
func run(t *testing.T, bin string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Dir = repoRoot(t)
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "kubeconfig-unused"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes(), nil
}

// helmTemplate renders the chart as `helm install canarygate -n
// canarygate-system` would, with extra flags (-f FILE, --set K=V).
func helmTemplate(t *testing.T, flags ...string) ([]byte, error) {
	t.Helper()
	args := append([]string{"template", release, chartDir, "-n", namespace}, flags...)
	return run(t, tool(t, helmBin), args...)
}

// mustHelmTemplate is helmTemplate that fails the test on an error.
func mustHelmTemplate(t *testing.T, flags ...string) rendering {
	t.Helper()
	out, err := helmTemplate(t, flags...)
	if err != nil {
		t.Fatal(err)
	}
	return mustParse(t, "helm template "+strings.Join(flags, " "), out)
}

// rendering is a set of objects keyed by objectKey.
type rendering map[string]*unstructured.Unstructured

// objectKey names an object as Kind/namespace/name (namespace empty for
// cluster-scoped objects).
func objectKey(u *unstructured.Unstructured) string {
	return u.GetKind() + "/" + u.GetNamespace() + "/" + u.GetName()
}

// keys returns the rendering's keys, sorted.
func (r rendering) keys() []string {
	var ks []string
	for k := range r {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// ofKind returns the objects of one kind, sorted by key.
func (r rendering) ofKind(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, k := range r.keys() {
		if r[k].GetKind() == kind {
			out = append(out, r[k])
		}
	}
	return out
}

// get returns one object, failing the test when it is not rendered.
func (r rendering) get(t *testing.T, key string) *unstructured.Unstructured {
	t.Helper()
	u, ok := r[key]
	if !ok {
		t.Fatalf("%s is not rendered; rendered: %s", key, strings.Join(r.keys(), ", "))
	}
	return u
}

// parse reads a multi-document YAML stream into objects. Empty and
// comment-only documents are skipped; a document that is not an object
// with kind and name, or a key rendered twice, is an error.
func parse(data []byte) (rendering, error) {
	out := rendering{}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 1; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		raw, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if obj == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("document %d has no kind or name:\n%s", i, doc)
		}
		k := objectKey(u)
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s is rendered twice", k)
		}
		out[k] = u
	}
}

// mustParse is parse that fails the test, naming what was rendered.
func mustParse(t *testing.T, what string, data []byte) rendering {
	t.Helper()
	r, err := parse(data)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(r) == 0 {
		t.Fatalf("%s rendered no objects", what)
	}
	return r
}

// field reads a value at a path of map keys (string) and list indices
// (int); ok is false when any step is missing.
func field(obj any, path ...any) (any, bool) {
	cur := obj
	for _, step := range path {
		switch s := step.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[s]; !ok {
				return nil, false
			}
		case int:
			l, ok := cur.([]any)
			if !ok || s < 0 || s >= len(l) {
				return nil, false
			}
			cur = l[s]
		default:
			panic(fmt.Sprintf("path step %v is neither a string nor an int", step))
		}
	}
	return cur, true
}

// setField writes a value at an existing path (see field).
func setField(obj any, value any, path ...any) bool {
	if len(path) == 0 {
		return false
	}
	parent, ok := field(obj, path[:len(path)-1]...)
	if !ok {
		return false
	}
	switch s := path[len(path)-1].(type) {
	case string:
		m, ok := parent.(map[string]any)
		if !ok {
			return false
		}
		if _, ok := m[s]; !ok {
			return false
		}
		m[s] = value
	case int:
		l, ok := parent.([]any)
		if !ok || s < 0 || s >= len(l) {
			return false
		}
		l[s] = value
	default:
		return false
	}
	return true
}

// jsonValue turns a Go value into the form parsed YAML has (numbers as
// float64, []any, map[string]any), so expected values compare with
// rendered ones.
func jsonValue(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// ciValueFiles lists the chart's ci/*.yaml value files, relative to the
// repository root; there must be some.
func ciValueFiles(t *testing.T) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(repoRoot(t), chartDir, "ci", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(matches) == 0 {
		t.Fatalf("no value files in %s/ci", chartDir)
	}
	var rel []string
	for _, m := range matches {
		rel = append(rel, filepath.Join(chartDir, "ci", filepath.Base(m)))
	}
	return rel
}

// chartAppVersion reads appVersion from Chart.yaml.
func chartAppVersion(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(raw, &chart); err != nil {
		t.Fatal(err)
	}
	if chart.AppVersion == "" {
		t.Fatal("Chart.yaml has no appVersion")
	}
	return chart.AppVersion
}
