// Package manifest reads Kubernetes objects from manifest files, directories
// and stdin, remembering for each object the file and line it came from, so
// that `canarygate check` can point at "FILE:LINE" in every result and error.
//
// Inputs are YAML (multi-document, anchors, aliases and merge keys allowed) or
// JSON (one value or several concatenated values). kind *List objects are
// expanded into their items. Every object must have apiVersion, kind and
// metadata.name; anything the package cannot turn into such an object is an
// error with its position, never silently skipped.
//
// YAML is read as go.yaml.in/yaml/v3 reads it (YAML 1.2: yes, no, on and off
// are strings, where kubectl's YAML 1.1 reads booleans). Where a silent choice
// would let check judge something other than what the API server receives,
// reading fails instead: keys must be strings (quote 8080:), a key may not
// repeat in a mapping, and numbers must be finite (.inf and .nan have no
// JSON form).
package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Stdin is the path that stands for standard input, as in kubectl -f -.
const Stdin = "-"

// Object is one Kubernetes object read from a manifest, with where it came
// from.
//
// Source is "FILE:LINE" ("-:LINE" for stdin). LINE is the 1-based line where
// the object starts: the line of its first key (of the "{" for JSON and flow
// mappings, of its &anchor if it has one), not of a "---" or comment before
// it. An item of a List has the line where that item starts, or the line of
// the alias that stands for it. FILE is the path as given, or joined under the
// directory that was given.
//
// Object holds only JSON-compatible values (map[string]any, []any, int64,
// float64, string, bool, nil), so every unstructured helper works on it.
type Object struct {
	Source string
	Object *unstructured.Unstructured
}

// Read reads every object from paths, in the order given.
//
// A path is a file, a directory, or "-" for stdin (read from the stdin
// argument; "-" may appear only once, since stdin can be read only once). A
// file named explicitly is read whatever its extension. A directory is walked
// recursively in lexical order and only its .yaml, .yml and .json files are
// read (extensions match case-sensitively, as kubectl does); hidden files and
// directories (names starting with ".") inside it are skipped, so a repository
// root with .gitlab-ci.yml or .github/ can be checked. Symbolic links to files
// are followed, symbolic links to directories are not (no cycles).
//
// Whether content is YAML or JSON is decided by the content, not by the
// extension, as kubectl does: input whose first non-space character is "{" is
// read as a stream of concatenated JSON values (falling back to YAML if it is
// not valid JSON, since a YAML flow mapping also starts with "{"); anything
// else is read as multi-document YAML. Empty documents, documents holding only
// comments and null documents are skipped. kind *List objects (v1 List,
// ServiceList, …) that have an items field are replaced by their items,
// recursively; each item gets its own line.
//
// Read is all-or-nothing: it returns the first problem as an *Error with its
// position (see Error) and no objects. A document that is not a mapping (a
// bare string, a list) is an error. An object without apiVersion, kind or
// metadata.name is an error, and so is one with only metadata.generateName:
// check matches objects against the cluster state by name and cannot predict
// a generated one. If the inputs hold no object at all, Read returns an error
// wrapping ErrNoObjects that names the paths.
func Read(paths []string, stdin io.Reader) ([]Object, error) {
	var (
		objects   []Object
		readStdin bool
	)
	for _, path := range paths {
		if path == Stdin {
			if readStdin {
				return nil, &Error{Source: Stdin, Reason: `"-" (stdin) is given more than once; stdin can be read only once`}
			}
			readStdin = true
			if stdin == nil {
				return nil, &Error{Source: Stdin, Reason: "cannot read stdin: no standard input is available"}
			}
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, &Error{Source: Stdin, Reason: "cannot read stdin: " + err.Error(), Err: err}
			}
			if objects, err = decode(objects, Stdin, data); err != nil {
				return nil, err
			}
			continue
		}

		info, err := os.Stat(path)
		if err != nil {
			return nil, ioError(path, err)
		}
		files := []string{path}
		if info.IsDir() {
			files = files[:0]
			if err := walk(path, &files); err != nil {
				return nil, err
			}
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				return nil, ioError(file, err)
			}
			if objects, err = decode(objects, file, data); err != nil {
				return nil, err
			}
		}
	}
	if len(objects) == 0 {
		return nil, noObjects(paths)
	}
	return objects, nil
}

// walk appends to files the manifest files under dir, in lexical order.
func walk(dir string, files *[]string) error {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return ioError(dir, err)
	}
	for _, entry := range entries {
		name := entry.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		switch {
		case entry.IsDir():
			if err := walk(path, files); err != nil {
				return err
			}
		case isManifest(name):
			info, err := os.Stat(path) // follows a symbolic link
			if err != nil {
				return ioError(path, err)
			}
			if info.Mode().IsRegular() { // not a linked directory, FIFO or device
				*files = append(*files, path)
			}
		}
	}
	return nil
}

// isManifest reports whether a file found in a directory is read.
func isManifest(name string) bool {
	switch filepath.Ext(name) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// ioError turns an I/O error on path into an *Error that names the path once.
func ioError(path string, err error) *Error {
	reason := err.Error()
	if pathErr, ok := errors.AsType[*fs.PathError](err); ok {
		reason = pathErr.Err.Error()
	}
	return &Error{Source: path, Reason: "cannot read: " + reason, Err: err}
}

// noObjects is the ErrNoObjects error for paths.
func noObjects(paths []string) error {
	if len(paths) == 0 {
		return fmt.Errorf("%w: no paths given", ErrNoObjects)
	}
	quoted := make([]string, len(paths))
	for i, path := range paths {
		quoted[i] = strconv.Quote(path)
	}
	return fmt.Errorf("%w in %s (directories are searched recursively for .yaml, .yml and .json files, skipping hidden ones; check the paths)",
		ErrNoObjects, strings.Join(quoted, ", "))
}
