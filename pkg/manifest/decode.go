package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	yamlv2 "go.yaml.in/yaml/v2"
	"go.yaml.in/yaml/v3"
)

// lineError is a problem at a line of the input being decoded; decode turns
// it into an *Error naming the file. line is 0 when the position is unknown.
type lineError struct {
	line   int
	reason string
}

// decode appends to objects the objects held in data, read from file.
func decode(objects []Object, file string, data []byte) ([]Object, error) {
	roots, lerr := parse(data)
	if lerr == nil {
		var added []Object
		added, lerr = collect(file, roots, newConverter(len(data)))
		objects = append(objects, added...)
	}
	if lerr != nil {
		source := file
		if lerr.line > 0 {
			source = file + ":" + strconv.Itoa(lerr.line)
		}
		return nil, &Error{Source: source, Reason: lerr.reason}
	}
	return objects, nil
}

// parse returns the root node of every document in data, empty ones
// included. Input that starts with "{" is read as concatenated JSON values
// first, because JSON escapes YAML does not know (`\/`, surrogate pairs) and
// values that follow each other without "---" are valid JSON streams but
// invalid YAML. If it is not JSON it is read as YAML; if it is neither, the
// error of the reading that got further is returned.
func parse(data []byte) ([]*yaml.Node, *lineError) {
	if looksLikeJSON(data) {
		roots, jsonErr := parseJSON(data)
		if jsonErr == nil {
			return roots, nil
		}
		roots, yamlErr := parseYAML(data)
		switch {
		case yamlErr == nil:
			return roots, nil // YAML that starts with a flow mapping
		case yamlErr.line > jsonErr.line:
			return nil, yamlErr // the YAML reading got further: YAML with a mistake
		}
		return nil, jsonErr
	}
	return parseYAML(data)
}

// utf8BOM is the optional byte order mark at the start of UTF-8 text.
var utf8BOM = []byte("\xef\xbb\xbf")

// looksLikeJSON reports whether the first non-space character of data is "{",
// the test kubectl uses to choose its JSON decoder.
func looksLikeJSON(data []byte) bool {
	data = bytes.TrimLeft(bytes.TrimPrefix(data, utf8BOM), " \t\r\n")
	return len(data) > 0 && data[0] == '{'
}

// parseYAML returns the root node of every YAML document in data.
func parseYAML(data []byte) ([]*yaml.Node, *lineError) {
	var roots []*yaml.Node
	decoder := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := decoder.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return roots, nil
		}
		if err != nil {
			return nil, yamlError(data, err)
		}
		if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
			roots = append(roots, doc.Content[0])
		}
	}
}

// yamlMessage splits the "yaml: line N: problem" text of yaml.v2 and v3
// errors.
var yamlMessage = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// yamlParserProblems are the problems yaml.v3 (and v2) report from the parser,
// as opposed to the scanner. For those the line in the message is the 0-based
// line of the mark, one less than the real line; scanner problems carry the
// 1-based line. Either comes with no line at all when the mark is on the first
// line. (decode.go, parser.fail, in both modules.) The tests pin this down, so
// a yaml release that fixes it breaks them instead of shifting every line.
var yamlParserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// unknownAnchor matches the composer's error for an alias without anchor,
// which carries no line.
var unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// yamlError turns a yaml.v3 error into a *lineError with the exact line.
//
// A syntax error has two marks: where the problem was found and where the
// value being read started (the context). yaml.v3 reports the context, which
// for the most common mistake, a badly indented key, is the start of the
// mapping it should belong to, not the key; yaml.v2, the same parser, reports
// the problem. So the syntax error is read again with yaml.v2 to report the
// problem line, and the context line is added to the reason.
func yamlError(data []byte, err error) *lineError {
	problem, line, ok := splitYAMLError(err)
	if !ok {
		return &lineError{reason: "invalid YAML: " + err.Error()}
	}
	lerr := &lineError{line: line, reason: "invalid YAML: " + problem}
	switch {
	case unknownAnchor.MatchString(problem):
		name := unknownAnchor.FindStringSubmatch(problem)[1]
		lerr.line = aliasLine(data, name)
		lerr.reason = "invalid YAML: alias *" + name + " refers to no anchor; define the anchor &" + name + " before using it"
	case isYAMLReaderProblem(problem):
		lerr.line = unprintableLine(data) // the reader reports an offset the message does not carry
	default:
		if line == 0 {
			lerr.line = 1 // the mark was on the first line
		}
		if problemV2, lineV2, ok := splitYAMLError(yamlV2Error(data)); ok && problemV2 == problem {
			if lineV2 == 0 {
				lineV2 = 1
			}
			if lineV2 > lerr.line {
				lerr.reason += fmt.Sprintf(" (in the value that starts at line %d)", lerr.line)
				lerr.line = lineV2
			}
		}
	}
	return lerr
}

