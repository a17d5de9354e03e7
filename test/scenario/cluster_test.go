package scenario_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/canarygate/canarygate/pkg/check"
	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/manifest"
	"github.com/canarygate/canarygate/pkg/policy"
)

// fixtures is the reference scenario's folder.
const fixtures = "../fixtures/scenario"

// cluster plays the API server between steps: it holds what each allowed
// step persisted (the mutated objects), and plays KServe's controller by
// writing InferenceService status.
type cluster struct {
	t       *testing.T
	engine  *policy.Engine
	objects map[string]*unstructured.Unstructured
	now     time.Time
	user    string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	engine, err := policy.Load(t.Context(), policy.Options{Builtin: true})
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{
		t: t, engine: engine, objects: map[string]*unstructured.Unstructured{},
		now:  time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
		user: "alice",
	}
}

func key(u *unstructured.Unstructured) string {
	return u.GetKind() + "/" + u.GetNamespace() + "/" + u.GetName()
}

// seed puts fixture objects into the cluster as they are (status included).
func (c *cluster) seed(files ...string) {
	c.t.Helper()
	for _, f := range files {
		objs, err := manifest.Read([]string{filepath.Join(fixtures, f)}, nil)
		if err != nil {
			c.t.Fatal(err)
		}
		for _, o := range objs {
			if o.Object.GetNamespace() == "" {
				o.Object.SetNamespace("default")
			}
			c.objects[key(o.Object)] = o.Object
		}
	}
}

// stateFile writes the cluster's objects to a temporary manifest.
func (c *cluster) stateFile() string {
	c.t.Helper()
	keys := make([]string, 0, len(c.objects))
	for k := range c.objects {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	for _, k := range keys {
		raw, err := yaml.Marshal(c.objects[k].Object)
		if err != nil {
			c.t.Fatal(err)
		}
		buf.WriteString("---\n")
		buf.Write(raw)
	}
	path := filepath.Join(c.t.TempDir(), "state.yaml")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return path
}

// run checks input files against the cluster without persisting anything.
func (c *cluster) run(prune bool, files ...string) *check.Report {
	c.t.Helper()
	var paths []string
	for _, f := range files {
		if filepath.IsAbs(f) {
			paths = append(paths, f)
		} else {
			paths = append(paths, filepath.Join(fixtures, f))
		}
	}
	opts := check.Options{
		Files: paths, Prune: prune, Classes: facts.NewClasses(nil),
		User: c.user, Engine: c.engine, Now: func() time.Time { return c.now }, Tolerance: time.Minute,
	}
	if len(c.objects) > 0 {
		opts.State = []string{c.stateFile()}
	}
	r, err := check.Run(c.t.Context(), opts)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// apply runs a step and, when every object is allowed, persists the
// mutated objects and deletions the way the API server would.
func (c *cluster) apply(prune bool, files ...string) *check.Report {
	c.t.Helper()
	r := c.run(prune, files...)
	if r.Denied() {
		return r
	}
	for _, res := range r.Results {
		k := res.Kind + "/" + res.Namespace + "/" + res.Name
		if res.Operation == "DELETE" {
			delete(c.objects, k)
			continue
		}
		obj := res.Object.DeepCopy()
		if res.Operation == "CREATE" {
			obj.SetCreationTimestamp(metaNow(c.now))
		}
		c.objects[k] = obj
	}
	return r
}

// inputFile writes objects as a temporary manifest for a step that edits
// what the cluster holds (kubectl edit / annotate).
func (c *cluster) inputFile(objs ...*unstructured.Unstructured) string {
	c.t.Helper()
	var buf bytes.Buffer
	for _, o := range objs {
		raw, err := yaml.Marshal(o.Object)
		if err != nil {
			c.t.Fatal(err)
		}
		buf.WriteString("---\n")
		buf.Write(raw)
	}
	path := filepath.Join(c.t.TempDir(), "input.yaml")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return path
}

// everything returns every object in the cluster except the named ones, as
// an input file for a --prune step.
func (c *cluster) everythingBut(keys ...string) string {
	c.t.Helper()
	skip := map[string]bool{}
	for _, k := range keys {
		skip[k] = true
	}
	var objs []*unstructured.Unstructured
	names := make([]string, 0, len(c.objects))
	for k := range c.objects {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !skip[k] {
			objs = append(objs, c.objects[k])
		}
	}
	return c.inputFile(objs...)
}

func (c *cluster) get(k string) *unstructured.Unstructured {
	c.t.Helper()
	o := c.objects[k]
	if o == nil {
		c.t.Fatalf("%s is not in the cluster", k)
	}
	return o.DeepCopy()
}

// codes returns the violation codes of one result.
func codes(r *check.Report, kind, name string) (violations, warnings []string) {
	for _, res := range r.Results {
		if res.Kind == kind && res.Name == name {
			for _, v := range res.Violations {
				violations = append(violations, v.Code)
			}
			for _, w := range res.Warnings {
				warnings = append(warnings, w.Code)
			}
		}
	}
	return violations, warnings
}

func result(t *testing.T, r *check.Report, kind, name string) check.Result {
	t.Helper()
	for _, res := range r.Results {
		if res.Kind == kind && res.Name == name {
			return res
		}
	}
	t.Fatalf("no result for %s %s", kind, name)
	return check.Result{}
}
