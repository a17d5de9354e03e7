package manifest

import (
	"fmt"
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// converter turns yaml.Nodes into the JSON-compatible values unstructured
// needs: map[string]any, []any, int64, float64, string, bool and nil.
//
// It does the work of yaml.v3's own decoder (aliases, merge keys, cycle and
// alias-bomb checks) itself so that every problem keeps its line, and it is
// stricter where a silent choice would let check see something other than
// what the API server will: keys must be strings, a key may not repeat, and
// numbers must be finite.
type converter struct {
	// budget is how many more values may be built. It stops alias bombs
	// ("billion laughs"): a document without aliases never has more values
	// than its input has bytes.
	budget int
	// active holds the anchored nodes being converted, to catch an alias that
	// refers to its own ancestor.
	active map[*yaml.Node]bool
	// expanding is the line of the outermost alias being expanded, where a
	// user can see the expansion that is too large; 0 outside aliases.
	expanding int
}

// aliasAllowance is how many values aliases may add beyond the size of the
// input.
const aliasAllowance = 1 << 20

func newConverter(inputSize int) *converter {
	return &converter{budget: inputSize + aliasAllowance, active: map[*yaml.Node]bool{}}
}

// value converts n.
func (c *converter) value(n *yaml.Node) (any, *lineError) {
	c.budget--
	if c.budget < 0 {
		line := c.expanding
		if line == 0 {
			line = n.Line
		}
		return nil, &lineError{line: line, reason: "aliases expand to too many values; this looks like an alias bomb"}
	}
	if n.Kind == yaml.AliasNode {
		return c.alias(n)
	}
	if n.Anchor != "" {
		c.active[n] = true
		defer delete(c.active, n)
	}
	switch n.Kind {
	case yaml.MappingNode:
		return c.mapping(n)
	case yaml.SequenceNode:
		items := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			v, err := c.value(item)
			if err != nil {
				return nil, err
			}
			items = append(items, v)
		}
		return items, nil
	case yaml.ScalarNode:
		return scalar(n)
	case yaml.DocumentNode:
		if len(n.Content) == 1 {
			return c.value(n.Content[0])
		}
	}
	return nil, &lineError{line: n.Line, reason: fmt.Sprintf("invalid YAML: unexpected node kind %d", n.Kind)}
}

// alias converts the node an alias refers to.
func (c *converter) alias(n *yaml.Node) (any, *lineError) {
	if n.Alias == nil {
		return nil, &lineError{line: n.Line, reason: fmt.Sprintf("invalid YAML: alias *%s refers to no anchor", n.Value)}
	}
	if c.active[n.Alias] {
		return nil, &lineError{line: n.Line, reason: fmt.Sprintf("invalid YAML: alias *%s refers to a value that contains it", n.Value)}
	}
	if c.expanding == 0 {
		c.expanding = n.Line
		defer func() { c.expanding = 0 }()
	}
	return c.value(n.Alias)
}

// mapping converts a mapping. Explicit keys win over merged ones ("<<"), and
// an earlier merge source wins over a later one, as the YAML merge key spec
// says and yaml.v3 does.
func (c *converter) mapping(n *yaml.Node) (map[string]any, *lineError) {
	m := make(map[string]any, len(n.Content)/2)
	keyLines := make(map[string]int, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		keyNode, valueNode := resolve(n.Content[i]), n.Content[i+1]
		if keyNode.Kind == yaml.ScalarNode && keyNode.ShortTag() == "!!merge" {
			merges = append(merges, valueNode)
			continue
		}
		key, err := mappingKey(n.Content[i], keyNode)
		if err != nil {
			return nil, err
		}
		if line, ok := keyLines[key]; ok {
			return nil, &lineError{line: n.Content[i].Line, reason: fmt.Sprintf(
				"key %q is repeated (first at line %d); tools disagree on which one wins, so remove one", key, line)}
		}
		keyLines[key] = n.Content[i].Line
		v, err := c.value(valueNode)
		if err != nil {
			return nil, err
		}
		m[key] = v
	}
	for _, merge := range merges {
		sources := []*yaml.Node{merge}
		if resolve(merge).Kind == yaml.SequenceNode {
			sources = resolve(merge).Content
		}
		for _, source := range sources {
			if resolve(source).Kind != yaml.MappingNode {
				return nil, &lineError{line: source.Line, reason: "merge key << needs a mapping or a list of mappings, e.g. <<: *defaults"}
			}
			v, err := c.value(source)
			if err != nil {
				return nil, err
			}
			for key, value := range v.(map[string]any) {
				if _, ok := m[key]; !ok {
					m[key] = value
				}
			}
		}
	}
	return m, nil
}

// mappingKey returns the string a key node holds; JSON, and so Kubernetes,
// has only string keys.
func mappingKey(n, resolved *yaml.Node) (string, *lineError) {
	if resolved.Kind == yaml.ScalarNode && resolved.ShortTag() == "!!str" {
		return resolved.Value, nil
	}
	if resolved.Kind == yaml.ScalarNode {
		return "", &lineError{line: n.Line, reason: fmt.Sprintf(
			"key %s is not a string (YAML reads it as %s); quote it: %q", resolved.Value, typeName(resolved.ShortTag()), resolved.Value)}
	}
	return "", &lineError{line: n.Line, reason: "key is a mapping or a list, not a string; Kubernetes objects have string keys only"}
}

// resolve follows an alias to the node it refers to.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// scalar converts a scalar the way yaml.v3 resolves it, narrowed to JSON:
// integers become int64 (float64 beyond its range, as Kubernetes' own JSON
// decoding does), timestamps and binary data keep their text, and a scalar
// with an unknown tag (!Ref x) is its text.
func scalar(n *yaml.Node) (any, *lineError) {
	tag := n.ShortTag()
	switch tag {
	case "!!null":
		return nil, nil
	case "!!bool", "!!int", "!!float":
	default: // !!str, !!timestamp, !!binary, !!merge, custom tags
		return n.Value, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, &lineError{line: n.Line, reason: fmt.Sprintf("%s is not %s or is out of range", n.Value, typeName(tag))}
	}
	switch v := v.(type) {
	case bool:
		return v, nil
	case int:
		return int64(v), nil
	case int64:
		return v, nil
	case uint64:
		return float64(v), nil
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, &lineError{line: n.Line, reason: fmt.Sprintf(
				"%s is not a finite number and JSON cannot hold it; quote it if you meant the string: %q", n.Value, n.Value)}
		}
		return v, nil
	}
	return nil, &lineError{line: n.Line, reason: fmt.Sprintf("%q cannot be represented in JSON (%T)", n.Value, v)}
}

// typeName names a YAML tag for messages, with its article.
func typeName(tag string) string {
	switch tag {
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	case "!!timestamp":
		return "a timestamp"
	case "!!binary":
		return "binary data"
	}
	return "a " + strconv.Quote(tag) + " value"
}