// splitYAMLError splits the "yaml: line N: problem" text of a yaml.v2 or v3
// error into the problem and the real 1-based line (0 when the text has no
// line). ok is false for a nil error or another text.
func splitYAMLError(err error) (problem string, line int, ok bool) {
	if err == nil {
		return "", 0, false
	}
	m := yamlMessage.FindStringSubmatch(err.Error())
	if m == nil {
		return "", 0, false
	}
	problem = m[2]
	if m[1] != "" {
		line, _ = strconv.Atoi(m[1])
		if yamlParserProblems[problem] {
			line++
		}
	}
	return problem, line, true
}

// yamlV2Error returns the first error yaml.v2 finds in data, or nil.
func yamlV2Error(data []byte) error {
	decoder := yamlv2.NewDecoder(bytes.NewReader(data))
	for {
		var v any
		if err := decoder.Decode(&v); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// isYAMLReaderProblem reports whether problem comes from yaml.v3's reader
// (bad encoding), which has no line mark.
func isYAMLReaderProblem(problem string) bool {
	return strings.HasPrefix(problem, "input error") || strings.Contains(problem, "UTF-8") ||
		problem == "invalid Unicode character" || problem == "control characters are not allowed"
}

// aliasLine returns the line of the first "*name" alias in data, or 0.
func aliasLine(data []byte, name string) int {
	needle := []byte("*" + name)
	for offset := 0; ; {
		i := bytes.Index(data[offset:], needle)
		if i < 0 {
			return 0
		}
		end := offset + i + len(needle)
		if end == len(data) || bytes.IndexByte([]byte(" \t\r\n,[]{}"), data[end]) >= 0 {
			return lineAt(data, offset+i)
		}
		offset = end
	}
}

// unprintableLine returns the line of the first character YAML does not allow
// in a stream (invalid UTF-8, control characters), or 0.
func unprintableLine(data []byte) int {
	data = bytes.TrimPrefix(data, utf8BOM)
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if !yamlPrintable(r, size) {
			return lineAt(data, i)
		}
		i += size
	}
	return 0
}

// yamlPrintable is libyaml's is_printable for a decoded rune.
func yamlPrintable(r rune, size int) bool {
	switch {
	case r == utf8.RuneError && size == 1:
		return false
	case r == '\t', r == '\n', r == '\r', r == 0x85:
		return true
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return false
	case r >= 0xd800 && r <= 0xdfff, r == 0xfeff, r == 0xfffe, r == 0xffff:
		return false
	}
	return true
}

// lineAt returns the 1-based line of byte offset in data; "\r\n", "\n" and a
// lone "\r" each end a line, as in YAML.
func lineAt(data []byte, offset int) int {
	line := 1
	for i := 0; i < offset && i < len(data); i++ {
		switch data[i] {
		case '\n':
			line++
		case '\r':
			if i+1 >= len(data) || data[i+1] != '\n' {
				line++
			}
		}
	}
	return line
}
