package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"sigs.k8s.io/yaml"
)

// ErrUnsupportedSource is returned for policy source forms this build does
// not read yet (bundle archives and URLs).
var ErrUnsupportedSource = errors.New("unsupported policy source")

// FromDir reads a platform policy directory: .rego modules and .json/.yaml
// data files, data placed at the file's directory path below the root (the
// layout `opa build` takes). A directory without a .manifest may only hold
// packages under canarygate.ext. and data under canarygate.config
// (DESIGN §5), so it can neither shadow nor erase the built-ins.
func FromDir(dir string) (Source, error) {
	src := Source{Name: dir, Modules: map[string]string{}, Data: map[string]any{}}
	st, err := os.Stat(dir)
	if err != nil {
		return src, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	if !st.IsDir() {
		if strings.HasSuffix(dir, ".tar.gz") || strings.HasPrefix(dir, "http://") || strings.HasPrefix(dir, "https://") {
			return src, fmt.Errorf("%w: %s: bundle archives and URLs are not supported by this build; unpack the bundle into a directory", ErrUnsupportedSource, dir)
		}
		return src, fmt.Errorf("%w: %s is not a directory", ErrLoad, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, ".manifest")); err == nil {
		return src, fmt.Errorf("%w: %s: directories with a .manifest are bundles, which this build does not read yet; remove the .manifest to load it as plain platform rules", ErrUnsupportedSource, dir)
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		switch ext := filepath.Ext(path); ext {
		case ".rego":
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			m, err := ast.ParseModuleWithOpts(path, string(raw), ast.ParserOptions{RegoVersion: ast.RegoV1})
			if err != nil {
				return err
			}
			pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
			if !strings.HasPrefix(pkg, "canarygate.ext.") {
				return fmt.Errorf("%s: package %s is outside canarygate.ext.<name>; platform rules must live there (the built-ins own canarygate.builtin)", path, pkg)
			}
			src.Modules[path] = string(raw)
		case ".json", ".yaml", ".yml":
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var doc map[string]any
			if err := yaml.Unmarshal(raw, &doc); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			at := filepath.Dir(rel)
			if at != "." {
				for _, part := range reverse(strings.Split(filepath.ToSlash(at), "/")) {
					doc = map[string]any{part: doc}
				}
			}
			for k, v := range doc {
				cg, ok := v.(map[string]any)
				if k != "canarygate" || !ok || len(cg) != 1 || cg["config"] == nil {
					return fmt.Errorf("%s: data must sit under canarygate.config (found top-level key %q); platform settings go there", path, k)
				}
			}
			if err := merge(src.Data, doc, ""); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		return nil
	})
	if err != nil {
		return src, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	return src, nil
}

func reverse(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}
