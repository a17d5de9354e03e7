package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// maxJSONDepth bounds nesting, as yaml.v3 does for YAML, so hostile input
// cannot exhaust the stack.
const maxJSONDepth = 10000

// parseJSON returns a node for every JSON value in data, a stream of values
// separated by optional whitespace (`{…}{…}` or one per line).
//
// It builds yaml.Nodes, with the line and column of each value, so JSON
// input then takes exactly the path YAML input takes. encoding/json cannot
// be used for this: it reports neither the position of a value nor, from a
// Decoder, a stable position of a syntax error.
func parseJSON(data []byte) ([]*yaml.Node, *lineError) {
	p := &jsonParser{data: data, line: 1}
	if bytes.HasPrefix(data, utf8BOM) {
		p.pos = len(utf8BOM)
		p.lineStart = p.pos
	}
	var roots []*yaml.Node
	for {
		p.skipSpace()
		if p.pos == len(p.data) {
			return roots, nil
		}
		node, err := p.value(0)
		if err != nil {
			return nil, err
		}
		roots = append(roots, node)
	}
}

// jsonParser is a recursive-descent JSON parser that tracks lines.
type jsonParser struct {
	data      []byte
	pos       int
	line      int // 1-based line of pos
	lineStart int // offset where line starts
}

func (p *jsonParser) fail(format string, args ...any) *lineError {
	return &lineError{line: p.line, reason: "invalid JSON: " + fmt.Sprintf(format, args...)}
}

// unexpected is the error for the character at pos (or the end of input).
func (p *jsonParser) unexpected(looking string) *lineError {
	if p.pos >= len(p.data) {
		return p.fail("unexpected end of input %s", looking)
	}
	r, _ := utf8.DecodeRune(p.data[p.pos:])
	return p.fail("invalid character %q %s", r, looking)
}

// skipSpace moves pos past JSON whitespace, counting lines.
func (p *jsonParser) skipSpace() {
	for ; p.pos < len(p.data); p.pos++ {
		switch p.data[p.pos] {
		case ' ', '\t':
		case '\n':
			p.newline()
		case '\r':
			if p.pos+1 >= len(p.data) || p.data[p.pos+1] != '\n' {
				p.newline()
			}
		default:
			return
		}
	}
}

func (p *jsonParser) newline() {
	p.line++
	p.lineStart = p.pos + 1
}

// node returns a node of kind positioned at pos.
func (p *jsonParser) node(kind yaml.Kind) *yaml.Node {
	return &yaml.Node{Kind: kind, Line: p.line, Column: p.pos - p.lineStart + 1}
}

// value parses the value at pos (after whitespace).
func (p *jsonParser) value(depth int) (*yaml.Node, *lineError) {
	if depth > maxJSONDepth {
		return nil, p.fail("nested more than %d levels deep", maxJSONDepth)
	}
	p.skipSpace()
	if p.pos >= len(p.data) {
		return nil, p.unexpected("looking for the beginning of a value")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		node := p.node(yaml.ScalarNode)
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		node.Tag, node.Style, node.Value = "!!str", yaml.DoubleQuotedStyle, s
		return node, nil
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	default:
		for _, literal := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(p.data[p.pos:], []byte(literal)) {
				// A plain scalar: the YAML resolver gives it its type, as for a number.
				node := p.node(yaml.ScalarNode)
				node.Value = literal
				p.pos += len(literal)
				return node, nil
			}
		}
		return nil, p.unexpected("looking for the beginning of a value")
	}
}

func (p *jsonParser) object(depth int) (*yaml.Node, *lineError) {
	node := p.node(yaml.MappingNode)
	node.Style = yaml.FlowStyle
	p.pos++ // {
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return node, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.unexpected("looking for the beginning of an object key string")
		}
		key := p.node(yaml.ScalarNode)
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		key.Tag, key.Style, key.Value = "!!str", yaml.DoubleQuotedStyle, s
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.unexpected("after object key")
		}
		p.pos++
		value, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		node.Content = append(node.Content, key, value)
		p.skipSpace()
		if p.pos < len(p.data) {
			switch p.data[p.pos] {
			case ',':
				p.pos++
				continue
			case '}':
				p.pos++
				return node, nil
			}
		}
		return nil, p.unexpected("after object key:value pair")
	}
}

func (p *jsonParser) array(depth int) (*yaml.Node, *lineError) {
	node := p.node(yaml.SequenceNode)
	node.Style = yaml.FlowStyle
	p.pos++ // [
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return node, nil
	}
	for {
		item, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		node.Content = append(node.Content, item)
		p.skipSpace()
		if p.pos < len(p.data) {
			switch p.data[p.pos] {
			case ',':
				p.pos++
				continue
			case ']':
				p.pos++
				return node, nil
			}
		}
		return nil, p.unexpected("after array element")
	}
}

// string parses the string at pos (on its opening quote) and returns its
// value.
func (p *jsonParser) string() (string, *lineError) {
	start := p.pos
	escaped := false
	for i := start + 1; i < len(p.data); i++ {
		switch c := p.data[i]; {
		case c == '\\':
			escaped = true
			i++ // the escaped character cannot end the string
		case c == '"':
			raw := p.data[start : i+1]
			p.pos = i + 1
			if !utf8.Valid(raw) {
				return "", p.fail("string is not valid UTF-8")
			}
			if !escaped {
				return string(raw[1 : len(raw)-1]), nil
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return "", p.fail("bad escape in string %s", raw)
			}
			return s, nil
		case c < 0x20:
			p.pos = i
			return "", p.fail("control character %q in string; escape it (\\n, \\t, \\u00XX)", rune(c))
		}
	}
	p.pos = len(p.data)
	return "", p.fail("unexpected end of input in string")
}

// number parses the number at pos. Its text becomes a YAML scalar, which
// the YAML resolver reads as an int or a float exactly as it would in a YAML
// file (JSON numbers are valid YAML numbers).
func (p *jsonParser) number() (*yaml.Node, *lineError) {
	node := p.node(yaml.ScalarNode)
	start, d := p.pos, p.data
	i := start
	digits := func() int {
		n := 0
		for ; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
			n++
		}
		return n
	}
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case digits() == 0:
		p.pos = i
		return nil, p.unexpected("in numeric literal")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			p.pos = i
			return nil, p.unexpected("after decimal point in numeric literal")
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			p.pos = i
			return nil, p.unexpected("in exponent of numeric literal")
		}
	}
	p.pos = i
	node.Value = string(d[start:i])
	if _, err := strconv.ParseInt(node.Value, 10, 64); err != nil {
		if _, err := strconv.ParseUint(node.Value, 10, 64); err != nil {
			// Not an integer YAML can hold: make sure the resolver reads it
			// as a number (and fails if it is out of range) and not, as it
			// would a plain 1e400, as a string.
			node.Tag = "!!float"
		}
	}
	return node, nil
}
