package manifest

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// collect turns the document roots of file into objects, expanding Lists and
// skipping null (empty or comment-only) documents.
func collect(file string, roots []*yaml.Node, conv *converter) ([]Object, *lineError) {
	var objects []Object
	for _, root := range roots {
		doc := resolve(root)
		if doc.Kind == yaml.ScalarNode && doc.ShortTag() == "!!null" {
			continue
		}
		if doc.Kind != yaml.MappingNode {
			return nil, &lineError{line: root.Line, reason: notAnObject(doc) +
				`; every document must be a mapping with apiVersion, kind and metadata.name (separate objects with "---" or list them under items of a "kind: List")`}
		}
		v, err := conv.value(root)
		if err != nil {
			return nil, err
		}
		if objects, err = appendObject(objects, file, root.Line, root, v.(map[string]any)); err != nil {
			return nil, err
		}
	}
	return objects, nil
}

// appendObject appends the object m that starts at line, or its items if it
// is a List. node is the node m was converted from, used to find the lines of
// List items; it is nil when that position is unknown (an item that came
// through a merge key), and then the items of m get line.
func appendObject(objects []Object, file string, line int, node *yaml.Node, m map[string]any) ([]Object, *lineError) {
	fail := func(format string, args ...any) ([]Object, *lineError) {
		return nil, &lineError{line: line, reason: fmt.Sprintf(format, args...)}
	}

	kind, err := stringField(m, "kind", "kind", `"Deployment"`)
	if err != nil {
		return fail("%s", err)
	}
	if kind == "" {
		return fail(`object has no kind; add one, e.g. "kind: Deployment"`)
	}
	apiVersion, err := stringField(m, "apiVersion", "apiVersion of "+kind, `"apps/v1"`)
	if err != nil {
		return fail("%s", err)
	}
	if apiVersion == "" {
		return fail(`%s has no apiVersion; add one, e.g. "apiVersion: apps/v1" (kubectl api-resources lists them)`, kind)
	}

	if items, ok := m["items"]; ok && strings.HasSuffix(kind, "List") {
		return appendItems(objects, file, line, node, kind, items)
	}

	metadata, ok := m["metadata"].(map[string]any)
	if !ok && m["metadata"] != nil {
		return fail("metadata of %s must be a mapping, not %s", kind, describe(m["metadata"]))
	}
	name, err := stringField(metadata, "name", "metadata.name of "+kind, `"web"`)
	if err != nil {
		return fail("%s", err)
	}
	if name == "" {
		if generateName, _ := metadata["generateName"].(string); generateName != "" {
			return fail("%s has metadata.generateName %q but no metadata.name; canarygate check matches objects with the cluster state by name and cannot predict a generated one, so set metadata.name",
				kind, generateName)
		}
		return fail("%s has no metadata.name; add one (canarygate check matches objects with the cluster state by name)", kind)
	}
	if _, err := stringField(metadata, "namespace", "metadata.namespace of "+kind+" "+name, `"default"`); err != nil {
		return fail("%s", err)
	}

	return append(objects, Object{
		Source: file + ":" + strconv.Itoa(line),
		Object: &unstructured.Unstructured{Object: m},
	}), nil
}

// appendItems appends the items of a List that starts at line (see
// appendObject for node).
func appendItems(objects []Object, file string, line int, node *yaml.Node, kind string, items any) ([]Object, *lineError) {
	list, ok := items.([]any)
	if !ok && items != nil {
		return nil, &lineError{line: line, reason: fmt.Sprintf("items of %s must be a list of objects, not %s", kind, describe(items))}
	}
	itemNodes := lookup(node, "items")
	if itemNodes == nil || itemNodes.Kind != yaml.SequenceNode || len(itemNodes.Content) != len(list) {
		itemNodes = nil // items came through a merge key: use the List's line
	}
	for i, item := range list {
		itemLine, itemNode := line, (*yaml.Node)(nil)
		if itemNodes != nil {
			itemNode = itemNodes.Content[i]
			itemLine = itemNode.Line
		}
		m, ok := item.(map[string]any)
		if !ok {
			return nil, &lineError{line: itemLine, reason: fmt.Sprintf(
				"item %d of %s is not an object but %s; every item needs apiVersion, kind and metadata.name", i+1, kind, describe(item))}
		}
		var err *lineError
		if objects, err = appendObject(objects, file, itemLine, itemNode, m); err != nil {
			return nil, err
		}
	}
	return objects, nil
}

// lookup returns the value node of key in mapping n (following aliases), or
// nil.
func lookup(n *yaml.Node, key string) *yaml.Node {
	if n == nil {
		return nil
	}
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := resolve(n.Content[i]); k.Kind == yaml.ScalarNode && k.ShortTag() == "!!str" && k.Value == key {
			return resolve(n.Content[i+1])
		}
	}
	return nil
}

// stringField returns the string field key of m, "" if it is absent or null,
// and an error about subject (the field as the user should read it) if it is
// something else. example is shown in that error.
func stringField(m map[string]any, key, subject, example string) (string, error) {
	switch v := m[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		err := fmt.Errorf("%s must be a string such as %s, not %s", subject, example, describe(v))
		if _, scalar := v.(map[string]any); !scalar {
			if _, list := v.([]any); !list {
				err = fmt.Errorf("%w; quote it: %s: \"%v\"", err, key, v)
			}
		}
		return "", err
	}
}

// describe names the type and, for scalars, the value of v for messages.
func describe(v any) string {
	switch v := v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return fmt.Sprintf("a string (%q)", v)
	case bool:
		return fmt.Sprintf("a boolean (%t)", v)
	case int64, float64:
		return fmt.Sprintf("a number (%v)", v)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// notAnObject says what a document root that is not a mapping is instead.
func notAnObject(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "document is a list, not an object"
	case yaml.ScalarNode:
		value := n.Value
		if len(value) > 40 {
			value = value[:40] + "…"
		}
		return fmt.Sprintf("document is a single value (%q), not an object", value)
	}
	return "document is not an object"
}
