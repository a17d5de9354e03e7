package manifest_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/canarygate/canarygate/pkg/manifest"
)

// cm is a four-line ConfigMap document named name.
func cm(name string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n"
}

// inTempDir changes into a fresh directory holding files (slash-separated
// relative path → content), so that sources read as relative paths.
func inTempDir(t *testing.T, files map[string]string) {
	t.Helper()
	t.Chdir(t.TempDir())
	for name, content := range files {
		path := filepath.FromSlash(name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// summary is "SOURCE KIND NAME" for every object.
func summary(objects []manifest.Object) []string {
	var out []string
	for _, o := range objects {
		out = append(out, o.Source+" "+o.Object.GetKind()+" "+o.Object.GetName())
	}
	return out
}

func TestRead(t *testing.T) {
	tests := map[string]struct {
		files map[string]string
		stdin string
		paths []string
		want  []string
	}{
		"multi-document YAML gives each object the line of its first key, skipping separators, comments and empty documents": {
			files: map[string]string{"app.yaml": `---
# the web front end
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
---
---
# only a comment
---

apiVersion: v1
kind: Service
metadata:
  name: web
...
---
~
`},
			paths: []string{"app.yaml"},
			want:  []string{"app.yaml:3 Deployment web", "app.yaml:12 Service web"},
		},
		"a v1 List is replaced by its items, each with the line where it starts": {
			files: map[string]string{"list.yaml": `apiVersion: v1
kind: List
metadata:
  resourceVersion: ""
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: one
-
  # the second item
  apiVersion: v1
  kind: ConfigMap
  metadata: {name: two}
`},
			paths: []string{"list.yaml"},
			want:  []string{"list.yaml:6 ConfigMap one", "list.yaml:12 ConfigMap two"},
		},
		"a typed list in JSON (ServiceList) is expanded, each item at its opening brace": {
			files: map[string]string{"svc.json": `{
  "apiVersion": "v1",
  "kind": "ServiceList",
  "metadata": {"resourceVersion": "1"},
  "items": [
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}},
    {
      "apiVersion": "v1", "kind": "Service", "metadata": {"name": "b"}
    }
  ]
}
`},
			paths: []string{"svc.json"},
			want:  []string{"svc.json:6 Service a", "svc.json:7 Service b"},
		},
		"a List inside a List is expanded too": {
			files: map[string]string{"nested.yaml": `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: List
  items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: inner}
`},
			paths: []string{"nested.yaml"},
			want:  []string{"nested.yaml:7 ConfigMap inner"},
		},
		"an empty List adds nothing but does not hide the other documents": {
			files: map[string]string{"mixed.yaml": "apiVersion: v1\nkind: List\nitems: []\n---\n" + cm("after")},
			paths: []string{"mixed.yaml"},
			want:  []string{"mixed.yaml:5 ConfigMap after"},
		},
		"a kind ending in List without items is an ordinary object": {
			files: map[string]string{"allow.yaml": "apiVersion: example.com/v1\nkind: AllowList\nmetadata:\n  name: ips\nspec:\n  items: [a]\n"},
			paths: []string{"allow.yaml"},
			want:  []string{"allow.yaml:1 AllowList ips"},
		},
		"a directory is walked recursively in lexical order, reading only .yaml, .yml and .json files and skipping hidden ones": {
			files: map[string]string{
				"deploy/b.yaml":            cm("b"),
				"deploy/a/z.yml":           cm("z"),
				"deploy/a/y/deep.yaml":     cm("deep"),
				"deploy/a.json":            `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "json"}}`,
				"deploy/notes.txt":         "not a manifest",
				"deploy/README.md":         "# not a manifest",
				"deploy/upper.YAML":        "not: a manifest",
				"deploy/kustomize.yaml.in": "not: a manifest",
				"deploy/.gitlab-ci.yml":    "not: a manifest",
				"deploy/.git/config.yaml":  "not: a manifest",
				"deploy/a/.cache/x.yaml":   "not: a manifest",
			},
			paths: []string{"deploy"},
			want: []string{
				"deploy/a/y/deep.yaml:1 ConfigMap deep",
				"deploy/a/z.yml:1 ConfigMap z",
				"deploy/a.json:1 ConfigMap json",
				"deploy/b.yaml:1 ConfigMap b",
			},
		},
		"a file named explicitly is read whatever its extension, even a hidden one": {
			files: map[string]string{"manifest.txt": cm("txt"), ".hidden.yaml": cm("hidden")},
			paths: []string{"manifest.txt", ".hidden.yaml"},
			want:  []string{"manifest.txt:1 ConfigMap txt", ".hidden.yaml:1 ConfigMap hidden"},
		},
		"paths are read in the order given, stdin as -": {
			files: map[string]string{"z.yaml": cm("file")},
			stdin: "# piped\n" + cm("piped"),
			paths: []string{"z.yaml", "-"},
			want:  []string{"z.yaml:1 ConfigMap file", "-:2 ConfigMap piped"},
		},
		"a JSON file may hold several concatenated values": {
			files: map[string]string{"stream.json": `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}

  {"apiVersion": "v1", "kind": "ConfigMap",
   "metadata": {"name": "c"}}
`},
			paths: []string{"stream.json"},
			want:  []string{"stream.json:1 ConfigMap a", "stream.json:1 ConfigMap b", "stream.json:3 ConfigMap c"},
		},
		"JSON on stdin is recognised by its content": {
			stdin: "\n\n" + `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "piped"}}`,
			paths: []string{"-"},
			want:  []string{"-:3 ConfigMap piped"},
		},
		"YAML flow mappings that start with { are read as YAML when they are not JSON": {
			files: map[string]string{"flow.yaml": "{apiVersion: v1, kind: ConfigMap, metadata: {name: one}}\n---\n{apiVersion: v1, kind: ConfigMap, metadata: {name: two}}\n"},
			paths: []string{"flow.yaml"},
			want:  []string{"flow.yaml:1 ConfigMap one", "flow.yaml:3 ConfigMap two"},
		},
		"CRLF line endings and a byte order mark do not shift lines": {
			files: map[string]string{
				"crlf.yaml": "\ufeff" + strings.ReplaceAll(cm("a")+"---\n"+cm("b"), "\n", "\r\n"),
				"crlf.json": "\ufeff\r\n" + `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}`,
			},
			paths: []string{"crlf.yaml", "crlf.json"},
			want:  []string{"crlf.yaml:1 ConfigMap a", "crlf.yaml:6 ConfigMap b", "crlf.json:2 ConfigMap c"},
		},
		"an anchored item starts at its anchor and an aliased one at the alias": {
			files: map[string]string{"alias.yaml": `apiVersion: v1
kind: List
items:
- &one
  apiVersion: v1
  kind: ConfigMap
  metadata: {name: one}
- *one
`},
			paths: []string{"alias.yaml"},
			want:  []string{"alias.yaml:4 ConfigMap one", "alias.yaml:8 ConfigMap one"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			inTempDir(t, tc.files)
			objects, err := manifest.Read(tc.paths, strings.NewReader(tc.stdin))
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if got := summary(objects); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("objects:\ngot  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestReadValues(t *testing.T) {
	tests := map[string]struct {
		file string
		want map[string]any
	}{
		"YAML scalars become JSON types, integers int64, and anchors, aliases and merge keys are resolved": {
			file: `apiVersion: example.com/v1
kind: Thing
metadata:
  name: values
  labels: &labels
    app: web
spec:
  int: 42
  negative: -7
  big: 12345678901234567890
  float: 1.5
  exp: 1e3
  bool: true
  "yes": yes
  nothing: null
  empty:
  quoted: "42"
  date: 2024-01-02
  octal: 0o17
  hex: 0x1f
  selector: *labels
  merged:
    <<: [*labels, {app: ignored, extra: value}]
    own: mine
  override:
    <<: *labels
    app: explicit
  list: [1, two, 3.0]
  binary: !!binary aGVsbG8=
  custom: !Ref something
  "<<": a literal key
`,
			want: map[string]any{
				"apiVersion": "example.com/v1",
				"kind":       "Thing",
				"metadata":   map[string]any{"name": "values", "labels": map[string]any{"app": "web"}},
				"spec": map[string]any{
					"int":      int64(42),
					"negative": int64(-7),
					"big":      float64(12345678901234567890),
					"float":    1.5,
					"exp":      float64(1000),
					"bool":     true,
					"yes":      "yes",
					"nothing":  nil,
					"empty":    nil,
					"quoted":   "42",
					"date":     "2024-01-02",
					"octal":    int64(15),
					"hex":      int64(31),
					"selector": map[string]any{"app": "web"},
					"merged":   map[string]any{"app": "web", "extra": "value", "own": "mine"},
					"override": map[string]any{"app": "explicit"},
					"list":     []any{int64(1), "two", float64(3)},
					"binary":   "aGVsbG8=",
					"custom":   "something",
					"<<":       "a literal key",
				},
			},
		},
		"JSON escapes that YAML lacks are decoded and numbers keep their kind": {
			file: `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "json"},
 "data": {"slash": "a\/b", "emoji": "\ud83d\ude00", "tab": "a\tb", "html": "\u003c\u0026\u003e"},
 "numbers": [1, -0, 1.0, 1e2, 12345678901234567890, 123456789012345678901234, true, false, null]}`,
			want: map[string]any{
				"apiVersion": "v1",
				"kind":       "ConfigMap",
				"metadata":   map[string]any{"name": "json"},
				"data":       map[string]any{"slash": "a/b", "emoji": "😀", "tab": "a\tb", "html": "<&>"},
				"numbers": []any{int64(1), int64(0), float64(1), float64(100), float64(12345678901234567890),
					float64(123456789012345678901234), true, false, nil},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			inTempDir(t, map[string]string{"values.yaml": tc.file})
			objects, err := manifest.Read([]string{"values.yaml"}, nil)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if len(objects) != 1 {
				t.Fatalf("got %d objects, want 1", len(objects))
			}
			for key, want := range tc.want {
				if got := objects[0].Object.Object[key]; !reflect.DeepEqual(got, want) {
					t.Errorf("%s:\ngot  %#v\nwant %#v", key, got, want)
				}
			}
			if len(objects[0].Object.Object) != len(tc.want) {
				t.Errorf("got fields %v, want %d fields", objects[0].Object.Object, len(tc.want))
			}
			// unstructured must be able to deep-copy it: it panics on non-JSON types.
			_ = objects[0].Object.DeepCopy()
		})
	}
}

func TestReadAliasesAreCopies(t *testing.T) {
	inTempDir(t, map[string]string{"a.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  labels: &labels {app: web}
  annotations: *labels
`})
	objects, err := manifest.Read([]string{"a.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	object := objects[0].Object
	object.SetAnnotations(map[string]string{"changed": "yes"})
	if got := object.GetLabels(); !reflect.DeepEqual(got, map[string]string{"app": "web"}) {
		t.Errorf("changing the annotations changed the labels they alias: %v", got)
	}
	annotations := object.Object["metadata"].(map[string]any)["annotations"].(map[string]any)
	annotations["mutated"] = "yes"
	if _, shared := object.Object["metadata"].(map[string]any)["labels"].(map[string]any)["mutated"]; shared {
		t.Error("an alias shares its map with its anchor")
	}
}

func TestReadErrors(t *testing.T) {
	tests := map[string]struct {
		files  map[string]string
		setup  func(t *testing.T)
		stdin  string
		paths  []string
		source string // exact Source of the *Error
		reason string // part of the Reason
		is     error  // if set, errors.Is must hold
	}{
		"a missing file is named": {
			paths: []string{"missing.yaml"}, source: "missing.yaml",
			reason: "cannot read: no such file or directory", is: fs.ErrNotExist,
		},
		"a path through a file is named": {
			files: map[string]string{"a.yaml": cm("a")},
			paths: []string{"a.yaml/b.yaml"}, source: "a.yaml/b.yaml",
			reason: "cannot read: not a directory",
		},
		"a broken symbolic link found in a directory is named": {
			files: map[string]string{"dir/a.yaml": cm("a")},
			setup: func(t *testing.T) {
				if err := os.Symlink("nowhere.yaml", filepath.Join("dir", "broken.yaml")); err != nil {
					t.Fatal("creating the symbolic link:", err)
				}
			},
			paths: []string{"dir"}, source: "dir/broken.yaml", reason: "cannot read", is: fs.ErrNotExist,
		},
		"a badly indented key is reported at its own line, with the mapping it breaks": {
			files: map[string]string{"bad.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  labels:
    app: web
   tier: db
`},
			paths: []string{"bad.yaml"}, source: "bad.yaml:7",
			reason: "invalid YAML: did not find expected key (in the value that starts at line 4)",
		},
		"a YAML error in a later document is reported at its line in the file": {
			files:  map[string]string{"two.yaml": cm("a") + "---\n" + "apiVersion: v1\nkind: ConfigMap\nmetadata: name: b\n"},
			paths:  []string{"two.yaml"},
			source: "two.yaml:8", reason: "invalid YAML: mapping values are not allowed in this context",
		},
		"a YAML error on the first line, which yaml.v3 reports without a line, is at line 1": {
			files:  map[string]string{"first.yaml": "kind: a: b\n"},
			paths:  []string{"first.yaml"},
			source: "first.yaml:1", reason: "invalid YAML: mapping values are not allowed in this context",
		},
		"a YAML parser error on the first line is at line 1": {
			files:  map[string]string{"first.yaml": "[a] b\n"},
			paths:  []string{"first.yaml"},
			source: "first.yaml:1", reason: "invalid YAML: did not find expected <document start>",
		},
		"an unclosed flow list is reported where reading gave up, with where it opened": {
			files:  map[string]string{"flow.yaml": cm("a") + "data: [1, 2\nx: 1\n"},
			paths:  []string{"flow.yaml"},
			source: "flow.yaml:6", reason: "invalid YAML: did not find expected ',' or ']' (in the value that starts at line 5)",
		},
		"a sequence entry where a key belongs is reported at its line": {
			files:  map[string]string{"seq.yaml": "- a\nb: 1\n"},
			paths:  []string{"seq.yaml"},
			source: "seq.yaml:2", reason: "invalid YAML: did not find expected '-' indicator",
		},
		"a tab used for indentation is reported at its line": {
			files:  map[string]string{"tab.yaml": cm("a") + "\tlabels: {}\n"},
			paths:  []string{"tab.yaml"},
			source: "tab.yaml:5", reason: "invalid YAML: found a tab character that violates indentation",
		},
		"an alias without anchor is reported at the alias": {
			files:  map[string]string{"alias.yaml": cm("a") + "data:\n  x: *nope\n"},
			paths:  []string{"alias.yaml"},
			source: "alias.yaml:6", reason: "alias *nope refers to no anchor",
		},
		"an alias that contains itself is reported at the alias": {
			files:  map[string]string{"loop.yaml": cm("a") + "data: &loop\n  self:\n    - *loop\n"},
			paths:  []string{"loop.yaml"},
			source: "loop.yaml:7", reason: "alias *loop refers to a value that contains it",
		},
		"invalid UTF-8 is reported at its line": {
			files:  map[string]string{"utf8.yaml": cm("a") + "data:\n  x: \xff\n"},
			paths:  []string{"utf8.yaml"},
			source: "utf8.yaml:6", reason: "invalid YAML: invalid leading UTF-8 octet",
		},
		"a control character is reported at its line": {
			files:  map[string]string{"ctl.yaml": cm("a") + "data:\n  x: \"\x01\"\n"},
			paths:  []string{"ctl.yaml"},
			source: "ctl.yaml:6", reason: "invalid YAML: control characters are not allowed",
		},
		"a missing comma in JSON is reported at the unexpected character": {
			files:  map[string]string{"bad.json": "{\n  \"apiVersion\": \"v1\"\n  \"kind\": \"ConfigMap\"\n}\n"},
			paths:  []string{"bad.json"},
			source: "bad.json:3", reason: `invalid JSON: invalid character '"' after object key:value pair`,
		},
		"JSON that ends early is reported at its last line": {
			files:  map[string]string{"short.json": "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \n"},
			paths:  []string{"short.json"},
			source: "short.json:4", reason: "invalid JSON: unexpected end of input looking for the beginning of a value",
		},
		"an error in the second of several JSON values is reported at its line": {
			files: map[string]string{"stream.json": `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}
{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ]}}
`},
			paths:  []string{"stream.json"},
			source: "stream.json:3", reason: "invalid JSON: invalid character ']' looking for the beginning of a value",
		},
		"a control character in a JSON string is a JSON error when YAML cannot read it either": {
			files:  map[string]string{"ctl.json": "{\n\"a\": \"\x01\"}"},
			paths:  []string{"ctl.json"},
			source: "ctl.json:2", reason: `invalid JSON: control character '\x01' in string`,
		},
		"a JSON number out of range is an error, not a string": {
			files:  map[string]string{"big.json": `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"},` + "\n" + `"data": {"x": 1e400}}`},
			paths:  []string{"big.json"},
			source: "big.json:2", reason: "1e400 is not a number or is out of range",
		},
		"a document that is a plain value is not an object": {
			files:  map[string]string{"text.yaml": cm("a") + "---\n# notes\nhello world\n"},
			paths:  []string{"text.yaml"},
			source: "text.yaml:7", reason: `document is a single value ("hello world"), not an object`,
		},
		"a document that is a list is not an object": {
			files:  map[string]string{"list.yaml": cm("a") + "---\n- " + strings.ReplaceAll(cm("b"), "\n", "\n  ")},
			paths:  []string{"list.yaml"},
			source: "list.yaml:6", reason: "document is a list, not an object",
		},
		"an object without kind says how to add it": {
			files:  map[string]string{"nokind.yaml": "---\n# x\napiVersion: v1\nmetadata:\n  name: a\n"},
			paths:  []string{"nokind.yaml"},
			source: "nokind.yaml:3", reason: `object has no kind; add one, e.g. "kind: Deployment"`,
		},
		"a kind that is not a string": {
			files:  map[string]string{"kind.yaml": "apiVersion: v1\nkind: 12\nmetadata:\n  name: a\n"},
			paths:  []string{"kind.yaml"},
			source: "kind.yaml:1", reason: `kind must be a string such as "Deployment", not a number (12)`,
		},
		"an object without apiVersion says how to add it": {
			files:  map[string]string{"noapi.yaml": cm("a") + "---\nkind: Deployment\nmetadata:\n  name: web\n"},
			paths:  []string{"noapi.yaml"},
			source: "noapi.yaml:6", reason: `Deployment has no apiVersion; add one, e.g. "apiVersion: apps/v1"`,
		},
		"an object without metadata.name says how to add it": {
			files:  map[string]string{"noname.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  labels: {app: web}\n"},
			paths:  []string{"noname.yaml"},
			source: "noname.yaml:1", reason: "Deployment has no metadata.name; add one",
		},
		"an object without metadata at all has no metadata.name": {
			files:  map[string]string{"nometa.yaml": "apiVersion: apps/v1\nkind: Deployment\n"},
			paths:  []string{"nometa.yaml"},
			source: "nometa.yaml:1", reason: "Deployment has no metadata.name",
		},
		"metadata.generateName alone is not enough, since check matches objects by name": {
			files:  map[string]string{"gen.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: migrate-\n"},
			paths:  []string{"gen.yaml"},
			source: "gen.yaml:1", reason: `Job has metadata.generateName "migrate-" but no metadata.name`,
		},
		"a metadata.name that YAML reads as a number says to quote it": {
			files:  map[string]string{"num.yaml": cm("123")},
			paths:  []string{"num.yaml"},
			source: "num.yaml:1", reason: `metadata.name of ConfigMap must be a string such as "web", not a number (123); quote it: name: "123"`,
		},
		"metadata that is a list": {
			files:  map[string]string{"meta.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n- name: a\n"},
			paths:  []string{"meta.yaml"},
			source: "meta.yaml:1", reason: "metadata of ConfigMap must be a mapping, not a list",
		},
		"a metadata.namespace that is not a string": {
			files:  map[string]string{"ns.yaml": cm("a") + "  namespace: {x: 1}\n"},
			paths:  []string{"ns.yaml"},
			source: "ns.yaml:1", reason: "metadata.namespace of ConfigMap a must be a string",
		},
		"a List item without a name is reported at the item": {
			files: map[string]string{"list.yaml": `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: a}
- apiVersion: v1
  kind: ConfigMap
  metadata: {}
`},
			paths: []string{"list.yaml"}, source: "list.yaml:7", reason: "ConfigMap has no metadata.name",
		},
		"a List item that is not a mapping is reported at the item": {
			files:  map[string]string{"list.yaml": "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n- just text\n"},
			paths:  []string{"list.yaml"},
			source: "list.yaml:8", reason: `item 2 of List is not an object but a string ("just text")`,
		},
		"List items that are not a list": {
			files:  map[string]string{"list.yaml": "apiVersion: v1\nkind: List\nitems: {a: 1}\n"},
			paths:  []string{"list.yaml"},
			source: "list.yaml:1", reason: "items of List must be a list of objects, not a mapping",
		},
		"a key that YAML reads as a number is reported at the key": {
			files:  map[string]string{"key.yaml": cm("a") + "data:\n  8080: http\n"},
			paths:  []string{"key.yaml"},
			source: "key.yaml:6", reason: `key 8080 is not a string (YAML reads it as an integer); quote it: "8080"`,
		},
		"a null key is reported at the key": {
			files:  map[string]string{"key.yaml": cm("a") + "data:\n  ~: x\n"},
			paths:  []string{"key.yaml"},
			source: "key.yaml:6", reason: "key ~ is not a string (YAML reads it as null)",
		},
		"a key that is a list is reported at the key": {
			files:  map[string]string{"key.yaml": cm("a") + "data:\n  ? [a, b]\n  : x\n"},
			paths:  []string{"key.yaml"},
			source: "key.yaml:6", reason: "key is a mapping or a list, not a string",
		},
		"a repeated key is reported at the repetition, naming the first": {
			files:  map[string]string{"dup.yaml": cm("a") + "  labels:\n    app: web\n    tier: db\n    app: api\n"},
			paths:  []string{"dup.yaml"},
			source: "dup.yaml:8", reason: `key "app" is repeated (first at line 6)`,
		},
		"a repeated key in JSON is an error too": {
			files:  map[string]string{"dup.json": "{\"apiVersion\": \"v1\",\n\"apiVersion\": \"v2\"}"},
			paths:  []string{"dup.json"},
			source: "dup.json:2", reason: `key "apiVersion" is repeated (first at line 1)`,
		},
		"an infinite number cannot become JSON": {
			files:  map[string]string{"inf.yaml": cm("a") + "spec:\n  x: .inf\n"},
			paths:  []string{"inf.yaml"},
			source: "inf.yaml:6", reason: `.inf is not a finite number and JSON cannot hold it; quote it if you meant the string: ".inf"`,
		},
		"a value that does not match its explicit tag": {
			files:  map[string]string{"tag.yaml": cm("a") + "spec:\n  x: !!int ten\n"},
			paths:  []string{"tag.yaml"},
			source: "tag.yaml:6", reason: "ten is not an integer",
		},
		"a merge key needs a mapping": {
			files:  map[string]string{"merge.yaml": cm("a") + "spec:\n  <<: 1\n"},
			paths:  []string{"merge.yaml"},
			source: "merge.yaml:6", reason: "merge key << needs a mapping or a list of mappings",
		},
		"an alias bomb is stopped": {
			files: map[string]string{"bomb.yaml": cm("a") + `data:
  a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
`},
			paths: []string{"bomb.yaml"}, source: "bomb.yaml:11", reason: "aliases expand to too many values",
		},
		"JSON nested too deeply is refused, not a stack overflow": {
			files:  map[string]string{"deep.json": `{"a":` + strings.Repeat("[", 20000)},
			paths:  []string{"deep.json"},
			source: "deep.json:1", reason: "invalid JSON: nested more than 10000 levels deep",
		},
		"YAML that starts with a flow mapping gets the YAML error when YAML reading got further": {
			files:  map[string]string{"flow.yaml": "{apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n---\nkind: a: b\n"},
			paths:  []string{"flow.yaml"},
			source: "flow.yaml:3", reason: "invalid YAML: mapping values are not allowed in this context",
		},
		"an error on stdin is reported as -:LINE": {
			stdin: cm("a") + "---\nkind: Deployment\n", paths: []string{"-"},
			source: "-:6", reason: "Deployment has no apiVersion",
		},
		"stdin can be read only once": {
			stdin: cm("a"), paths: []string{"-", "-"},
			source: "-", reason: `"-" (stdin) is given more than once`,
		},
		"an error in a later path discards the objects already read": {
			files: map[string]string{"good.yaml": cm("good"), "bad.yaml": "apiVersion: v1\n"},
			paths: []string{"good.yaml", "bad.yaml"}, source: "bad.yaml:1", reason: "object has no kind",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			inTempDir(t, tc.files)
			if tc.setup != nil {
				tc.setup(t)
			}
			objects, err := manifest.Read(tc.paths, strings.NewReader(tc.stdin))
			if objects != nil {
				t.Errorf("got %d objects with the error, want none", len(objects))
			}
			var merr *manifest.Error
			if !errors.As(err, &merr) {
				t.Fatalf("got error %v, want a *manifest.Error", err)
			}
			if merr.Source != tc.source {
				t.Errorf("Source = %q, want %q (error: %v)", merr.Source, tc.source, err)
			}
			if !strings.Contains(merr.Reason, tc.reason) {
				t.Errorf("Reason = %q, want it to contain %q", merr.Reason, tc.reason)
			}
			if want := tc.source + ": " + merr.Reason; err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
		})
	}
}

func TestReadNoObjects(t *testing.T) {
	tests := map[string]struct {
		files map[string]string
		dirs  []string
		stdin string
		paths []string
		named string // part of the message naming the paths
	}{
		"an empty directory": {
			dirs: []string{"empty"}, paths: []string{"empty"}, named: `in "empty"`,
		},
		"a directory without manifest files (the wrong folder)": {
			files: map[string]string{"src/main.go": "package main", "src/.ci.yaml": cm("hidden")},
			paths: []string{"src"}, named: `in "src"`,
		},
		"an empty file and a file of only comments and separators": {
			files: map[string]string{"empty.yaml": "", "comments.yaml": "# nothing yet\n---\n# still nothing\n---\n"},
			paths: []string{"empty.yaml", "comments.yaml"}, named: `in "empty.yaml", "comments.yaml"`,
		},
		"an empty List": {
			files: map[string]string{"list.json": `{"apiVersion": "v1", "kind": "List", "items": []}`},
			paths: []string{"list.json"}, named: `in "list.json"`,
		},
		"empty stdin": {
			paths: []string{"-"}, named: `in "-"`,
		},
		"no paths at all": {
			named: "no paths given",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			inTempDir(t, tc.files)
			for _, dir := range tc.dirs {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			objects, err := manifest.Read(tc.paths, strings.NewReader(tc.stdin))
			if !errors.Is(err, manifest.ErrNoObjects) {
				t.Fatalf("got %d objects and error %v, want ErrNoObjects", len(objects), err)
			}
			if !strings.Contains(err.Error(), tc.named) {
				t.Errorf("error %q does not name the paths: want %q", err, tc.named)
			}
		})
	}
}

func TestReadStdinFailure(t *testing.T) {
	t.Chdir(t.TempDir())
	broken := io.MultiReader(strings.NewReader(cm("a")), iotest.ErrReader(errBrokenPipe))
	_, err := manifest.Read([]string{"-"}, broken)
	var merr *manifest.Error
	if !errors.As(err, &merr) || merr.Source != "-" || !errors.Is(err, errBrokenPipe) {
		t.Fatalf("got %v, want a *manifest.Error for - wrapping the read error", err)
	}
	if _, err := manifest.Read([]string{"-"}, nil); !errors.As(err, &merr) || merr.Source != "-" {
		t.Fatalf("with no stdin: got %v, want a *manifest.Error for -", err)
	}
}

var errBrokenPipe = errors.New("broken pipe")
