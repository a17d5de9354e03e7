package check

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// Formats WriteReport accepts.
const (
	FormatText  = "text"
	FormatJSON  = "json"
	FormatJUnit = "junit"
)

// WriteReport writes the report in a format. Text output uses ANSI colour
// only when color is set (the caller decides: a terminal, no NO_COLOR).
func WriteReport(w io.Writer, r *Report, format string, color bool) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case FormatJUnit:
		return writeJUnit(w, r)
	case FormatText, "":
		return writeText(w, r, color)
	}
	return fmt.Errorf("unknown output format %q; use text, json or junit", format)
}

func writeText(w io.Writer, r *Report, color bool) error {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return "\x1b[" + code + "m" + s + "\x1b[0m"
	}
	var b strings.Builder
	for _, res := range r.Results {
		verdict := paint("32", "allowed")
		if !res.Allowed {
			verdict = paint("31;1", "DENIED")
		}
		name := res.Name
		if res.Namespace != "" {
			name = res.Namespace + "/" + name
		}
		extra := ""
		if len(res.Patch) > 0 {
			extra = fmt.Sprintf(" (mutated: %d patch operation(s))", len(res.Patch))
		}
		fmt.Fprintf(&b, "%s %s %s %s %s%s\n", verdict, res.Operation, res.Kind, name, paint("2", res.Source), extra)
		for _, v := range res.Violations {
			fmt.Fprintf(&b, "    %s [%s] %s\n", paint("31", "deny"), v.Code, v.Message)
		}
		for _, v := range res.Warnings {
			fmt.Fprintf(&b, "    %s [%s] %s\n", paint("33", "warn"), v.Code, v.Message)
		}
	}
	s := r.Summary
	fmt.Fprintf(&b, "%d object(s): %d denied, %d warning(s), %d mutated\n", s.Objects, s.Denied, s.Warnings, s.Mutated)
	_, err := io.WriteString(w, b.String())
	return err
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

func writeJUnit(w io.Writer, r *Report) error {
	suite := junitSuite{Name: "canarygate check", Tests: len(r.Results)}
	for _, res := range r.Results {
		name := res.Name
		if res.Namespace != "" {
			name = res.Namespace + "/" + name
		}
		c := junitCase{
			Name:      fmt.Sprintf("%s %s %s", res.Operation, res.Kind, name),
			Classname: "canarygate." + res.Kind,
			File:      res.Source,
		}
		if !res.Allowed {
			suite.Failures++
			var lines, codes []string
			for _, v := range res.Violations {
				lines = append(lines, fmt.Sprintf("[%s] %s", v.Code, v.Message))
				codes = append(codes, v.Code)
			}
			c.Failure = &junitFailure{Message: "denied: " + strings.Join(codes, ", "), Type: "denied", Body: strings.Join(lines, "\n")}
		}
		if len(res.Warnings) > 0 {
			var lines []string
			for _, v := range res.Warnings {
				lines = append(lines, fmt.Sprintf("warning [%s] %s", v.Code, v.Message))
			}
			c.SystemOut = strings.Join(lines, "\n")
		}
		suite.Cases = append(suite.Cases, c)
	}
	doc := junitSuites{Name: "canarygate", Tests: suite.Tests, Failures: suite.Failures, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
